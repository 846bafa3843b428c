"""``dkl-zoo convert``: an original checkpoint → a Hub repo folder (maintainers)."""

from __future__ import annotations

import argparse


def add_parsers(verbs) -> None:  # type: ignore[no-untyped-def]
    """Register this module's verbs on the ``dkl-zoo`` parser."""
    p = verbs.add_parser("convert", help="original checkpoint -> Hub repo folder (safetensors, config, card)")
    p.add_argument("src")
    p.add_argument("--name", required=True, help="registry entry the checkpoint belongs to")
    p.add_argument("--out", required=True)
    p.set_defaults(func=run_convert)


def run_convert(args: argparse.Namespace) -> int:
    from ..._integrity import file_digest
    from ...original.convert import convert_checkpoint

    out = convert_checkpoint(args.src, args.name, args.out)
    print(
        f"{args.name}: wrote {out} (model.safetensors sha256 {file_digest(out / 'model.safetensors')}; source "
        f"sha256 {file_digest(args.src)}). Once published, this sha256 and the Hub commit are its pin in a pins file "
        "(dkl_zoo/pins.json), which dkl-zoo release writes."
    )
    return 0
