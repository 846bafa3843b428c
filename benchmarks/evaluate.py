"""Wall time of ``dkl_zoo.evaluate`` vs ``robustbench.eval.benchmark``, same model, data and settings.

A small partly-robust model on a CIFAR-format test set written to a temporary folder (CIFAR is not
downloadable here); AutoAttack standard, Linf 8/255. Both runs in this process, alternating, median.

    python benchmarks/evaluate.py [--n 32] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from dkl_zoo.evaluation import evaluate  # noqa: E402
from dkl_zoo.integrations.robustbench import enable_robustbench  # noqa: E402
from helpers.colour_data import ColourClassifier, colour_images, labels_for, write_cifar  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    model = ColourClassifier()
    with tempfile.TemporaryDirectory() as tmp:
        images = colour_images(args.n, seed=2)
        written = write_cifar(Path(tmp), images, labels_for(model, images))
        cls = written["cls"]
        cls.train_list, cls.test_list, cls.meta = [], written["test"], written["meta"]
        enable_robustbench()
        from robustbench.eval import benchmark

        common = dict(n_examples=args.n, batch_size=args.batch_size, eps=8 / 255)
        ours_times, rb_times, results = [], [], set()
        for _ in range(args.runs):
            started = time.perf_counter()
            ours = evaluate(model, dataset="cifar10", data_dir=tmp, progress=False, **common)
            ours_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            rb = benchmark(
                model, dataset="cifar10", threat_model="Linf", data_dir=tmp, device=torch.device("cpu"), **common
            )
            rb_times.append(time.perf_counter() - started)
            results.add(((ours.clean_acc, ours.robust_acc), rb))
    t_ours, t_rb = statistics.median(ours_times), statistics.median(rb_times)
    print(f"n={args.n}, batch {args.batch_size}, AutoAttack standard, median of {args.runs} runs")
    print(f"results (ours, robustbench): {sorted(results)}")
    print(f"dkl_zoo.evaluate: {t_ours:.2f} s   robustbench.eval.benchmark: {t_rb:.2f} s")
    print(f"time ratio ours / robustbench: {t_ours / t_rb:.3f}  (target <= 1.05)")


if __name__ == "__main__":
    main()
