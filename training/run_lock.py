"""One training per run folder: a lock held for the run's whole life.

Two trainings started on one ``--out`` would interleave ``metrics.csv`` and overwrite each other's checkpoints
and ``final.pt``, and both would report success. The first takes an exclusive ``flock`` on ``<out>/.run.lock``
and writes who it is there (pid, host, start time); a second is refused at once with that information. The
operating system releases the lock when the process ends, however it ends, so a killed run never leaves a
stale lock behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import IO

from dkl_zoo.errors import RunInUseError

__all__ = ["RunLock", "LOCK_FILE"]

LOCK_FILE = ".run.lock"


class RunLock:
    """The exclusive lock of one run folder; ``release()`` (or the end of the process) lets it go."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.path = Path(folder) / LOCK_FILE
        handle: IO[str] = open(self.path, "a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            raise RunInUseError(
                f"{self.path.parent} is in use by another training ({_describe(holder)}); wait for it to end, or "
                "choose another --out"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(
            json.dumps(
                {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
            )
            + "\n"
        )
        handle.flush()
        self._handle: IO[str] | None = handle

    def release(self) -> None:
        """Let the folder go (the lock file stays: it is reused, never trusted by its mere existence)."""
        if self._handle is not None:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def _describe(holder: str) -> str:
    try:
        info = json.loads(holder)
        return f"pid {info['pid']} on {info['host']}, started {info['started']}"
    except (ValueError, KeyError, TypeError):
        return "a process that has not written its details yet"
