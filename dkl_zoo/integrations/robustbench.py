"""Import robustbench 1.1.1 as it is packaged, inside our code, and run its AutoAttack through our runner.

robustbench 1.1.1 imports the git package ``autoattack`` and calls its API; PyPI has only ``pyautoattack``,
with another API. ``enable_robustbench`` registers a module ``autoattack`` offering the git API over
pyautoattack (and over our resumable runner when a state file is asked for) when the git package is absent.
robustbench also imports ``pkg_resources``, which setuptools 82 dropped: the ``robustbench`` extra pins
``setuptools<82``.
"""

from __future__ import annotations

import importlib
import logging
import types
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._autoattack import DEFAULT_SEED, make_adversary
from .._compat import autoattack_module, install_autoattack_module, is_pypi_api
from ..errors import InvalidArgumentError, MissingDependencyError
from ..evaluation.runner import logging_to, run_autoattack
from ..evaluation.state import RunState

__all__ = ["enable_robustbench"]


class _GitApiAutoAttack:
    """The git ``autoattack.AutoAttack`` signature, run by dkl_zoo's resumable AutoAttack runner."""

    def __init__(
        self,
        model: nn.Module,
        norm: str = "Linf",
        eps: float = 0.3,
        seed: int | None = None,
        verbose: bool = True,
        attacks_to_run: Sequence[str] = (),
        version: str = "standard",
        is_tf_model: bool = False,
        device: str | torch.device = "cuda",
        log_path: str | None = None,
    ) -> None:
        if is_tf_model:
            raise InvalidArgumentError("TensorFlow models are not supported by the pyautoattack adapter")
        self.model = model
        self.norm = norm
        self.epsilon = eps
        self.seed = DEFAULT_SEED if seed is None else seed
        self.verbose = verbose
        self.version = version
        self.device = device
        self.log_path = log_path
        self.attacks_to_run = list(attacks_to_run)
        self._adversary = make_adversary(
            model,
            eps=eps,
            norm=norm,
            version=version,
            attacks=self.attacks_to_run or None,
            device=device,
            seed=self.seed,
        )
        if version != "custom":
            self.attacks_to_run = list(self._adversary.attacks_to_run)

    def __getattr__(self, name: str) -> Any:  # apgd, fab, square, apgd_targeted, ...
        return getattr(self.__dict__["_adversary"], name)

    def run_standard_evaluation(
        self,
        x_orig: torch.Tensor,
        y_orig: torch.Tensor,
        bs: int = 250,
        return_labels: bool = False,
        state_path: str | Path | None = None,
    ) -> Any:
        if state_path is None and is_pypi_api(autoattack_module()):
            # AutoAttack's own loop, so that robustbench's numbers come from the reference implementation.
            with logging_to("auto-attack", self.log_path, self.verbose):  # pyautoattack's logger
                x_adv, y_adv = self._adversary.run_standard_evaluation(x_orig, y_orig, batch_size=bs)
            return (x_adv, y_adv) if return_labels else x_adv
        outcome = run_autoattack(
            self._adversary,
            self.model,
            x_orig,
            y_orig,
            batch_size=bs,
            state_path=Path(state_path) if state_path is not None else None,
            device=self.device,
            log_path=self.log_path,
            echo=self.verbose,
            progress=False,
            keep_adversarial=True,
            config={
                "eps": self.epsilon,
                "norm": self.norm,
                "version": self.version,
                "seed": self.seed,
                "attacks": self.attacks_to_run,
            },
        )
        x_adv, y_adv = outcome.x_adv, outcome.y_adv
        return (x_adv, y_adv) if return_labels else x_adv


class _EvaluationState:
    """What robustbench reads back from a state file: ``EvaluationState.from_disk(path).robust_flags``."""

    def __init__(self, robust_flags: torch.Tensor, clean_accuracy: float) -> None:
        self.robust_flags = robust_flags
        self.clean_accuracy = clean_accuracy

    @classmethod
    def from_disk(cls, path: str | Path) -> _EvaluationState:
        state = RunState.load(Path(path))
        # Float, not bool: robustbench takes `.mean()` of these flags, which a bool tensor refuses.
        flags = torch.tensor(state.flags, dtype=torch.float32)
        return cls(flags, sum(state.clean_flags) / len(state.clean_flags))


def enable_robustbench() -> types.ModuleType:
    """Import robustbench 1.1.1 despite its packaging (the autoattack module name); returns it.

    Raises:
        MissingDependencyError: robustbench (or setuptools < 82, which it needs) is not installed; says what to
            install.
    """
    install_autoattack_module(_GitApiAutoAttack, _EvaluationState)
    logging.getLogger("timm").setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():  # robustbench's own imports, not the user's business
            warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
            warnings.filterwarnings("ignore", message=r"Importing from timm\.models\.", category=DeprecationWarning)
            warnings.filterwarnings("ignore", message=r"`torch\.jit\.interface` is deprecated", category=FutureWarning)
            return importlib.import_module("robustbench")
    except ImportError as error:
        raise MissingDependencyError(
            f"robustbench could not be imported ({error}). Install it with `pip install 'dkl-zoo[robustbench]'` "
            "(which also pins setuptools<82 for its pkg_resources)."
        ) from error
