"""The state of an evaluation in progress, written atomically after every batch: which examples are still
robust, which attack and batch come next, and fingerprints of the model and data it belongs to."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._arguments import is_real
from .._atomic import atomic_write_text
from ..errors import EvaluationStateError

__all__ = ["RunState", "fingerprint", "model_fingerprint", "initial_state"]


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
    from .._integrity import state_dict_sha256

    return state_dict_sha256(model)


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
    def load(cls, path: Path) -> RunState:
        """The state in ``path``; refused by name when it is not a JSON object of these fields."""
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise EvaluationStateError(
                f"{path} is not a dkl_zoo evaluation state ({error}); delete it or choose another state_path"
            ) from None
        if not isinstance(data, dict):
            raise EvaluationStateError(
                f"{path} is not a dkl_zoo evaluation state (a JSON {type(data).__name__}, "
                "not an object); delete it or choose another state_path"
            )
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        missing = sorted(k for k in ("config",) if k not in data)
        if unknown or missing:
            what = f"unknown fields {unknown}" if unknown else f"no {missing[0]}"
            raise EvaluationStateError(
                f"{path} is not a dkl_zoo evaluation state ({what}); delete it or choose another state_path"
            )
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
            if not is_real(value) or value < 0:
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
        done = attacks[: self.attack_index]
        if any(a not in self.robust_after for a in done):
            found.append("robust_after must hold a count for every attack done")
        if not self.finished and any(a in self.robust_after for a in attacks[self.attack_index :]):
            found.append("robust_after holds a count for an attack not done yet")
        counts = [self.robust_after[a] for a in done if a in self.robust_after]
        if any(later > earlier for earlier, later in zip(counts, counts[1:])):
            found.append("robust_after must not grow from one attack to the next")
        between = self.attack_indices is None or self.finished
        if counts and (counts[-1] != robust if between else counts[-1] < robust):
            found.append(f"robust_after says {counts[-1]} examples are robust after {done[-1]}, the flags say {robust}")
        if not done and between and not self.finished and self.flags != self.clean_flags:
            found.append("before the first attack the flags must equal clean_flags")
        if self.finished and not found:
            skipped = [self.robust_after.get(a) for a in attacks[self.attack_index :]]
            if len(self.robust_after) != len(attacks) or any(v != robust for v in skipped):
                found.append("a finished state must count every attack, the skipped ones at the final count")
        return found


_CONFIG_LABELS = {"model_sha256": "model", "data_sha256": "data"}


def initial_state(state_path: Path | None, config: dict[str, Any]) -> RunState:
    """A fresh state, or the one in ``state_path`` when it was written by this very evaluation.

    The file is never modified here: a refused state stays as it was for the run it belongs to.
    """
    if state_path is None or not state_path.exists():
        return RunState(config=config)
    state = RunState.load(state_path)
    if not isinstance(state.config, dict):
        raise EvaluationStateError(f"{state_path} has no evaluation settings; delete it or choose another state_path")
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
