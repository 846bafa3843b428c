"""Robust accuracy against eps: one evaluation per eps, each with its own resumable state, then a CSV and a
figure (a bare matplotlib ``Figure``: no pyplot state, no backend switch)."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn

from .._figure_files import figure_format, save_figure
from ..errors import InvalidArgumentError
from ..registry import ModelEntry
from .arguments import check_eps
from .protocol import evaluate
from .result import EvalResult

if TYPE_CHECKING:
    import matplotlib.figure

__all__ = ["robustness_curve", "write_curve_csv", "curve_figure"]


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
        check_eps(eps, threat_model)
    from .._atomic import checked_output

    figure_format(png_path)  # a bad ending or a path that must not be replaced fails now, not after the attacks
    checked_output(png_path)
    checked_output(Path(csv_path) if csv_path is not None else Path(png_path).with_suffix(".csv"))
    state_path = evaluate_kwargs.pop("state_path", None)
    results = [
        evaluate(model_or_name, eps=float(e), state_path=_state_for_eps(state_path, float(e)), **evaluate_kwargs)
        for e in sorted(eps_list)
    ]
    write_curve_csv(results, Path(csv_path) if csv_path is not None else Path(png_path).with_suffix(".csv"))
    save_figure(curve_figure(results), png_path)
    return results


def _state_for_eps(state_path: str | os.PathLike[str] | None, eps: float) -> Path | None:
    """The state file of one eps of a curve: ``name.eps-<eps>.suffix`` beside the one given."""
    if state_path is None:
        return None
    path = Path(state_path)
    return path.with_name(f"{path.stem}.eps-{eps:.6g}{path.suffix}")


def write_curve_csv(results: Sequence[EvalResult], path: str | os.PathLike[str]) -> None:
    """One row per eps: eps, eps in pixels (x 1/255), clean and robust accuracy, images, AutoAttack version."""
    import io

    from .._atomic import atomic_write_text

    handle = io.StringIO()
    writer = csv.writer(handle)
    writer.writerow(["eps", "eps_pixels", "clean_acc", "robust_acc", "n_examples", "version"])
    for r in results:
        writer.writerow(
            [f"{r.eps:.6f}", f"{r.eps * 255:.3f}", f"{r.clean_acc:.4f}", f"{r.robust_acc:.4f}", r.n_examples, r.version]
        )
    atomic_write_text(path, handle.getvalue())


def curve_figure(results: Sequence[EvalResult]) -> matplotlib.figure.Figure:
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
