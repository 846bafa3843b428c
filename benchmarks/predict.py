"""Inference speed and memory, as ratios within one run (medians of alternating runs).

1. ``dkl-zoo predict`` on a folder of N Fashion-MNIST test images written as PNG, against the plain loop it
   replaces: torchvision's ``ImageFolder`` + ``DataLoader`` + the eager model, same batch size and workers
   (goal: >= 2x its images/s, with the same top-1 as ``--backend torch`` on every file). Where the time goes:
   the files read alone (decode and collate in the workers), the model alone (onnxruntime, eager), and the
   command's own work per image.
2. Warm single-image latency of ``predict(model, [file])`` (a model from ``load``, called again and again)
   against the entry's transform of the file plus an eager forward (goal: >= 3x faster), and of
   ``predict(name, [file])``, which loads the model on every call.
3. The first call's cost with an empty cache (export, its check against PyTorch, the session) for WRN-10-1 and
   WRN-34-10 (random weights, ``backend="onnxruntime"``).
4. Peak memory (max RSS of a fresh process) of ``dkl-zoo predict`` at 1,000 and at N files: flat.
5. onnxruntime against eager PyTorch, batch-1 latency and batch-256 throughput, WRN-10-1 and WRN-34-10.

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
    data = datasets.ImageFolder(
        str(root), transform=transforms.ToTensor(), loader=lambda path: Image.open(path).convert("L")
    )
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, num_workers=workers)
    started = time.perf_counter()
    count = 0
    with torch.inference_mode():
        for x, _ in loader:
            probabilities = torch.softmax(model(x), dim=1)
            probabilities.topk(5, dim=1)
            count += len(x)
    return count / (time.perf_counter() - started)


def ours(root: Path, batch_size: int, workers: int, out: Path, backend: str = "auto") -> float:
    """Images/s of `dkl-zoo predict` writing JSON (the command's own code, in this process)."""
    from dkl_zoo.cli import main

    n = sum(1 for _ in root.rglob("*.png"))
    started = time.perf_counter()
    code = main(
        [
            "predict",
            NAME,
            str(root),
            "--format",
            "json",
            "--out",
            str(out),
            "--quiet",
            "--batch-size",
            str(batch_size),
            "--workers",
            str(workers),
            "--backend",
            backend,
        ]
    )
    assert code == 0
    return n / (time.perf_counter() - started)


def where_time_goes(root: Path, batch_size: int, workers: int) -> dict:
    """Images/s of each stage alone: the files read by the workers (decode, transform, collate), the model in
    onnxruntime and in eager PyTorch, and the command's own work per batch (top-k, results, JSON)."""
    import io

    import dkl_zoo
    from dkl_zoo._onnx_cache import onnx_forward
    from dkl_zoo.cli._prediction_output import WRITERS
    from dkl_zoo.prediction import TopKForward, _collate, _expand, _Items

    entry = dkl_zoo.model_info(NAME)
    model = dkl_zoo.load(NAME)
    items, _ = _expand([root])
    started = time.perf_counter()
    count = 0
    for positions, _, _ in torch.utils.data.DataLoader(
        _Items(items, entry.transforms()), batch_size=batch_size, num_workers=workers, collate_fn=_collate
    ):
        count += len(positions)
    read = count / (time.perf_counter() - started)
    x = torch.rand(batch_size, *entry.arch.input_size)
    forward = onnx_forward(model, entry, "onnxruntime", share_cores=workers > 0)
    rates = {}
    for label, fn in (("onnxruntime", forward), ("eager", model)):
        with torch.inference_mode():
            fn(x)
            started = time.perf_counter()
            for _ in range(5):
                fn(x)
        rates[label] = 5 * batch_size / (time.perf_counter() - started)
    logits = forward(x)
    run = TopKForward(model, torch.device("cpu"), entry.categories, 5, NAME, forward=lambda _: logits)
    sink = io.StringIO()
    writer = WRITERS["json"](sink, 5)
    started = time.perf_counter()
    for _ in range(5):
        for result in run(x, [str(items[0])] * batch_size):
            writer.write(result)
    own = 5 * batch_size / (time.perf_counter() - started)
    return {
        "files_read_images_per_s": round(read, 1),
        "onnxruntime_images_per_s": round(rates["onnxruntime"], 1),
        "eager_images_per_s": round(rates["eager"], 1),
        "results_written_images_per_s": round(own, 1),
    }


def single_image_latency(file: Path, repeats: int) -> dict:
    """Milliseconds per call, medians of alternating rounds of 200 calls."""
    import dkl_zoo

    model = dkl_zoo.load(NAME)
    transform = dkl_zoo.model_info(NAME).transforms()

    def baseline_call() -> None:
        with torch.inference_mode():
            model(transform(file)[None])

    def predict_call() -> None:
        dkl_zoo.predict(model, [file], progress=False)

    def by_name() -> None:
        dkl_zoo.predict(NAME, [file], progress=False)

    calls = {"transform_plus_eager": baseline_call, "predict_model": predict_call, "predict_name": by_name}
    times: dict[str, list[float]] = {label: [] for label in calls}
    for fn in calls.values():
        fn()
    for _ in range(max(3, repeats * 3)):
        for label, fn in calls.items():
            rounds = 20 if label == "predict_name" else 200
            started = time.perf_counter()
            for _ in range(rounds):
                fn()
            times[label].append((time.perf_counter() - started) / rounds)
    medians = {label: statistics.median(values) for label, values in times.items()}
    return {
        **{f"{label}_ms": round(1000 * value, 4) for label, value in medians.items()},
        "predict_model_speedup": round(medians["transform_plus_eager"] / medians["predict_model"], 3),
        "predict_name_speedup": round(medians["transform_plus_eager"] / medians["predict_name"], 3),
    }


def first_call_seconds(file: Path) -> dict:
    """Seconds of the first predict with an empty cache (export + check + session), then of the second."""
    import dkl_zoo
    from dkl_zoo import _onnx_cache

    result = {}
    for name, pretrained in ((NAME, True), ("ikl-at-cifar10-wrn34", False)):
        with tempfile.TemporaryDirectory() as cache:
            os.environ["DKL_ZOO_CACHE"] = cache
            _onnx_cache.forget_sessions()
            model = dkl_zoo.load(name, pretrained=pretrained)
            x = torch.rand(1, *dkl_zoo.model_info(name).arch.input_size)
            started = time.perf_counter()
            dkl_zoo.predict(model, x, backend="onnxruntime", progress=False)
            first = time.perf_counter() - started
            started = time.perf_counter()
            dkl_zoo.predict(model, x, backend="onnxruntime", progress=False)
            result[name] = {"first_call_s": round(first, 2), "second_call_s": round(time.perf_counter() - started, 4)}
        os.environ.pop("DKL_ZOO_CACHE")
        _onnx_cache.forget_sessions()
    return result


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
    report: dict = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "n": args.n,
        "batch_size": args.batch_size,
        "workers": args.workers,
    }
    with tempfile.TemporaryDirectory() as tmp:
        if not os.environ.get("DKL_ZOO_CACHE"):  # a cache of the run's own unless one is chosen
            os.environ["DKL_ZOO_CACHE"] = str(Path(tmp) / "cache")
        root = Path(tmp) / "images"
        write_pngs(root, args.n)
        report["first_call"] = first_call_seconds(next(root.rglob("*.png")))
        ours(root, args.batch_size, args.workers, Path(tmp) / "warm.json")  # the export is made here, not timed
        rates: dict[str, list[float]] = {"imagefolder_loop": [], "dkl_zoo_predict": []}
        for _ in range(args.repeats):
            rates["imagefolder_loop"].append(baseline(root, args.batch_size, args.workers))
            rates["dkl_zoo_predict"].append(ours(root, args.batch_size, args.workers, Path(tmp) / "p.json"))
        medians = {k: statistics.median(v) for k, v in rates.items()}
        report["images_per_s"] = {k: round(v, 1) for k, v in medians.items()}
        report["images_per_s_runs"] = {k: [round(r, 1) for r in v] for k, v in rates.items()}
        report["predict_vs_imagefolder"] = round(medians["dkl_zoo_predict"] / medians["imagefolder_loop"], 3)
        torch_rate = ours(root, args.batch_size, args.workers, Path(tmp) / "t.json", backend="torch")
        report["predict_backend_torch_images_per_s"] = round(torch_rate, 1)
        fast, slow = (json.loads((Path(tmp) / f).read_text()) for f in ("p.json", "t.json"))
        report["top1_identical_to_torch"] = f"{sum(a['index'] == b['index'] for a, b in zip(fast, slow))}/{len(slow)}"
        report["largest_probability_difference"] = max(
            abs(a["probability"] - b["probability"]) for a, b in zip(fast, slow)
        )
        report["where_time_goes"] = where_time_goes(root, args.batch_size, args.workers)
        report["single_image"] = single_image_latency(next(root.rglob("*.png")), args.repeats)
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
