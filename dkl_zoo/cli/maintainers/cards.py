"""``dkl-zoo cards``: write the model cards from the registry, or check them (maintainers)."""

from __future__ import annotations

import argparse
import sys

from .._common import UsageError


def add_parsers(verbs) -> None:  # type: ignore[no-untyped-def]
    """Register this module's verbs on the ``dkl-zoo`` parser."""
    p = verbs.add_parser("cards", help="write the model cards from the registry (or --check them)")
    p.add_argument("--check", action="store_true", help="exit 1 when a checked-in card is out of sync")
    p.add_argument("--dir", default=None, help="cards folder (default: model_cards/ of the checkout you are in)")
    p.set_defaults(func=run_cards)


def run_cards(args: argparse.Namespace) -> int:
    from ...maintainers.cards import checkout_cards_dir, stale_cards, write_cards
    from ...registry import list_models

    folder = args.dir or checkout_cards_dir()
    if folder is None:
        raise UsageError("not inside a dkl_zoo checkout: give the cards folder with --dir")
    if args.check:
        stale = stale_cards(folder)
        if stale:
            print(f"out of sync with the registry: {', '.join(stale)} (run `dkl-zoo cards`)", file=sys.stderr)
            return 1
        print(f"all {len(list_models())} cards in {folder} match the registry")
        return 0
    for path in write_cards(folder):
        print(path)
    return 0
