"""Interrupts that a library wrapped in its own error (torch.export turns a Ctrl-C inside its tracer into an export
error): found in the exception's chain, so that an interrupt stays an interrupt."""

from __future__ import annotations

__all__ = ["interrupt_in_chain"]


def interrupt_in_chain(
    error: BaseException, kinds: tuple[type[BaseException], ...] = (KeyboardInterrupt,)
) -> type[BaseException] | None:
    """The first of ``kinds`` that ``error`` is, or was raised because of (its ``__cause__`` / ``__context__``
    chain), else None."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, kinds):
            return type(current)
        current = current.__cause__ or current.__context__
    return None
