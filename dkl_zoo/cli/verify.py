"""``dkl-zoo verify``: a model's behaviour checked against its entry's reference record, in minutes.

Exit codes: 0 consistent, 3 inconsistent, 4 inconclusive; 1 an error and 2 a usage error, as for every verb, so a
crash never reads as a verdict.
"""

from __future__ import annotations

import argparse

from ._common import non_negative_int, positive_int, prepare_outputs

EXIT_CODES = {"consistent": 0, "inconsistent": 3, "inconclusive": 4}


def add_parsers(verbs) -> None:  # type: ignore[no-untyped-def]
    """Register this module's verbs on the ``dkl-zoo`` parser."""
    p = verbs.add_parser(
        "verify",
        help="check a model's behaviour against its entry's reference, in minutes",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Exit codes: 0 consistent, 3 inconsistent, 4 inconclusive, 1 error, 2 usage error.",
    )
    p.add_argument("name", help="registry name, e.g. ikl-at-fmnist-wrn10-1")
    p.add_argument(
        "--checkpoint",
        default=None,
        metavar="FILE",
        help="check this file against NAME: a safetensors weights file, or an ONNX / TorchScript / "
        "ExportedProgram file written by dkl-zoo export (told apart by content)",
    )
    p.add_argument(
        "--time-limit",
        type=float,
        default=180.0,
        metavar="SECONDS",
        help="sizes the clean and robust samples from measured per-image times",
    )
    p.add_argument("--n-clean", type=positive_int, default=None, help="clean images (default: sized by the time limit)")
    p.add_argument(
        "--n-robust", type=non_negative_int, default=None, help="attacked images (default: sized by the time limit)"
    )
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: the CPU)")
    p.add_argument("--data-dir", default="./data", help="where the entry's test set is (or is downloaded to)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="draws the robust sample")
    p.add_argument("--json-out", default=None, metavar="FILE", help="the verification as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    import math

    from .._terminal import printable
    from ._common import UsageError

    if not (math.isfinite(args.time_limit) and args.time_limit > 0):
        raise UsageError(f"--time-limit must be a positive number of seconds, got {args.time_limit}")
    prepare_outputs({"--json-out": args.json_out}, inputs=[args.checkpoint] if args.checkpoint else [])
    from ..registry import get_entry
    from ..verification import open_checkpoint, verify

    entry = get_entry(args.name)
    if args.checkpoint is not None:
        import os

        if not os.path.isfile(args.checkpoint):
            raise UsageError(f"--checkpoint {printable(args.checkpoint)}: no such file")
        subject: object = open_checkpoint(args.checkpoint, entry)
        result = verify(
            subject,
            entry=entry,
            time_limit=args.time_limit,  # type: ignore[arg-type]
            n_clean=args.n_clean,
            n_robust=args.n_robust,
            device=args.device,
            data_dir=args.data_dir,
            seed=args.seed,
            progress=not args.quiet,
        )
    else:
        result = verify(
            args.name,
            time_limit=args.time_limit,
            n_clean=args.n_clean,
            n_robust=args.n_robust,
            device=args.device if args.device is not None else "cpu",
            data_dir=args.data_dir,
            seed=args.seed,
            progress=not args.quiet,
        )
    print(result.summary())
    if args.json_out:
        result.to_json(args.json_out)
    return EXIT_CODES[result.verdict]
