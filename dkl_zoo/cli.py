"""The ``dkl-zoo`` command: thin verbs over the library.

Exit codes: 0 ok, 2 usage error, 1 failure (one line on stderr; the traceback with ``--debug``).
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
from typing import Callable, Sequence

from . import choices, settings

__all__ = ["main", "build_parser"]


def _entry_summary(name: str) -> dict:
    from dataclasses import asdict

    from .registry import get_entry

    entry = get_entry(name)
    info = asdict(entry)  # name, arch, weights, provenance: the entry's three parts
    info["arch"]["kwargs"] = dict(entry.arch.kwargs)
    info["arch"]["num_classes"] = entry.num_classes
    info["arch"]["normalization"] = entry.arch.normalization
    info["repo_id"] = entry.repo_id_in(settings.namespace())
    info["timm_name"] = entry.timm_name
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
    entries = [get_entry(n) for n in names]
    width = max(len(n) for n in names)
    data_width = max(len("dataset"), *(len(e.dataset) for e in entries))
    arch_width = max(len("architecture"), *(len(e.arch.label) for e in entries))
    print(f"{'name':<{width}}  {'dataset':<{data_width}}  {'architecture':<{arch_width}}  "
          "clean / AutoAttack (%)  source")
    for name, entry in zip(names, entries):
        head = entry.headline
        print(f"{name:<{width}}  {entry.dataset:<{data_width}}  {entry.arch.label:<{arch_width}}  "
              f"{head.clean_acc:5.2f} / {head.robust_acc:5.2f}         {head.source}")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from .registry import get_entry

    entry = get_entry(args.name)
    if args.json:
        print(json.dumps(_entry_summary(args.name), indent=2))
        return 0
    print(f"{entry.name}: {entry.arch.label}, {entry.dataset}, {entry.provenance.threat_model} eps {entry.provenance.eps_label}")
    if entry.weights.embedded_file is not None:
        print(f"  weights:        shipped in the dkl_zoo package ({entry.weights.embedded_file}); no Hub download")
    else:
        print(f"  Hub repo:       {entry.repo_id_in(settings.namespace())} (revision {entry.weights.revision or 'main, not pinned yet'})")
    print(f"  sha256:         {entry.weights.sha256 or 'not pinned yet (checked against the Hub ETag)'}")
    print(f"  input:          {entry.arch.input_size}, [0, 1]; normalisation {entry.arch.normalization}")
    print(f"  RobustBench:    {entry.provenance.robustbench_name or 'not listed'}")
    recipe = entry.provenance.recipe
    print(f"  recipe:         alpha {recipe.alpha}, beta {recipe.beta}, T {recipe.temperature}"
          + (f", gamma_aug {recipe.gamma_aug}" if recipe.gamma_aug is not None else "")
          + f" (source: {recipe.source})")
    print("  provenance (clean / AutoAttack %):")
    for result in entry.provenance.reported:
        print(f"    {result.source:<15} {result.clean_acc:5.2f} / {result.robust_acc:5.2f}   {result.reference}")
    for source in entry.weights.original_sources:
        print(f"  original:       {source.kind}: {source.url}")
    for note in entry.provenance.notes:
        print(f"  note:           {note}")
    return 0


def _cmd_download(args: argparse.Namespace) -> int:
    from .integrity import verify
    from .loading import _embedded
    from .registry import get_entry

    entry = get_entry(args.name)
    if entry.weights.embedded_file is not None and args.revision is None:
        verified = verify(_embedded(entry))  # shipped in the package: nothing to download
    else:
        from . import hub

        verified = hub.resolve(entry, revision=args.revision)
    print(f"{verified.path}  sha256 {verified.sha256} ({verified.checked_against})")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from .evaluation import evaluate, robustness_curve, write_robustbench_json

    if (args.name is None) == (args.checkpoint is None):
        raise _UsageError("give a registry NAME or --checkpoint PATH (one of them)")
    eps_given = _parse_eps(args.eps) if args.eps is not None else None
    plot_eps = [_parse_eps(e) for e in args.plot_eps] if args.plot_eps else None
    if args.plot and not plot_eps:
        raise _UsageError("--plot needs --plot-eps E [E ...] (e.g. 2/255 4/255 8/255)")
    _prepare_outputs(args.json_out, args.robustbench_json, args.plot, args.log, args.state)
    if args.robustbench_json and not args.nonstandard_ok:
        _check_leaderboard_run(args)
    kwargs = dict(dataset=args.dataset, threat_model=args.threat_model, n_examples=args.n_examples,
                  version=args.version, attacks=args.attacks, batch_size=args.batch_size, device=args.device,
                  data_dir=args.data_dir, seed=args.seed, log_path=args.log, state_path=args.state,
                  shard=tuple(args.shard) if args.shard else None, progress=not args.quiet)
    if args.checkpoint is not None:
        if args.arch is None:
            raise _UsageError("--checkpoint needs --arch NAME (the registry entry whose architecture it has)")
        from .loading import load
        from .registry import get_entry

        entry = get_entry(args.arch)
        if not os.path.isfile(args.checkpoint):
            raise _UsageError(f"--checkpoint {args.checkpoint}: no such file")
        model = load(entry, weights_file=args.checkpoint, device=args.device)
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
    from .evaluation import leaderboard_reasons
    from .registry import get_entry

    named = args.name or args.arch
    dataset = args.dataset or (get_entry(named).dataset if named else "cifar10")
    if args.shard:
        index, count = args.shard
        span = (index * args.n_examples // count, (index + 1) * args.n_examples // count)
    else:
        span = (0, args.n_examples)
    reasons = leaderboard_reasons(version=args.version, attacks=args.attacks or [], dataset=dataset,
                                  n_examples=span[1] - span[0], example_range=span)
    if reasons:
        raise _UsageError(f"--robustbench-json writes a leaderboard file, and this run would not be one "
                          f"({'; '.join(reasons)}); add --nonstandard-ok to write it marked unreliable")


def _parse_eps(text: str) -> float:
    import math

    try:
        if "/" in text:
            num, den = text.split("/", 1)
            value = float(num) / float(den)
        else:
            value = float(text)
    except (ValueError, ZeroDivisionError):
        raise _UsageError(f"eps must be a number or a fraction like 8/255, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise _UsageError(f"eps must be a positive number (e.g. 8/255), got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}")
    return value


def _prepare_outputs(*paths: str | None) -> None:
    """Create the folders of the output files now, so a bad path fails before hours of evaluation."""
    from pathlib import Path

    for path in paths:
        if path is None:
            continue
        target = Path(path)
        if target.is_dir():
            raise _UsageError(f"{path} is a folder; give a file name")
        if target.exists() and not target.is_file():
            raise _UsageError(f"{path} is not a regular file (a device or a pipe?); give a file name")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise _UsageError(f"cannot create the folder of {path}: {error.strerror or error}") from None
        if not os.access(target.parent, os.W_OK):
            raise _UsageError(f"cannot write {path}: its folder is not writable")


def _cmd_release(args: argparse.Namespace) -> int:
    from .pins import DEFAULT_PINS
    from .release import release

    if args.all and args.names:
        raise _UsageError("give NAMEs or --all, not both")
    if not args.all and not args.names:
        raise _UsageError("name the entries to release, or pass --all")
    if args.check_data is None and args.check_n != 1000:
        raise _UsageError("--check-n needs --check-data")
    release(None if args.all else args.names, namespace=args.namespace, pins_path=args.pins or str(DEFAULT_PINS),
            dry_run=args.dry_run, check_data=args.check_data, check_n=args.check_n, work_dir=args.work_dir,
            token=args.token, progress=not args.quiet, echo=lambda line: print(line, file=sys.stdout, flush=True))
    return 0


def _cmd_forget_original(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .original import forget_original
    from .registry import get_entry

    get_entry(args.name)
    dropped = forget_original(args.name, Path(args.cache_dir) / "dkl_zoo" if args.cache_dir else None)
    print(f"{args.name}: forgot {len(dropped)} trusted original file(s) and the cached conversion; the next "
          "load downloads and trusts the current file, and says so")
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from .convert import convert_checkpoint

    convert_checkpoint(args.src, args.name, args.out)
    return 0


def _cmd_publish(args: argparse.Namespace) -> int:
    from .publish import publish

    commit = publish(args.folder, args.repo_id, revision=args.revision, token=args.token)
    print(f"published {args.folder} to {args.repo_id}@{args.revision}: commit {commit}")
    return 0


def _cmd_cards(args: argparse.Namespace) -> int:
    from .cards import CARDS_DIR, stale_cards, write_cards
    from .registry import list_models

    folder = args.dir or CARDS_DIR
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


def _cmd_predict(args: argparse.Namespace) -> int:
    from .errors import ImageReadError
    from .prediction import predict_iter
    from .prediction_output import WRITERS

    if args.out:
        _prepare_outputs(args.out)
    to_terminal = args.out is None and sys.stdout.isatty()
    counts = {"predicted": 0, "failed": 0}

    def stream(out) -> None:  # type: ignore[no-untyped-def]
        writer = WRITERS[args.format](out, args.top_k)
        for result in predict_iter(args.name, args.paths, top_k=args.top_k, batch_size=args.batch_size,
                                   device=args.device, workers=args.workers,
                                   progress=not args.quiet and not to_terminal):
            counts["failed" if isinstance(result, ImageReadError) else "predicted"] += 1
            writer.write(result)
        writer.close()

    if args.out:
        from .prediction_output import write_atomically

        write_atomically(args.out, stream)
    else:
        stream(sys.stdout)
        sys.stdout.flush()
    if counts["failed"] or args.out:
        where = f" into {args.out}" if args.out else ""
        print(f"{counts['predicted']} image(s) predicted{where}"
              + (f"; {counts['failed']} file(s) could not be read (see their 'error')" if counts["failed"] else ""),
              file=sys.stderr)
    return 1 if counts["failed"] else 0


def _cmd_attack(args: argparse.Namespace) -> int:
    from .adversarial import attack_image, save_png
    from .attack_figure import attack_figure

    eps = _parse_eps(args.eps) if args.eps is not None else None
    _prepare_outputs(args.out, args.save_adv)
    names = [args.name] + ([args.compare] if args.compare else [])
    results = [attack_image(name, args.image, eps=eps, attack=args.attack, steps=args.steps, target=args.target,
                            seed=args.seed, device=args.device) for name in names]
    for result in results:
        print(result.summary())
    attack_figure(results).savefig(args.out)
    print(f"figure: {args.out}")
    if args.save_adv:
        from .prediction import predict

        first = results[0]
        save_png(first.adversarial, args.save_adv)
        again = predict(args.name, args.save_adv, top_k=1, device=args.device, progress=False)[0]
        print(f"adversarial image: {args.save_adv} (lossless PNG, Linf {first.linf:.4f} <= eps {first.eps:.4g} from the "
              f"8-bit input); read back, {args.name} answers {again}")
        if again.index != first.after.index:  # cannot happen with lossless files; said if it ever does
            print(f"warning: the saved file is classified {again.label}, not {first.after.label}", file=sys.stderr)
        if first.rounding_undid_attack:
            print("note: rounding to 8 bits undid the attack: the saved image is not adversarial", file=sys.stderr)
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .exporting import export

    result = export(args.name, args.out, format=args.format, dynamic_batch=not args.static_batch)
    batches = " and ".join(str(b) for b in result.checked_batches)
    print(f"{result.path}  sha256 {result.sha256}")
    print(f"  {result.format}; checked against PyTorch on real and random images at batch {batches}: max abs "
          f"logit difference {result.max_abs_diff:.2g}")
    return 0


class _UsageError(Exception):
    """A wrong combination of arguments: exit code 2, like argparse."""


def build_parser() -> argparse.ArgumentParser:
    """The ``dkl-zoo`` argument parser: one sub-command per verb, defaults shown in ``--help``."""
    parser = argparse.ArgumentParser(prog="dkl-zoo", description="The IKL-AT model zoo.")
    from . import __version__

    parser.add_argument("--version", action="version", version=f"dkl-zoo {__version__}")
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

    p = verbs.add_parser("eval", help="clean + AutoAttack accuracy, RobustBench protocol",
                         formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("name", nargs="?", default=None, help="registry name (or use --checkpoint)")
    p.add_argument("--checkpoint", default=None, help="a model.safetensors to evaluate instead")
    p.add_argument("--arch", default=None, help="with --checkpoint: the registry entry whose architecture it has")
    p.add_argument("--dataset", default=None, choices=list(choices.DATASETS),
                   help="test set (None: the entry's)")
    p.add_argument("--threat-model", default="Linf", choices=choices.THREAT_MODELS, help="norm of the attacks")
    p.add_argument("--eps", default=None, help="e.g. 8/255 (default: the entry's)")
    p.add_argument("--n-examples", type=_positive_int, default=10_000, help="first N test images")
    p.add_argument("--version", default="standard", choices=choices.AUTOATTACK_VERSIONS,
                   help="AutoAttack version (standard = RobustBench's)")
    p.add_argument("--attacks", nargs="+", default=None, choices=choices.AUTOATTACK_ATTACKS, help="with --version custom")
    p.add_argument("--batch-size", type=_positive_int, default=500, help="images per batch (GPU: 500-2500)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--data-dir", default="./data", help="CIFAR in torchvision's layout / Fashion-MNIST IDX files")
    p.add_argument("--seed", type=int, default=0, help="AutoAttack's seed")
    p.add_argument("--log", default=None, help="AutoAttack log file")
    p.add_argument("--state", default=None, help="state file: rerun the same command to resume")
    p.add_argument("--shard", type=int, nargs=2, metavar=("I", "N"), default=None,
                   help="evaluate the I-th of N contiguous slices")
    p.add_argument("--json-out", default=None, help="write the EvalResult as JSON")
    p.add_argument("--robustbench-json", default=None, help="write RobustBench's model_info JSON")
    p.add_argument("--nonstandard-ok", action="store_true",
                   help="write --robustbench-json for a non-standard run, marked unreliable")
    p.add_argument("--plot", default=None, help="robustness curve PNG (with --plot-eps)")
    p.add_argument("--plot-eps", nargs="+", default=None, help="eps values of the curve, e.g. 2/255 4/255 8/255")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_eval)

    p = verbs.add_parser("predict", help="class names and probabilities for image files and folders",
                         formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("name", help="registry name, e.g. ikl-at-fmnist-wrn10-1")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files and folders (searched recursively, sorted)")
    p.add_argument("--top-k", type=_positive_int, default=5, help="classes per image")
    p.add_argument("--format", default="table", choices=choices.PREDICTION_FORMATS)
    p.add_argument("--out", default=None, help="write the results to this file (whole or not at all)")
    p.add_argument("--batch-size", type=_positive_int, default=64, help="images per forward pass")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--workers", type=_non_negative_int, default=0, help="processes reading the files")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_predict)

    p = verbs.add_parser("attack", help="the adversarial example of an image, drawn as a figure",
                         formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("name", help="registry name")
    p.add_argument("image", help="an image file")
    p.add_argument("--eps", default=None, help="Linf budget, e.g. 8/255 (default: the entry's)")
    p.add_argument("--attack", default="apgd-ce", choices=choices.IMAGE_ATTACKS)
    p.add_argument("--steps", type=_positive_int, default=100, help="attack iterations")
    p.add_argument("--target", default=None, help="class name or index to aim at (default: any other class)")
    p.add_argument("--seed", type=int, default=0, help="seed of the attack's random start")
    p.add_argument("--out", required=True, metavar="FIG.png", help="the figure")
    p.add_argument("--save-adv", default=None, metavar="ADV.png", help="the adversarial image as a lossless PNG")
    p.add_argument("--compare", default=None, metavar="NAME2", help="attack a second model too (a row of the figure)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.set_defaults(func=_cmd_attack)

    p = verbs.add_parser("export", help="ONNX / TorchScript / ExportedProgram file, checked against PyTorch",
                         formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("name", help="registry name")
    p.add_argument("--format", default="onnx", choices=choices.EXPORT_FORMATS)
    p.add_argument("--out", required=True, help="the file to write")
    p.add_argument("--static-batch", action="store_true", help="fix the batch dimension at 1")
    p.set_defaults(func=_cmd_export)

    p = verbs.add_parser("convert", help="original checkpoint -> Hub repo folder (safetensors, config, card)")
    p.add_argument("src")
    p.add_argument("--name", required=True, help="registry entry the checkpoint belongs to")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_cmd_convert)

    p = verbs.add_parser("publish", help="upload a converted folder to the Hub; prints the commit to pin")
    p.add_argument("folder")
    p.add_argument("--repo-id", required=True)
    p.add_argument("--revision", default="main")
    p.add_argument("--token", default=None)
    p.set_defaults(func=_cmd_publish)

    p = verbs.add_parser("release", help="mirror original checkpoints to the Hub and pin them (maintainers)")
    p.add_argument("names", nargs="*", metavar="NAME", help="entries to release (or --all)")
    p.add_argument("--all", action="store_true", help="every released entry")
    p.add_argument("--namespace", required=True, help="Hub user or organisation, e.g. dkl-zoo")
    p.add_argument("--dry-run", action="store_true", help="print the plan; touch nothing")
    p.add_argument("--pins", default=None, help="pins file to update (default: dkl_zoo/pins.json of this install)")
    p.add_argument("--check-data", default=None, metavar="DIR",
                   help="refuse to publish unless clean accuracy on DIR's test set is within 3 sigma of the reported")
    p.add_argument("--check-n", type=_positive_int, default=1000, help="test images for --check-data (default 1000)")
    p.add_argument("--work-dir", default=None, help="where originals are kept between runs (default ~/.cache/dkl_zoo/release)")
    p.add_argument("--token", default=None, help="Hub token (default: HF_TOKEN / the saved login)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_release)

    p = verbs.add_parser("forget-original", help="forget the original file trusted on first use for NAME")
    p.add_argument("name")
    p.add_argument("--cache-dir", default=None, help="the cache_dir the model was loaded with (default: DKL_ZOO_CACHE)")
    p.set_defaults(func=_cmd_forget_original)

    p = verbs.add_parser("cards", help="write the model cards from the registry (or --check them)")
    p.add_argument("--check", action="store_true", help="exit 1 when a checked-in card is out of sync")
    p.add_argument("--dir", default=None, help="cards folder (default: model_cards/ of the checkout)")
    p.set_defaults(func=_cmd_cards)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one verb; returns the exit code (0 ok, 1 failure with a one-line message, 2 usage error)."""
    from .errors import InvalidArgumentError, UnknownModelError

    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except _UsageError as error:
        print(f"dkl-zoo {args.verb}: usage error: {error}", file=sys.stderr)
        return 2
    except InvalidArgumentError as error:
        if args.debug:
            raise
        print(f"dkl-zoo {args.verb}: usage error: {error}", file=sys.stderr)
        return 2
    except UnknownModelError as error:
        if args.debug:
            raise
        print(f"dkl-zoo {args.verb}: {_in_command_words(str(error))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `dkl-zoo list | head -1`: the reader has what it wanted; exit quietly, as Unix tools do
        _silence_stdout()
        return 141
    except OSError as error:
        if args.debug or error.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EIO) or _is_ours(error):
            if args.debug:
                raise
            print(f"dkl-zoo {args.verb}: {type(error).__name__}: {error}", file=sys.stderr)
            return 1
        _silence_stdout()
        print(f"dkl-zoo {args.verb}: cannot write the output: {error.strerror}", file=sys.stderr)
        return 1
    except Exception as error:  # one line for users, the traceback on request
        if args.debug:
            raise
        print(f"dkl-zoo {args.verb}: {type(error).__name__}: {_in_command_words(str(error))}", file=sys.stderr)
        return 1


def _in_command_words(message: str) -> str:
    """The library's remedies, said as the commands that do the same."""
    import re

    message = message.replace("dkl_zoo.list_models()", "`dkl-zoo list`")
    return re.sub(r"dkl_zoo\.original\.forget_original\('([^']+)'(?:, '([^']+)/dkl_zoo')?\)",
                  lambda m: f"`dkl-zoo forget-original {m.group(1)}" + (f" --cache-dir {m.group(2)}" if m.group(2)
                                                                         else "") + "`", message)


def _is_ours(error: BaseException) -> bool:
    from .errors import DklZooError

    return isinstance(error, DklZooError)


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush at exit does not fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    raise SystemExit(main())
