"""RobustBench's leaderboard: when a result is a leaderboard evaluation, and its ``model_info`` JSON."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from .._choices import TEST_SIZES
from ..errors import InvalidArgumentError
from ..registry import ModelEntry, get_entry
from .result import EvalResult

__all__ = ["leaderboard_reasons", "nonstandard_reasons", "write_robustbench_json"]


def _eps_label(eps: float) -> str:
    pixels = eps * 255
    return f"{round(pixels)}/255" if abs(pixels - round(pixels)) < 1e-6 else f"{eps:g}"


def leaderboard_reasons(
    *, version: str, attacks: Sequence[str], dataset: str, n_examples: int, example_range: tuple[int, int]
) -> list[str]:
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
    return leaderboard_reasons(
        version=result.version,
        attacks=result.attacks,
        dataset=result.dataset,
        n_examples=result.n_examples,
        example_range=tuple(result.example_range),
    )


def write_robustbench_json(
    result: EvalResult,
    path: str | os.PathLike[str],
    *,
    entry: ModelEntry | str | None = None,
    nonstandard: bool = False,
    **fields: Any,
) -> dict[str, Any]:
    """A RobustBench ``model_info/<dataset>/<threat_model>/<name>.json`` for ``result``.

    Fields come from the registry entry when given (link, name, authors, venue, architecture, footnote,
    reported) and from ``fields`` otherwise; accuracies are written as RobustBench writes them
    (percent strings with two decimals).

    Raises:
        InvalidArgumentError: ``result`` is not AutoAttack standard on the whole test set, so it cannot be a
            submission. ``nonstandard=True`` writes it anyway, marked ``"unreliable": true`` with a footnote
            saying how it differs.
    """
    from ..registry import AUTHORS, PAPER_URL

    reasons = nonstandard_reasons(result)
    if reasons and not nonstandard:
        raise InvalidArgumentError(
            "not a RobustBench evaluation (" + "; ".join(reasons) + "): a submission file needs AutoAttack "
            "standard on the whole test set. Pass nonstandard=True to write it marked "
            "unreliable."
        )

    info: dict[str, Any] = {
        "link": "",
        "name": "",
        "authors": "",
        "additional_data": False,
        "number_forward_passes": 1,
        "dataset": result.dataset,
        "venue": "",
        "architecture": "",
        "eps": _eps_label(result.eps),
        "clean_acc": f"{100 * result.clean_acc:.2f}",
        "reported": "",
        "autoattack_acc": f"{100 * result.robust_acc:.2f}",
        "footnote": None,
        "unreliable": False,
    }
    if entry is not None:
        entry = get_entry(entry) if isinstance(entry, str) else entry
        head = entry.headline
        info.update(
            link=PAPER_URL,
            name="Decoupled Kullback-Leibler Divergence Loss",
            authors=AUTHORS,
            venue=entry.provenance.venue,
            architecture=entry.arch.label.split(" (")[0],
            reported=f"{head.robust_acc:.2f}",
            footnote=entry.provenance.footnote,
        )
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
    from .._atomic import atomic_write_text

    atomic_write_text(path, json.dumps(info, indent=2) + "\n")
    return info
