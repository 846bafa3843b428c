"""``dkl_zoo.attack_image``: the adversarial example of a user's own image, as an exact 8-bit picture.

The attack starts from the image as the model sees it (the entry's ``transforms()``), rounded to 8 bits, so
that the original and the adversarial image are both pictures a file can hold exactly. The attack's result
is rounded back to 8 bits inside the eps ball (each pixel moves by at most floor(eps·255)/255), and the
prediction reported for it is the model's answer on that 8-bit image: what a saved PNG gives, never the
float image it came from. When rounding undoes the attack, the result says so.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ._choices import IMAGE_ATTACKS
from ._resolve import resolve_model
from .errors import InvalidArgumentError
from .prediction import Prediction
from .registry import ModelEntry

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["ATTACKS", "AttackResult", "attack_image", "save_png", "read_png", "to_pil_image"]

ATTACKS = IMAGE_ATTACKS
"""``apgd-ce``: AutoAttack's APGD on cross-entropy (pyautoattack, the ``eval`` extra); ``pgd``: projected
gradient descent with sign steps of 2.5·eps/steps from a random start (Madry et al. 2018), no extra needed."""


@dataclass
class AttackResult:
    """One attacked image. ``original`` and ``adversarial`` are C×H×W float tensors holding 8-bit values
    (k / 255); ``before`` / ``after`` are the model's top predictions on them."""

    model_name: str
    eps: float
    attack: str
    steps: int
    seed: int
    target: int | None
    original: torch.Tensor
    adversarial: torch.Tensor
    before: Prediction
    after: Prediction
    after_float: Prediction
    """The prediction on the attack's float image, before rounding to 8 bits."""
    categories: tuple[str, ...] = field(repr=False, default=())

    @property
    def linf(self) -> float:
        """Largest pixel change of the 8-bit adversarial image, in [0, 1] units (at most ``eps``)."""
        return float((self.adversarial - self.original).abs().max())

    @property
    def succeeded(self) -> bool:
        """The 8-bit adversarial image is classified as the target (targeted) or as another class."""
        if self.target is not None:
            return self.after.index == self.target
        return self.after.index != self.before.index

    @property
    def rounding_undid_attack(self) -> bool:
        """The float adversarial image fooled the model, its 8-bit rounding does not."""
        fooled_float = (
            self.after_float.index == self.target
            if self.target is not None
            else self.after_float.index != self.before.index
        )
        return fooled_float and not self.succeeded

    def summary(self) -> str:
        """Two or three lines: the attack, the answer before and after, and what rounding did."""
        eps_text = f"{self.eps:.4g} ({self.eps * 255:.3g}/255)"
        goal = f", target {self.categories[self.target]!r}" if self.target is not None and self.categories else ""
        lines = [
            f"{self.model_name}: {self.attack}, {self.steps} steps, Linf eps {eps_text}{goal}, seed {self.seed}",
            f"  before: {self.before}   after: {self.after}   (Linf {self.linf:.4f} = {self.linf * 255:.1f}/255)",
        ]
        if self.rounding_undid_attack:
            lines.append(
                f"  rounding the adversarial image to 8 bits undid the attack: the float image was "
                f"{self.after_float}, the 8-bit image is {self.after}"
            )
        lines.append("  the attack " + ("succeeded" if self.succeeded else "did not change the answer"))
        return "\n".join(lines)


def _checked_target(target: object, categories: tuple[str, ...]) -> int | None:
    if target is None:
        return None
    if isinstance(target, str):
        lowered = {name.lower(): i for i, name in enumerate(categories)}
        if target.strip().lower() in lowered:
            return lowered[target.strip().lower()]
        if target.strip().isascii() and target.strip().isdigit():
            target = int(target.strip())
        else:
            raise InvalidArgumentError(f"unknown target class {target!r}; the classes are: {', '.join(categories)}")
    if isinstance(target, bool) or not isinstance(target, int) or not 0 <= target < len(categories):
        raise InvalidArgumentError(f"target must be a class name or an index in [0, {len(categories)}), got {target!r}")
    return target


def _pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    steps: int,
    seed: int,
    target: torch.Tensor | None,
) -> torch.Tensor:
    """Linf PGD from a seeded uniform start; returns the iterate of highest (untargeted) or lowest (targeted)
    cross-entropy, checked after every step."""
    generator = torch.Generator().manual_seed(seed)
    start = (torch.rand(x.shape, generator=generator) * 2 - 1).to(x.device) * eps
    x_adv = (x + start).clamp(0, 1)
    step = 2.5 * eps / steps
    best, best_score = x_adv.clone(), torch.full((x.shape[0],), -math.inf, device=x.device)
    for _ in range(steps + 1):
        x_adv.requires_grad_(True)
        with torch.enable_grad():
            logits = model(x_adv)
            per_example = torch.nn.functional.cross_entropy(
                logits, target if target is not None else y, reduction="none"
            )
            score = -per_example if target is not None else per_example
            (grad,) = torch.autograd.grad(score.sum(), x_adv)
        improved = score.detach() > best_score
        best[improved] = x_adv.detach()[improved]
        best_score = torch.where(improved, score.detach(), best_score)
        x_adv = x_adv.detach() + step * grad.sign()
        x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0, 1)
    return best


def _round_into_ball(adversarial: torch.Tensor, original: torch.Tensor, eps: float) -> torch.Tensor:
    """8-bit values within ``floor(eps·255)`` levels of the 8-bit ``original``: Linf ≤ eps after rounding."""
    levels = math.floor(eps * 255 + 1e-6)
    base = (original * 255).round()
    rounded = (adversarial * 255).round()
    rounded = torch.min(torch.max(rounded, base - levels), base + levels).clamp(0, 255)
    return rounded / 255


def attack_image(
    model_or_name: nn.Module | str | ModelEntry,
    image: Any,
    *,
    eps: float | None = None,
    attack: str = "apgd-ce",
    steps: int = 100,
    target: int | str | None = None,
    seed: int = 0,
    top_k: int = 3,
    device: str | torch.device | None = None,
    entry: str | ModelEntry | None = None,
    time_limit: float | None = None,
) -> AttackResult:
    """The adversarial example of ``image`` against the model, and the model's answers before and after.

    ``image``: a PIL image, a path, an array or a C×H×W tensor (through the entry's ``transforms()``).
    ``eps`` (default: the entry's, 8/255 for CIFAR) bounds the Linf change; ``attack`` is "apgd-ce"
    (AutoAttack's APGD, the ``eval`` extra) or "pgd"; ``steps`` its iterations; ``target`` a class name or
    index to aim at (default: any class but the predicted one); ``seed`` fixes its random start; ``top_k``
    classes are reported before and after. ``model_or_name``, ``device`` and ``entry`` as for ``predict``.
    ``time_limit`` (seconds) stops an attack that runs longer (checked at every forward pass of the model).

    The untargeted attack aims away from the model's own answer on the image (a user's image has no label).

    Raises:
        InvalidArgumentError: a bad eps (above 1: given in pixels?), attack, steps, target or image.
        ImageReadError: ``image`` is a file that cannot be read as an image.
        MissingDependencyError: "apgd-ce" without pyautoattack (``pip install 'dkl-zoo[eval]'``).
        AttackTimeoutError: the attack ran past ``time_limit``.
    """
    from ._arguments import checked_count, checked_eps, checked_seconds

    if not isinstance(attack, str) or attack not in ATTACKS:
        raise InvalidArgumentError(f"unknown attack {attack!r}; known: {', '.join(ATTACKS)}")
    steps = checked_count(steps, "steps", 1)
    seed = checked_count(seed, "seed", 0, below=2**63)
    top_k = checked_count(top_k, "top_k", 1)
    if eps is not None:
        eps = checked_eps(eps)
    if time_limit is not None:
        time_limit = checked_seconds(time_limit, "time_limit")
    if target is not None and (isinstance(target, bool) or not isinstance(target, (int, str))):
        raise InvalidArgumentError(f"target must be a class name or an index, got {target!r}")
    if attack == "apgd-ce":
        _require_autoattack()
    model, known, device = resolve_model(model_or_name, entry=entry, device=device)
    eps = eps if eps is not None else known.provenance.eps
    categories = known.categories
    goal = _checked_target(target, categories)
    x = (known.transforms()(image) * 255).round().div(255)[None].to(device)
    from .prediction import TopKForward

    forward = TopKForward(model, device, categories, min(top_k, len(categories)), known.name)
    before = next(forward(x, [None]))
    if goal is not None and goal == before.index:
        raise InvalidArgumentError(
            f"the model already answers {categories[goal]!r} for this image: choose another target, or leave target out"
        )
    y = torch.tensor([before.index], device=device)
    target_tensor = torch.tensor([goal], device=device) if goal is not None else None
    if time_limit is not None:
        from ._forward_deadline import ForwardDeadline

        attacked: nn.Module = ForwardDeadline(
            model,
            time.monotonic() + time_limit,
            f"the attack ran past its time limit of {time_limit:g} s and was "
            "stopped; use fewer steps, a smaller model, or a GPU",
        )
    else:
        attacked = model
    if attack == "apgd-ce":
        from ._compat import apgd_single_run

        adv_float = apgd_single_run(
            attacked, x, y, eps=eps, steps=steps, seed=seed, target=target_tensor, device=device
        )
    else:
        adv_float = _pgd(attacked, x, y, eps=eps, steps=steps, seed=seed, target=target_tensor)
    adv = _round_into_ball(adv_float, x, eps)
    after = next(forward(adv, [None]))
    after_float = next(forward(adv_float.clamp(0, 1), [None]))
    return AttackResult(
        model_name=known.name,
        eps=eps,
        attack=attack,
        steps=steps,
        seed=seed,
        target=goal,
        original=x[0].cpu(),
        adversarial=adv[0].cpu(),
        before=before,
        after=after,
        after_float=after_float,
        categories=categories,
    )


def _require_autoattack() -> None:
    from ._compat import autoattack_module
    from .errors import MissingDependencyError

    try:
        autoattack_module()
    except ImportError:
        raise MissingDependencyError(
            "attack='apgd-ce' needs AutoAttack: pip install 'dkl-zoo[eval]' (or use "
            "attack='pgd', which needs nothing more)"
        ) from None


def to_pil_image(image: torch.Tensor) -> Image.Image:
    """A C×H×W image of 8-bit values (k / 255) as a PIL image with exactly those pixels (grayscale or RGB).

    Raises:
        InvalidArgumentError: the image holds values that 8 bits cannot store exactly.
    """
    import numpy as np
    from PIL import Image

    levels = image.detach().cpu().float() * 255
    if not torch.allclose(levels, levels.round(), atol=1e-3) or levels.min() < 0 or levels.max() > 255:
        raise InvalidArgumentError("the image holds values that 8 bits cannot store exactly; round it first")
    pixels = levels.round().to(torch.uint8)
    array = pixels[0].numpy() if pixels.shape[0] == 1 else pixels.permute(1, 2, 0).numpy()
    return Image.fromarray(np.ascontiguousarray(array))


def save_png(image: torch.Tensor, path: str | os.PathLike[str]) -> Path:
    """Write a C×H×W image of 8-bit values (k / 255) as a lossless PNG, whole or not at all; it is read back and
    compared pixel by pixel before this returns.

    Raises:
        InvalidArgumentError: the image holds values that 8 bits cannot store exactly.
    """
    import io

    from ._atomic import atomic_write

    picture = to_pil_image(image)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    path = Path(path)
    atomic_write(path, lambda out: out.write(buffer.getvalue()))
    if not torch.equal(read_png(path), (image.detach().cpu().float() * 255).round().to(torch.uint8)):
        from .errors import IntegrityError

        raise IntegrityError(
            str(path),
            "the pixels written",
            "other pixels",
            algorithm="pixel comparison",
            hint="The file does not read back as the image written; write it elsewhere.",
        )
    return path


def read_png(path: str | os.PathLike[str]) -> torch.Tensor:
    """The uint8 C×H×W pixels of an 8-bit grayscale or RGB image file."""
    import numpy as np

    from ._images import open_image

    array = np.array(open_image(path))
    return torch.from_numpy(array[None] if array.ndim == 2 else array.transpose(2, 0, 1).copy())
