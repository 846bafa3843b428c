"""The three checks of ``verify``, cheapest first: the behaviour fingerprint (logits of the first K test images),
clean accuracy paired with the reference's flags, and robust accuracy under the reference's attack protocol on a
seeded sample of the reference's attacked images, paired with its flags.

A model here is anything that maps a float N×C×H×W batch in [0, 1] to logits: an ``nn.Module`` (gradients, so
all three checks) or the runtime of an exported ONNX file (no gradients: no robust check).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..registry import ModelEntry
from .reference import Reference
from .result import Check
from .statistics import accuracy_interval, paired_flags

__all__ = [
    "Tolerance",
    "tolerance_for",
    "fingerprint_check",
    "clean_check",
    "robust_check",
    "logits_of",
    "MIN_CLEAN",
    "MIN_ROBUST",
]

FINGERPRINT_CHUNK = 16
"""Fingerprint images per forward pass: a failing model is stopped at the first chunk beyond tolerance."""
FIRST_CHUNK = 8
"""Images of the robust check's first batch, which measures the time per image."""
BUDGET_SHARE = 0.5
"""The share of the remaining time a batch is planned to take (from the slowest time per image seen): a batch of
robust images takes longer than one of images that the first attack breaks, and a batch that the time limit cuts
off is not counted, so batches shrink as the limit nears."""
MIN_CLEAN = 100
MIN_ROBUST = 20
"""Fewer paired images than these, without a decisive difference, is inconclusive rather than consistent."""


@dataclass(frozen=True)
class Tolerance:
    """How far a model's logits may be from the reference's and still be the same model: ``max |Δ| ≤ relative ·
    max(1, max |reference|)``, chosen per device and precision (see docs/verify.md for how it was measured)."""

    relative: float
    setting: str


def tolerance_for(device: torch.device, dtype: torch.dtype) -> Tolerance:
    """The fingerprint's tolerance for a model computing in ``dtype`` on ``device``."""
    if dtype in (torch.bfloat16, torch.float16):
        return Tolerance(5e-2, f"{str(dtype).removeprefix('torch.')}: 8 (bf16) or 11 (fp16) significant bits")
    if device.type == "cuda":
        tf32 = torch.backends.cuda.matmul.allow_tf32 or torch.backends.cudnn.allow_tf32
        return (
            Tolerance(1e-2, "CUDA with TF32 (10-bit mantissa in matmuls and convolutions)")
            if tf32
            else Tolerance(1e-3, "CUDA fp32")
        )
    if dtype == torch.float64:
        return Tolerance(1e-4, "float64 (the reference is float32)")
    return Tolerance(1e-4, f"{device.type.upper()} fp32")


def logits_of(
    model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """The model's logits on ``x`` as float32 on the CPU, without gradients."""
    with torch.no_grad():
        out = model(x.to(device=device, dtype=dtype))
    if not isinstance(out, torch.Tensor):
        out = torch.as_tensor(out)
    return out.detach().float().cpu()


def fingerprint_check(
    model: Callable[[torch.Tensor], torch.Tensor],
    reference: Reference,
    x: torch.Tensor,
    device: torch.device,
    dtype: torch.dtype,
    tolerance: Tolerance,
    bar: Any = None,
) -> tuple[Check, torch.Tensor]:
    """The first K images' logits against the reference's, chunk by chunk; stops at the first chunk beyond the
    tolerance. Returns the check and the logits computed (for the diagnosis of an inconsistent model)."""
    started = time.monotonic()
    expected = reference.fingerprint_logits
    scale = max(1.0, float(expected.abs().max()))
    computed: list[torch.Tensor] = []
    worst, done = 0.0, 0
    for start in range(0, len(expected), FINGERPRINT_CHUNK):
        got = logits_of(model, x[start : start + FINGERPRINT_CHUNK], device, dtype)
        want = expected[start : start + FINGERPRINT_CHUNK]
        if got.shape != want.shape:
            worst = math.inf
            computed.append(got)
            done += len(want)
            break
        computed.append(got)
        done += len(got)
        worst = max(worst, float((got - want).abs().max()))
        if bar is not None:
            bar.update(len(got))
        if worst > tolerance.relative * scale:
            break
    logits = torch.cat(computed) if computed else torch.empty(0)
    agree = (
        (logits.argmax(1) == expected[: len(logits)].argmax(1)).float().mean().item()
        if logits.dim() == 2 and logits.shape[1:] == expected.shape[1:]
        else 0.0
    )
    relative = worst / scale
    ok = relative <= tolerance.relative
    detail = (
        f"max |Δlogit| {worst:.3g} = {relative:.2g} of the logit scale (tolerance {tolerance.relative:g}, "
        f"{tolerance.setting}); top-1 agrees on {100 * agree:.1f} % of {done} images"
    )
    return Check(
        "fingerprint",
        "consistent" if ok else "inconsistent",
        done,
        time.monotonic() - started,
        detail,
        {
            "max_abs_diff": worst,
            "relative": relative,
            "tolerance": tolerance.relative,
            "setting": tolerance.setting,
            "top1_agreement": agree,
            "scale": scale,
        },
    ), logits


def _reported(entry: ModelEntry | None, which: str, interval: Any) -> list[dict[str, Any]]:
    """Each number the sources report (paper, AutoAttack log, RobustBench, ...), marked inside the interval or not."""
    if entry is None:
        return []
    return [
        {"source": r.source, "percent": getattr(r, which), "inside_95_interval": interval.contains(getattr(r, which))}
        for r in entry.provenance.reported
    ]


def clean_check(
    model: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    reference_flags: torch.Tensor | None,
    entry: ModelEntry | None,
    device: torch.device,
    dtype: torch.dtype,
    batch_size: int,
    bar: Any = None,
) -> tuple[Check, torch.Tensor]:
    """Clean accuracy on (x, y), paired with the reference's flags on the same images when there are some."""
    started = time.monotonic()
    flags = torch.empty(len(y), dtype=torch.bool)
    for start in range(0, len(y), batch_size):
        logits = logits_of(model, x[start : start + batch_size], device, dtype)
        flags[start : start + batch_size] = logits.argmax(1) == y[start : start + batch_size]
        if bar is not None:
            bar.update(len(logits))
    interval = accuracy_interval(int(flags.sum()), len(flags))
    numbers: dict[str, Any] = {
        "accuracy": interval.value,
        "interval_95": [interval.low, interval.high],
        "reported": _reported(entry, "clean_acc", interval),
    }
    if reference_flags is None:
        verdict, detail = _unpaired_verdict(numbers["reported"], len(flags), MIN_CLEAN), f"accuracy {interval}"
    else:
        paired = paired_flags(flags.tolist(), reference_flags[: len(flags)].tolist())
        numbers["paired"] = {"n": paired.n, "lost": paired.lost, "gained": paired.gained, "p_value": paired.p_value}
        verdict = (
            "inconsistent" if not paired.consistent else "consistent" if len(flags) >= MIN_CLEAN else "inconclusive"
        )
        detail = f"accuracy {interval}; {paired}"
    return Check("clean", verdict, len(flags), time.monotonic() - started, detail, numbers), flags


def _unpaired_verdict(reported: Sequence[dict[str, Any]], n: int, minimum: int) -> str:
    """Without reference flags: consistent when every reported number lies in the 95 % interval (and the sample
    is large enough), inconsistent when one lies outside, inconclusive without reported numbers."""
    if not reported or n < minimum:
        return "inconclusive"
    return "consistent" if all(r["inside_95_interval"] for r in reported) else "inconsistent"


def robust_check(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    reference: Reference | None,
    protocol: Any,
    entry: ModelEntry | None,
    device: torch.device,
    *,
    sample: Sequence[int],
    budget: float | None,
    progress: bool,
) -> Check:
    """The reference's attack protocol on ``sample`` (indices into the attacked images), chunk by chunk until
    the sample is done or ``budget`` seconds would be exceeded; flags paired with the reference's."""
    from tqdm.auto import tqdm

    from .._autoattack import make_adversary
    from ..errors import AttackTimeoutError
    from ..evaluation.runner import run_autoattack

    started = time.monotonic()
    flags: list[bool] = []
    used: list[int] = []
    chunk = FIRST_CHUNK if budget is not None else min(len(sample), protocol.batch_size)
    bar = tqdm(
        total=len(sample), unit="img", desc="robust check", disable=not progress, leave=False, dynamic_ncols=True
    )
    attacked: torch.nn.Module = model
    if budget is not None:
        from .._forward_deadline import ForwardDeadline

        attacked = ForwardDeadline(model, started + budget, "the robust check reached its time limit")
    per_image: float | None = None
    position = 0
    while position < len(sample):
        if budget is not None and per_image is not None:
            # the largest batch that fits in what is left (AutoAttack is cheaper per image in larger batches, so the
            # estimate from a smaller one errs on the safe side), at most the reference's batch size
            left = budget - (time.monotonic() - started)
            chunk = min(protocol.batch_size, int(BUDGET_SHARE * left / per_image))
            if chunk < 1:
                break
        indices = list(sample[position : position + chunk])
        adversary = make_adversary(
            attacked,
            eps=protocol.eps,
            norm=protocol.norm,
            version=protocol.version,
            attacks=list(protocol.attacks) if protocol.version == "custom" else None,
            device=device,
            seed=protocol.seed,
        )
        chunk_started = time.monotonic()
        try:
            outcome = run_autoattack(
                adversary,
                attacked,
                x[indices],
                y[indices],
                batch_size=len(indices),
                config={
                    "eps": protocol.eps,
                    "norm": protocol.norm,
                    "version": protocol.version,
                    "seed": protocol.seed,
                    "dataset": protocol.dataset,
                    "range": [0, len(indices)],
                },
                device=device,
                progress=False,
            )
        except AttackTimeoutError:
            break  # the time limit came in the middle of this batch: its images are not counted
        per_image = max(per_image or 0.0, (time.monotonic() - chunk_started) / len(indices))
        flags += outcome.flags.tolist()
        used += indices
        position += len(indices)
        bar.update(len(indices))
    bar.close()
    interval = accuracy_interval(sum(flags), len(flags))
    numbers: dict[str, Any] = {
        "accuracy": interval.value if flags else None,
        "interval_95": [interval.low, interval.high],
        "reported": _reported(entry, "robust_acc", interval),
        "protocol": protocol.describe(),
        "indices": used,
        "seconds_per_image": per_image,
    }
    if reference is None:
        verdict = _unpaired_verdict(numbers["reported"], len(flags), MIN_ROBUST)
        detail = f"robust accuracy {interval} under {protocol.describe()}"
    else:
        reference_flags = reference.robust_correct[used].tolist()
        paired = paired_flags(flags, reference_flags)
        numbers["paired"] = {"n": paired.n, "lost": paired.lost, "gained": paired.gained, "p_value": paired.p_value}
        verdict = (
            "inconsistent" if not paired.consistent else "consistent" if len(flags) >= MIN_ROBUST else "inconclusive"
        )
        detail = f"robust accuracy {interval}; {paired}"
    return Check("robust", verdict, len(flags), time.monotonic() - started, detail, numbers)
