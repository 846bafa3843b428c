"""The ``dkl-zoo`` command: thin verbs over the library, one module each (the maintainers' verbs ``convert``,
``publish``, ``release`` and ``cards`` apart, in ``maintainers``).

Exit codes: 0 ok, 2 usage error, 1 failure (one line on stderr; the traceback with ``--debug``).
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from typing import Callable, Sequence

from . import attack, catalogue, demo, download, evaluate, export, forget, predict
from ._common import UsageError
from .maintainers import cards, convert, publish, release

__all__ = ["main", "build_parser"]

_VERBS = (catalogue, download, evaluate, predict, attack, export, demo, convert, publish, release, forget, cards)


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


def main(argv: Sequence[str] | None = None) -> int:
    """Run one verb; returns the exit code (0 ok, 1 failure with a one-line message, 2 usage error)."""
    from ..errors import InvalidArgumentError, UnknownModelError

    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except UsageError as error:
        print(f"dkl-zoo {args.verb}: usage error: {error}", file=sys.stderr)
        return 2
    except InvalidArgumentError as error:
        if args.debug:
            raise
        print(f"dkl-zoo {args.verb}: usage error: {error}", file=sys.stderr)
        return 2
    except UnknownModelError as error:
        if args.debug:
            raise
        print(f"dkl-zoo {args.verb}: {_in_command_words(str(error))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `dkl-zoo list | head -1`: the reader has what it wanted; exit quietly, as Unix tools do
        _silence_stdout()
        return 141
    except OSError as error:
        if args.debug or error.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EIO) or _is_ours(error):
            if args.debug:
                raise
            print(f"dkl-zoo {args.verb}: {type(error).__name__}: {error}", file=sys.stderr)
            return 1
        _silence_stdout()
        print(f"dkl-zoo {args.verb}: cannot write the output: {error.strerror}", file=sys.stderr)
        return 1
    except Exception as error:  # one line for users, the traceback on request
        if args.debug:
            raise
        print(f"dkl-zoo {args.verb}: {type(error).__name__}: {_in_command_words(str(error))}", file=sys.stderr)
        return 1


def _in_command_words(message: str) -> str:
    """The library's remedies, said as the commands that do the same."""
    import re

    message = message.replace("dkl_zoo.list_models()", "`dkl-zoo list`")
    return re.sub(r"dkl_zoo\.original\.forget_original\('([^']+)'(?:, '([^']+)/dkl_zoo')?\)",
                  lambda m: f"`dkl-zoo forget-original {m.group(1)}" + (f" --cache-dir {m.group(2)}" if m.group(2)
                                                                         else "") + "`", message)


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
