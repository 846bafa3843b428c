"""``dkl-zoo list`` and ``dkl-zoo info``: what the zoo holds, each number with its source."""

from __future__ import annotations

import argparse
import json
import sys

from .. import settings


def add_parsers(verbs) -> None:  # type: ignore[no-untyped-def]
    """Register this module's verbs on the ``dkl-zoo`` parser."""
    p = verbs.add_parser("list", help="list the registered checkpoints")
    p.add_argument("pattern", nargs="?", default=None, help="fnmatch pattern, e.g. '*cifar100*'")
    p.add_argument("--json", action="store_true", help="all metadata as JSON")
    p.set_defaults(func=run_list)

    p = verbs.add_parser("info", help="all metadata and the provenance table of one checkpoint")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_info)


def _entry_summary(name: str) -> dict:
    from dataclasses import asdict

    from ..registry import get_entry

    entry = get_entry(name)
    info = asdict(entry)  # name, arch, weights, provenance: the entry's three parts
    info["arch"]["kwargs"] = dict(entry.arch.kwargs)
    info["arch"]["num_classes"] = entry.num_classes
    info["arch"]["normalization"] = entry.arch.normalization
    info["repo_id"] = entry.repo_id_in(settings.namespace())
    info["timm_name"] = entry.timm_name
    metrics = entry.metrics
    if metrics is not None:  # torchvision's _metrics: a multiply-add counts two FLOPs here
        info["metrics"] = {
            "parameters": metrics.parameters,
            "flops": metrics.flops,
            "gflops": metrics.gflops,
            "flops_convention": "torch.utils.flop_counter: a multiply-add counts 2",
            "file_bytes": metrics.file_bytes,
        }
    return info


def run_list(args: argparse.Namespace) -> int:
    from ..registry import get_entry, list_models

    names = list_models(args.pattern)
    if args.json:
        print(json.dumps([_entry_summary(n) for n in names], indent=2))
        return 0
    if not names:
        print(f"no model matches {args.pattern!r}", file=sys.stderr)
        return 1
    entries = [get_entry(n) for n in names]
    width = max(len(n) for n in names)
    data_width = max(len("dataset"), *(len(e.dataset) for e in entries))
    arch_width = max(len("architecture"), *(len(e.arch.label) for e in entries))
    print(
        f"{'name':<{width}}  {'dataset':<{data_width}}  {'architecture':<{arch_width}}  params  GFLOPs  "
        "clean / AutoAttack (%)  source"
    )
    for name, entry in zip(names, entries):
        head = entry.headline
        size = f"{entry.metrics.parameters / 1e6:5.1f}M  {entry.metrics.gflops:6.2f}" if entry.metrics else " " * 14
        print(
            f"{name:<{width}}  {entry.dataset:<{data_width}}  {entry.arch.label:<{arch_width}}  {size}  "
            f"{head.clean_acc:5.2f} / {head.robust_acc:5.2f}         {head.source}"
        )
    return 0


def run_info(args: argparse.Namespace) -> int:
    from ..registry import get_entry

    entry = get_entry(args.name)
    if args.json:
        print(json.dumps(_entry_summary(args.name), indent=2))
        return 0
    provenance = entry.provenance
    print(f"{entry.name}: {entry.arch.label}, {entry.dataset}, {provenance.threat_model} eps {provenance.eps_label}")
    if entry.weights.embedded_file is not None:
        print(f"  weights:        shipped in the dkl_zoo package ({entry.weights.embedded_file}); no Hub download")
    else:
        revision = entry.weights.revision or "main, not pinned yet"
        print(f"  Hub repo:       {entry.repo_id_in(settings.namespace())} (revision {revision})")
    print(f"  sha256:         {entry.weights.sha256 or 'not pinned yet (checked against the Hub ETag)'}")
    print(f"  input:          {entry.arch.input_size}, [0, 1]; normalisation {entry.arch.normalization}")
    if entry.metrics is not None:
        print(f"  size:           {entry.metrics.describe()}")
    print(f"  RobustBench:    {entry.provenance.robustbench_name or 'not listed'}")
    recipe = entry.provenance.recipe
    print(
        f"  recipe:         alpha {recipe.alpha}, beta {recipe.beta}, T {recipe.temperature}"
        + (f", gamma_aug {recipe.gamma_aug}" if recipe.gamma_aug is not None else "")
        + f" (source: {recipe.source})"
    )
    print("  provenance (clean / AutoAttack %):")
    for result in entry.provenance.reported:
        print(f"    {result.source:<15} {result.clean_acc:5.2f} / {result.robust_acc:5.2f}   {result.reference}")
    for source in entry.weights.original_sources:
        print(f"  original:       {source.kind}: {source.url}")
    for note in entry.provenance.notes:
        print(f"  note:           {note}")
    return 0
