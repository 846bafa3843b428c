"""``dkl-zoo publish``: upload a converted folder to the Hub (maintainers)."""

from __future__ import annotations

import argparse


def add_parsers(verbs) -> None:  # type: ignore[no-untyped-def]
    """Register this module's verbs on the ``dkl-zoo`` parser."""
    p = verbs.add_parser("publish", help="upload a converted folder to the Hub; prints the commit to pin")
    p.add_argument("folder")
    p.add_argument("--repo-id", required=True)
    p.add_argument("--revision", default="main")
    p.add_argument("--token", default=None)
    p.set_defaults(func=run_publish)


def run_publish(args: argparse.Namespace) -> int:
    from ...maintainers.publish import publish

    commit = publish(args.folder, args.repo_id, revision=args.revision, token=args.token)
    print(f"published {args.folder} to {args.repo_id}@{args.revision}: commit {commit}")
    return 0
