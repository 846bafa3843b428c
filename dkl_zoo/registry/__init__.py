"""The registry: every checkpoint of the zoo, as plain data, with each number's source.

An entry is written out whole in one place: ``_released.py`` holds the seven checkpoints of the authors'
release, ``_shipped.py`` the two models this project trained and ships. Python rather than per-entry data files
(RobustBench keeps JSON): the entries are maintained with the code that reads them, a type checker and the
tests see every field, and shared facts (the release's URLs, the paper, the architectures) are named constants
rather than strings repeated in files. Adding an entry: append a ``ModelEntry`` to one of those tuples (its spec,
its numbers with sources, its notes); ``REGISTRY`` refuses a second entry of the same name.

The registry reads no environment: pins (``dkl_zoo._pins``) are applied by ``get_entry``, a mirror's namespace
where the Hub is asked.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from ._architectures import CIFAR10_MEAN, CIFAR10_STD, CIFAR100_MEAN, CIFAR100_STD
from ._constants import (
    AUTHORS,
    CITATION,
    LICENSE_NOTE,
    PAPER_URL,
    RELEASE_COMMIT,
    RELEASE_URL,
    SOURCE_LOG,
    SOURCE_OURS,
    SOURCE_README,
    SOURCE_ROBUSTBENCH,
)
from ._released import RELEASED_ENTRIES
from ._shipped import SHIPPED_ENTRIES
from ._sources import README_V1, README_V2
from ._types import (
    ArchitectureSpec,
    MethodLabel,
    ModelEntry,
    OriginalSource,
    Provenance,
    Recipe,
    ReportedResult,
    WeightsSpec,
)

__all__ = [
    "ArchitectureSpec",
    "MethodLabel",
    "ModelEntry",
    "OriginalSource",
    "Provenance",
    "Recipe",
    "ReportedResult",
    "WeightsSpec",
    "REGISTRY",
    "RELEASED",
    "get_entry",
    "list_models",
    "registry_of",
    "PAPER_URL",
    "RELEASE_URL",
    "RELEASE_COMMIT",
    "CITATION",
    "AUTHORS",
    "LICENSE_NOTE",
    "README_V1",
    "README_V2",
    "SOURCE_README",
    "SOURCE_LOG",
    "SOURCE_ROBUSTBENCH",
    "SOURCE_OURS",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "CIFAR100_MEAN",
    "CIFAR100_STD",
]


def registry_of(entries: Iterable[ModelEntry]) -> Mapping[str, ModelEntry]:
    """A read-only name → entry table; a name given twice is refused, as torchvision's ``register_model``
    refuses it (the second would silently replace the first)."""
    table: dict[str, ModelEntry] = {}
    for entry in entries:
        if entry.name in table:
            from ..errors import InvalidArgumentError

            raise InvalidArgumentError(f"the registry already has an entry named {entry.name!r}")
        table[entry.name] = entry
    return MappingProxyType(table)


REGISTRY: Mapping[str, ModelEntry] = registry_of((*RELEASED_ENTRIES, *SHIPPED_ENTRIES))
RELEASED: tuple[str, ...] = tuple(entry.name for entry in RELEASED_ENTRIES)
"""The seven checkpoints of the original release (the Fashion-MNIST entries are this project's own)."""


def list_models(pattern: str | None = None) -> list[str]:
    """Names of the registered checkpoints, sorted; ``pattern`` is an fnmatch pattern (``"*cifar100*"``)."""
    names = sorted(REGISTRY)
    if pattern is None:
        return names
    return [name for name in names if fnmatch.fnmatchcase(name, pattern)]


def get_entry(name: str) -> ModelEntry:
    """The entry for ``name`` with its pin applied (``dkl_zoo/pins.json`` or ``DKL_ZOO_PINS``); unknown names
    raise ``UnknownModelError`` with the closest names."""
    try:
        entry = REGISTRY[name]
    except KeyError:
        from ..errors import UnknownModelError

        raise UnknownModelError(name, list(REGISTRY)) from None
    from .._pins import apply_pin, load_pins

    return apply_pin(entry, _checked_pins(load_pins()))


def _checked_pins(pins: Mapping[str, Any]) -> Mapping[str, Any]:
    """A pins file names registry entries only: a pin under a misspelt name would leave its entry unpinned."""
    unknown = sorted(set(pins) - set(REGISTRY))
    if unknown:
        import difflib

        from .._pins import pins_path
        from ..errors import LIST_MODELS, InvalidArgumentError

        closest = {name: difflib.get_close_matches(name, list(REGISTRY), n=1, cutoff=0.5) for name in unknown}
        shown = ", ".join(
            f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else "") for name, close in closest.items()
        )
        raise InvalidArgumentError(
            f"{pins_path()} pins {shown}, which the registry does not have; a pins file names "
            f"registry entries only (see {LIST_MODELS.python}): correct or remove them"
        ).with_remedy(LIST_MODELS)
    return pins
