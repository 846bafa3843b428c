"""``dkl-zoo download``: fetch and verify one entry's weights into the cache (for machines that are offline later)."""

from __future__ import annotations

import argparse


def add_parsers(verbs) -> None:  # type: ignore[no-untyped-def]
    """Register this module's verbs on the ``dkl-zoo`` parser."""
    p = verbs.add_parser("download", help="fetch and verify one checkpoint into the Hugging Face cache")
    p.add_argument("name")
    p.add_argument("--revision", default=None)
    p.set_defaults(func=run_download)


def run_download(args: argparse.Namespace) -> int:
    from ..loading import fetch_weights

    verified = fetch_weights(args.name, revision=args.revision)
    print(f"{verified.path}  sha256 {verified.sha256} ({verified.checked_against})")
    return 0
