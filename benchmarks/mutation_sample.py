"""Names of a random sample of mutmut mutants, for modules whose every mutant would take hours to check.

Run it in the mutation worktree after a first `mutmut run` has generated the mutants (`mutants/*.meta`):

    python benchmarks/mutation_sample.py dkl_zoo/evaluation.py 40 --seed 7 --skip merge_results write_robustbench_json
    OMP_NUM_THREADS=1 .venv/bin/mutmut run --max-children 2 $(python benchmarks/mutation_sample.py ...)

Functions named by --skip are left out of the sample (run them whole, by pattern, instead).
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path


def mutant_names(source: str) -> list[str]:
    """Every mutant mutmut generated for ``source`` (a path like dkl_zoo/evaluation.py), in a stable order."""
    meta = Path("mutants") / f"{source}.meta"
    if not meta.exists():
        raise SystemExit(f"{meta} not found: run `mutmut run` once in this worktree to generate the mutants")
    return sorted(json.loads(meta.read_text())["exit_code_by_key"])


def _function_parts(name: str) -> set[str]:
    """{"evaluate"} for ...x_evaluate__mutmut_3; {"RunState", "problems"} for ...xǁRunStateǁproblems__mutmut_8."""
    key = name.split("__mutmut_")[0].rsplit(".", 1)[-1]
    return {key[2:]} if key.startswith("x_") else set(key.split("ǁ")[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="mutated file, e.g. dkl_zoo/attack_runner.py")
    parser.add_argument("size", type=int, help="mutants to draw")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip", nargs="*", default=[], help="function names left out of the sample")
    args = parser.parse_args()
    pool = [name for name in mutant_names(args.source) if not set(args.skip) & _function_parts(name)]
    if args.size > len(pool):
        raise SystemExit(f"cannot draw {args.size} of the {len(pool)} mutants left")
    print("\n".join(random.Random(args.seed).sample(pool, args.size)))


if __name__ == "__main__":
    main()
