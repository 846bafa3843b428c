"""Deprecated import path: ``dkl_zoo.convert`` is ``dkl_zoo.original.convert``
(converting the authors' original checkpoints belongs to the original release). This module goes in 0.2.0."""

import warnings

from .original.convert import *  # noqa: F403
from .original.convert import __all__  # noqa: F401

warnings.warn(
    "dkl_zoo.convert is dkl_zoo.original.convert; this import path goes in 0.2.0", DeprecationWarning, stacklevel=2
)
