"""The registry's types: an entry is its ``arch`` (how to build the network), its ``weights`` (where they are and
what they hash to) and its ``provenance`` (what the sources report, each number with its reference).

Plain frozen dataclasses (torchvision's ``Weights``): an entry is written out whole where it is defined, and a
changed copy is made part by part (``with_arch``, ``with_weights``, ``with_provenance``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..settings import DEFAULT_NAMESPACE, DRIVE_DOWNLOAD_URL
from ._constants import CITATION, LICENSE_NOTE, PAPER_URL, SOURCE_README

if TYPE_CHECKING:
    from ..transforms import ImageTransform
    from ._metrics import EntryMetrics

__all__ = [
    "ReportedResult",
    "Recipe",
    "OriginalSource",
    "MethodLabel",
    "ArchitectureSpec",
    "WeightsSpec",
    "Provenance",
    "ModelEntry",
]


@dataclass(frozen=True)
class ReportedResult:
    """Clean / AutoAttack accuracy (percent) as one source reports it."""

    source: str
    clean_acc: float
    robust_acc: float
    reference: str
    note: str = ""


@dataclass(frozen=True)
class Recipe:
    """IKL-AT hyperparameters (alpha weights the soft-CE, beta the wMSE, T the temperature)."""

    alpha: float | None
    beta: float | None
    temperature: float | None
    source: str
    gamma_aug: float | None = None
    extra_data: str | None = None
    note: str = ""


@dataclass(frozen=True)
class OriginalSource:
    """A place the authors' original (pickled) checkpoint can be fetched from."""

    kind: str
    google_drive_id: str

    @property
    def url(self) -> str:
        """The file's Google Drive download address."""
        return DRIVE_DOWNLOAD_URL.format(id=self.google_drive_id)

    @property
    def key(self) -> str:
        """``"<kind> <google drive id>"``: how records and pins name this file."""
        return f"{self.kind} {self.google_drive_id}"


@dataclass(frozen=True)
class MethodLabel:
    """What a source calls the method of a checkpoint (IKL-AT and GKL-AT name the same loss at gamma = 1)."""

    label: str
    source: str


@dataclass(frozen=True)
class ArchitectureSpec:
    """How to build the network (timm's entrypoint, torchvision's builder) and the input it takes: ``input_size``
    channels × height × width of [0, 1] images (the entry's ``transforms()`` makes any image so).

    ``kwargs`` is the one source of the class count and, for networks that normalise inside, mean and std.
    """

    name: str
    """Key of ``dkl_zoo.models.ARCHITECTURES``."""
    kwargs: Mapping[str, Any]
    label: str
    input_size: tuple[int, int, int] = (3, 32, 32)

    @property
    def num_classes(self) -> int:
        """Classes of the classifier (``kwargs["num_classes"]``)."""
        return int(self.kwargs["num_classes"])

    @property
    def mean(self) -> tuple[float, ...] | None:
        """Per-channel mean the network subtracts inside (None: it takes [0, 1] images as they are)."""
        mean = self.kwargs.get("mean")
        return tuple(mean) if mean is not None else None

    @property
    def std(self) -> tuple[float, ...] | None:
        """Per-channel std the network divides by inside (None when it does not normalise)."""
        std = self.kwargs.get("std")
        return tuple(std) if std is not None else None

    @property
    def normalization(self) -> str:
        """Where preprocessing happens: inputs are always [0, 1] images."""
        if self.mean is None:
            return "none (the network takes [0, 1] images as they are)"
        return "inside the model (mean/std below, not part of the state dict)"


@dataclass(frozen=True)
class WeightsSpec:
    """Where the weights are and what they must hash to (torchvision's ``Weights.url``, timm's ``hf_hub_id``)."""

    repo: str | None = None
    """Hub repo id; None means ``<namespace>/<entry name>``, the namespace resolved where the Hub is asked
    (``DKL_ZOO_NAMESPACE``, default ``dkl-zoo``)."""
    revision: str | None = None
    sha256: str | None = None
    filename: str = "model.safetensors"
    embedded_file: str | None = None
    """A file inside the package (the shipped model): no Hub at all."""
    original_sources: tuple[OriginalSource, ...] = ()
    original_sha256: str | None = None
    """sha256 of the original (pickled) file the pinned weights were converted from (``dkl_zoo/pins.json``)."""
    original_source: str | None = None
    """Which original file that was: ``"<kind> <google drive id>"``."""
    reference_sha256: str | None = None
    """sha256 of the entry's reference record (``dkl_zoo.verify``): shipped in the package, or published beside the
    weights in the Hub repo and pinned by ``dkl-zoo release``; None while the entry has none."""
    reference_filename: str = "reference.safetensors"
    """The reference record's file name in the Hub repo."""
    embedded_reference: str | None = None
    """The reference record inside the package (the shipped models)."""


@dataclass(frozen=True)
class Provenance:
    """What the weights are, as the sources report them: data, threat model, numbers, recipe, caveats."""

    dataset: str
    threat_model: str
    eps: float
    eps_label: str
    reported: tuple[ReportedResult, ...]
    recipe: Recipe
    robustbench_name: str | None
    method_labels: tuple[MethodLabel, ...] = ()
    training_config: str | None = None
    venue: str = "NeurIPS 2024"
    license: str = "other"
    license_note: str = LICENSE_NOTE
    citation: str = CITATION
    paper: str = PAPER_URL
    notes: tuple[str, ...] = ()
    footnote: str | None = None
    description: str = ""
    lab_notes: str | None = None
    """A Markdown file of ``dkl_zoo/lab_notes`` with the long story of how the weights were made (in the card)."""
    method: str = "adversarial"
    """"adversarial" (IKL-AT / GKL-AT, as ``method_labels`` name it) or "standard": trained without attacks, a
    non-robust model to compare with (RobustBench's ``Standard`` entries)."""


@dataclass(frozen=True)
class ModelEntry:
    """One checkpoint: its ``arch`` (how to build it), ``weights`` (where they are, what they hash to) and
    ``provenance`` (what the sources report, with references). The shortcuts below are the facts most
    callers want."""

    name: str
    arch: ArchitectureSpec
    weights: WeightsSpec
    provenance: Provenance

    def with_arch(self, **changes: Any) -> ModelEntry:
        """A copy with fields of ``arch`` changed: ``entry.with_arch(kwargs={**entry.arch.kwargs, "depth": 10})``."""
        return dataclasses.replace(self, arch=_replaced(self.arch, changes))

    def with_weights(self, **changes: Any) -> ModelEntry:
        """A copy with fields of ``weights`` changed: ``entry.with_weights(repo="me/fork", sha256=None)``."""
        return dataclasses.replace(self, weights=_replaced(self.weights, changes))

    def with_provenance(self, **changes: Any) -> ModelEntry:
        """A copy with fields of ``provenance`` changed."""
        return dataclasses.replace(self, provenance=_replaced(self.provenance, changes))

    @property
    def repo_id(self) -> str:
        """``weights.repo`` when set, else ``dkl-zoo/<name>`` (a mirror's namespace is applied where the Hub is asked,
        ``repo_id_in``)."""
        return self.repo_id_in(DEFAULT_NAMESPACE)

    def repo_id_in(self, namespace: str) -> str:
        """``weights.repo`` when set, else ``<namespace>/<name>``."""
        return self.weights.repo or f"{namespace}/{self.name}"

    @property
    def metrics(self) -> EntryMetrics | None:
        """Its size: parameters, GFLOPs per image (a multiply-add counts two) and the weights file's bytes
        (torchvision's ``_metrics``/``_ops``/``_file_size``); None for an entry the registry does not know."""
        from ._metrics import METRICS

        return METRICS.get(self.name)

    @property
    def timm_name(self) -> str:
        """The name timm knows this entry by (``timm.create_model``): the name with underscores."""
        return self.name.replace("-", "_")

    @property
    def dataset(self) -> str:
        """``provenance.dataset``: the data the weights were trained and are evaluated on."""
        return self.provenance.dataset

    @property
    def num_classes(self) -> int:
        """``arch.num_classes``."""
        return self.arch.num_classes

    def result_from(self, source: str) -> ReportedResult | None:
        """The numbers one source (``SOURCE_README``, ``SOURCE_LOG``, ``SOURCE_ROBUSTBENCH``) reports, if any."""
        return next((r for r in self.provenance.reported if r.source == source), None)

    @property
    def categories(self) -> tuple[str, ...]:
        """Class names in label order: output ``i`` of the model is ``categories[i]`` (``dkl_zoo.categories``
        names the source of each list)."""
        from ..categories import categories_of

        return categories_of(self.dataset)

    def transforms(self) -> ImageTransform:
        """The preprocessing of this entry (torchvision's ``weights.transforms()``): a callable taking a PIL image,
        a path, a uint8 array or a tensor and returning the float C×H×W tensor in [0, 1] its model takes.
        Transparent pixels become the data set's background: black for Fashion-MNIST, white otherwise."""
        from ..transforms import ImageTransform

        return ImageTransform(self.arch.input_size, background=0.0 if self.dataset == "fashion-mnist" else 1.0)

    @property
    def headline(self) -> ReportedResult:
        """The number to show first: the README's, else the first one recorded."""
        return self.result_from(SOURCE_README) or self.provenance.reported[0]


def _replaced(part: Any, changes: dict[str, Any]) -> Any:
    """``dataclasses.replace`` with an unknown field named, and the part's fields listed."""
    fields = [f.name for f in dataclasses.fields(part)]
    unknown = [name for name in changes if name not in fields]
    if unknown:
        from ..errors import InvalidArgumentError

        raise InvalidArgumentError(f"{type(part).__name__} has no field {unknown[0]!r} (fields: {', '.join(fields)})")
    return dataclasses.replace(part, **changes)
