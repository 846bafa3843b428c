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
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (file, original text, mutant text): each original occurs exactly once in its file
MUTANTS = [
    ("evaluation/protocol.py", "model = _in_layout(copy.deepcopy(model).to(device), channels_last)",
     "model = _in_layout(copy.deepcopy(model).to(None), channels_last)"),
    ("evaluation/arguments.py", "out = model(x[:2].to(device))", "out = model(x[:2].to(None))"),
    ("evaluation/protocol.py", "check_model_output(model, x, DATASETS[dataset], device)",
     "check_model_output(model, x, DATASETS[dataset], None)"),
    ("evaluation/protocol.py", "device=device, seed=seed)", "device=None, seed=seed)"),
    ("evaluation/protocol.py", "_in_layout(load(entry, device=device), channels_last)",
     "_in_layout(load(entry, ), channels_last)"),
    ("evaluation/runner.py", "xb, yb = x[chunk].contiguous().to(self.device), y[chunk].clone().to(self.device)",
     "xb, yb = x[chunk].contiguous().to(None), y[chunk].clone().to(self.device)"),
    ("evaluation/runner.py", "run = _Run(adversary, model, x, y, batch_size=batch_size, device=device,",
     "run = _Run(adversary, model, x, y, batch_size=batch_size, device=None,"),
    ("_compat.py", "xb, yb = x[:batch_size].to(device), y[:batch_size].to(device)",
     "xb, yb = x[:batch_size].to(device), y[:batch_size].to(None)"),
    ("evaluation/runner.py", "autoattack_sanity_checks(adversary, model, x, y, batch_size, device, logger,",
     "autoattack_sanity_checks(adversary, model, x, y, batch_size, None, logger,"),
    ("_classes.py", "logits = model(x[start:start + batch_size].to(device))",
     "logits = model(x[start:start + batch_size].to(None))"),
    ("evaluation/runner.py", "self.model(self.x_adv[b:b + self.batch_size].to(self.device))",
     "self.model(self.x_adv[b:b + self.batch_size].to(None))"),
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
    done = subprocess.run([sys.executable, "-c", PROBE, device, str(package_parent)], env=env, cwd=package_parent,
                          capture_output=True, text=True, timeout=600)
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
        for file, original, mutant in MUTANTS:
            path = copy / file
            text = path.read_text()
            if text.count(original) != 1:
                raise SystemExit(f"{file}: {original!r} occurs {text.count(original)} times; update MUTANTS")
            path.write_text(text.replace(original, mutant))
            try:
                code, output = _run(Path(scratch), args.device)
            finally:
                path.write_text(text)
            caught = code != 0 or json.loads(output) != report["baseline"]
            report["mutants"].append({"file": file, "mutant": mutant, "caught": caught,
                                      "how": output[:200] if code != 0 else ("other numbers" if caught else "")})
            print(f"{'CAUGHT  ' if caught else 'SURVIVED'} {file}: {mutant}", flush=True)
            if args.out:
                Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    caught = sum(m["caught"] for m in report["mutants"])
    print(f"{caught} of {len(MUTANTS)} device mutants caught on {args.device}")


if __name__ == "__main__":
    main()
