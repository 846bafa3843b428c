"""What the tests share that is not a fixture: the repository's paths, tiny versions of the registry's
architectures, weights as bytes, a fresh interpreter, and a read-only folder. The servers and data sets the
tests build live beside it: ``hub_server`` (the Hub's protocol), ``drive_server`` (Google Drive's),
``colour_data`` (a model and images whose answers are known), ``released_port`` (the release's training step),
``shard_worker`` (a process of a sharded evaluation)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path

import torch
from safetensors.torch import save

from dkl_zoo.registry import ModelEntry, get_entry

__all__ = [
    "ROOT",
    "DATA",
    "TINY_KWARGS",
    "tiny_entry",
    "safetensors_bytes",
    "trained_like",
    "run_python",
    "python_env",
    "closed_port_url",
    "free_port",
    "unwritable",
    "ctrl_c_reaches_it",
    "fashion_mnist_or_skip",
]

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"

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


def python_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child Python that imports this checkout's dkl_zoo: ours, with PYTHONPATH and ``extra``."""
    return {**os.environ, "PYTHONPATH": str(ROOT), **(extra or {})}


def run_python(code: str, env: dict[str, str] | None = None, timeout: float = 120):
    """Run ``code`` in a fresh interpreter (for settings huggingface_hub reads at import time)."""
    import subprocess

    return subprocess.run(
        [sys.executable, "-c", code], env=python_env(env), capture_output=True, text=True, timeout=timeout
    )


def closed_port_url() -> str:
    """The address of a port nothing listens on (bound, then closed): a server that is down, on purpose."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def free_port() -> int:
    """A port to give a server that cannot bind port 0 and say which it got (Gradio builds its URL from the port
    it is given): free now, and the caller retries with another if it was taken meanwhile (``DemoServer``)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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


def ctrl_c_reaches_it() -> None:
    """``preexec_fn`` of a process a test will Ctrl-C: SIGINT back to its default, as in a terminal. A process
    started from a background job (or a pytest-xdist worker) inherits SIGINT ignored, and Python keeps it
    ignored, so the test's Ctrl-C would never arrive."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def fashion_mnist_or_skip() -> None:
    """Skip where Debian's Fashion-MNIST test set is missing (in CI a skip fails: ``.ci/run`` installs it)."""
    import pytest

    from dkl_zoo.data import FASHION_MNIST_DIRS

    if not FASHION_MNIST_DIRS[0].exists():
        pytest.skip("Fashion-MNIST not installed: apt-get install dataset-fashion-mnist")
