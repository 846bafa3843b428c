"""``dkl-zoo export``: an ONNX / TorchScript / ExportedProgram file, checked before it is written."""

from __future__ import annotations

import argparse

from .. import _choices as choices


def add_parsers(verbs) -> None:  # type: ignore[no-untyped-def]
    """Register this module's verbs on the ``dkl-zoo`` parser."""
    p = verbs.add_parser(
        "export",
        help="ONNX / TorchScript / ExportedProgram file, checked against PyTorch",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("name", help="registry name")
    p.add_argument("--format", default="onnx", choices=choices.EXPORT_FORMATS)
    p.add_argument("--out", required=True, help="the file to write")
    p.add_argument("--static-batch", action="store_true", help="fix the batch dimension at 1")
    p.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    from .._terminal import printable
    from ..exporting import export

    result = export(args.name, args.out, format=args.format, dynamic_batch=not args.static_batch)
    batches = " and ".join(str(b) for b in result.checked_batches)
    print(f"{printable(str(result.path))}  sha256 {result.sha256}")
    print(
        f"  {result.format}; checked against PyTorch on real and random images at batch {batches}: max abs "
        f"logit difference {result.max_abs_diff:.2g}"
    )
    return 0
