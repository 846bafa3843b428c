"""One way to build AutoAttack, whichever package provides it (below the runner that drives it).

AutoAttack is on PyPI as ``pyautoattack`` (keyword-only API, ``attacks=``, ``batch_size=``); the git version
is the module ``autoattack`` (``attacks_to_run``, ``log_path``, ``bs=``). ``autoattack_module`` returns
whichever is installed and ``make_adversary`` builds an ``AutoAttack`` with either API.
"""

from __future__ import annotations

import importlib
import types
from typing import Any, Sequence

import torch
from torch import nn

from .choices import AUTOATTACK_ATTACKS, AUTOATTACK_VERSIONS
from .errors import MissingDependencyError

__all__ = [
    "ATTACKS",
    "VERSIONS",
    "DEFAULT_SEED",
    "autoattack_module",
    "make_adversary",
    "reset_autoattack_checks",
    "is_pypi_api",
    "apgd_ce",
]

ATTACKS = AUTOATTACK_ATTACKS
VERSIONS = AUTOATTACK_VERSIONS
DEFAULT_SEED = 0
"""AutoAttack seeds each attack call with ``time.time()`` when given no seed; we always pass one so that
runs are reproducible (RobustBench's ``benchmark`` passes none: through our adapter it gets this one)."""


def autoattack_module() -> types.ModuleType:
    """The installed AutoAttack: pyautoattack (PyPI) first, else the git package ``autoattack``."""
    for name in ("pyautoattack", "autoattack"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if getattr(module, "__dkl_zoo_shim__", False):
            continue
        if hasattr(module, "AutoAttack"):
            return module
    raise MissingDependencyError(
        "AutoAttack is not installed. Install it with `pip install 'dkl-zoo[eval]'` (it brings the PyPI "
        "package pyautoattack)."
    )


def is_pypi_api(module: types.ModuleType) -> bool:
    """True for pyautoattack's keyword API (``attacks=``), False for the git package's (``attacks_to_run=``)."""
    import inspect

    return "attacks" in inspect.signature(module.AutoAttack.__init__).parameters


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
            model, attacks=attacks if version == "custom" else None, device=device, eps=eps, norm=norm,
            seed=seed, version=version,
        )
    kwargs: dict[str, Any] = dict(norm=norm, eps=eps, seed=seed, version=version, device=device, verbose=False)
    if version == "custom":
        kwargs["attacks_to_run"] = attacks or []
    return module.AutoAttack(model, **kwargs)


def reset_autoattack_checks() -> None:
    """AutoAttack's dynamic-defence counters are module-global: one flagged model flags every later one."""
    try:
        checks = importlib.import_module(autoattack_module().__name__ + ".checks")
    except ImportError:
        return
    funcs = getattr(checks, "funcs", None)
    if isinstance(funcs, dict):
        for key in funcs:
            funcs[key] = 0


def apgd_ce(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float, steps: int, seed: int,
            target: torch.Tensor | None = None, device: str | torch.device = "cpu") -> torch.Tensor:
    """One run of AutoAttack's APGD on cross-entropy, Linf, from a seeded random start, without restarts.

    Untargeted (``target=None``): the adversarial image of each example it fools, else the point of highest
    loss it reached (the strongest attempt, to be shown). Targeted: APGD on the targeted cross-entropy (as
    AutoAttack's ``APGDAttack_targeted`` computes it with ``loss="ce-targeted"``), the point of highest loss.
    The global random state is left as it was.
    """
    module = autoattack_module()
    apgd_module = importlib.import_module(module.__name__ + ".autopgd_base")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if target is None:
            attack = apgd_module.APGDAttack(model, n_iter=steps, norm="Linf", eps=eps, seed=seed, loss="ce",
                                            device=device)
        else:
            attack = apgd_module.APGDAttack_targeted(model, n_iter=steps, norm="Linf", eps=eps, seed=seed,
                                                     device=device)
            attack.loss = "ce-targeted"
            attack.y_target = target.to(device)
        attack.init_hyperparam(x)
        best, still_correct, _, adversarial = attack.attack_single_run(x.to(device), y.to(device))
    if target is not None:
        return best.detach()
    fooled = ~still_correct.bool()
    return torch.where(fooled.view(-1, *([1] * (x.dim() - 1))), adversarial, best).detach()
