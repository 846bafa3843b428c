"""Shared fixtures: a Hub-protocol server on 127.0.0.1 and tiny versions of the registry's architectures."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save

import dkl_zoo
from dkl_zoo import settings
from dkl_zoo.registry import ModelEntry, get_entry
from hub_server import HubServer

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"

TINY_KWARGS = {
    "wide_resnet": {"depth": 10, "widen_factor": 1},
    "dm_wide_resnet": {"depth": 10, "width": 1},
}


def tiny_entry(name: str = "ikl-at-cifar10-wrn34") -> ModelEntry:
    """A registry entry with the same architecture family at WRN-10-1 size."""
    entry = get_entry(name)
    return entry.with_arch(kwargs={**entry.arch.kwargs, **TINY_KWARGS[entry.arch.name]})


def safetensors_bytes(model: torch.nn.Module) -> bytes:
    return save({k: v.detach().contiguous() for k, v in model.state_dict().items()})


def trained_like(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give BatchNorm non-trivial statistics so eval-mode outputs depend on every buffer."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator) + 0.5)
                module.num_batches_tracked.fill_(7)
    return model.eval()


@pytest.fixture()
def hub():
    with HubServer() as server:
        yield server


@pytest.fixture()
def drive(monkeypatch, tmp_path):
    """A Google-Drive stand-in on 127.0.0.1 that the original-release fallback and `dkl-zoo release` use."""
    from drivekit import DriveServer

    with DriveServer() as server:
        monkeypatch.setenv(settings.ORIGINAL_URL_ENV, server.url_template)
        monkeypatch.setenv(settings.CACHE_ENV, str(tmp_path / "zoo-cache"))
        yield server


@pytest.fixture()
def cache_dir(tmp_path: Path) -> Path:
    path = tmp_path / "hf-cache"
    path.mkdir()
    return path


@pytest.fixture()
def published(hub: HubServer):
    """A tiny WRN published at the entry's repo id; returns (entry, reference model, commit sha)."""
    torch.manual_seed(0)
    entry = tiny_entry()
    model = trained_like(dkl_zoo.build_model(entry))
    sha = hub.add_repo(entry.repo_id, {"model.safetensors": safetensors_bytes(model), "config.json": b"{}"})
    return entry, model, sha


def run_python(code: str, env: dict[str, str] | None = None, timeout: float = 120):
    """Run ``code`` in a fresh interpreter (for settings huggingface_hub reads at import time)."""
    import subprocess

    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-c", code], env=full_env, capture_output=True, text=True,
                          timeout=timeout)


@contextlib.contextmanager
def unwritable(*folders: Path):
    """Folders in which nothing can be created, renamed or deleted, even by root: a read-only cache.

    As root, permission bits do not stop writes; the immutable attribute (``chattr +i``) does. Always undone.
    """
    import subprocess

    as_root = os.geteuid() == 0
    for folder in folders:
        if as_root:
            subprocess.run(["chattr", "+i", str(folder)], check=True)
        else:
            folder.chmod(0o555)
    try:
        yield
    finally:
        for folder in folders:
            if as_root:
                subprocess.run(["chattr", "-i", str(folder)], check=True)
            else:
                folder.chmod(0o755)
