"""Deprecated import path: ``dkl_zoo.prediction_output`` is ``dkl_zoo.cli._prediction_output``
(only the command writes predictions as tables, JSON and CSV). This module goes in 0.2.0."""

import warnings

from .cli._prediction_output import *  # noqa: F403
from .cli._prediction_output import __all__  # noqa: F401

warnings.warn(
    "dkl_zoo.prediction_output is dkl_zoo.cli._prediction_output; this import path goes in 0.2.0",
    DeprecationWarning,
    stacklevel=2,
)
