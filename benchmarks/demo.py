"""The web demo's cost, as ratios within one run, and its screenshot.

1. One attack of a shipped Fashion-MNIST model (APGD-CE, 100 steps, eps 0.1) through ``/attack`` of a running
   ``dkl-zoo demo`` (upload, queue, attack, PNG, download), against ``dkl_zoo.attack_image`` on the same image
   in this process: the server's overhead as a ratio. Runs alternate (library, server, ...); medians reported,
   with the seconds, so "answers within a few seconds on a laptop CPU" can be read off.
2. ``--screenshot FILE``: the page after an attack on the trouser example (chromium via Playwright), as a PNG
   reduced to 128 colours (the README's picture, under 200 kB).

    python benchmarks/demo.py [--repeats 5] [--threads 2] [--screenshot docs/demo.png] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

NAMES = ("ikl-at-fmnist-wrn10-1", "standard-fmnist-wrn10-1")


def screenshot(url: str, image: Path, out: Path) -> int:
    """The page after uploading ``image`` and attacking it; returns the file's size in bytes."""
    import shutil

    from PIL import Image
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium"), args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(url)
        page.locator("#dkl-image input[type=file]").set_input_files(str(image))
        expect(page.locator("#dkl-top5-other h2, #dkl-top5-other .output-class").first).not_to_be_empty()
        page.click("#dkl-attack")
        expect(page.locator("#dkl-verdict-other")).to_contain_text("Linf", timeout=120_000)
        with tempfile.TemporaryDirectory() as folder:
            raw = Path(folder) / "page.png"
            page.screenshot(path=str(raw), full_page=True)
            browser.close()
            picture = Image.open(raw).convert("RGB")
            picture.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    return out.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="torch threads here and in the server")
    parser.add_argument("--screenshot", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from gradio_client import Client, handle_file

    import dkl_zoo
    from dkl_zoo.examples import example_images
    from helpers.demo_server import DemoServer

    image = next(e.path for e in example_images() if e.path.stem.endswith("trouser"))
    report: dict[str, object] = {"threads": args.threads, "repeats": args.repeats, "image": image.name}
    with tempfile.TemporaryDirectory() as sandbox:
        server = DemoServer(Path(sandbox), env={"OMP_NUM_THREADS": str(args.threads)}).wait_ready()
        try:
            client = Client(server.url, verbose=False, download_files=str(Path(sandbox) / "downloads"))
            for name in NAMES:
                model = dkl_zoo.load(name)
                client.predict(name, handle_file(str(image)), 0.1, api_name="/attack")  # loads it there
                library, served = [], []
                for _ in range(args.repeats):
                    started = time.perf_counter()
                    dkl_zoo.attack_image(model, image, eps=0.1, top_k=5)
                    library.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    client.predict(name, handle_file(str(image)), 0.1, api_name="/attack")
                    served.append(time.perf_counter() - started)
                report[name] = {
                    "library_s": statistics.median(library),
                    "server_s": statistics.median(served),
                    "server_over_library": statistics.median(served) / statistics.median(library),
                }
                print(
                    f"{name}: attack {statistics.median(library):.2f} s in the library, "
                    f"{statistics.median(served):.2f} s through /attack "
                    f"({statistics.median(served) / statistics.median(library):.2f}x)"
                )
            if args.screenshot:
                size = screenshot(server.url, image, args.screenshot)
                report["screenshot_bytes"] = size
                print(f"screenshot: {args.screenshot} ({size / 1024:.0f} kB)")
        finally:
            server.interrupt()
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
