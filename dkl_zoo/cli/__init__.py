"""The ``dkl-zoo`` command: thin verbs over the library, one module each (the maintainers' verbs ``convert``,
``publish``, ``release`` and ``cards`` apart, in ``maintainers``).

Exit codes: 0 ok, 2 usage error, 1 failure (one line on stderr; the traceback with ``--debug``), 130 interrupted
(Ctrl-C), 143 terminated (SIGTERM). An interrupted or terminated command removes its temporary files and the
folders it made, and leaves its outputs as they were: SIGTERM is raised as an exception where the command is, so
the same clean-up runs as for Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence

from . import attack, catalogue, demo, download, evaluate, export, forget, predict, verify
from ._common import UsageError
from .maintainers import cards, convert, publish, reference, release

__all__ = ["main", "build_parser"]

_VERBS = (
    catalogue,
    download,
    evaluate,
    verify,
    predict,
    attack,
    export,
    demo,
    convert,
    publish,
    release,
    reference,
    forget,
    cards,
)


def build_parser() -> argparse.ArgumentParser:
    """The ``dkl-zoo`` argument parser: one sub-command per verb, defaults shown in ``--help``."""
    from .. import __version__

    parser = argparse.ArgumentParser(prog="dkl-zoo", description="The IKL-AT model zoo.")
    parser.add_argument("--version", action="version", version=f"dkl-zoo {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on failure")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for module in _VERBS:
        module.add_parsers(verbs)
    return parser


class Terminated(BaseException):
    """SIGTERM, raised where the command is (a ``BaseException``, as ``KeyboardInterrupt`` is), so every
    ``finally`` and clean-up runs before the process exits."""


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While the block runs, SIGTERM raises ``Terminated`` (only the main thread can install a handler; elsewhere
    the default stays)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_terminated(signum: int, frame: object) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one verb; returns the exit code (0 ok, 1 failure with a one-line message, 2 usage error, 130
    interrupted, 143 terminated)."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    try:
        with _sigterm_raises():
            return _run(args)
    except Terminated:
        print("terminated", file=sys.stderr)
        return 143


def _run(args: argparse.Namespace) -> int:
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except Terminated:
        raise
    except BaseException as error:
        from .._interrupts import interrupt_in_chain

        cause = interrupt_in_chain(error, (KeyboardInterrupt, Terminated))
        if cause is Terminated:
            raise Terminated() from None
        if cause is KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        if not isinstance(error, Exception):
            raise
        return _report(args, error)


def _report(args: argparse.Namespace, error: Exception) -> int:
    """The exit code of a failed verb, its one-line message printed (the traceback with ``--debug``). Messages
    are printed with their control characters escaped: a file name in one must not drive the terminal."""
    from .._terminal import printable
    from ..errors import DklZooError, InvalidArgumentError, UnknownModelError

    def say(text: str) -> None:
        print(f"dkl-zoo {args.verb}: {printable(text, quote=False)}", file=sys.stderr)

    if isinstance(error, UsageError):
        say(f"usage error: {error}")
        return 2
    if args.debug and not isinstance(error, BrokenPipeError):
        raise error
    if isinstance(error, InvalidArgumentError):
        say(f"usage error: {error.command_message()}")
        return 2
    if isinstance(error, UnknownModelError):
        say(error.command_message())
        return 2
    if isinstance(error, BrokenPipeError):  # `dkl-zoo list | head -1`: the reader has what it wanted; exit quietly
        _silence_stdout()
        return 141
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO) and not _is_ours(error):
        _silence_stdout()
        say(f"cannot write the output: {error.strerror}")
        return 1
    text = error.command_message() if isinstance(error, DklZooError) else str(error)  # remedies as commands
    say(f"{type(error).__name__}: {text}")  # one line for users, the traceback on request
    return 1


def _is_ours(error: BaseException) -> bool:
    from ..errors import DklZooError

    return isinstance(error, DklZooError)


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush at exit does not fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    raise SystemExit(main())
