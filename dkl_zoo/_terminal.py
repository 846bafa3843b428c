"""Text from outside (file names, above all) made safe to print on a terminal.

A file name may hold escape sequences that move the cursor, recolour or clear the screen, or set the window
title; printed raw in a table, a progress bar or an error, it drives the user's terminal. Such characters are
shown escaped and the name quoted, as ``ls`` shows them on a terminal; JSON and CSV outputs keep the exact name.
"""

from __future__ import annotations

import unicodedata

__all__ = ["printable"]

_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
"""Bidirectional overrides: printed raw they reverse what follows them on the line."""


def _unsafe(character: str) -> bool:
    return unicodedata.category(character) == "Cc" or character in _BIDI


def printable(text: str, *, quote: bool = True) -> str:
    """``text`` as it is when every character is safe to print; otherwise each control character (and each
    bidirectional override) written as a backslash escape, and with ``quote`` (for a name standing alone) the
    whole quoted, its backslashes and quotes escaped."""
    if not any(_unsafe(c) for c in text):
        return text
    parts = []
    for c in text:
        if quote and c in "\\'":
            parts.append("\\" + c)
        elif _unsafe(c):
            code = ord(c)
            parts.append(
                {"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(c)
                or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
            )
        else:
            parts.append(c)
    return "'" + "".join(parts) + "'" if quote else "".join(parts)
