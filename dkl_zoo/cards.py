"""Deprecated import path: ``dkl_zoo.cards`` is ``dkl_zoo.maintainers.cards``
(the maintainers' code has one package). This module goes in 0.2.0."""

import warnings

from .maintainers.cards import *  # noqa: F403
from .maintainers.cards import __all__  # noqa: F401

warnings.warn(
    "dkl_zoo.cards is dkl_zoo.maintainers.cards; this import path goes in 0.2.0", DeprecationWarning, stacklevel=2
)
