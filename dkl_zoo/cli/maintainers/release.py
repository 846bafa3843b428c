"""``dkl-zoo release``: mirror the original checkpoints to the Hub and pin them (maintainers)."""

from __future__ import annotations

import argparse
import sys

from .._common import UsageError, positive_int


def add_parsers(verbs) -> None:  # type: ignore[no-untyped-def]
    """Register this module's verbs on the ``dkl-zoo`` parser."""
    p = verbs.add_parser("release", help="mirror original checkpoints to the Hub and pin them (maintainers)")
    p.add_argument("names", nargs="*", metavar="NAME", help="entries to release (or --all)")
    p.add_argument("--all", action="store_true", help="every released entry")
    p.add_argument("--namespace", required=True, help="Hub user or organisation, e.g. dkl-zoo")
    p.add_argument("--dry-run", action="store_true", help="print the plan; touch nothing")
    p.add_argument("--pins", default=None, help="pins file to update (default: dkl_zoo/pins.json of this install)")
    p.add_argument(
        "--check-data",
        default=None,
        metavar="DIR",
        help="refuse to publish unless clean accuracy on DIR's test set is within 3 sigma of the reported",
    )
    p.add_argument("--check-n", type=positive_int, default=1000, help="test images for --check-data (default 1000)")
    p.add_argument(
        "--work-dir", default=None, help="where originals are kept between runs (default ~/.cache/dkl_zoo/release)"
    )
    p.add_argument("--token", default=None, help="Hub token (default: HF_TOKEN / the saved login)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--reference",
        action="append",
        default=[],
        metavar="FILE",
        help="a reference record (dkl-zoo reference) to publish beside the weights of the entry it names "
        "and pin (repeat for several)",
    )
    p.set_defaults(func=run_release)


def run_release(args: argparse.Namespace) -> int:
    from ..._pins import DEFAULT_PINS
    from ...maintainers.release import release

    if args.all and args.names:
        raise UsageError("give NAMEs or --all, not both")
    if not args.all and not args.names:
        raise UsageError("name the entries to release, or pass --all")
    if args.check_data is None and args.check_n != 1000:
        raise UsageError("--check-n needs --check-data")
    release(
        None if args.all else args.names,
        namespace=args.namespace,
        pins_path=args.pins or str(DEFAULT_PINS),
        dry_run=args.dry_run,
        check_data=args.check_data,
        check_n=args.check_n,
        work_dir=args.work_dir,
        token=args.token,
        progress=not args.quiet,
        echo=lambda line: print(line, file=sys.stdout, flush=True),
        references=args.reference,
    )
    return 0
