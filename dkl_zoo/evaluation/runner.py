"""AutoAttack's evaluation loop, resumable and shardable, with the exact protocol of AutoAttack/RobustBench.

The protocol (``run_standard_evaluation`` of AutoAttack): classify all examples in batches; then for each
attack in order, collect the indices still classified correctly, attack them in batches of ``batch_size``
(every attack call reseeds itself, so a batch's result depends only on its content), and clear the flag
of every example whose adversarial version is misclassified.

What we add: the state is written atomically after every batch, so a run killed at any point continues
where it stopped and ends with the same flags as an uninterrupted run; ranks of a ``torch.distributed``
group share the batches of each attack and agree on the flags after it, which gives exactly the result of
a single process; progress bars; AutoAttack's log lines, to a file and/or the console. How one attack call is
configured, and AutoAttack's sanity checks, reach into AutoAttack's own objects: that lives in ``dkl_zoo._compat``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._classes import predicted_classes
from .._compat import autoattack_attack_batch, autoattack_sanity_checks
from .sharding import RankShare
from .state import RunState, fingerprint, initial_state, model_fingerprint

__all__ = ["RunState", "RunOutcome", "run_autoattack", "fingerprint", "model_fingerprint", "logging_to", "LOGGER_NAME"]


LOGGER_NAME = "dkl_zoo.autoattack"


@dataclass
class RunOutcome:
    """Flags per example (clean-correct, still robust), robust counts after each attack, and the run's cost."""

    clean_flags: torch.Tensor
    flags: torch.Tensor
    robust_after: dict[str, int]
    max_perturbation: float
    seconds: float
    x_adv: torch.Tensor | None = None
    y_adv: torch.Tensor | None = None


@contextlib.contextmanager
def logging_to(name: str, log_path: str | os.PathLike[str] | None, echo: bool) -> Iterator[logging.Logger]:
    """The logger ``name`` writing bare lines to ``log_path`` and/or stdout (AutoAttack's log format) while
    the block runs, and nowhere else (not the root logger); the handlers are removed afterwards."""
    logger = logging.getLogger(name)
    level, propagate = logger.level, logger.propagate
    handlers: list[logging.Handler] = []
    if log_path is not None:
        from .._atomic import checked_output

        Path(checked_output(log_path)).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="a"))
    if echo:
        handlers.append(logging.StreamHandler(sys.stdout))
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    for handler in handlers:
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    try:
        yield logger
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()
        logger.setLevel(level)
        logger.propagate = propagate


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="batch", disable=not enabled, leave=False, dynamic_ncols=True)


def run_autoattack(
    adversary: Any,
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int,
    config: dict[str, Any],
    state_path: Path | None = None,
    device: Any = "cpu",
    log_path: str | os.PathLike[str] | None = None,
    echo: bool = False,
    progress: bool = True,
    keep_adversarial: bool = False,
    share: RankShare = RankShare(),
) -> RunOutcome:
    """Run ``adversary``'s attacks on (x, y) with AutoAttack's protocol; see the module docstring.

    ``share``: in a process group every rank holds all examples, classifies its own slice ``share.own``, takes
    every ``share.world``-th batch of each attack, and ``share.sync(flags, op)`` (op "sum" or "min") combines
    the flags across ranks; the flags then equal those of one process doing all the work.

    Raises:
        EvaluationStateError: ``state_path`` holds another evaluation's state, or an inconsistent one; the
            file is left as it is.
    """
    attacks = list(adversary.attacks_to_run)
    config = {
        **config,
        "attacks": attacks,
        "batch_size": batch_size,
        "n": int(x.shape[0]),
        "data_sha256": fingerprint(x, y),
        "model_sha256": model_fingerprint(model),
        "world": share.world,
        "rank": share.rank,
    }
    with logging_to(LOGGER_NAME, log_path, echo) as logger:
        run = _Run(
            adversary,
            model,
            x,
            y,
            batch_size=batch_size,
            device=device,
            logger=logger,
            progress=progress,
            share=share,
            state_path=state_path,
            state=initial_state(state_path, config),
            keep_adversarial=keep_adversarial,
        )
        if run.state.finished:
            logger.debug("evaluation already finished; results restored from %s", state_path)
        if run.state.clean_flags is None:
            logger.debug("using %s version including %s.", config.get("version"), ", ".join(attacks))
            autoattack_sanity_checks(adversary, model, x, y, batch_size, device, logger, str(config.get("version")))
            run.classify_clean()
        run.attack_all(attacks)
        return run.outcome()


class _Run:
    """One evaluation in progress: its state, saved after every step, and the phases that advance it."""

    def __init__(
        self,
        adversary: Any,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        batch_size: int,
        device: Any,
        logger: logging.Logger,
        progress: bool,
        share: RankShare,
        state_path: Path | None,
        state: RunState,
        keep_adversarial: bool,
    ) -> None:
        self.adversary, self.model, self.x, self.y = adversary, model, x, y
        self.batch_size, self.device, self.logger, self.progress = batch_size, device, logger, progress
        self.rank, self.world, self.sync = share.rank, share.world, share.sync
        self.n = x.shape[0]
        self.own = share.own
        self.counted = share.own or slice(0, self.n)
        self.state_path, self.state = state_path, state
        self.x_adv = x.clone().detach() if keep_adversarial else None
        # a state file keeps flags, not images: what earlier sessions fooled has no adversarial image here
        # (a loaded state holds both flag lists or neither: RunState.problems refuses anything else)
        self.fooled_before = (
            torch.tensor(state.clean_flags) & ~torch.tensor(state.flags)
            if keep_adversarial and state.flags is not None
            else None
        )
        self.elapsed_before = state.seconds
        self.started = time.monotonic()

    def save(self) -> None:
        self.state.seconds = self.elapsed_before + (time.monotonic() - self.started)
        if self.state_path is not None:
            self.state.save(self.state_path)

    def classify_clean(self) -> None:
        """Clean predictions of this rank's slice; every rank then holds all clean flags."""
        x, y, state = self.x, self.y, self.state
        flags = torch.zeros(self.n, dtype=torch.bool)
        mine = self.own or slice(0, self.n)
        batches = math.ceil(len(range(self.n)[mine]) / self.batch_size)
        with _progress(batches, "clean", self.progress) as bar:
            flags[mine] = predicted_classes(
                self.model, x[mine], batch_size=self.batch_size, device=self.device, on_batch=lambda: bar.update(1)
            ).eq(y[mine])
        if self.sync is not None:
            flags = self.sync(flags.int(), "sum").bool()
        state.clean_flags = flags.tolist()
        state.flags = flags.tolist()
        self.save()
        self.logger.debug("initial accuracy: %.2f%%", 100 * flags.float().mean().item())

    def attack_all(self, attacks: list[str]) -> None:
        """Each attack in order on the examples still robust, resuming inside the attack a state stopped in."""
        state, logger = self.state, self.logger
        flags = torch.tensor(state.flags, dtype=torch.bool)
        with torch.no_grad():
            while not state.finished and state.attack_index < len(attacks):
                attack = attacks[state.attack_index]
                if state.attack_indices is None:
                    if not flags.any():
                        logger.debug("no robust datapoints left, skipping remaining attacks")
                        break
                    logger.debug("running %s", attack)
                    state.attack_indices = torch.nonzero(flags, as_tuple=False).flatten().tolist()
                    state.batches_done = 0
                    self.save()
                flags = self._attack(attack, flags)
                if self.sync is not None:
                    flags = self.sync(flags.int(), "min").bool()
                state.flags = flags.tolist()
                state.robust_after[attack] = int(flags[self.counted].sum())
                state.attack_index += 1
                state.attack_indices = None
                state.batches_done = 0
                self.save()
                logger.debug(
                    "robust accuracy after %s: %.2f%% (total time %.1f s)",
                    attack.upper(),
                    100 * flags.float().mean().item(),
                    self.elapsed_before + time.monotonic() - self.started,
                )
            for attack in attacks:  # attacks skipped because nothing robust was left
                state.robust_after.setdefault(attack, int(flags[self.counted].sum()))
            if not state.finished:
                state.finished = True
                self.save()
                logger.debug("max Linf perturbation: %.5f", state.max_perturbation)
                logger.debug("robust accuracy: %.2f%%", 100 * flags.float().mean().item())

    def _attack(self, attack: str, flags: torch.Tensor) -> torch.Tensor:
        """This rank's batches of one attack, the state saved after each; returns the updated flags."""
        state, x, y = self.state, self.x, self.y
        targets = torch.tensor(state.attack_indices, dtype=torch.long)
        batches = math.ceil(len(targets) / self.batch_size)
        mine = [b for b in range(batches) if b % self.world == self.rank]
        with _progress(len(mine), attack, self.progress) as bar:
            bar.update(sum(1 for b in mine if b < state.batches_done))
            for b in mine:
                if b < state.batches_done:
                    continue
                chunk = targets[b * self.batch_size : (b + 1) * self.batch_size]
                xb, yb = x[chunk].contiguous().to(self.device), y[chunk].clone().to(self.device)
                adv = autoattack_attack_batch(self.adversary, attack, xb, yb)
                output = self.model(adv).max(dim=1)[1]
                fooled = (~yb.eq(output)).cpu()
                flags[chunk[fooled]] = False
                if fooled.any():
                    delta = (adv.cpu()[fooled] - x[chunk][fooled]).abs().flatten(1).max(dim=1)[0]
                    state.max_perturbation = max(state.max_perturbation, float(delta.max()))
                if self.x_adv is not None:
                    self.x_adv[chunk[fooled]] = adv.detach().cpu()[fooled]
                self.logger.debug(
                    "%s - %d/%d - %d out of %d successfully perturbed",
                    attack,
                    b + 1,
                    batches,
                    int(fooled.sum()),
                    len(chunk),
                )
                state.flags = flags.tolist()
                state.batches_done = b + 1
                self.save()
                bar.update(1)
        return flags

    def outcome(self) -> RunOutcome:
        """The result. With ``keep_adversarial``, ``y_adv`` is the model's label of ``x_adv``, which holds the
        adversarial image of every example fooled in this session and the clean image of every other one: a
        state file keeps flags, not images, so examples fooled before a resume come back clean (logged)."""
        state = self.state
        y_adv = None
        if self.x_adv is not None:
            if self.fooled_before is not None and self.fooled_before.any():
                self.logger.warning(
                    "x_adv: the %d examples fooled before this session are their clean images (a "
                    "state file keeps flags, not images)",
                    int(self.fooled_before.sum()),
                )
            with torch.no_grad():
                y_adv = torch.cat(
                    [
                        self.model(self.x_adv[b : b + self.batch_size].to(self.device)).max(dim=1)[1].cpu()
                        for b in range(0, self.n, self.batch_size)
                    ]
                )
        return RunOutcome(
            clean_flags=torch.tensor(state.clean_flags, dtype=torch.bool),
            flags=torch.tensor(state.flags, dtype=torch.bool),
            robust_after=dict(state.robust_after),
            max_perturbation=state.max_perturbation,
            seconds=state.seconds if self.state_path is not None else time.monotonic() - self.started,
            x_adv=self.x_adv,
            y_adv=y_adv,
        )
