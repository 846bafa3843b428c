"""``dkl-zoo predict``: class names and probabilities for image files and folders, streamed."""

from __future__ import annotations

import argparse
import sys

from .. import _choices as choices
from ._common import non_negative_int, positive_int, prepare_outputs


def add_parsers(verbs) -> None:  # type: ignore[no-untyped-def]
    """Register this module's verbs on the ``dkl-zoo`` parser."""
    p = verbs.add_parser(
        "predict",
        help="class names and probabilities for image files and folders",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("name", help="registry name, e.g. ikl-at-fmnist-wrn10-1")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files and folders (searched recursively, sorted)")
    p.add_argument("--top-k", type=positive_int, default=5, help="classes per image")
    p.add_argument("--format", default="table", choices=choices.PREDICTION_FORMATS)
    p.add_argument("--out", default=None, help="write the results to this file (whole or not at all)")
    p.add_argument("--batch-size", type=positive_int, default=64, help="images per forward pass")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--workers", type=non_negative_int, default=0, help="processes reading the files")
    p.add_argument(
        "--backend",
        default="auto",
        choices=choices.PREDICTION_BACKENDS,
        help="auto: onnxruntime on the CPU when the 'export' extra is installed (the model's checked ONNX "
        "export, cached; the same answers), PyTorch otherwise",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_predict)


def run_predict(args: argparse.Namespace) -> int:
    from ..errors import ImageReadError
    from ..prediction import predict_iter
    from ._prediction_output import WRITERS

    if args.out:
        prepare_outputs({"--out": args.out}, inputs=args.paths)
    to_terminal = args.out is None and sys.stdout.isatty()
    counts = {"predicted": 0, "failed": 0}

    def stream(out) -> None:  # type: ignore[no-untyped-def]
        writer = WRITERS[args.format](out, args.top_k)
        for result in predict_iter(
            args.name,
            args.paths,
            top_k=args.top_k,
            batch_size=args.batch_size,
            device=args.device,
            workers=args.workers,
            backend=args.backend,
            progress=not args.quiet and not to_terminal,
        ):
            counts["failed" if isinstance(result, ImageReadError) else "predicted"] += 1
            writer.write(result)
        writer.close()

    if args.out:
        from ._prediction_output import write_atomically

        write_atomically(args.out, stream)
    else:
        stream(sys.stdout)
        sys.stdout.flush()
    if counts["failed"] or args.out:
        from .._terminal import printable

        where = f" into {printable(args.out)}" if args.out else ""
        print(
            f"{counts['predicted']} image(s) predicted{where}"
            + (f"; {counts['failed']} file(s) could not be read (see their 'error')" if counts["failed"] else ""),
            file=sys.stderr,
        )
    return 1 if counts["failed"] else 0
