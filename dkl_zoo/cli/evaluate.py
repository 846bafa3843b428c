"""``dkl-zoo eval``: clean + AutoAttack accuracy with RobustBench's protocol, and its writers."""

from __future__ import annotations

import argparse
import os

from .. import _choices as choices
from ._common import UsageError, parse_eps, positive_int, prepare_outputs


def add_parsers(verbs) -> None:  # type: ignore[no-untyped-def]
    """Register this module's verbs on the ``dkl-zoo`` parser."""
    p = verbs.add_parser(
        "eval",
        help="clean + AutoAttack accuracy, RobustBench protocol",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("name", nargs="?", default=None, help="registry name (or use --checkpoint)")
    p.add_argument("--checkpoint", default=None, help="a model.safetensors to evaluate instead")
    p.add_argument("--arch", default=None, help="with --checkpoint: the registry entry whose architecture it has")
    p.add_argument("--dataset", default=None, choices=list(choices.DATASETS), help="test set (None: the entry's)")
    p.add_argument("--threat-model", default="Linf", choices=choices.THREAT_MODELS, help="norm of the attacks")
    p.add_argument("--eps", default=None, help="e.g. 8/255 (default: the entry's)")
    p.add_argument("--n-examples", type=positive_int, default=10_000, help="first N test images")
    p.add_argument(
        "--version",
        default="standard",
        choices=choices.AUTOATTACK_VERSIONS,
        help="AutoAttack version (standard = RobustBench's)",
    )
    p.add_argument(
        "--attacks", nargs="+", default=None, choices=choices.AUTOATTACK_ATTACKS, help="with --version custom"
    )
    p.add_argument("--batch-size", type=positive_int, default=500, help="images per batch (GPU: 500-2500)")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: the CPU, where the model is loaded)")
    p.add_argument("--data-dir", default="./data", help="CIFAR in torchvision's layout / Fashion-MNIST IDX files")
    p.add_argument("--seed", type=int, default=0, help="AutoAttack's seed")
    p.add_argument("--log", default=None, help="AutoAttack log file")
    p.add_argument("--state", default=None, help="state file: rerun the same command to resume")
    p.add_argument(
        "--shard", type=int, nargs=2, metavar=("I", "N"), default=None, help="evaluate the I-th of N contiguous slices"
    )
    p.add_argument("--json-out", default=None, help="write the EvalResult as JSON")
    p.add_argument("--robustbench-json", default=None, help="write RobustBench's model_info JSON")
    p.add_argument(
        "--nonstandard-ok",
        action="store_true",
        help="write --robustbench-json for a non-standard run, marked unreliable",
    )
    p.add_argument("--plot", default=None, help="robustness curve PNG (with --plot-eps)")
    p.add_argument("--plot-eps", nargs="+", default=None, help="eps values of the curve, e.g. 2/255 4/255 8/255")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    from ..evaluation import evaluate, robustness_curve, write_robustbench_json

    if (args.name is None) == (args.checkpoint is None):
        raise UsageError("give a registry NAME or --checkpoint PATH (one of them)")
    eps_given = parse_eps(args.eps) if args.eps is not None else None
    plot_eps = [parse_eps(e) for e in args.plot_eps] if args.plot_eps else None
    if args.plot and not plot_eps:
        raise UsageError("--plot needs --plot-eps E [E ...] (e.g. 2/255 4/255 8/255)")
    prepare_outputs(
        {
            "--json-out": args.json_out,
            "--robustbench-json": args.robustbench_json,
            "--plot": args.plot,
            "--log": args.log,
            "--state": args.state,
        },
        inputs=[args.checkpoint] if args.checkpoint else [],
    )
    if args.robustbench_json and not args.nonstandard_ok:
        _check_leaderboard_run(args)
    kwargs = dict(
        dataset=args.dataset,
        threat_model=args.threat_model,
        n_examples=args.n_examples,
        version=args.version,
        attacks=args.attacks,
        batch_size=args.batch_size,
        device=args.device,
        data_dir=args.data_dir,
        seed=args.seed,
        log_path=args.log,
        state_path=args.state,
        shard=tuple(args.shard) if args.shard else None,
        progress=not args.quiet,
    )
    if args.checkpoint is not None:
        if args.arch is None:
            raise UsageError("--checkpoint needs --arch NAME (the registry entry whose architecture it has)")
        from ..loading import load
        from ..registry import get_entry

        entry = get_entry(args.arch)
        if not os.path.isfile(args.checkpoint):
            raise UsageError(f"--checkpoint {args.checkpoint}: no such file")
        model = load(entry, weights_file=args.checkpoint, device=args.device or "cpu")
        target: object = model
        kwargs["model_name"] = str(args.checkpoint)
        kwargs["dataset"] = args.dataset or entry.dataset
        eps_default = entry.provenance.eps
    else:
        target = args.name
        eps_default = None
    eps = eps_given if eps_given is not None else eps_default
    if args.plot:
        results = robustness_curve(target, plot_eps, png_path=args.plot, **kwargs)
        for r in results:
            print(r.summary())
        return 0
    result = evaluate(target, eps=eps, **kwargs)
    print(result.summary())
    if args.json_out:
        result.to_json(args.json_out)
    if args.robustbench_json:
        write_robustbench_json(result, args.robustbench_json, entry=args.name, nonstandard=args.nonstandard_ok)
    return 0


def _check_leaderboard_run(args: argparse.Namespace) -> None:
    """``--robustbench-json`` writes a leaderboard file: refuse a run that could not be one before it starts."""
    from ..evaluation import leaderboard_reasons
    from ..registry import get_entry

    named = args.name or args.arch
    dataset = args.dataset or (get_entry(named).dataset if named else "cifar10")
    if args.shard:
        index, count = args.shard
        span = (index * args.n_examples // count, (index + 1) * args.n_examples // count)
    else:
        span = (0, args.n_examples)
    reasons = leaderboard_reasons(
        version=args.version,
        attacks=args.attacks or [],
        dataset=dataset,
        n_examples=span[1] - span[0],
        example_range=span,
    )
    if reasons:
        raise UsageError(
            f"--robustbench-json writes a leaderboard file, and this run would not be one "
            f"({'; '.join(reasons)}); add --nonstandard-ok to write it marked unreliable"
        )
