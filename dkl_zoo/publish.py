"""Deprecated import path: ``dkl_zoo.publish`` is ``dkl_zoo.maintainers.publish``
(the maintainers' code has one package). This module goes in 0.2.0."""

import warnings

from .maintainers.publish import *  # noqa: F403
from .maintainers.publish import __all__  # noqa: F401

warnings.warn(
    "dkl_zoo.publish is dkl_zoo.maintainers.publish; this import path goes in 0.2.0", DeprecationWarning, stacklevel=2
)
