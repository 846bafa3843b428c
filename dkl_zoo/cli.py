"""The ``dkl-zoo`` command: thin verbs over the library.

Exit codes: 0 ok, 2 usage error, 1 failure (one line on stderr; the traceback with ``--debug``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Callable, Sequence

__all__ = ["main", "build_parser"]


def _entry_summary(name: str) -> dict:
    from dataclasses import asdict

    from .registry import get_entry

    entry = get_entry(name)
    info = asdict(entry)
    info["arch_kwargs"] = dict(entry.arch_kwargs)
    info["repo_id"] = entry.repo_id
    info["normalization"] = entry.normalization
    return info


def _cmd_list(args: argparse.Namespace) -> int:
    from .registry import get_entry, list_models

    names = list_models(args.pattern)
    if args.json:
        print(json.dumps([_entry_summary(n) for n in names], indent=2))
        return 0
    if not names:
        print(f"no model matches {args.pattern!r}", file=sys.stderr)
        return 1
    width = max(len(n) for n in names)
    print(f"{'name':<{width}}  {'dataset':<8}  {'architecture':<40}  clean / AutoAttack (%)  source")
    for name in names:
        entry = get_entry(name)
        head = entry.headline
        print(f"{name:<{width}}  {entry.dataset:<8}  {entry.arch_label:<40}  "
              f"{head.clean_acc:5.2f} / {head.robust_acc:5.2f}         {head.source}")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from .registry import get_entry

    entry = get_entry(args.name)
    if args.json:
        print(json.dumps(_entry_summary(args.name), indent=2))
        return 0
    print(f"{entry.name}: {entry.arch_label}, {entry.dataset}, {entry.threat_model} eps {entry.eps_label}")
    print(f"  Hub repo:       {entry.repo_id} (revision {entry.revision or 'main, not pinned yet'})")
    print(f"  sha256:         {entry.sha256 or 'not pinned yet (checked against the Hub ETag)'}")
    print(f"  input:          {entry.input_size}, [0, 1]; normalisation {entry.normalization}")
    print(f"  RobustBench:    {entry.robustbench_name or 'not listed'}")
    recipe = entry.recipe
    print(f"  recipe:         alpha {recipe.alpha}, beta {recipe.beta}, T {recipe.temperature}"
          + (f", gamma_aug {recipe.gamma_aug}" if recipe.gamma_aug is not None else "")
          + f" (source: {recipe.source})")
    print("  provenance (clean / AutoAttack %):")
    for result in entry.reported:
        print(f"    {result.source:<15} {result.clean_acc:5.2f} / {result.robust_acc:5.2f}   {result.reference}")
    for source in entry.original_sources:
        print(f"  original:       {source.kind}: {source.url}")
    for note in entry.notes:
        print(f"  note:           {note}")
    return 0


def _cmd_download(args: argparse.Namespace) -> int:
    from . import hub
    from .registry import get_entry

    verified = hub.resolve(get_entry(args.name), revision=args.revision)
    print(f"{verified.path}  sha256 {verified.sha256} ({verified.checked_against})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dkl-zoo", description="The IKL-AT model zoo.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on failure")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    p = verbs.add_parser("list", help="list the registered checkpoints")
    p.add_argument("pattern", nargs="?", default=None, help="fnmatch pattern, e.g. '*cifar100*'")
    p.add_argument("--json", action="store_true", help="all metadata as JSON")
    p.set_defaults(func=_cmd_list)

    p = verbs.add_parser("info", help="all metadata and the provenance table of one checkpoint")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_info)

    p = verbs.add_parser("download", help="fetch and verify one checkpoint into the Hugging Face cache")
    p.add_argument("name")
    p.add_argument("--revision", default=None)
    p.set_defaults(func=_cmd_download)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # one line for users, the traceback on request
        if args.debug:
            raise
        print(f"dkl-zoo {args.verb}: {type(error).__name__}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
