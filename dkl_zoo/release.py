"""Deprecated import path: ``dkl_zoo.release`` is ``dkl_zoo.maintainers.release``
(the maintainers' code has one package). This module goes in 0.2.0."""

import warnings

from .maintainers.release import *  # noqa: F403
from .maintainers.release import __all__  # noqa: F401

warnings.warn(
    "dkl_zoo.release is dkl_zoo.maintainers.release; this import path goes in 0.2.0", DeprecationWarning, stacklevel=2
)
