"""``dkl-zoo reference``: an entry's reference record, from a finished ``dkl-zoo eval --state`` run (maintainers)."""

from __future__ import annotations

import argparse

from .._common import positive_int, prepare_outputs


def add_parsers(verbs) -> None:  # type: ignore[no-untyped-def]
    """Register this module's verbs on the ``dkl-zoo`` parser."""
    p = verbs.add_parser(
        "reference",
        help="write NAME's reference record from a finished eval --state run",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("name", help="registry name")
    p.add_argument("--state", required=True, help="the state file of a finished `dkl-zoo eval NAME --state FILE`")
    p.add_argument("--out", required=True, help="the record to write (publish it as reference.safetensors)")
    p.add_argument("--data-dir", default="./data", help="where the entry's test set is")
    p.add_argument("--n-clean", type=positive_int, default=None, help="clean flags (default: the whole test set)")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: the CPU)")
    p.set_defaults(func=run_reference)


def run_reference(args: argparse.Namespace) -> int:
    import shlex
    import sys

    from ..._integrity import file_digest
    from ...verification import make_reference, write_reference

    prepare_outputs({"--out": args.out}, inputs=[args.state])
    reference = make_reference(
        args.name,
        args.state,
        data_dir=args.data_dir,
        n_clean=args.n_clean,
        device=args.device,
        command="dkl-zoo " + shlex.join(sys.argv[1:]),
    )
    path = write_reference(reference, args.out)
    print(
        f"{path}  sha256 {file_digest(path)}: {args.name}, fingerprint of "
        f"{reference.fingerprint_logits.shape[0]} images, "
        f"{reference.clean_correct.numel()} clean flags ({100 * reference.clean_accuracy:.2f} %), "
        f"{reference.robust_correct.numel()} robust flags ({100 * reference.robust_accuracy:.2f} %) under "
        f"{reference.protocol.describe()}"
    )
    return 0
