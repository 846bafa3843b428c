"""Cached ``dkl_zoo.load`` of a full-size WRN-34-10 vs the RobustBench way, in one process.

RobustBench's way: construct the model (random initialisation), ``torch.load`` a pickled state dict,
``load_state_dict``. Ours: sha256 check of the cached safetensors file, meta-device build, strict
assignment. Weights are random, served by the local Hub-protocol server and cached before timing.

Two cases of ours: the registry as it is before publishing (revision ``main``: one HEAD request per load
to check freshness) and as it is once published (revision and sha256 pinned: no network at all).
The floor of both is hashing 185 MB (about 0.09-0.12 s on one core here): the ratio can never exceed
baseline / floor, so the script prints that bound too. It also times the first load in a fresh process
(after ``import torch``), where RobustBench's way pays for random initialisation and ours skips it.

    python benchmarks/load.py [--runs 7]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import dkl_zoo

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test Hub server lives there
from helpers.hub_server import HubServer  # noqa: E402


def median_seconds(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


FIRST_LOAD = """
import sys, time, torch
started = time.perf_counter()
import dkl_zoo
name, way, endpoint, cache, pickle_path = sys.argv[1:]
if way == "ours":
    dkl_zoo.load(name, endpoint=endpoint, cache_dir=cache)
else:
    net = dkl_zoo.build_model(name)
    net.load_state_dict(torch.load(pickle_path, map_location="cpu"))
    net.eval()
print(time.perf_counter() - started)
"""


def first_load_seconds(way: str, name: str, endpoint: str, cache: Path, pickle_path: Path) -> float:
    """Seconds from after ``import torch`` to a ready model, in a fresh interpreter."""
    args = [sys.executable, "-W", "ignore", "-c", FIRST_LOAD, name, way, endpoint, str(cache), str(pickle_path)]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    torch.manual_seed(0)
    name = "ikl-at-cifar10-wrn34"
    entry = dkl_zoo.model_info(name)
    model = dkl_zoo.build_model(name)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    with tempfile.TemporaryDirectory() as tmp, HubServer() as hub:
        from safetensors.torch import save_file

        weights = Path(tmp) / "model.safetensors"
        save_file(state, str(weights))
        data = weights.read_bytes()
        commit = hub.add_repo(entry.repo_id, {"model.safetensors": data})
        pinned = entry.with_weights(revision=commit, sha256=hashlib.sha256(data).hexdigest())
        pickle_path = Path(tmp) / "model.pt"
        torch.save(state, pickle_path)
        cache = Path(tmp) / "cache"
        dkl_zoo.load(name, endpoint=hub.url, cache_dir=cache)  # warm the cache
        dkl_zoo.load(pinned, endpoint=hub.url, cache_dir=cache)

        def ours() -> None:
            dkl_zoo.load(name, endpoint=hub.url, cache_dir=cache)

        def ours_pinned() -> None:
            dkl_zoo.load(pinned, endpoint=hub.url, cache_dir=cache)

        def robustbench_way() -> None:
            net = dkl_zoo.build_model(name)  # random init, as RobustBench's model zoo does
            net.load_state_dict(torch.load(pickle_path, map_location="cpu"))
            net.eval()

        first_ours = statistics.median(first_load_seconds("ours", name, hub.url, cache, pickle_path) for _ in range(3))
        first_rb = statistics.median(
            first_load_seconds("robustbench", name, hub.url, cache, pickle_path) for _ in range(3)
        )
        size_mb = weights.stat().st_size / 1e6
        ours()
        robustbench_way()
        t_ours = median_seconds(ours, args.runs)
        t_pinned = median_seconds(ours_pinned, args.runs)
        t_rb = median_seconds(robustbench_way, args.runs)
        started = time.perf_counter()
        hashlib.sha256(data).hexdigest()
        t_hash = time.perf_counter() - started
    print(f"weights: {size_mb:.0f} MB, median of {args.runs} runs, torch threads {torch.get_num_threads()}")
    print(f"sha256 of the bytes in memory (the floor):       {t_hash:.3f} s")
    print(f"dkl_zoo.load, cached, revision main (1 HEAD):    {t_ours:.3f} s")
    print(f"dkl_zoo.load, cached, pinned (no network):       {t_pinned:.3f} s")
    print(f"construct + torch.load + load_state_dict:        {t_rb:.3f} s")
    print(f"ratio, revision main: {t_rb / t_ours:.2f}x; pinned: {t_rb / t_pinned:.2f}x  (target >= 5x)")
    print(
        f"bound while every load hashes the file (baseline / floor): {t_rb / t_hash:.2f}x; "
        f"ours / floor: {t_pinned / t_hash:.2f}x"
    )
    print(
        f"first load in a fresh process, after import torch (median of 3): ours {first_ours:.2f} s, "
        f"RobustBench's way {first_rb:.2f} s, ratio {first_rb / first_ours:.2f}x"
    )


if __name__ == "__main__":
    main()
