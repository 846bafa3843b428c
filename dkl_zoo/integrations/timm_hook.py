"""Registers the zoo in timm right after ``import timm``, without importing timm or torch before then.

Kept apart from ``dkl_zoo.integrations.timm`` so that ``import dkl_zoo`` (and ``dkl-zoo --help``) stays
free of torch: the registration itself imports torch, but only once timm is imported.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from typing import Any

__all__ = ["install_import_hook"]


class _TimmImportHook(importlib.abc.MetaPathFinder):
    """Registers our models right after ``import timm`` finishes, wherever that import happens."""

    def find_spec(self, fullname: str, path: Any, target: Any = None):  # type: ignore[no-untyped-def]
        if fullname != "timm":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("timm")
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        original = loader.exec_module

        def exec_module(module: Any) -> None:
            original(module)
            try:
                from .timm import register_timm_models

                register_timm_models()
            except Exception as error:  # never break `import timm` for its other users
                import warnings

                warnings.warn(f"dkl_zoo could not register its timm models: {error}", RuntimeWarning)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install_import_hook() -> None:
    """Register now when timm is already imported; otherwise when it is."""
    if "timm" in sys.modules:
        from .timm import register_timm_models

        register_timm_models()
    elif not any(isinstance(f, _TimmImportHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _TimmImportHook())
