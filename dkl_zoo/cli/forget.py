"""``dkl-zoo forget-original``: forget an original file trusted on first use; ``dkl-zoo forget-exports``: delete
the ONNX exports of ``predict``'s fast path."""

from __future__ import annotations

import argparse


def add_parsers(verbs) -> None:  # type: ignore[no-untyped-def]
    """Register this module's verbs on the ``dkl-zoo`` parser."""
    p = verbs.add_parser("forget-original", help="forget the original file trusted on first use for NAME")
    p.add_argument("name")
    p.add_argument("--cache-dir", default=None, help="the cache_dir the model was loaded with (default: DKL_ZOO_CACHE)")
    p.set_defaults(func=run_forget_original)
    p = verbs.add_parser(
        "forget-exports", help="delete the ONNX exports predict keeps in the cache (made again when needed)"
    )
    p.set_defaults(func=run_forget_exports)


def run_forget_original(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..original import forget_original
    from ..registry import get_entry

    entry = get_entry(args.name)
    if entry.weights.embedded_file is not None and entry.weights.repo is None:
        print(
            f"{args.name} ships inside the dkl_zoo package (its weights are {entry.weights.embedded_file}): it "
            "has no downloaded original file to forget, and nothing was changed"
        )
        return 0
    dropped = forget_original(args.name, Path(args.cache_dir) / "dkl_zoo" if args.cache_dir else None)
    print(
        f"{args.name}: forgot {len(dropped)} trusted original file(s) and the cached conversion; the next "
        "load downloads and trusts the current file, and says so"
    )
    return 0


def run_forget_exports(args: argparse.Namespace) -> int:
    from .._onnx_cache import forget_exports
    from .._terminal import printable

    folder, count = forget_exports()
    print(
        f"deleted {count} file(s) under {printable(str(folder))}; predict makes an entry's export again on its next use"
        if count
        else f"no exports kept under {printable(str(folder))}; nothing was changed"
    )
    return 0
