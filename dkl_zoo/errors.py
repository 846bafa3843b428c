"""One exception class per failure a caller can act on (after huggingface_hub's ``errors.py``).

Every message says what went wrong and what to do about it. All classes derive from ``DklZooError`` so a
caller can catch the zoo's failures in one place, and from the matching built-in class so generic handlers
(``except LookupError``, ``except OSError``) keep working. Every class survives pickling with its attributes
(torchrun and multiprocessing send errors between processes), and no message speaks in command-line flags:
the library does not know it was called from the command line.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Remedy",
    "DklZooError",
    "UnknownModelError",
    "RemoteNotFoundError",
    "RepositoryNotFoundError",
    "RevisionNotFoundError",
    "EntryNotFoundError",
    "OfflineError",
    "HubAccessError",
    "IntegrityError",
    "StateDictMismatchError",
    "UnsafeCheckpointError",
    "OriginalReleaseError",
    "DownloadError",
    "DownloadTimeoutError",
    "WeightsFormatError",
    "EvaluationStateError",
    "InvalidArgumentError",
    "CheckpointError",
    "DatasetNotFoundError",
    "ReleaseCheckError",
    "ImageReadError",
    "ModelOutputError",
    "MissingDependencyError",
    "ExportCheckError",
    "NoRecordedHashError",
    "CacheError",
    "DataFormatError",
    "RunInUseError",
    "UnpinnedWeightsError",
    "IncompatibleDependencyError",
    "AttackTimeoutError",
    "PortUnavailableError",
]


def _rebuild(cls: type, args: tuple, kwargs: dict, state: dict) -> DklZooError:
    error = cls(*args, **kwargs)
    error.__dict__.update(state)
    return error


@dataclass(frozen=True)
class Remedy:
    """What to do about an error, in both languages of the package: the Python call its message names, and the
    ``dkl-zoo`` command that does the same (``dkl-zoo`` prints the command in its place)."""

    python: str
    command: str


LIST_MODELS = Remedy("dkl_zoo.list_models()", "dkl-zoo list")
"""The remedy of a name that is not in the registry."""


class DklZooError(Exception):
    """Base class of every error raised by dkl_zoo. ``remedy``: the fix, when a call (and a command) does it."""

    remedy: Remedy | None = None

    def with_remedy(self, remedy: Remedy) -> DklZooError:
        """This error, its message's remedy named in a structured form (the message already says it in Python)."""
        self.remedy = remedy
        return self

    def command_message(self) -> str:
        """The message with its remedy said as the ``dkl-zoo`` command that does it."""
        text = str(self)
        if self.remedy is not None and self.remedy.python in text:
            text = text.replace(self.remedy.python, f"`{self.remedy.command}`")
        return text

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A subclass with its own ``__init__`` remembers the arguments it was built with, so that pickling (which
        rebuilds an exception from its arguments) calls that ``__init__`` with them, not with the message."""
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None:
            return

        @functools.wraps(init)
        def remembering(self: DklZooError, *args: Any, **kw: Any) -> None:
            if "_init_arguments" not in self.__dict__:  # the outermost __init__ is the one to replay
                self.__dict__["_init_arguments"] = (args, kw)
            init(self, *args, **kw)

        cls.__init__ = remembering  # type: ignore[method-assign]

    def __reduce__(self) -> tuple[Callable[..., DklZooError], tuple]:
        args, kwargs = self.__dict__.get("_init_arguments", (self.args, {}))
        state = {k: v for k, v in self.__dict__.items() if k != "_init_arguments"}
        return _rebuild, (type(self), tuple(args), dict(kwargs), state)


class UnknownModelError(DklZooError, LookupError):
    """The name is not in the registry."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        known = sorted(known)
        self.name = name
        self.suggestions = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(s) for s in self.suggestions)}?" if self.suggestions else ""
        super().__init__(f"Unknown model {name!r}.{hint} Known models: {', '.join(known)} (see {LIST_MODELS.python}).")
        self.remedy = LIST_MODELS


class RemoteNotFoundError(DklZooError, FileNotFoundError):
    """Something asked for does not exist on the Hub endpoint that was asked; catch a subclass to tell which."""

    kind = "repository, revision or file"

    def __init__(self, what: str, repo_id: str, endpoint: str, hint: str) -> None:
        self.repo_id = repo_id
        self.endpoint = endpoint
        super().__init__(f"{what} (repo {repo_id!r} at {endpoint}). {hint}")


class RepositoryNotFoundError(RemoteNotFoundError):
    """The repository does not exist there (not published yet, private, or another endpoint was meant)."""

    kind = "repository"


class RevisionNotFoundError(RemoteNotFoundError):
    """The repository exists, the revision (branch, tag or commit) does not."""

    kind = "revision"


class EntryNotFoundError(RemoteNotFoundError):
    """The repository and revision exist, the file does not."""

    kind = "file"


class OfflineError(DklZooError, ConnectionError):
    """The weights are not in the local cache and the Hub cannot be asked (offline mode, or unreachable)."""


class HubAccessError(DklZooError, ConnectionError):
    """The Hub answered, but refused or failed (HTTP 401/403: token or gated repo; 5xx: the server), and the
    file is not cached. ``status`` is the HTTP status code."""

    def __init__(self, message: str, status: int | None) -> None:
        self.status = status
        super().__init__(message)


class IntegrityError(DklZooError, OSError):
    """A weights file does not have the content it must have; it was not used."""

    def __init__(self, path: str, expected: str, got: str, algorithm: str = "sha256", hint: str = "") -> None:
        self.path = path
        self.expected = expected
        self.got = got
        self.algorithm = algorithm
        super().__init__(
            f"Integrity check failed for {path}: expected {algorithm} {expected}, got {got}. The file was not "
            f"used. {hint or 'Delete it and load again (or pass force_download=True) to fetch a fresh copy.'}"
        )


class NoRecordedHashError(IntegrityError):
    """A cached weights file with nothing to check it against: the hash the Hub reported for it was never
    recorded (it was downloaded by another tool). It is kept, not deleted: one online load records the hash."""

    def __init__(self, path: str) -> None:
        super().__init__(
            path,
            "a hash reported by the Hub",
            "none available",
            hint=(
                "No hash reported by the Hub was recorded for this cached file (it was downloaded by another tool, "
                "or the Hub changed the revision meanwhile). Load once while online, or pin the sha256."
            ),
        )


class StateDictMismatchError(DklZooError, ValueError):
    """A state dict does not fit the architecture exactly (missing, unexpected or mis-shaped entries)."""

    def __init__(
        self,
        missing: Sequence[str],
        unexpected: Sequence[str],
        mismatched: Sequence[str] = (),
        hint: str = "",
    ) -> None:
        self.missing = list(missing)
        self.unexpected = list(unexpected)
        self.mismatched = list(mismatched)
        parts = []
        for label, keys in (
            ("missing", self.missing),
            ("unexpected", self.unexpected),
            ("wrong shape", self.mismatched),
        ):
            if keys:
                shown = ", ".join(keys[:5]) + (f", … ({len(keys)} in all)" if len(keys) > 5 else "")
                parts.append(f"{label}: {shown}")
        if not hint and any(k.startswith("module.") for k in self.unexpected):
            hint = (
                "The keys carry a 'module.' prefix (a DataParallel / Sequential wrapper): convert the file with "
                "dkl_zoo.original.convert.convert_checkpoint (or `dkl-zoo convert`), which strips it."
            )
        super().__init__(
            "State dict does not match the architecture; " + "; ".join(parts) + (f". {hint}" if hint else ".")
        )


class UnsafeCheckpointError(DklZooError, ValueError):
    """A checkpoint would need arbitrary code to unpickle; nothing in it was run."""


class OriginalReleaseError(DklZooError, OSError):
    """The authors' original release could not be fetched or is not a checkpoint."""


class DownloadError(DklZooError, OSError):
    """A server answered, but not with the file (an HTML page, a body of the wrong size); nothing was kept."""


class DownloadTimeoutError(DklZooError, TimeoutError):
    """A download took longer than its deadline (``DKL_ZOO_DOWNLOAD_TIMEOUT``); the partial file was dropped."""


class WeightsFormatError(DklZooError, ValueError):
    """A weights file is not a readable safetensors file, or holds tensors of a type the model cannot take."""


class EvaluationStateError(DklZooError, ValueError):
    """An evaluation state file belongs to another evaluation (other model, data or settings) or is invalid.

    ``differing`` names what differs (e.g. ``["model"]``); the file was left as it is.
    """

    def __init__(self, message: str, differing: Sequence[str] = ()) -> None:
        self.differing = list(differing)
        super().__init__(message)


class InvalidArgumentError(DklZooError, ValueError):
    """An argument or setting that cannot work, refused before any slow work starts."""


class CheckpointError(DklZooError, OSError):
    """A training checkpoint that cannot be resumed from (missing, truncated, corrupt, foreign or unsafe)."""


class DatasetNotFoundError(DklZooError, FileNotFoundError):
    """The test set is neither on disk nor downloadable; the message names the files and where they go."""


class ReleaseCheckError(DklZooError, ValueError):
    """The converted weights do not reach the entry's reported clean accuracy: not published."""


class ImageReadError(DklZooError, OSError):
    """A file that cannot be read as an image: empty, truncated, not an image, over PIL's decompression-bomb
    limit, or not readable. ``path`` names it, ``reason`` says which."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class ModelOutputError(DklZooError, ValueError):
    """A model returned something no prediction or accuracy can be computed from (not B×C logits, the wrong
    number of classes, NaN or infinite values)."""


class MissingDependencyError(DklZooError, ImportError):
    """An optional dependency is not installed; the message names the extra that brings it."""


class ExportCheckError(DklZooError, RuntimeError):
    """An exported model does not compute what the PyTorch model computes; no file was written."""


class CacheError(DklZooError, OSError):
    """A local cache folder cannot be used (read-only, a file where a folder belongs, a full disk). Nothing is
    wrong with the server or the weights: the message names the folder and the setting that chooses it."""


class DataFormatError(DklZooError, ValueError):
    """A data file is not what its name says (an IDX file with another layout, a truncated file)."""


class RunInUseError(DklZooError, RuntimeError):
    """Another process is using the same run folder (a training, an evaluation state); it was left alone."""


class UnpinnedWeightsError(DklZooError, PermissionError):
    """Fail-closed mode (``verified_only=True`` / ``DKL_ZOO_VERIFIED_ONLY=1``) refused weights whose sha256 is not
    pinned; nothing was downloaded."""


class IncompatibleDependencyError(DklZooError, ImportError):
    """An installed library is outside the releases this package's code that reaches into it was checked
    against; the message names the range to install."""


class AttackTimeoutError(DklZooError, TimeoutError):
    """An attack ran past its time limit and was stopped (a large model on a slow machine); nothing was returned."""


class PortUnavailableError(DklZooError, OSError):
    """The web demo cannot listen on the address and port asked for (taken by another program, or not allowed)."""
