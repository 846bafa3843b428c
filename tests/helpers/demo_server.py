"""``dkl-zoo demo`` run as a user runs it: its own process, on a free port of 127.0.0.1, with a home and a
temporary folder of its own (both empty at the start), so a test can see every file it leaves behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from . import ROOT, ctrl_c_reaches_it, free_port

__all__ = ["DemoServer", "files_under"]


def files_under(folder: Path) -> list[str]:
    """Every file and folder below ``folder``, relative, sorted."""
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


class DemoServer:
    """The demo's process; ``url`` once it serves. ``home`` and ``tmp`` are its HOME and TMPDIR."""

    def __init__(self, sandbox: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.home, self.tmp = sandbox / "home", sandbox / "tmp"
        self.home.mkdir(parents=True)
        self.tmp.mkdir(parents=True)
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DKL_ZOO_", "HF_", "XDG_", "GRADIO_", "MPLCONFIGDIR"))
        }
        self.env.update(
            {
                "HOME": str(self.home),
                "TMPDIR": str(self.tmp),
                "PYTHONPATH": str(ROOT),
                "HF_HUB_OFFLINE": "1",
                "PYTHONUNBUFFERED": "1",
                **(env or {}),
            }
        )
        self.args = args
        self._start()

    def _start(self) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dkl_zoo", "demo", "--port", str(self.port), *self.args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=self.tmp,
            preexec_fn=ctrl_c_reaches_it,
        )
        self.lines: list[str] = []
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.url = f"http://127.0.0.1:{self.port}/"

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if "serving" in line:
                self._ready.set()

    def wait_ready(self, timeout: float = 120) -> DemoServer:
        """Block until the page serves; started again on another port if its port was taken between the probe
        and the demo's bind (the one race a free-port probe leaves), at most three times."""
        deadline = time.monotonic() + timeout
        for _ in range(3):
            while not self._ready.wait(0.2):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    break
            if self._ready.is_set():
                return self
            if self.process.poll() is not None and "the port is taken" in self.output:
                self._start()
                continue
            break
        self.kill()
        raise AssertionError("the demo did not start:\n" + "".join(self.lines))

    @property
    def output(self) -> str:
        """What it printed; once it has exited, all of it (the reader drains the pipe to its end first)."""
        if self.process.poll() is not None:
            self._reader.join(30)
        return "".join(self.lines)

    def interrupt(self, timeout: float = 60) -> int:
        """Ctrl-C, as a terminal sends it; the exit code."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)
