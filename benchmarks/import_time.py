"""Median wall time of ``python -c "import dkl_zoo"`` vs ``python -c "import torch"`` (fresh interpreters).

python benchmarks/import_time.py [--runs 9]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def median_seconds(code: str, runs: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=env)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    median_seconds("import dkl_zoo", 1)  # warm the file cache
    t_torch, t_zoo, t_list = [], [], []
    for _ in range(args.runs):  # interleaved, so drift hits both alike
        t_torch.append(median_seconds("import torch", 1))
        t_zoo.append(median_seconds("import dkl_zoo", 1))
        t_list.append(median_seconds("from dkl_zoo.cli import main; main(['list'])", 1))
    torch_s, zoo_s, list_s = (statistics.median(t) for t in (t_torch, t_zoo, t_list))
    print(f"import torch:   {torch_s:.3f} s (median of {args.runs})")
    print(f"import dkl_zoo: {zoo_s:.3f} s   ratio {zoo_s / torch_s:.2f}x (target <= 1.2x)")
    print(f"dkl-zoo list:   {list_s:.3f} s")


if __name__ == "__main__":
    main()
