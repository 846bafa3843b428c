"""Inference speed and memory, as ratios within one run.

1. ``dkl-zoo predict`` on a folder of N Fashion-MNIST test images written as PNG, against the plain loop it
   replaces: torchvision's ``ImageFolder`` + ``DataLoader`` + the model, same batch size and workers
   (goal: >= 0.95x its images/s). Runs alternate (baseline, ours, baseline, ours, ...); medians are reported.
2. Peak memory (max RSS of a fresh process) of ``dkl-zoo predict`` at 1,000 and at 10,000 files: it must not
   grow with the folder.
3. onnxruntime against eager PyTorch on the CPU, batch-1 latency and batch-256 throughput, for WRN-10-1 (the
   shipped model) and WRN-34-10 (the CIFAR architecture, random weights: speed does not depend on them).

    python benchmarks/predict.py [--n 10000] [--repeats 3] [--workers 2] [--batch-size 256] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

NAME = "ikl-at-fmnist-wrn10-1"


def write_pngs(root: Path, n: int) -> None:
    """The first n test images as <label>/<index>.png (ImageFolder's layout; predict takes any folder)."""
    from PIL import Image

    from dkl_zoo.data import load_fashion_mnist

    x, y = load_fashion_mnist(train=False)
    pixels = (x[:n, 0] * 255).round().to(torch.uint8).numpy()
    for i in range(n):
        folder = root / str(int(y[i]))
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels[i]).save(folder / f"{i:05d}.png")


def baseline(root: Path, batch_size: int, workers: int) -> float:
    """Images/s of ImageFolder + DataLoader + the model (what a user writes by hand)."""
    from PIL import Image
    from torchvision import datasets, transforms

    import dkl_zoo

    model = dkl_zoo.load(NAME)
    data = datasets.ImageFolder(str(root), transform=transforms.ToTensor(),
                                loader=lambda path: Image.open(path).convert("L"))
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, num_workers=workers)
    started = time.perf_counter()
    count = 0
    with torch.inference_mode():
        for x, _ in loader:
            probabilities = torch.softmax(model(x), dim=1)
            probabilities.topk(5, dim=1)
            count += len(x)
    return count / (time.perf_counter() - started)


def ours(root: Path, batch_size: int, workers: int, out: Path) -> float:
    """Images/s of `dkl-zoo predict` writing JSON (the command's own code, in this process)."""
    from dkl_zoo.cli import main

    n = sum(1 for _ in root.rglob("*.png"))
    started = time.perf_counter()
    code = main(["predict", NAME, str(root), "--format", "json", "--out", str(out), "--quiet",
                 "--batch-size", str(batch_size), "--workers", str(workers)])
    assert code == 0
    return n / (time.perf_counter() - started)


def peak_rss_mb(root: Path, batch_size: int, workers: int, out: Path) -> float:
    """Max RSS (MB) of a fresh `dkl-zoo predict` process, its DataLoader workers counted separately."""
    code = (
        "import resource, subprocess, sys\n"
        f"subprocess.run([sys.executable, '-m', 'dkl_zoo', 'predict', {NAME!r}, {str(root)!r}, '--format', 'json', "
        f"'--out', {str(out)!r}, '--quiet', '--batch-size', '{batch_size}', '--workers', '{workers}'], check=True)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(done.stdout.strip()) / 1024


def onnx_vs_eager(name: str, pretrained: bool, repeats: int) -> dict:
    import onnxruntime

    import dkl_zoo

    model = dkl_zoo.load(name, pretrained=pretrained)
    entry = dkl_zoo.model_info(name)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.onnx"
        started = time.perf_counter()
        dkl_zoo.export(model, path)
        export_seconds = time.perf_counter() - started
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])

        def eager(x: torch.Tensor) -> None:
            with torch.inference_mode():
                model(x)

        def runtime(x: torch.Tensor) -> None:
            session.run(["logits"], {"images": x.numpy()})

        result: dict = {"export_seconds": round(export_seconds, 1)}
        for label, batch, runs in (("batch1_latency_ms", 1, 30), ("batch256_images_per_s", 256, 3)):
            x = torch.rand(batch, *entry.arch.input_size)
            times: dict[str, list[float]] = {"eager": [], "onnxruntime": []}
            for fn in (eager, runtime):  # warm-up
                fn(x)
            for _ in range(max(1, repeats) * runs):
                for key, fn in (("eager", eager), ("onnxruntime", runtime)):
                    started = time.perf_counter()
                    fn(x)
                    times[key].append(time.perf_counter() - started)
            medians = {k: statistics.median(v) for k, v in times.items()}
            if batch == 1:
                result[label] = {k: round(1000 * v, 3) for k, v in medians.items()}
            else:
                result[label] = {k: round(batch / v, 1) for k, v in medians.items()}
            result[label]["onnxruntime_vs_eager"] = round(medians["eager"] / medians["onnxruntime"], 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="files in the folder")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-onnx", action="store_true")
    parser.add_argument("--out", default=None, help="write the results as JSON")
    args = parser.parse_args()
    report: dict = {"torch": torch.__version__, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
                    "n": args.n, "batch_size": args.batch_size, "workers": args.workers}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "images"
        write_pngs(root, args.n)
        rates: dict[str, list[float]] = {"imagefolder_loop": [], "dkl_zoo_predict": []}
        for _ in range(args.repeats):
            rates["imagefolder_loop"].append(baseline(root, args.batch_size, args.workers))
            rates["dkl_zoo_predict"].append(ours(root, args.batch_size, args.workers, Path(tmp) / "p.json"))
        medians = {k: statistics.median(v) for k, v in rates.items()}
        report["images_per_s"] = {k: round(v, 1) for k, v in medians.items()}
        report["images_per_s_runs"] = {k: [round(r, 1) for r in v] for k, v in rates.items()}
        report["predict_vs_imagefolder"] = round(medians["dkl_zoo_predict"] / medians["imagefolder_loop"], 3)
        small = Path(tmp) / "small"
        write_pngs(small, min(1000, args.n))
        report["peak_rss_mb"] = {
            "1000_files": round(peak_rss_mb(small, args.batch_size, args.workers, Path(tmp) / "s.json"), 1),
            f"{args.n}_files": round(peak_rss_mb(root, args.batch_size, args.workers, Path(tmp) / "b.json"), 1),
        }
    if not args.skip_onnx:
        report["onnx_vs_eager"] = {
            "wrn-10-1 (ikl-at-fmnist-wrn10-1)": onnx_vs_eager(NAME, True, args.repeats),
            "wrn-34-10 (ikl-at-cifar10-wrn34, random weights)": onnx_vs_eager("ikl-at-cifar10-wrn34", False, 1),
        }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
