"""Training checkpoints: written whole or not at all, read so that nothing in them can run code."""

from __future__ import annotations

import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dkl_zoo._atomic import atomic_write
from dkl_zoo.errors import CheckpointError

__all__ = ["CHECKPOINT", "read_checkpoint", "save_checkpoint_file", "rng_state", "set_rng_state"]

CHECKPOINT = "checkpoint.pt"


def save_checkpoint_file(obj: Any, path: Path) -> None:
    """``torch.save`` whole or not at all: a killed run never leaves half a checkpoint."""
    atomic_write(path, lambda out: torch.save(obj, out))


_CHECKPOINT_KEYS = (
    "epoch",
    "step",
    "global_step",
    "seconds",
    "model",
    "optimizer",
    "scheduler",
    "proxy_optimizer",
    "prior",
    "epoch_ema",
    "step_ema",
    "stream",
    "rng",
    "config",
)


def read_checkpoint(path: Path) -> dict:
    """A training checkpoint, read so that nothing in it can run code.

    ``torch.load(weights_only=True)`` rebuilds only tensors and plain containers; anything else in the
    pickle (a planted ``__reduce__``) is refused before it runs. Every failure is one ``CheckpointError``
    that names the file and what to do.
    """
    fix = "start a new run in another --out, or restore the file from a backup"
    if not path.is_file():
        raise CheckpointError(f"--resume: no checkpoint at {path}; run without --resume to start the run")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path} is empty (the run was interrupted while it was written?); {fix}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "weights only" in str(error).lower() or "weights_only" in str(error).lower():
            raise CheckpointError(
                f"{path} holds objects that need code to unpickle, which is never run (a foreign or tampered "
                f"file; nothing in it was executed); {fix}"
            ) from None
        raise CheckpointError(f"{path} is not a PyTorch checkpoint ({str(error).splitlines()[0]}); {fix}") from None
    except Exception as error:  # truncated zip, bad magic, I/O errors: all mean the same to the user
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CheckpointError(f"{path} is truncated or corrupt ({first}); {fix}") from None
    missing = [k for k in _CHECKPOINT_KEYS if not isinstance(state, dict) or k not in state]
    if not missing and not isinstance(state["config"], dict):
        missing = ["config"]
    if missing:
        raise CheckpointError(
            f"{path} is not a checkpoint written by training.train (missing: {', '.join(missing)}); {fix}"
        )
    return state


def rng_state() -> dict:
    """Every random generator a step draws from (torch, CUDA, Python, NumPy), for a bit-identical resume."""
    state = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": {
            k: (v.tolist() if isinstance(v, np.ndarray) else v)
            for k, v in zip(("kind", "keys", "pos", "has_gauss", "cached"), np.random.get_state())
        },
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what ``rng_state`` returned."""
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    numpy = state["numpy"]
    np.random.set_state(
        (numpy["kind"], np.array(numpy["keys"], dtype=np.uint32), numpy["pos"], numpy["has_gauss"], numpy["cached"])
    )
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
