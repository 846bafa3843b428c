"""Clean + AutoAttack evaluation (``dkl_zoo.evaluate``; the module is not named after the function so the two
cannot shadow each other) with RobustBench's protocol: resumable, shardable, with its writers.

``evaluate`` reproduces ``robustbench.eval.benchmark`` (first ``n_examples`` test images in order, clean
accuracy, then AutoAttack ``standard`` at the given eps) and adds what a multi-hour run needs: a state
file that survives interruption, shards for several GPUs, progress bars, and results that carry their
configuration and library versions.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import torch
from torch import nn

from .autoattack_adapter import ATTACKS, DEFAULT_SEED, VERSIONS, make_adversary
from .choices import DATASETS, TEST_SIZES, THREAT_MODELS
from .data import load_test_set
from .devices import checked_device
from .errors import InvalidArgumentError, ModelOutputError
from .inputs import checked_images, checked_labels
from .registry import ModelEntry, get_entry

if TYPE_CHECKING:
    import matplotlib.figure

__all__ = ["EvalResult", "evaluate", "merge_results", "write_robustbench_json", "robustness_curve",
           "nonstandard_reasons", "leaderboard_reasons", "write_curve_csv", "curve_figure"]



@dataclass
class EvalResult:
    """Accuracies are fractions in [0, 1]; counts make shard results exactly mergeable."""

    clean_acc: float
    robust_acc: float
    n_examples: int
    robust_acc_after: dict[str, float]
    eps: float
    threat_model: str
    version: str
    attacks: list[str]
    dataset: str
    seed: int
    batch_size: int
    seconds: float
    library_versions: dict[str, str]
    n_clean_correct: int
    n_robust: int
    robust_after_counts: dict[str, int]
    example_range: tuple[int, int]
    max_perturbation: float = 0.0
    model_name: str | None = None
    shard: tuple[int, int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """The result as JSON text; also written to ``path`` when given."""
        text = json.dumps(asdict(self), indent=2)
        if path is not None:
            Path(path).write_text(text + "\n")
        return text

    @classmethod
    def from_json(cls, text_or_path: str | os.PathLike[str]) -> "EvalResult":
        """A result written by ``to_json``, from its text or its file."""
        text = str(text_or_path)
        if not text.lstrip().startswith("{"):
            text = Path(text_or_path).read_text()
        data = json.loads(text)
        data["example_range"] = tuple(data["example_range"])
        data["shard"] = tuple(data["shard"]) if data.get("shard") else None
        return cls(**data)

    def summary(self) -> str:
        """Clean and robust accuracy, and robust accuracy after each attack, as printed by ``dkl-zoo eval``."""
        lines = [f"{self.model_name or 'model'} on {self.dataset}, first {self.n_examples} test images"
                 + (f" (shard {self.shard[0]} of {self.shard[1]})" if self.shard else "")
                 + f", {self.threat_model} eps {self.eps:.5f}, AutoAttack {self.version}"]
        lines.append(f"  clean accuracy:  {100 * self.clean_acc:.2f}%")
        for attack, acc in self.robust_acc_after.items():
            lines.append(f"  after {attack:<8} {100 * acc:.2f}%")
        lines.append(f"  robust accuracy: {100 * self.robust_acc:.2f}%   ({self.seconds:.1f} s)")
        return "\n".join(lines)


def _versions() -> dict[str, str]:
    versions = {"torch": torch.__version__}
    for dist_name in ("dkl-zoo", "pyautoattack", "autoattack", "robustbench"):
        try:
            versions[dist_name] = metadata.version(dist_name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def _check_eps(eps: float, threat_model: str) -> None:
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps) or eps <= 0:
        raise InvalidArgumentError(f"eps must be a positive number, got {eps!r}")
    if threat_model == "Linf" and eps > 1:
        raise InvalidArgumentError(
            f"eps={eps} is larger than 1, but inputs are [0, 1] images: an Linf eps is a fraction of the pixel "
            f"range. Did you give it in pixels? Use eps={eps}/255 = {eps / 255:.5f}."
        )


def _check_attacks(version: str, attacks: Sequence[str] | None) -> list[str] | None:
    if version not in VERSIONS:
        raise InvalidArgumentError(f"unknown AutoAttack version {version!r}; known: {', '.join(VERSIONS)}")
    if attacks is None:
        if version == "custom":
            raise InvalidArgumentError(f"version='custom' needs attacks=[...] from {', '.join(ATTACKS)}")
        return None
    if version != "custom":
        raise InvalidArgumentError(
            f"attacks=... needs version='custom' (version {version!r} fixes its own attacks)"
        )
    unknown = [a for a in attacks if a not in ATTACKS]
    if unknown or not attacks:
        raise InvalidArgumentError(f"unknown attack(s) {unknown or attacks}; known: {', '.join(ATTACKS)}")
    return list(attacks)


def _check_model_output(model: nn.Module, x: torch.Tensor, num_classes: int, device: Any) -> None:
    try:
        with torch.no_grad():
            out = model(x[:2].to(device))
    except RuntimeError as error:  # a shape torch cannot multiply: the data and the model do not fit
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InvalidArgumentError(
            f"the model cannot take the test images ({'×'.join(map(str, x.shape[1:]))} each): {first}. A model "
            "for another data set?"
        ) from None
    if not isinstance(out, torch.Tensor) or out.dim() != 2:
        raise ModelOutputError(f"the model must return B×C logits, got {type(out).__name__} "
                         f"{tuple(out.shape) if isinstance(out, torch.Tensor) else ''}")
    if out.shape[1] != num_classes:
        raise ModelOutputError(
            f"the model outputs {out.shape[1]} classes but the data set has {num_classes}: wrong model or "
            "dataset (a CIFAR-100 model on CIFAR-10?)"
        )
    if not torch.isfinite(out).all():
        raise ModelOutputError("the model returns NaN or infinite logits on clean test images")


def _shard_range(n: int, shard: tuple[int, int] | None) -> tuple[int, int]:
    if shard is None:
        return 0, n
    try:
        index, count = shard
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"shard must be (i, n) with 0 <= i < n, got {shard!r}") from None
    if not (isinstance(index, int) and isinstance(count, int) and count >= 1 and 0 <= index < count):
        raise InvalidArgumentError(f"shard must be (i, n) with 0 <= i < n, got {shard!r}")
    if count > n:
        raise InvalidArgumentError(f"cannot split {n} examples into {count} shards")
    return index * n // count, (index + 1) * n // count


def _process_group(shard: tuple[int, int] | None) -> tuple[int, int] | None:
    """(rank, world) when running as shard `rank` of a torch.distributed group of `world` processes."""
    if shard is None:
        return None
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and tuple(shard) == (dist.get_rank(), dist.get_world_size()):
        return dist.get_rank(), dist.get_world_size()
    return None


def _sync(flags: torch.Tensor, op: str) -> torch.Tensor:
    import torch.distributed as dist

    reduce_op = dist.ReduceOp.SUM if op == "sum" else dist.ReduceOp.MIN
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    buffer = flags.to(device)
    dist.all_reduce(buffer, op=reduce_op)
    return buffer.cpu()


def evaluate(
    model_or_name: nn.Module | str | ModelEntry,
    *,
    dataset: str | None = None,
    threat_model: str = "Linf",
    eps: float | None = None,
    n_examples: int = 10_000,
    version: str = "standard",
    attacks: Sequence[str] | None = None,
    batch_size: int = 500,
    device: str | torch.device = "cpu",
    data_dir: str | os.PathLike[str] = "./data",
    seed: int = DEFAULT_SEED,
    log_path: str | os.PathLike[str] | None = None,
    state_path: str | os.PathLike[str] | None = None,
    shard: tuple[int, int] | None = None,
    progress: bool = True,
    model_name: str | None = None,
    data: tuple[torch.Tensor, torch.Tensor] | None = None,
    channels_last: bool = True,
) -> EvalResult:
    """Clean and AutoAttack accuracy on the first ``n_examples`` test images, RobustBench's way.

    ``model_or_name``: a model taking [0, 1] images, or a registry name (loaded with ``dkl_zoo.load``). A
    model is moved to ``device`` (``nn.Module.to``, in place), as ``load`` puts its models there.
    ``eps=None`` is the entry's eps (8/255 for the CIFAR entries). ``state_path`` makes the run resumable:
    run the same call again after an interruption. ``shard=(i, n)`` evaluates the i-th of n contiguous
    slices; under ``torchrun`` with a process group of n ranks the ranks share every attack and the merged
    result (``merge_results``) is exactly that of one process. ``data`` replaces the data set (x, y).

    The protocol, RobustBench's defaults: ``dataset`` (default the entry's, else cifar10; the first
    ``n_examples`` test images from ``data_dir``), ``threat_model`` "Linf" or "L2", ``version`` "standard"
    (APGD-CE, APGD-T, FAB-T, Square), "plus", "rand", or "custom" with ``attacks``, ``batch_size`` per attack
    call, ``seed`` for every attack (AutoAttack's own default is the clock). ``log_path`` receives AutoAttack's
    log lines, ``progress`` shows progress bars, ``model_name`` labels the result (default: the entry's name).
    ``channels_last`` stores a convolutional model's weights in channels-last order while it is evaluated
    (1.36x faster forward and backward on CPU for the shipped model; the same float32 model and protocol:
    the flags equal those of the default layout); pass False to leave the model's layout alone.

    Raises:
        InvalidArgumentError: an argument that cannot work (checked before the model or data are loaded).
        EvaluationStateError: ``state_path`` holds another evaluation (other model, data or settings) or is
            not a consistent state; the file is left as it is.
        DatasetNotFoundError: the test set is not under ``data_dir`` and cannot be downloaded.
    """
    if not isinstance(model_or_name, (str, ModelEntry, nn.Module)):
        raise InvalidArgumentError(
            f"model_or_name must be a torch nn.Module, a registry name or a ModelEntry, got "
            f"{type(model_or_name).__name__} (wrap a function in an nn.Module: its weights identify the resume state)"
        )
    entry = (get_entry(model_or_name) if isinstance(model_or_name, str)
             else model_or_name if isinstance(model_or_name, ModelEntry) else None)
    model_name = model_name or (entry.name if entry is not None else None)
    dataset, eps, attacks = _checked_arguments(entry, dataset, threat_model, eps, version, attacks, batch_size,
                                               n_examples, data, shard)
    _check_run_arguments(seed, data_dir, log_path, state_path, model_name)
    device = checked_device(device)
    x_all, y_all = _checked_data(data, dataset, n_examples, data_dir, entry)  # before the model is loaded
    model = _model_on(model_or_name, entry, device, channels_last)
    lo, hi = _shard_range(len(y_all), shard)
    group = _process_group(shard)
    if group is None:
        x, y, own, rank, world, sync = x_all[lo:hi], y_all[lo:hi], None, 0, 1, None
    else:
        x, y, own, (rank, world), sync = x_all, y_all, slice(lo, hi), group, _sync
    _check_model_output(model, x, DATASETS[dataset], device)

    adversary = make_adversary(model, eps=eps, norm=threat_model, version=version, attacks=attacks,
                               device=device, seed=seed)
    from .attack_runner import run_autoattack

    started = time.monotonic()
    outcome = run_autoattack(
        adversary, model, x, y, batch_size=batch_size,
        config={"eps": eps, "norm": threat_model, "version": version, "seed": seed, "dataset": dataset,
                "range": [lo, hi]},
        state_path=Path(state_path) if state_path is not None else None, device=device, log_path=log_path,
        progress=progress, rank=rank, world=world, own=own, sync=sync,
    )
    counted = own or slice(0, len(y))
    n = hi - lo
    n_clean = int(outcome.clean_flags[counted].sum())
    n_robust = int(outcome.flags[counted].sum())
    return EvalResult(
        clean_acc=n_clean / n,
        robust_acc=n_robust / n,
        n_examples=n,
        robust_acc_after={a: c / n for a, c in outcome.robust_after.items()},
        eps=float(eps),
        threat_model=threat_model,
        version=version,
        attacks=list(adversary.attacks_to_run),
        dataset=dataset,
        seed=seed,
        batch_size=batch_size,
        seconds=outcome.seconds if state_path is not None else time.monotonic() - started,
        library_versions=_versions(),
        n_clean_correct=n_clean,
        n_robust=n_robust,
        robust_after_counts=dict(outcome.robust_after),
        example_range=(lo, hi),
        max_perturbation=outcome.max_perturbation,
        model_name=model_name,
        shard=tuple(shard) if shard is not None else None,
    )


def _checked_arguments(entry: ModelEntry | None, dataset: str | None, threat_model: str, eps: float | None,
                       version: str, attacks: Sequence[str] | None, batch_size: int, n_examples: int,
                       data: tuple[torch.Tensor, torch.Tensor] | None,
                       shard: tuple[int, int] | None) -> tuple[str, float, list[str] | None]:
    """Every argument checked before the model or the data are loaded; returns dataset, eps and attacks."""
    dataset = dataset or (entry.dataset if entry else "cifar10")
    if dataset not in DATASETS:
        raise InvalidArgumentError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")
    if entry is not None and entry.dataset != dataset:
        raise InvalidArgumentError(
            f"{entry.name} is a {entry.dataset} model; evaluating it on {dataset} means nothing (leave dataset "
            "out to use the entry's)"
        )
    if threat_model not in THREAT_MODELS:
        raise InvalidArgumentError(f"unknown threat model {threat_model!r}; known: {', '.join(THREAT_MODELS)}")
    if eps is None:
        eps = entry.provenance.eps if entry is not None else (8 / 255 if threat_model == "Linf" else 0.5)
    _check_eps(eps, threat_model)
    checked_attacks = _check_attacks(version, attacks)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidArgumentError(f"batch_size must be a positive integer, got {batch_size!r}")
    available = len(data[1]) if data is not None else TEST_SIZES[dataset]
    if isinstance(n_examples, bool) or not isinstance(n_examples, int) or n_examples < 1:
        raise InvalidArgumentError(f"n_examples must be a positive integer, got {n_examples!r}")
    if n_examples > available:
        where = "the data given" if data is not None else f"the {dataset} test set"
        raise InvalidArgumentError(f"n_examples={n_examples} is larger than {where} ({available} images)")
    _shard_range(n_examples, shard)
    return dataset, eps, checked_attacks


def _check_run_arguments(seed: object, data_dir: object, log_path: object, state_path: object,
                         model_name: object) -> None:
    """The arguments the protocol does not decide, refused before any data or model is loaded."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise InvalidArgumentError(f"seed must be an integer in [0, 2**63), got {seed!r}")
    for name, value in (("data_dir", data_dir), ("log_path", log_path), ("state_path", state_path)):
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise InvalidArgumentError(f"{name} must be a path (str or os.PathLike), got {type(value).__name__}")
    if model_name is not None and not isinstance(model_name, str):
        raise InvalidArgumentError(f"model_name must be a string, got {type(model_name).__name__}")


def _checked_data(data: tuple[torch.Tensor, torch.Tensor] | None, dataset: str, n_examples: int,
                  data_dir: str | os.PathLike[str], entry: ModelEntry | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n_examples`` images and labels, refused when a model would silently get them wrong: images
    outside [0, 1] or integer-valued, the wrong channel count for the entry, labels outside the classes."""
    if data is not None:
        if not isinstance(data, (tuple, list)) or len(data) != 2:
            raise InvalidArgumentError("data must be a pair (images, labels) of tensors")
        x, y = data[0], data[1]
        if isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor):
            x, y = x[:n_examples], y[:n_examples]
    else:
        x, y = load_test_set(dataset, n_examples, data_dir)
    channels = entry.arch.input_size[0] if entry is not None else None
    x = checked_images(x, channels=channels, what="the test images").contiguous().float()
    return x, checked_labels(y, n=len(x), num_classes=DATASETS[dataset], what="the test labels")


def _model_on(model_or_name: nn.Module | str | ModelEntry, entry: ModelEntry | None,
              device: torch.device | str, channels_last: bool) -> nn.Module:
    """The registry's verified model, or the caller's moved to ``device`` (as ``load`` does), in channels-last
    layout when asked and convolutional, warned about when it is in training mode."""
    if entry is not None:
        from .loading import load

        model = load(entry, device=device)
    else:
        model = model_or_name  # type: ignore[assignment]
        model.to(device)  # the attacks run where the model is
    if channels_last and any(p.dim() == 4 for p in model.parameters()):
        model.to(memory_format=torch.channels_last)  # in place, like .to(device): same values, faster kernels
    if model.training:
        warnings.warn("the model is in training mode; AutoAttack expects eval mode (call model.eval())",
                      RuntimeWarning, stacklevel=3)
    return model


def merge_results(results: Iterable[EvalResult]) -> EvalResult:
    """Combine shard results into the result of the whole set (counts are summed; seconds too)."""
    parts = sorted(results, key=lambda r: r.example_range)
    if not parts:
        raise InvalidArgumentError("merge_results needs at least one result")
    first = parts[0]
    keys = ("eps", "threat_model", "version", "attacks", "dataset", "seed")
    for part in parts[1:]:
        differing = [k for k in keys if getattr(part, k) != getattr(first, k)]
        if differing:
            raise InvalidArgumentError(f"cannot merge results of different evaluations (differ in {', '.join(differing)})")
    for before, after in zip(parts, parts[1:]):
        if before.example_range[1] != after.example_range[0]:
            raise InvalidArgumentError(
                f"shard ranges must be contiguous and non-overlapping: {before.example_range} then "
                f"{after.example_range}"
            )
    n = sum(p.n_examples for p in parts)
    n_clean = sum(p.n_clean_correct for p in parts)
    n_robust = sum(p.n_robust for p in parts)
    counts = {a: sum(p.robust_after_counts.get(a, 0) for p in parts) for a in first.robust_after_counts}
    return EvalResult(
        clean_acc=n_clean / n, robust_acc=n_robust / n, n_examples=n,
        robust_acc_after={a: c / n for a, c in counts.items()}, eps=first.eps, threat_model=first.threat_model,
        version=first.version, attacks=list(first.attacks), dataset=first.dataset, seed=first.seed,
        batch_size=first.batch_size, seconds=sum(p.seconds for p in parts),
        library_versions=first.library_versions, n_clean_correct=n_clean, n_robust=n_robust,
        robust_after_counts=counts, example_range=(parts[0].example_range[0], parts[-1].example_range[1]),
        max_perturbation=max(p.max_perturbation for p in parts), model_name=first.model_name, shard=None,
        extra={"merged_shards": len(parts)},
    )


def _eps_label(eps: float) -> str:
    pixels = eps * 255
    return f"{round(pixels)}/255" if abs(pixels - round(pixels)) < 1e-6 else f"{eps:g}"


def leaderboard_reasons(*, version: str, attacks: Sequence[str], dataset: str, n_examples: int,
                        example_range: tuple[int, int]) -> list[str]:
    """Why an evaluation with these settings is not a RobustBench leaderboard evaluation (empty when it is one):
    checked on a result, and by ``dkl-zoo eval`` on its arguments before hours of attacks."""
    reasons = []
    if version != "standard":
        reasons.append(f"AutoAttack version {version!r} ({', '.join(attacks)}), not 'standard'")
    full = TEST_SIZES.get(dataset)
    if full is not None and (n_examples != full or tuple(example_range) != (0, full)):
        reasons.append(f"{n_examples} test images {tuple(example_range)}, not all {full}")
    return reasons


def nonstandard_reasons(result: EvalResult) -> list[str]:
    """Why ``result`` is not a RobustBench leaderboard evaluation (empty when it is one)."""
    return leaderboard_reasons(version=result.version, attacks=result.attacks, dataset=result.dataset,
                               n_examples=result.n_examples, example_range=tuple(result.example_range))


def write_robustbench_json(result: EvalResult, path: str | os.PathLike[str], *,
                           entry: ModelEntry | str | None = None, nonstandard: bool = False,
                           **fields: Any) -> dict[str, Any]:
    """A RobustBench ``model_info/<dataset>/<threat_model>/<name>.json`` for ``result``.

    Fields come from the registry entry when given (link, name, authors, venue, architecture, footnote,
    reported) and from ``fields`` otherwise; accuracies are written as RobustBench writes them
    (percent strings with two decimals).

    Raises:
        InvalidArgumentError: ``result`` is not AutoAttack standard on the whole test set, so it cannot be a
            submission. ``nonstandard=True`` writes it anyway, marked ``"unreliable": true`` with a footnote
            saying how it differs.
    """
    from .registry import AUTHORS, PAPER_URL

    reasons = nonstandard_reasons(result)
    if reasons and not nonstandard:
        raise InvalidArgumentError(
            "not a RobustBench evaluation (" + "; ".join(reasons) + "): a submission file needs AutoAttack "
            "standard on the whole test set. Pass nonstandard=True to write it marked "
            "unreliable."
        )

    info: dict[str, Any] = {
        "link": "", "name": "", "authors": "", "additional_data": False, "number_forward_passes": 1,
        "dataset": result.dataset, "venue": "", "architecture": "", "eps": _eps_label(result.eps),
        "clean_acc": f"{100 * result.clean_acc:.2f}", "reported": "",
        "autoattack_acc": f"{100 * result.robust_acc:.2f}", "footnote": None, "unreliable": False,
    }
    if entry is not None:
        entry = get_entry(entry) if isinstance(entry, str) else entry
        head = entry.headline
        info.update(link=PAPER_URL, name="Decoupled Kullback-Leibler Divergence Loss", authors=AUTHORS,
                    venue=entry.provenance.venue, architecture=entry.arch.label.split(" (")[0],
                    reported=f"{head.robust_acc:.2f}", footnote=entry.provenance.footnote)
    unknown = set(fields) - set(info)
    if unknown:
        raise InvalidArgumentError(f"unknown RobustBench field(s) {sorted(unknown)}; known: {sorted(info)}")
    info.update(fields)
    if reasons:
        info["unreliable"] = True
        note = "NOT a standard RobustBench evaluation: " + "; ".join(reasons) + "."
        info["footnote"] = f"{info['footnote']} {note}" if info["footnote"] else note
    if info["footnote"] is None:
        del info["footnote"]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(info, indent=2) + "\n")
    return info


def robustness_curve(
    model_or_name: nn.Module | str | ModelEntry,
    eps_list: Sequence[float],
    *,
    png_path: str | os.PathLike[str],
    csv_path: str | os.PathLike[str] | None = None,
    **evaluate_kwargs: Any,
) -> list[EvalResult]:
    """Robust accuracy against eps: one ``evaluate`` per eps, a CSV (default: beside the PNG) and a PNG plot.

    Every eps is checked before the first evaluation starts. With ``state_path``, each eps keeps its own state
    (``curve.json`` becomes ``curve.eps-0.0314.json``, ...), so an interrupted curve resumes where it stopped. A
    registry name is loaded (and its sha256 verified) by each ``evaluate``: seconds, against AutoAttack's hours.
    """
    if not eps_list:
        raise InvalidArgumentError("eps_list must hold at least one eps")
    threat_model = evaluate_kwargs.get("threat_model", "Linf")
    for eps in eps_list:
        _check_eps(eps, threat_model)
    state_path = evaluate_kwargs.pop("state_path", None)
    results = [evaluate(model_or_name, eps=float(e), state_path=_state_for_eps(state_path, float(e)), **evaluate_kwargs)
               for e in sorted(eps_list)]
    write_curve_csv(results, Path(csv_path) if csv_path is not None else Path(png_path).with_suffix(".csv"))
    curve_figure(results).savefig(png_path)
    return results


def _state_for_eps(state_path: str | os.PathLike[str] | None, eps: float) -> Path | None:
    """The state file of one eps of a curve: ``name.eps-<eps>.suffix`` beside the one given."""
    if state_path is None:
        return None
    path = Path(state_path)
    return path.with_name(f"{path.stem}.eps-{eps:.6g}{path.suffix}")


def write_curve_csv(results: Sequence[EvalResult], path: str | os.PathLike[str]) -> None:
    """One row per eps: eps, eps in pixels (x 1/255), clean and robust accuracy, images, AutoAttack version."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["eps", "eps_pixels", "clean_acc", "robust_acc", "n_examples", "version"])
        for r in results:
            writer.writerow([f"{r.eps:.6f}", f"{r.eps * 255:.3f}", f"{r.clean_acc:.4f}", f"{r.robust_acc:.4f}",
                             r.n_examples, r.version])


def curve_figure(results: Sequence[EvalResult]) -> "matplotlib.figure.Figure":
    """AutoAttack accuracy (%) against eps in pixels, 600 x 420 px. A bare ``Figure``, not pyplot: no window,
    no backend switch, nothing left open in the caller's pyplot state."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5, 3.5), dpi=120)
    axis = figure.subplots()
    axis.plot([r.eps * 255 for r in results], [100 * r.robust_acc for r in results], marker="o")
    axis.set_xlabel(f"{results[0].threat_model} eps (x 1/255)")
    axis.set_ylabel("AutoAttack accuracy (%)")
    axis.set_ylim(0, 100)
    axis.set_title(f"{results[0].model_name or 'model'}: {results[0].dataset}, n={results[0].n_examples}")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    return figure
