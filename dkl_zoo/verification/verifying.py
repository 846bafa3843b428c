"""``dkl_zoo.verify``: does this model, on this machine and in this pipeline, behave as its entry's reported
numbers say? Answered in minutes against the entry's reference record instead of hours of AutoAttack.

The checks run cheapest first and stop at the first decisive failure (``checks``): the fingerprint (seconds),
clean accuracy paired with the reference's flags, then the reference's attack protocol on a seeded sample of its
attacked images, as many as ``time_limit`` allows. The module is not named after the function, so importing it
cannot shadow the function on the package.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..errors import InvalidArgumentError
from ..registry import ModelEntry, get_entry
from .checks import (
    MIN_ROBUST,
    clean_check,
    fingerprint_check,
    logits_of,
    robust_check,
    tolerance_for,
)
from .diagnosis import likely_causes
from .locating import locate_reference, reference_for
from .reference import Reference
from .result import Check, Verification

__all__ = ["verify", "reference_for", "locate_reference"]  # the last two from .locating, kept importable here

CLEAN_SHARE = 0.25
"""The share of ``time_limit`` the clean check may take (forward passes); the robust check gets what is left."""


class _Subject:
    """The thing verified: a model (with gradients) or an exported file's runtime, where and how it computes."""

    def __init__(
        self,
        run: Callable[[torch.Tensor], torch.Tensor],
        *,
        module: nn.Module | None,
        device: torch.device,
        dtype: torch.dtype,
        label: str,
        no_gradients_reason: str | None = None,
    ) -> None:
        self.run, self.module, self.device, self.dtype, self.label = run, module, device, dtype, label
        self.no_gradients_reason = no_gradients_reason


def _subject(model_or_name: Any, entry: str | ModelEntry | None, device: Any) -> tuple[_Subject, ModelEntry]:
    from .._devices import run_device
    from .._model_fit import model_dtype
    from .exported import ExportedModel

    if isinstance(model_or_name, ExportedModel):
        known = get_entry(entry) if isinstance(entry, str) else entry or model_or_name.entry
        if known is None:
            raise InvalidArgumentError("this exported file does not name its entry: pass entry='<registry name>'")
        module = model_or_name.module
        target = run_device(module, device)  # an exported file's module is on the CPU
        return _Subject(
            model_or_name,
            module=module,
            device=target if module is not None else torch.device("cpu"),
            dtype=torch.float32,
            label=model_or_name.describe(),
            no_gradients_reason=model_or_name.no_gradients_reason,
        ), known
    from .._resolve import resolve_model

    if isinstance(model_or_name, nn.Module) and model_or_name.training:  # the fingerprint must see it as it is
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            model, known, target = resolve_model(model_or_name, entry=entry, device=device)
    else:
        model, known, target = resolve_model(model_or_name, entry=entry, device=device)
    return _Subject(model, module=model, device=target, dtype=model_dtype(model), label=type(model).__name__), known


def _check_arguments(
    time_limit: object, n_clean: object, n_robust: object, seed: object, progress: object, data_dir: object
) -> None:
    from .._arguments import checked_bool, checked_count, checked_seconds

    checked_seconds(time_limit, "time_limit")
    if n_clean is not None:
        checked_count(n_clean, "n_clean", 1)
    if n_robust is not None:
        checked_count(n_robust, "n_robust", 0)
    checked_count(seed, "seed", 0, below=2**63)
    checked_bool(progress, "progress")
    if not isinstance(data_dir, (str, os.PathLike)):
        raise InvalidArgumentError(f"data_dir must be a path (str or os.PathLike), got {type(data_dir).__name__}")


def verify(
    model_or_name: nn.Module | str | ModelEntry | Any,
    *,
    entry: str | ModelEntry | None = None,
    time_limit: float = 180.0,
    n_clean: int | None = None,
    n_robust: int | None = None,
    device: str | torch.device | None = None,
    data_dir: str | os.PathLike[str] = "./data",
    seed: int = 0,
    progress: bool = True,
) -> Verification:
    """Check that a model behaves as its entry's reference says, in minutes: the fingerprint, then clean and robust
    accuracy paired with the reference's per-example flags, each with exact 95 % intervals against every reported
    number; see docs/verify.md.

    ``model_or_name``: a registry name (loaded and verified), a model from ``load``, any model with ``entry=``
    (a fine-tuned copy, a wrapper, your own pipeline in front of the network), or an exported file opened with
    ``dkl_zoo.verification.open_checkpoint``. ``time_limit`` (seconds) sizes the clean and robust samples from
    measured per-image times; ``n_clean`` / ``n_robust`` fix them instead. ``device`` as for ``predict``,
    ``data_dir`` as for ``evaluate`` (the entry's test set), ``seed`` draws the robust sample.

    Raises:
        InvalidArgumentError: a bad argument, a model that does not fit its entry (checked before any work).
        IntegrityError: the entry's reference record is not the pinned file.
        MissingDependencyError: scipy (the statistics) or AutoAttack (the robust check):
            ``pip install 'dkl-zoo[eval]'``.
        DatasetNotFoundError: the entry's test set is not under ``data_dir`` and cannot be downloaded.
    """
    from tqdm.auto import tqdm

    from ..data import load_test_set
    from .statistics import scipy_stats

    _check_arguments(time_limit, n_clean, n_robust, seed, progress, data_dir)
    scipy_stats()  # the missing extra is named before any work
    started = time.monotonic()
    subject, known = _subject(model_or_name, entry, device)
    reference, found = reference_for(known)
    notes: list[str] = []
    if reference is None:
        notes.append(
            f"no paired check was possible: {found}; the clean and robust intervals are compared with the "
            "reported numbers only"
        )
    checks: list[Check] = []
    tolerance = tolerance_for(subject.device, subject.dtype)
    n_ref_clean = reference.clean_correct.numel() if reference is not None else 0
    wanted_clean = n_clean if n_clean is not None else (n_ref_clean or 1000)
    n_needed = max(
        wanted_clean,
        reference.fingerprint_logits.shape[0] if reference else 0,
        reference.protocol.n_examples if reference else 0,
    )
    x, y = load_test_set(known.dataset, n_needed, data_dir)

    fingerprint_logits = None
    if reference is not None:
        with tqdm(
            total=reference.fingerprint_logits.shape[0],
            unit="img",
            desc="fingerprint",
            disable=not progress,
            leave=False,
            dynamic_ncols=True,
        ) as bar:
            check, fingerprint_logits = fingerprint_check(
                subject.run, reference, x, subject.device, subject.dtype, tolerance, bar
            )
        checks.append(check)
    if checks and checks[-1].verdict == "inconsistent":
        return _finish(
            known,
            checks,
            subject,
            reference,
            found,
            notes,
            started,
            likely_causes(subject, known, reference, x, fingerprint_logits),
        )

    per_image = _forward_seconds(subject, x)
    budget_clean = CLEAN_SHARE * time_limit
    n = (
        min(wanted_clean, len(y))
        if n_clean is not None
        else min(wanted_clean, len(y), max(100, int(budget_clean / per_image)))
    )
    with tqdm(total=n, unit="img", desc="clean check", disable=not progress, leave=False, dynamic_ncols=True) as bar:
        check, _ = clean_check(
            subject.run,
            x[:n],
            y[:n],
            reference.clean_correct if reference else None,
            known,
            subject.device,
            subject.dtype,
            batch_size=100,
            bar=bar,
        )
    checks.append(check)
    if n < n_ref_clean:
        notes.append(
            f"the clean check used the first {n} of the reference's {n_ref_clean} images (the time limit); "
            f"all of them would narrow its interval to about ±{_half_width(check, n_ref_clean):.2f} points"
        )
    if check.verdict == "inconsistent":
        return _finish(
            known,
            checks,
            subject,
            reference,
            found,
            notes,
            started,
            likely_causes(subject, known, reference, x, fingerprint_logits, clean_only=True),
        )

    checks.append(_robust(subject, known, reference, x, y, n_robust, time_limit, started, seed, progress, notes))
    causes = (
        likely_causes(subject, known, reference, x, fingerprint_logits, robust_only=True)
        if checks[-1].verdict == "inconsistent"
        else []
    )
    return _finish(known, checks, subject, reference, found, notes, started, causes)


def _robust(
    subject: _Subject,
    known: ModelEntry,
    reference: Reference | None,
    x: torch.Tensor,
    y: torch.Tensor,
    n_robust: int | None,
    time_limit: float,
    started: float,
    seed: int,
    progress: bool,
    notes: list[str],
) -> Check:
    """The robust check, or why it was skipped."""
    import numpy as np

    if subject.no_gradients_reason is not None or subject.module is None:
        return Check("robust", "skipped", 0, 0.0, subject.no_gradients_reason or "the model has no gradients")
    if n_robust == 0:
        return Check("robust", "skipped", 0, 0.0, "not asked for (n_robust=0)")
    try:
        from .._compat import autoattack_module

        autoattack_module()
    except ImportError:
        from ..errors import MissingDependencyError

        raise MissingDependencyError("verify's robust check needs AutoAttack: pip install 'dkl-zoo[eval]'") from None
    protocol = reference.protocol if reference is not None else _entry_protocol(known)
    population = protocol.n_examples
    order = np.random.default_rng(seed).permutation(population).tolist()
    sample = order[:n_robust] if n_robust is not None else order
    budget = None if n_robust is not None else max(0.0, time_limit - (time.monotonic() - started))
    check = robust_check(
        subject.module,
        x,
        y,
        reference,
        protocol,
        known,
        subject.device,
        sample=sample,
        budget=budget,
        progress=progress,
    )
    if n_robust is None and check.images < population:
        per_image = check.numbers.get("seconds_per_image") or 0.0
        notes.append(
            f"the robust check attacked {check.images} of the reference's {population} images in the time "
            f"limit (about {per_image:.1f} s each); {4 * max(check.images, 1)} images (about "
            f"{4 * max(check.images, 1) * per_image / 60:.0f} minutes) would halve its interval, now "
            f"±{_half_width(check, check.images):.1f} points, and find a smaller one-sided excess"
        )
    if check.images < MIN_ROBUST and check.verdict == "inconclusive":
        notes.append(
            f"fewer than {MIN_ROBUST} attacked images cannot show consistency: give a larger time_limit or n_robust"
        )
    return check


def _entry_protocol(entry: ModelEntry) -> Any:
    from .reference import Protocol

    return Protocol(
        eps=entry.provenance.eps,
        norm=entry.provenance.threat_model,
        version="standard",
        attacks=("apgd-ce", "apgd-t", "fab-t", "square"),
        seed=0,
        n_examples=1000,
        batch_size=250,
        dataset=entry.dataset,
    )


def _half_width(check: Check, n: int) -> float:
    """Half the width (in points) of the 95 % interval of the check's accuracy with ``n`` images."""
    from .statistics import accuracy_interval

    accuracy = check.numbers.get("accuracy") or 0.0
    interval = accuracy_interval(round(accuracy * n), n)
    return 50 * (interval.high - interval.low)


def _forward_seconds(subject: _Subject, x: torch.Tensor) -> float:
    """Seconds per image of a forward pass, measured on a batch of 32."""
    batch = x[:32]
    logits_of(subject.run, batch[:2], subject.device, subject.dtype)  # warm-up
    begun = time.monotonic()
    logits_of(subject.run, batch, subject.device, subject.dtype)
    return max(1e-6, (time.monotonic() - begun) / len(batch))


def _verdict(checks: list[Check]) -> str:
    verdicts = [c.verdict for c in checks if c.verdict != "skipped"]
    if "inconsistent" in verdicts:
        return "inconsistent"
    if not verdicts or "inconclusive" in verdicts:
        return "inconclusive"
    return "consistent"


def _finish(
    known: ModelEntry,
    checks: list[Check],
    subject: _Subject,
    reference: Reference | None,
    found: str,
    notes: list[str],
    started: float,
    causes: list[str],
) -> Verification:
    from ..evaluation.result import library_versions

    described = (
        f"{found}; made by {reference.made_by or 'dkl-zoo reference'} under {reference.protocol.describe()}"
        if reference is not None
        else None
    )
    return Verification(
        entry=known.name,
        verdict=_verdict(checks),
        checks=tuple(checks),
        causes=tuple(causes),
        notes=tuple(notes),
        reference=described,
        environment={
            **library_versions(),
            "device": str(subject.device),
            "dtype": str(subject.dtype).removeprefix("torch."),
            "threads": str(torch.get_num_threads()),
            "subject": subject.label,
        },
        seconds=time.monotonic() - started,
    )
