"""AutoAttack's evaluation loop, resumable and shardable, with the exact protocol of AutoAttack/RobustBench.

The protocol (``run_standard_evaluation`` of AutoAttack): classify all examples in batches; then for each
attack in order, collect the indices still classified correctly, attack them in batches of ``batch_size``
(every attack call reseeds itself, so a batch's result depends only on its content), and clear the flag
of every example whose adversarial version is misclassified.

What we add: the state is written atomically after every batch, so a run killed at any point continues
where it stopped and ends with the same flags as an uninterrupted run; ranks of a ``torch.distributed``
group share the batches of each attack and agree on the flags after it, which gives exactly the result of
a single process; progress bars; AutoAttack's log lines, to a file and/or the console.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import nn

from .autoattack_adapter import reset_autoattack_checks
from .errors import EvaluationStateError, InvalidArgumentError
from .prediction import predicted_classes
from .atomic import atomic_write_text

__all__ = ["RunState", "RunOutcome", "run_autoattack", "fingerprint", "model_fingerprint", "logging_to"]

LOGGER_NAME = "dkl_zoo.autoattack"


def fingerprint(x: torch.Tensor, y: torch.Tensor) -> str:
    """sha256 of the evaluated data, so a state file is never resumed on other images."""
    digest = hashlib.sha256()
    digest.update(str(tuple(x.shape)).encode())
    digest.update(x.detach().cpu().contiguous().float().numpy().tobytes())
    digest.update(y.detach().cpu().contiguous().long().numpy().tobytes())
    return digest.hexdigest()


def model_fingerprint(model: nn.Module) -> str:
    """sha256 over the model's state dict (dtype, shape and bytes of every tensor, in key order).

    A state file then belongs to one set of weights: resuming it with another model is refused. Key names
    are left out on purpose, so a wrapper around the same network (``nn.Sequential(net)``) still matches.
    Hashing WRN-34-10's 185 MB costs about as much as one forward pass of a batch.
    """
    digest = hashlib.sha256()
    for tensor in model.state_dict().values():
        data = tensor.detach().cpu().contiguous()
        digest.update(f"{data.dtype}{tuple(data.shape)};".encode())
        digest.update(data.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


@dataclass
class RunState:
    """Everything needed to continue an interrupted evaluation; saved as JSON after every batch."""

    config: dict[str, Any]
    clean_flags: list[bool] | None = None
    flags: list[bool] | None = None
    attack_index: int = 0
    attack_indices: list[int] | None = None
    batches_done: int = 0
    robust_after: dict[str, int] = field(default_factory=dict)
    max_perturbation: float = 0.0
    seconds: float = 0.0
    finished: bool = False

    def save(self, path: Path) -> None:
        """Atomic: a reader (or a resumed run after a kill) never sees half a state file."""
        atomic_write_text(path, json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> "RunState":
        """The state in ``path``; refused by name when it is not a JSON object of these fields."""
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise EvaluationStateError(
                f"{path} is not a dkl_zoo evaluation state ({error}); delete it or choose another state_path"
            ) from None
        if not isinstance(data, dict):
            raise EvaluationStateError(f"{path} is not a dkl_zoo evaluation state (a JSON {type(data).__name__}, "
                                       "not an object); delete it or choose another state_path")
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        missing = sorted(k for k in ("config",) if k not in data)
        if unknown or missing:
            what = f"unknown fields {unknown}" if unknown else f"no {missing[0]}"
            raise EvaluationStateError(f"{path} is not a dkl_zoo evaluation state ({what}); delete it or choose "
                                       "another state_path")
        return cls(**data)

    def problems(self, n: int, n_attacks: int) -> list[str]:
        """What makes this state impossible for ``n`` examples and ``n_attacks`` attacks (empty: consistent)."""
        found: list[str] = []

        def flag_list(name: str, value: object) -> bool:
            if value is None:
                return False
            if not isinstance(value, list) or len(value) != n or not all(type(v) is bool for v in value):
                found.append(f"{name} must be a list of {n} booleans")
                return False
            return True

        clean_ok = flag_list("clean_flags", self.clean_flags)
        robust_ok = flag_list("flags", self.flags)
        if (self.clean_flags is None) != (self.flags is None):
            found.append("clean_flags and flags must be set together")
        if clean_ok and robust_ok and any(r and not c for c, r in zip(self.clean_flags, self.flags)):
            found.append("an example is robust but not clean-correct (flags must be a subset of clean_flags)")
        if type(self.attack_index) is not int or not 0 <= self.attack_index <= n_attacks:
            found.append(f"attack_index must be an integer in [0, {n_attacks}]")
        if self.attack_indices is not None and (
            not isinstance(self.attack_indices, list)
            or not all(type(i) is int and 0 <= i < n for i in self.attack_indices)
            or (clean_ok and not all(self.clean_flags[i] for i in self.attack_indices))
        ):
            found.append("attack_indices must list clean-correct examples")
        if type(self.batches_done) is not int or self.batches_done < 0:
            found.append("batches_done must be a non-negative integer")
        if not isinstance(self.robust_after, dict) or not all(
            type(v) is int and 0 <= v <= n for v in self.robust_after.values()
        ):
            found.append(f"robust_after must map attacks to counts in [0, {n}]")
        if self.finished and self.flags is None:
            found.append("a finished state must hold its flags")
        for name in ("seconds", "max_perturbation"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                found.append(f"{name} must be a non-negative number")
        if type(self.finished) is not bool:
            found.append("finished must be true or false")
        return found

    def count_problems(self, attacks: list[str], counted: slice) -> list[str]:
        """Where the counts contradict the flags (``problems`` found nothing): ``robust_after`` holds, for each
        attack done, the robust examples of ``counted`` left after it, in order, ending at today's flags."""
        if self.flags is None:
            return [] if not self.robust_after else ["robust_after must be empty before the clean pass"]
        found: list[str] = []
        robust = sum(self.flags[counted])
        unknown = sorted(set(self.robust_after) - set(attacks))
        if unknown:
            found.append(f"robust_after names attacks this evaluation does not run: {', '.join(unknown)}")
        done = attacks[:self.attack_index]
        if any(a not in self.robust_after for a in done):
            found.append("robust_after must hold a count for every attack done")
        if not self.finished and any(a in self.robust_after for a in attacks[self.attack_index:]):
            found.append("robust_after holds a count for an attack not done yet")
        counts = [self.robust_after[a] for a in done if a in self.robust_after]
        if any(later > earlier for earlier, later in zip(counts, counts[1:])):
            found.append("robust_after must not grow from one attack to the next")
        between = self.attack_indices is None or self.finished
        if counts and (counts[-1] != robust if between else counts[-1] < robust):
            found.append(f"robust_after says {counts[-1]} examples are robust after {done[-1]}, the flags say "
                         f"{robust}")
        if not done and between and not self.finished and self.flags != self.clean_flags:
            found.append("before the first attack the flags must equal clean_flags")
        if self.finished and not found:
            skipped = [self.robust_after.get(a) for a in attacks[self.attack_index:]]
            if len(self.robust_after) != len(attacks) or any(v != robust for v in skipped):
                found.append("a finished state must count every attack, the skipped ones at the final count")
        return found


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
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
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


def _attack_batch(adversary: Any, attack: str, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """One attack call, configured exactly as AutoAttack's loop does it."""
    if attack == "apgd-ce":
        adversary.apgd.loss = "ce"
        adversary.apgd.seed = adversary.get_seed()
        return adversary.apgd.perturb(x, y)
    if attack == "apgd-dlr":
        adversary.apgd.loss = "dlr"
        adversary.apgd.seed = adversary.get_seed()
        return adversary.apgd.perturb(x, y)
    if attack == "fab":
        adversary.fab.targeted = False
        adversary.fab.seed = adversary.get_seed()
        return adversary.fab.perturb(x, y)
    if attack == "square":
        adversary.square.seed = adversary.get_seed()
        return adversary.square.perturb(x, y)
    if attack == "apgd-t":
        adversary.apgd_targeted.seed = adversary.get_seed()
        return adversary.apgd_targeted.perturb(x, y)
    if attack == "fab-t":
        adversary.fab.targeted = True
        adversary.fab.n_restarts = 1
        adversary.fab.seed = adversary.get_seed()
        return adversary.fab.perturb(x, y)
    raise InvalidArgumentError(f"unknown attack {attack!r}")


def _run_checks(adversary: Any, model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int,
                device: Any, logger: logging.Logger, version: str) -> None:
    import importlib

    checks = importlib.import_module(type(adversary).__module__.rsplit(".", 1)[0] + ".checks")
    reset_autoattack_checks()
    xb, yb = x[:batch_size].to(device), y[:batch_size].to(device)
    if version != "rand":
        checks.check_randomized(model, xb, yb, bs=batch_size, logger=logger)
    n_classes = checks.check_range_output(model, xb, logger=logger)
    tracer = sys.gettrace()
    try:
        checks.check_dynamic(model, xb, False, logger=logger)
    finally:  # the check ends with sys.settrace(None): a debugger or coverage measurement would stop silently
        sys.settrace(tracer)
    checks.check_n_classes(n_classes, adversary.attacks_to_run, adversary.apgd_targeted.n_target_classes,
                           adversary.fab.n_target_classes, logger=logger)


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
    rank: int = 0,
    world: int = 1,
    own: slice | None = None,
    sync: Callable[[torch.Tensor, str], torch.Tensor] | None = None,
) -> RunOutcome:
    """Run ``adversary``'s attacks on (x, y) with AutoAttack's protocol; see the module docstring.

    ``rank``/``world``/``sync``: in a process group every rank holds all examples, classifies its own slice
    ``own``, takes every ``world``-th batch of each attack, and ``sync(flags, op)`` (op "sum" or "min")
    combines the flags across ranks; the flags then equal those of one process doing all the work.

    Raises:
        EvaluationStateError: ``state_path`` holds another evaluation's state, or an inconsistent one; the
            file is left as it is.
    """
    attacks = list(adversary.attacks_to_run)
    config = {**config, "attacks": attacks, "batch_size": batch_size, "n": int(x.shape[0]),
              "data_sha256": fingerprint(x, y), "model_sha256": model_fingerprint(model), "world": world,
              "rank": rank}
    with logging_to(LOGGER_NAME, log_path, echo) as logger:
        run = _Run(adversary, model, x, y, batch_size=batch_size, device=device, logger=logger,
                   progress=progress, rank=rank, world=world, own=own, sync=sync, state_path=state_path,
                   state=_initial_state(state_path, config), keep_adversarial=keep_adversarial)
        if run.state.finished:
            logger.debug("evaluation already finished; results restored from %s", state_path)
        if run.state.clean_flags is None:
            logger.debug("using %s version including %s.", config.get("version"), ", ".join(attacks))
            _run_checks(adversary, model, x, y, batch_size, device, logger, str(config.get("version")))
            run.classify_clean()
        run.attack_all(attacks)
        return run.outcome()


class _Run:
    """One evaluation in progress: its state, saved after every step, and the phases that advance it."""

    def __init__(self, adversary: Any, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int,
                 device: Any, logger: logging.Logger, progress: bool, rank: int, world: int, own: slice | None,
                 sync: Callable[[torch.Tensor, str], torch.Tensor] | None, state_path: Path | None,
                 state: RunState, keep_adversarial: bool) -> None:
        self.adversary, self.model, self.x, self.y = adversary, model, x, y
        self.batch_size, self.device, self.logger, self.progress = batch_size, device, logger, progress
        self.rank, self.world, self.sync = rank, world, sync
        self.n = x.shape[0]
        self.own = own
        self.counted = own or slice(0, self.n)
        self.state_path, self.state = state_path, state
        self.x_adv = x.clone().detach() if keep_adversarial else None
        # a state file keeps flags, not images: what earlier sessions fooled has no adversarial image here
        # (a loaded state holds both flag lists or neither: RunState.problems refuses anything else)
        self.fooled_before = (torch.tensor(state.clean_flags) & ~torch.tensor(state.flags)
                              if keep_adversarial and state.flags is not None else None)
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
            flags[mine] = predicted_classes(self.model, x[mine], batch_size=self.batch_size, device=self.device,
                                            on_batch=lambda: bar.update(1)).eq(y[mine])
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
                logger.debug("robust accuracy after %s: %.2f%% (total time %.1f s)", attack.upper(),
                             100 * flags.float().mean().item(), self.elapsed_before + time.monotonic() - self.started)
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
                chunk = targets[b * self.batch_size:(b + 1) * self.batch_size]
                xb, yb = x[chunk].contiguous().to(self.device), y[chunk].clone().to(self.device)
                adv = _attack_batch(self.adversary, attack, xb, yb)
                output = self.model(adv).max(dim=1)[1]
                fooled = (~yb.eq(output)).cpu()
                flags[chunk[fooled]] = False
                if fooled.any():
                    delta = (adv.cpu()[fooled] - x[chunk][fooled]).abs().flatten(1).max(dim=1)[0]
                    state.max_perturbation = max(state.max_perturbation, float(delta.max()))
                if self.x_adv is not None:
                    self.x_adv[chunk[fooled]] = adv.detach().cpu()[fooled]
                self.logger.debug("%s - %d/%d - %d out of %d successfully perturbed", attack, b + 1, batches,
                                  int(fooled.sum()), len(chunk))
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
                self.logger.warning("x_adv: the %d examples fooled before this session are their clean images (a "
                                    "state file keeps flags, not images)", int(self.fooled_before.sum()))
            with torch.no_grad():
                y_adv = torch.cat([self.model(self.x_adv[b:b + self.batch_size].to(self.device)).max(dim=1)[1].cpu()
                                   for b in range(0, self.n, self.batch_size)])
        return RunOutcome(
            clean_flags=torch.tensor(state.clean_flags, dtype=torch.bool),
            flags=torch.tensor(state.flags, dtype=torch.bool),
            robust_after=dict(state.robust_after),
            max_perturbation=state.max_perturbation,
            seconds=state.seconds if self.state_path is not None else time.monotonic() - self.started,
            x_adv=self.x_adv,
            y_adv=y_adv,
        )


_CONFIG_LABELS = {"model_sha256": "model", "data_sha256": "data"}


def _initial_state(state_path: Path | None, config: dict[str, Any]) -> RunState:
    """A fresh state, or the one in ``state_path`` when it was written by this very evaluation.

    The file is never modified here: a refused state stays as it was for the run it belongs to.
    """
    if state_path is None or not state_path.exists():
        return RunState(config=config)
    state = RunState.load(state_path)
    if not isinstance(state.config, dict):
        raise EvaluationStateError(f"{state_path} has no evaluation settings; delete it or choose another "
                                   "state_path")
    if state.config != config:
        keys = sorted(k for k in set(state.config) | set(config) if state.config.get(k) != config.get(k))
        differing = [_CONFIG_LABELS.get(k, k) for k in keys]
        raise EvaluationStateError(
            f"{state_path} holds the state of a different evaluation (differs in: {', '.join(differing)}); "
            "evaluate the same model on the same data with the same settings to resume, or delete it / choose "
            "another state_path",
            differing,
        )
    problems = state.problems(int(config["n"]), len(config["attacks"]))
    if not problems:
        world = int(config.get("world", 1))
        counted = slice(*config["range"]) if world > 1 else slice(0, int(config["n"]))
        problems = state.count_problems(list(config["attacks"]), counted)
    if problems:
        raise EvaluationStateError(
            f"{state_path} is not a consistent evaluation state ({'; '.join(problems)}); it was left as it is: "
            "delete it or choose another state_path"
        )
    return state
