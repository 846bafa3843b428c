"""One way to build AutoAttack, whichever package provides it (below the runner that drives it).

AutoAttack is on PyPI as ``pyautoattack`` (keyword-only API, ``attacks=``, ``batch_size=``); the git version
is the module ``autoattack`` (``attacks_to_run``, ``log_path``, ``bs=``). ``autoattack_module`` returns
whichever is installed and ``make_adversary`` builds an ``AutoAttack`` with either API.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ._choices import AUTOATTACK_ATTACKS, AUTOATTACK_VERSIONS
from ._compat import autoattack_module, is_pypi_api, reset_autoattack_checks

__all__ = [
    "ATTACKS",
    "VERSIONS",
    "DEFAULT_SEED",
    "autoattack_module",
    "make_adversary",
    "reset_autoattack_checks",
    "is_pypi_api",
]

ATTACKS = AUTOATTACK_ATTACKS
VERSIONS = AUTOATTACK_VERSIONS
DEFAULT_SEED = 0
"""AutoAttack seeds each attack call with ``time.time()`` when given no seed; we always pass one so that
runs are reproducible (RobustBench's ``benchmark`` passes none: through our adapter it gets this one)."""


def make_adversary(
    model: nn.Module,
    *,
    eps: float,
    norm: str = "Linf",
    version: str = "standard",
    attacks: Sequence[str] | None = None,
    device: str | torch.device = "cpu",
    seed: int | None = DEFAULT_SEED,
) -> Any:
    """An ``AutoAttack`` object, whichever package provides it; its attack objects do the work."""
    module = autoattack_module()
    attacks = list(attacks) if attacks is not None else None
    if is_pypi_api(module):
        return module.AutoAttack(
            model,
            attacks=attacks if version == "custom" else None,
            device=device,
            eps=eps,
            norm=norm,
            seed=seed,
            version=version,
        )
    kwargs: dict[str, Any] = dict(norm=norm, eps=eps, seed=seed, version=version, device=device, verbose=False)
    if version == "custom":
        kwargs["attacks_to_run"] = attacks or []
    return module.AutoAttack(model, **kwargs)
