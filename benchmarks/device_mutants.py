"""The device mutants that a CPU cannot decide, decided on a GPU.

mutmut's survivors in the evaluation and the attack runner include every mutant that drops a ``device``
argument (``.to(None)``, ``device=None``): on the CPU, where the test suite runs, they change nothing. This
script plants each one in a copy of the package, runs a small evaluation on ``--device`` in a fresh process,
and compares its flags, counts and adversarial labels with those of the unmutated code:

    python benchmarks/device_mutants.py --device cuda --out device_mutants.json

A mutant is "caught" when the run fails or its numbers differ. On the CPU every mutant survives (that is the
point: they are equivalent there), which is what ``--device cpu`` shows.
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    """One device argument dropped: in ``function`` of ``file``, the call to ``call`` (its callee as
    ``ast.unparse`` writes it) gets ``None`` for its argument ``argument`` (a position or a keyword), or loses the
    keyword (``drop``). Anchored on the syntax tree, not on text, so reformatting or moving code around inside the
    module does not lose it; renaming the function or the call does, and the test says which."""

    file: str
    function: str
    call: str
    argument: int | str
    drop: bool = False

    def plant(self, source: str) -> str:
        """``source`` with this mutant in place. Raises ValueError unless the call occurs exactly once."""
        tree = ast.parse(source)
        functions = [
            node
            for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == self.function
        ]
        calls = [
            node
            for function in functions
            for node in ast.walk(function)
            if isinstance(node, ast.Call) and ast.unparse(node.func) == self.call
        ]
        if len(calls) != 1:
            raise ValueError(f"{self.file}: {self.function}() calls {self.call}(...) {len(calls)} times, not once")
        (call,) = calls
        mutant = copy.deepcopy(call)
        if isinstance(self.argument, int):
            mutant.args[self.argument] = ast.Constant(None)
        elif self.drop:
            mutant.keywords = [k for k in mutant.keywords if k.arg != self.argument]
        else:
            for keyword in mutant.keywords:
                if keyword.arg == self.argument:
                    keyword.value = ast.Constant(None)
        if ast.unparse(mutant) == ast.unparse(call):
            raise ValueError(f"{self.file}: {self.call}(...) has no argument {self.argument!r}")
        lines = source.splitlines(keepends=True)
        start = sum(len(line) for line in lines[: call.lineno - 1]) + len(
            lines[call.lineno - 1].encode()[: call.col_offset].decode()
        )
        end = sum(len(line) for line in lines[: call.end_lineno - 1]) + len(
            lines[call.end_lineno - 1].encode()[: call.end_col_offset].decode()
        )
        return source[:start] + "(" + ast.unparse(mutant) + ")" + source[end:]

    def describe(self) -> str:
        return f"{self.function}: {self.call}(..., {self.argument}={'dropped' if self.drop else 'None'})"


MUTANTS = [
    Mutant("evaluation/protocol.py", "_model_on", "copy.deepcopy(model).to", 0),
    Mutant("evaluation/arguments.py", "check_model_output", "x[:2].to", 0),
    Mutant("evaluation/protocol.py", "evaluate", "check_model_output", 3),
    Mutant("evaluation/protocol.py", "evaluate", "make_adversary", "device"),
    Mutant("evaluation/protocol.py", "_model_on", "load", "device", drop=True),
    Mutant("evaluation/runner.py", "_attack", "x[chunk].contiguous().to", 0),
    Mutant("evaluation/runner.py", "run_autoattack", "_Run", "device"),
    Mutant("_compat.py", "autoattack_sanity_checks", "y[:batch_size].to", 0),
    Mutant("evaluation/runner.py", "run_autoattack", "autoattack_sanity_checks", 5),
    Mutant("_classes.py", "predicted_classes", "x[start:start + batch_size].to", 0),
    Mutant("evaluation/runner.py", "outcome", "self.x_adv[b:b + self.batch_size].to", 0),
]

PROBE = r"""
import json, sys, torch
import dkl_zoo
if not dkl_zoo.__file__.startswith(sys.argv[2]):
    raise SystemExit(f"imported {dkl_zoo.__file__}, not the copy under {sys.argv[2]}")
from helpers.colour_data import ColourClassifier, colour_set
from dkl_zoo.evaluation import evaluate
from dkl_zoo.evaluation.runner import run_autoattack
from dkl_zoo._autoattack import make_adversary
device = sys.argv[1]
model, x, y = colour_set(16, seed=1)
two = dict(version="custom", attacks=["apgd-ce", "apgd-dlr"], progress=False)
result = evaluate(model, data=(x, y), n_examples=16, batch_size=8, device=device, **two)
fm_x = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(0))
entry = evaluate("ikl-at-fmnist-wrn10-1", data=(fm_x, torch.arange(8) % 10), n_examples=8, batch_size=8,
                 device=device, **two)
runner_model = ColourClassifier().to(device)
adversary = make_adversary(runner_model, eps=8 / 255, version="custom", attacks=["apgd-ce"], seed=0, device=device)
outcome = run_autoattack(adversary, runner_model, x, y, batch_size=6, config={}, device=device,
                         keep_adversarial=True, progress=False)
print(json.dumps({"colour": [result.n_clean_correct, result.robust_after_counts],
                  "fmnist": [entry.n_clean_correct, entry.robust_after_counts],
                  "runner": [outcome.flags.tolist(), outcome.y_adv.tolist()]}))
"""


def _run(package_parent: Path, device: str) -> tuple[int, str]:
    paths = [str(package_parent), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, device, str(package_parent)],
        env=env,
        cwd=package_parent,
        capture_output=True,
        text=True,
        timeout=600,
    )
    last_lines = (done.stdout if done.returncode == 0 else done.stderr).strip().splitlines()
    return done.returncode, last_lines[-1] if last_lines else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    report: dict = {"device": args.device, "mutants": []}
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "dkl_zoo"
        shutil.copytree(ROOT / "dkl_zoo", copy, ignore=shutil.ignore_patterns("__pycache__"))
        code, baseline = _run(Path(scratch), args.device)
        if code != 0:
            raise SystemExit(f"the unmutated probe failed on {args.device}: {baseline}")
        report["baseline"] = json.loads(baseline)
        for mutant in MUTANTS:
            path = copy / mutant.file
            text = path.read_text()
            try:
                path.write_text(mutant.plant(text))
            except ValueError as error:
                raise SystemExit(f"{error}; update MUTANTS") from None
            try:
                code, output = _run(Path(scratch), args.device)
            finally:
                path.write_text(text)
            caught = code != 0 or json.loads(output) != report["baseline"]
            report["mutants"].append(
                {
                    "file": mutant.file,
                    "mutant": mutant.describe(),
                    "caught": caught,
                    "how": output[:200] if code != 0 else ("other numbers" if caught else ""),
                }
            )
            print(f"{'CAUGHT  ' if caught else 'SURVIVED'} {mutant.file}: {mutant.describe()}", flush=True)
            if args.out:
                Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    caught = sum(m["caught"] for m in report["mutants"])
    print(f"{caught} of {len(MUTANTS)} device mutants caught on {args.device}")


if __name__ == "__main__":
    main()
