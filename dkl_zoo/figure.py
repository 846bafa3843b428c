"""The figure of an attacked image (``dkl_zoo.attack_figure``), as papers show it: original | perturbation
(magnified) | adversarial, each with the model's top predictions; one row per model, so a robust and a standard
model can be compared. The module is not named after the function, so importing it cannot shadow the function on
the package.

A bare matplotlib ``Figure`` (no pyplot state, no backend switch); pixels are drawn by nearest neighbour only,
so what is shown is the image itself, not a smoothed version of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from .adversarial import AttackResult
from .errors import InvalidArgumentError

if TYPE_CHECKING:
    import matplotlib.figure

__all__ = ["attack_figure"]


def _show(axis, image: torch.Tensor) -> None:  # type: ignore[no-untyped-def]
    if image.shape[0] == 1:
        axis.imshow(image[0].numpy(), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        axis.imshow(image.permute(1, 2, 0).numpy(), interpolation="nearest")
    axis.set_xticks([])
    axis.set_yticks([])


def _top(prediction) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(f"{i + 1}. {label} {100 * p:.1f} %" for i, (label, p) in enumerate(prediction.top_k[:3]))


def attack_figure(results: Sequence[AttackResult]) -> matplotlib.figure.Figure:
    """One row per result: original with its top-3, the perturbation magnified to the full grey range (its
    Linf norm in the title), and the adversarial image with its top-3."""
    from matplotlib.figure import Figure

    if not results:
        raise InvalidArgumentError("attack_figure needs at least one AttackResult")
    figure = Figure(figsize=(7.5, 3.3 * len(results)), dpi=110)
    axes = figure.subplots(len(results), 3, squeeze=False)
    for row, result in zip(axes, results):
        delta = result.adversarial - result.original
        scale = max(result.eps, 1e-12)
        magnified = (delta / (2 * scale) + 0.5).clamp(0.0, 1.0)
        _show(row[0], result.original)
        row[0].set_title(f"{result.model_name}\noriginal", fontsize=9)
        row[0].set_xlabel(_top(result.before), fontsize=8, loc="left")
        _show(row[1], magnified)
        row[1].set_title(
            f"perturbation (x{0.5 / scale:.1f})\nLinf {result.linf:.4f} = {255 * result.linf:.1f}/255", fontsize=9
        )
        verdict = ("fooled" if result.succeeded else "held") + (
            " (8-bit rounding undid it)" if result.rounding_undid_attack else ""
        )
        row[1].set_xlabel(
            f"{result.attack}, {result.steps} steps\neps {result.eps:.4g} = {255 * result.eps:.3g}/255\n{verdict}",
            fontsize=8,
        )
        _show(row[2], result.adversarial)
        row[2].set_title("adversarial", fontsize=9)
        row[2].set_xlabel(_top(result.after), fontsize=8, loc="left")
    figure.tight_layout()
    return figure
