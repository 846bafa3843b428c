"""Time to a verdict of ``dkl_zoo.verify`` against the full AutoAttack run on the reference's images, and the
detection table: for each planted fault, the images each check needed to reach its verdict.

Everything in this process, on the shipped IKL-AT model and the real Fashion-MNIST test set. The full run is the
reference protocol (AutoAttack standard, Linf eps 0.1, seed 0, batch 250) on the first ``--baseline-images`` of
the reference's 1000 images, scaled to all 1000 by its per-image time (AutoAttack's cost grows with the images it
attacks; ``--baseline-images 1000`` measures the whole run).

    python benchmarks/verify.py [--baseline-images 100] [--time-limit 180] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import dkl_zoo  # noqa: E402
from dkl_zoo.verification import reference_for  # noqa: E402
from helpers.planted import Wrapped, noisy  # noqa: E402

NAME, STANDARD = "ikl-at-fmnist-wrn10-1", "standard-fmnist-wrn10-1"


def detection_table(model: torch.nn.Module) -> list[dict[str, object]]:
    """Each planted fault (and each harmless change) through ``verify`` without the robust check."""
    cases = {
        "the standard model's weights": dkl_zoo.load(STANDARD),
        "a wrapper feeding [-1, 1]": Wrapped(copy.deepcopy(model), lambda x: 2 * x - 1).eval(),
        "a wrapper feeding 0-255": Wrapped(copy.deepcopy(model), lambda x: 255 * x).eval(),
        "contrast x 0.98 in front": Wrapped(copy.deepcopy(model), lambda x: (x - 0.5) * 0.98 + 0.5).eval(),
        "weights with noise (1e-3 of |w|)": noisy(model, 1e-3),
        "train mode": copy.deepcopy(model).train(),
        "no fault: weights x (1 + 1e-7)": noisy(model, 0.0),
        "no fault: channels-last": copy.deepcopy(model).to(memory_format=torch.channels_last),
    }
    with torch.no_grad():
        for p in cases["no fault: weights x (1 + 1e-7)"].parameters():
            p.mul_(1 + 1e-7)
    rows = []
    for label, subject in cases.items():
        started = time.monotonic()
        result = dkl_zoo.verify(subject, entry=NAME, n_robust=0, progress=False)
        rows.append(
            {
                "case": label,
                "verdict": result.verdict,
                "seconds": round(time.monotonic() - started, 2),
                "checks": {c.name: {"verdict": c.verdict, "images": c.images} for c in result.checks},
                "cause": result.causes[0] if result.causes else "",
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-images", type=int, default=100)
    parser.add_argument("--time-limit", type=float, nargs="+", default=[180.0, 60.0])
    parser.add_argument("--json-out", default=None)
    args = parser.parse_args()
    model = dkl_zoo.load(NAME)
    reference, _ = reference_for(dkl_zoo.model_info(NAME))
    assert reference is not None
    protocol = reference.protocol

    verifications = []
    for limit in args.time_limit:
        started = time.monotonic()
        verification = dkl_zoo.verify(model, time_limit=limit, progress=False)
        verifications.append((limit, verification, time.monotonic() - started))
        print(verification.summary())

    started = time.monotonic()
    baseline = dkl_zoo.evaluate(
        model,
        dataset=protocol.dataset,
        eps=protocol.eps,
        n_examples=args.baseline_images,
        version=protocol.version,
        seed=protocol.seed,
        batch_size=protocol.batch_size,
        progress=False,
    )
    baseline_seconds = time.monotonic() - started
    full_seconds = baseline_seconds * protocol.n_examples / args.baseline_images
    rows = detection_table(model)
    report = {
        "threads": torch.get_num_threads(),
        "full_autoattack": {
            "images_measured": args.baseline_images,
            "seconds_measured": round(baseline_seconds, 1),
            "seconds_for_all": round(full_seconds, 1),
            "robust_acc": baseline.robust_acc,
        },
        "verify": [
            {
                "time_limit": limit,
                "verdict": v.verdict,
                "seconds": round(seconds, 1),
                "speedup": round(full_seconds / seconds, 1),
                "checks": {
                    c.name: {"verdict": c.verdict, "images": c.images, "seconds": round(c.seconds, 1)} for c in v.checks
                },
            }
            for limit, v, seconds in verifications
        ],
        "detection": rows,
    }
    print(
        f"\nthe full AutoAttack run on the reference's {protocol.n_examples} images: {full_seconds:.0f} s "
        f"(measured on "
        f"{args.baseline_images})"
    )
    for row in report["verify"]:
        robust = row["checks"].get("robust", {})
        print(
            f"verify, time limit {row['time_limit']:.0f} s: {row['verdict']} in {row['seconds']:.0f} s "
            f"({robust.get('images', 0)} images attacked): {row['speedup']}x faster"
        )
    print()
    print(f"{'case':<36} {'verdict':<13} {'fingerprint':>12} {'clean':>8}  cause")
    for row in rows:
        checks = row["checks"]
        fingerprint = checks.get("fingerprint", {}).get("images", "-")
        clean = checks.get("clean", {}).get("images", "-")
        print(f"{row['case']:<36} {row['verdict']:<13} {fingerprint:>12} {clean:>8}  {str(row['cause'])[:70]}")
    if args.json_out:
        with open(args.json_out, "w") as out:
            json.dump(report, out, indent=2)


if __name__ == "__main__":
    main()
