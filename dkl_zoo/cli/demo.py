"""``dkl-zoo demo``: the local web page where robustness can be seen (Gradio, the ``demo`` extra)."""

from __future__ import annotations

import argparse
import signal
import sys

from ._common import positive_int


def add_parsers(verbs) -> None:  # type: ignore[no-untyped-def]
    """Register this module's verbs on the ``dkl-zoo`` parser."""
    p = verbs.add_parser(
        "demo",
        help="a local web page: predict and attack images, robust next to standard",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (0.0.0.0 makes the page reachable from other machines)"
    )
    p.add_argument("--port", type=positive_int, default=7860)
    p.add_argument(
        "--models",
        nargs="+",
        metavar="NAME",
        default=None,
        help="entries the page offers, the first two preselected (default: all, shipped ones first)",
    )
    p.add_argument("--share", action="store_true", help="also make a public gradio.live link")
    p.add_argument("--time-limit", type=positive_int, default=30, help="seconds one attack may take")
    p.set_defaults(func=run_demo)


def _stop_on_sigterm() -> None:
    """``kill`` stops the server as Ctrl-C does: its temporary folder is removed."""

    def interrupt(signum, frame) -> None:  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def run_demo(args: argparse.Namespace) -> int:
    from ..demo import serve

    if args.port > 65535:
        from ._common import UsageError

        raise UsageError(f"--port must be at most 65535, got {args.port}")

    def ready(url: str) -> None:
        print(f"dkl-zoo demo: serving {url} (Ctrl-C stops it)", file=sys.stderr, flush=True)

    _stop_on_sigterm()
    try:
        serve(args.models, host=args.host, port=args.port, share=args.share, time_limit=args.time_limit, on_ready=ready)
    except KeyboardInterrupt:
        print("dkl-zoo demo: stopped", file=sys.stderr)
    return 0
