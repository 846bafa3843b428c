"""A counter that moves whenever any module in the process registers a parameter, a buffer or a submodule
(``module.x = ...``, ``register_buffer``, ``load_state_dict(assign=True)``): what was read from a model's tree
stays true while the counter stands still, so the per-call checks of ``predict`` need not walk the tree again.

It counts through PyTorch's public global registration hooks (``torch.nn.modules.module.
register_module_*_registration_hook``), installed on first use. Tensors whose storage is swapped in place
(``p.data = other``) are not registrations: readers compare storage addresses for those.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["structure_version"]

_count = 0
_installed = False
_guard = threading.Lock()


def _moved(*_: Any) -> None:
    global _count
    _count += 1  # a hook that returns None leaves the registered value as it is


def structure_version() -> int:
    """The number of registrations seen since the hooks were installed (installed by the first call)."""
    global _installed
    if not _installed:
        with _guard:
            if not _installed:
                from torch.nn.modules import module

                module.register_module_parameter_registration_hook(_moved)
                module.register_module_buffer_registration_hook(_moved)
                module.register_module_module_registration_hook(_moved)
                _installed = True
    return _count
