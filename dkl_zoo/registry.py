"""The one table of released IKL-AT checkpoints.

Every number here carries its source, linked at the release commit ``RELEASE_COMMIT`` of jiequancui/DKL:
- ``README``: the results tables of ``DKLv1/Adv-training-dkl/README.md`` (labels the runs IKL-AT) and
  ``DKLv2/Adv-training-dkl/README.md`` (labels the same files GKL-AT, and adds a GKL-AT 50M checkpoint).
  Until 2024-09-30 the same tables were in the repository's root README; links to ``tree/main/Adv-training-dkl``
  and ``#readme`` no longer lead to them.
- ``AutoAttack log``: the logs under ``DKLv1/Adv-training-dkl/auto_attacks/logs`` of the release.
- ``RobustBench``: the leaderboard entry (``model_info/<dataset>/Linf/<name>.json`` in RobustBench).
- alpha / beta / T: the released checkpoint and log names (``cifar10_a3_b20_t4.pt`` in
  ``auto_attacks/sh/eval.sh``, ``cifar10_dkl_a3_b20_T4`` logs) and the training shell scripts ``sh/*.sh``;
  no README version has a hyperparameter column.
Where they disagree the entry keeps all of them and says so in ``notes``.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from .transforms import ImageTransform

__all__ = [
    "ArchitectureSpec",
    "MethodLabel",
    "ModelEntry",
    "Provenance",
    "WeightsSpec",
    "ReportedResult",
    "Recipe",
    "OriginalSource",
    "REGISTRY",
    "NAMESPACE_ENV",
    "DEFAULT_NAMESPACE",
    "get_entry",
    "list_models",
]

NAMESPACE_ENV = "DKL_ZOO_NAMESPACE"
"""Environment variable that replaces the Hub namespace ``dkl-zoo`` of every repo id (mirrors, forks)."""
DEFAULT_NAMESPACE = "dkl-zoo"

PAPER_URL = "https://arxiv.org/abs/2305.13948"
RELEASE_URL = "https://github.com/jiequancui/DKL"
CITATION = """@inproceedings{cui2024decoupled,
  title     = {Decoupled Kullback-Leibler Divergence Loss},
  author    = {Cui, Jiequan and Tian, Zhuotao and Zhong, Zhisheng and Qi, Xiaojuan and Yu, Bei and Zhang, Hanwang},
  booktitle = {Advances in Neural Information Processing Systems (NeurIPS)},
  year      = {2024}
}"""
AUTHORS = "Jiequan Cui, Zhuotao Tian, Zhisheng Zhong, Xiaojuan Qi, Bei Yu, Hanwang Zhang"
LICENSE_NOTE = (
    "No license file accompanies the released weights or code in the copy we checked; the weights are "
    "redistributed for research use with attribution. Ask the authors before commercial use."
)

DRIVE_DOWNLOAD_URL = "https://drive.google.com/uc?export=download&id={id}"
"""Google Drive's download address of a file id (``DKL_ZOO_ORIGINAL_URL`` replaces it, e.g. for a mirror)."""

SOURCE_README = "README"
SOURCE_LOG = "AutoAttack log"
SOURCE_ROBUSTBENCH = "RobustBench"


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


@dataclass(frozen=True)
class MethodLabel:
    """What a source calls the method of a checkpoint (IKL-AT and GKL-AT name the same loss at gamma = 1)."""

    label: str
    source: str


@dataclass(frozen=True)
class ArchitectureSpec:
    """How to build the network and what it takes (timm's entrypoint, torchvision's builder and transforms).

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
    """Hub repo id; None means ``<DKL_ZOO_NAMESPACE or dkl-zoo>/<entry name>``."""
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


_PARTS = {"arch": ArchitectureSpec, "weights": WeightsSpec, "provenance": Provenance}
_ARCH_ALIASES = {"architecture": "name", "arch_kwargs": "kwargs", "arch_label": "label"}


def _split(changes: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Flat field names (``sha256``, ``arch_kwargs``, ``dataset``) sorted into the part each belongs to."""
    parts: dict[str, dict[str, Any]] = {name: {} for name in _PARTS}
    for key, value in changes.items():
        field_name = _ARCH_ALIASES.get(key, key)
        part = next((p for p, cls in _PARTS.items() if field_name in cls.__dataclass_fields__), None)
        if part is None or (part == "arch" and key in ("name", "kwargs", "label")):
            from .errors import InvalidArgumentError

            raise InvalidArgumentError(f"ModelEntry has no field {key!r}")
        parts[part][field_name] = value
    return parts


@dataclass(frozen=True)
class ModelEntry:
    """One checkpoint: its ``arch`` (how to build it), ``weights`` (where they are, what they hash to) and
    ``provenance`` (what the sources report, with references). The shortcuts below are the facts most
    callers want."""

    name: str
    arch: ArchitectureSpec
    weights: WeightsSpec
    provenance: Provenance

    @classmethod
    def of(cls, name: str, **fields: Any) -> "ModelEntry":
        """An entry from flat fields (``architecture``, ``arch_kwargs``, ``sha256``, ``dataset``, ...)."""
        parts = _split(fields)
        return cls(name, ArchitectureSpec(**parts["arch"]), WeightsSpec(**parts["weights"]),
                   Provenance(**parts["provenance"]))

    def replace(self, **changes: Any) -> "ModelEntry":
        """A copy with some fields changed, named flat: ``entry.replace(repo="me/fork", sha256=None)``."""
        name = changes.pop("name", self.name)
        parts = _split(changes)
        return ModelEntry(name, dataclasses.replace(self.arch, **parts["arch"]),
                          dataclasses.replace(self.weights, **parts["weights"]),
                          dataclasses.replace(self.provenance, **parts["provenance"]))

    @property
    def repo_id(self) -> str:
        """``weights.repo`` when set, else ``<namespace>/<name>`` with the namespace from ``DKL_ZOO_NAMESPACE``."""
        if self.weights.repo:
            return self.weights.repo
        namespace = os.environ.get(NAMESPACE_ENV, "").strip() or DEFAULT_NAMESPACE
        return f"{namespace}/{self.name}"

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
        from .categories import categories_of

        return categories_of(self.dataset)

    def transforms(self) -> "ImageTransform":
        """The preprocessing of this entry (torchvision's ``weights.transforms()``): a callable taking a PIL image,
        a path, a uint8 array or a tensor and returning the float C×H×W tensor in [0, 1] its model takes.
        Transparent pixels become the data set's background: black for Fashion-MNIST, white otherwise."""
        from .transforms import ImageTransform

        return ImageTransform(self.arch.input_size, background=0.0 if self.dataset == "fashion-mnist" else 1.0)

    @property
    def headline(self) -> ReportedResult:
        """The number to show first: the README's, else the first one recorded."""
        return self.result_from(SOURCE_README) or self.provenance.reported[0]


_EPS_8_255 = 8 / 255
_RB = "https://github.com/RobustBench/robustbench/blob/master/model_info/{dataset}/Linf/{name}.json"
RELEASE_COMMIT = "c5e8ad2"
"""The commit of jiequancui/DKL the entries were checked against (its HEAD when they were)."""
_V1 = f"{RELEASE_URL}/blob/{RELEASE_COMMIT}/DKLv1/Adv-training-dkl"
_V2 = f"{RELEASE_URL}/blob/{RELEASE_COMMIT}/DKLv2/Adv-training-dkl"
README_V1 = f"{_V1}/README.md"
README_V2 = f"{_V2}/README.md"
_LOG_DIR = f"{RELEASE_URL}/tree/{RELEASE_COMMIT}/DKLv1/Adv-training-dkl/auto_attacks/logs"
_EVAL_SH = f"{_V1}/auto_attacks/sh/eval.sh"
_IKL_GKL_NOTE = ("DKLv1's README calls this checkpoint IKL-AT, DKLv2's README GKL-AT; with gamma = 1 the GKL loss is "
                 "the IKL loss (the class-prior weights of each sample sum to 1), so both names are right.")


def _labels(*labels: tuple[str, str]) -> tuple[MethodLabel, ...]:
    return tuple(MethodLabel(label, source) for label, source in labels)


_BOTH_LABELS = _labels(("IKL-AT", README_V1), ("GKL-AT", README_V2))
_WRN34 = {"depth": 34, "widen_factor": 10}
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2471, 0.2435, 0.2616)
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)
"""Per-channel statistics of the CIFAR training sets, as DM-Improves-AT's WideResNets normalise inside."""


def _rb(dataset: str, name: str, clean: float, robust: float) -> ReportedResult:
    return ReportedResult(SOURCE_ROBUSTBENCH, clean, robust, _RB.format(dataset=dataset, name=name))


def _readme(clean: float, robust: float, note: str = "", reference: str = README_V1) -> ReportedResult:
    return ReportedResult(SOURCE_README, clean, robust, reference, note)


def _log(clean: float, robust: float, log: str | None = None, note: str = "") -> ReportedResult:
    """``log`` names the file when we have read it; otherwise the reference is the logs folder."""
    reference = f"{_V1}/auto_attacks/logs/{log}" if log else _LOG_DIR
    return ReportedResult(SOURCE_LOG, clean, robust, reference, note)


def _drive(readme_id: str | None, robustbench_id: str | None) -> tuple[OriginalSource, ...]:
    sources = [OriginalSource("README Google Drive", readme_id)] if readme_id else []
    if robustbench_id:
        sources.append(OriginalSource("RobustBench Google Drive", robustbench_id))
    return tuple(sources)


_DATAPARALLEL_NOTE = ("The released scripts trained with nn.DataParallel on 4 GPUs (#SBATCH --gres=gpu:4): batch "
                      "norm saw 32 images per replica, not 128; the training config reproduces this (bn_replicas: 4).")


def _wrn34(dataset: str) -> dict[str, Any]:
    """The TRADES-style WideResNet-34-10 of the release (no normalisation inside)."""
    classes = 10 if dataset == "cifar10" else 100
    return dict(architecture="wide_resnet", arch_kwargs={**_WRN34, "num_classes": classes},
                arch_label="WideResNet-34-10", dataset=dataset)


def _dm_wrn28(dataset: str) -> dict[str, Any]:
    """DeepMind's WideResNet-28-10 with SiLU, as DM-Improves-AT trains it (CIFAR mean/std inside the model)."""
    classes, mean, std = ((10, CIFAR10_MEAN, CIFAR10_STD) if dataset == "cifar10"
                          else (100, CIFAR100_MEAN, CIFAR100_STD))
    return dict(architecture="dm_wide_resnet",
                arch_kwargs={"depth": 28, "width": 10, "num_classes": classes, "activation": "silu",
                             "mean": mean, "std": std},
                arch_label="WideResNet-28-10 (SiLU, DeepMind style)", dataset=dataset)


def _cifar_entry(**kwargs: Any) -> ModelEntry:
    defaults: dict[str, Any] = dict(
        threat_model="Linf", eps=_EPS_8_255, eps_label="8/255", input_size=(3, 32, 32)
    )
    defaults.update(kwargs)
    defaults.setdefault("training_config", f"{kwargs['name']}.yaml")
    return ModelEntry.of(**defaults)


_ENTRIES: tuple[ModelEntry, ...] = (
    _cifar_entry(
        name="ikl-at-cifar10-wrn34",
        **_wrn34("cifar10"),
        reported=(
            _readme(85.31, 57.13, note="DKLv1 and DKLv2 READMEs alike"),
            _log(85.31, 57.09),
            _rb("cifar10", "Cui2023Decoupled_WRN-34-10", 85.31, 57.09),
        ),
        recipe=Recipe(3.0, 20.0, 4.0, source=f"checkpoint name cifar10_a3_b20_t4.pt in {_EVAL_SH} and the "
                      "cifar10_dkl_a3_b20_T4 AutoAttack log name",
                      note="DKLv1/Adv-training-dkl/sh/train_dkl_cifar10.sh (line 21) passes --alpha 4.0 (mark "
                           "cifar10_dkl_a4b20t4): kept at 3, which names the released file."),
        original_sources=_drive("1SFdNdKE6ezI6OsINWX-h74dGo2-9u3Ac", "1-ArD-TugRXUbH3VtM9qnzvby6NvdXNUN"),
        robustbench_name="Cui2023Decoupled_WRN-34-10",
        method_labels=_BOTH_LABELS,
        notes=(
            "The README reports 57.13 % AutoAttack accuracy; its AutoAttack log and RobustBench report 57.09 %. "
            "Both are kept; the README value is the headline.",
            "alpha: the checkpoint and log names say 3; DKLv1's sh/train_dkl_cifar10.sh passes --alpha 4.0 "
            "(mark cifar10_dkl_a4b20t4). The registry and training config keep 3, the value that names the "
            "released file; the conflict is recorded, not resolved.",
            _IKL_GKL_NOTE,
            _DATAPARALLEL_NOTE,
        ),
    ),
    _cifar_entry(
        name="ikl-at-cifar10-wrn28-20m",
        **_dm_wrn28("cifar10"),
        reported=(
            _readme(92.16, 67.75),
            _log(92.16, 67.73, "cifar10_dkl_a3_b10_T4_20m.log"),
            _rb("cifar10", "Cui2023Decoupled_WRN-28-10", 92.16, 67.73),
        ),
        recipe=Recipe(3.0, 10.0, 4.0, source=f"checkpoint name cifar10_a3_b10_t4_20m.pt in {_EVAL_SH} and the AutoAttack log "
                      f"name cifar10_dkl_a3_b10_T4_20m.log ({_LOG_DIR})",
                      extra_data="20M generated images (Wang et al. 2023)"),
        original_sources=_drive("1gEodZ4ushbRPaaVfS_vjJyldH3wJg4zV", "1-AaTrYt23WJFR22hXgBd-i6kjpsz6Hf2"),
        robustbench_name="Cui2023Decoupled_WRN-28-10",
        footnote="It uses additional 20M synthetic images in training.",
        method_labels=_BOTH_LABELS,
        notes=(
            "The README reports 67.75 % AutoAttack accuracy; its AutoAttack log and RobustBench report 67.73 %.",
            _IKL_GKL_NOTE,
            "Trained with 20M generated images; RobustBench lists additional_data false (the images are synthetic).",
        ),
    ),
    _cifar_entry(
        name="ikl-at-cifar100-wrn34",
        **_wrn34("cifar100"),
        reported=(
            _readme(66.51, 31.43, note="DKLv1 README only"),
            _log(66.51, 31.43),
        ),
        recipe=Recipe(3.0, 20.0, 4.0, source=f"checkpoint name cifar100_a3_b20_t4.pt in {_EVAL_SH} and the "
                      "cifar100_dkl_a3_b20_T4 AutoAttack log name",
                      note="DKLv1/Adv-training-dkl/sh/train_dkl_cifar100.sh passes --alpha 4.0 (later 5.0): kept "
                           "at 3, which names the released file."),
        original_sources=_drive("1NaWPX5w32xTiny91kJ6SJxSejCzsD1dy", None),
        robustbench_name=None,
        method_labels=_labels(("IKL-AT", README_V1)),
        notes=("Not on the RobustBench leaderboard; RobustBench's CIFAR-100 WRN-34-10 entry is "
               "ikl-at-cifar100-wrn34-v2.",
               "Only DKLv1's README lists this checkpoint (as IKL-AT); DKLv2's README lists 65.76 / 31.91 instead.",
               "alpha: the checkpoint and log names say 3; DKLv1's sh/train_dkl_cifar100.sh passes --alpha 4.0 "
               "(later 5.0). The registry and training config keep 3; the conflict is recorded, not resolved.",
               "Release bug (not reproduced): DKLv1's sh/train_dkl_cifar100.sh line 30 calls swa.py without its "
               "`end` argument, which raises IndexError.",
               _DATAPARALLEL_NOTE),
    ),
    _cifar_entry(
        name="ikl-at-cifar100-wrn34-v2",
        **_wrn34("cifar100"),
        reported=(
            _readme(65.76, 31.91, note="DKLv1 (row 6) and DKLv2 READMEs alike"),
            _rb("cifar100", "Cui2023Decoupled_WRN-34-10", 65.76, 31.91),
        ),
        recipe=Recipe(None, None, None, source="not published",
                      note="The release does not say which run produced this file. DKLv2's "
                           "sh/train_dkl_cifar100.sh offers two candidates: alpha 4, beta 20, T 4 (lines 16-26) and "
                           "alpha 4, beta 20, GKL gamma 0.4, T 1 (lines 31-42); both are runnable configs "
                           "(ikl-at-cifar100-wrn34-v2-a4b20t4.yaml, ikl-at-cifar100-wrn34-v2-a4b20g04t1.yaml). The "
                           "closest log, cifar100_dkl_a4_b20_T2.log, reports 64.08 / 31.65."),
        original_sources=_drive("1lgFnfmsCw4UxguAOWSLsg6xUDfGG-HRy", "1whziIioVu5SGI1fBKyc331IfG_1MgenN"),
        robustbench_name="Cui2023Decoupled_WRN-34-10",
        method_labels=_BOTH_LABELS,
        notes=(
            "History of this README row: 64.08 / 31.65 (2023-05-20), then 63.40 / 31.92 (2024-01-11), then "
            "65.76 / 31.91 (2024-09-27, when the model link changed to the current file).",
            _IKL_GKL_NOTE,
            _DATAPARALLEL_NOTE,
            "No AutoAttack log in the release matches 65.76 / 31.91; the a4_b20_T2 log says 64.08 / 31.65.",
            "RobustBench's copy (Drive id 1whziIioVu5SGI1fBKyc331IfG_1MgenN) and the README's file are not yet "
            "known to be byte-identical: they will be once both are converted and hashed.",
            "The hyperparameters of this run are not published; its training config marks them unknown.",
        ),
    ),
    _cifar_entry(
        name="ikl-at-cifar100-wrn34-autoaug",
        **_wrn34("cifar100"),
        reported=(
            _readme(65.93, 32.52),
            _rb("cifar100", "Cui2023Decoupled_WRN-34-10_autoaug", 65.93, 32.52),
        ),
        recipe=Recipe(4.0, 20.0, 4.0, gamma_aug=0.3,
                      source=f"DKLv1's training script {_V1}/sh/train_dkl_cifar100_autoaug.sh",
                      note="DKLv2's sh/train_dkl_cifar100_autoaug.sh, for the same Drive file, gives aug weight 0.5 "
                           "and GKL gamma 1.0 (mark cifar100v2_dkl_a4b20g1t4_augw05): both are configs "
                           "(ikl-at-cifar100-wrn34-autoaug.yaml is DKLv1's, "
                           "ikl-at-cifar100-wrn34-autoaug-dklv2.yaml DKLv2's)."),
        original_sources=_drive("1kQQpVVtlS9uBC4oZ3ei9OHly1yriU1UU", "18hjcLa1V3JTNUOshafLvw1ncxL2gu50M"),
        robustbench_name="Cui2023Decoupled_WRN-34-10_autoaug",
        venue="NeurIPS 2024",
        footnote="It uses AutoAugment.",
        method_labels=_BOTH_LABELS,
        notes=(
            "gamma_aug: DKLv1's script gives 0.3, DKLv2's script 0.5 for the same released file; which one ran is "
            "not said. Both configs are provided.",
            _IKL_GKL_NOTE,
            _DATAPARALLEL_NOTE,
            "No AutoAttack log for this run is in the release.",
            "RobustBench's model_info lists the venue as 'arXiv, May 2023' for this entry and 'NeurIPS 2024' "
            "for the others.",
        ),
    ),
    _cifar_entry(
        name="ikl-at-cifar100-wrn28-50m",
        **_dm_wrn28("cifar100"),
        reported=(
            _readme(73.85, 39.18),
            _log(73.85, 39.18, "cifar100_dkl_a5_b12_T4_50m.log"),
            _rb("cifar100", "Cui2023Decoupled_WRN-28-10", 73.85, 39.18),
        ),
        recipe=Recipe(5.0, 12.0, 4.0, source=f"checkpoint name cifar100_a5_b12_t4_50m.pt in {_EVAL_SH} and the AutoAttack log "
                      f"name cifar100_dkl_a5_b12_T4_50m.log ({_LOG_DIR})",
                      extra_data="50M generated images (Wang et al. 2023)"),
        original_sources=_drive("1Leec2X9kGBnBSuTiYytdb4_wR50ibTE8", "15BwWdWbNfoarTEWWugicOVkTjh3nXH36"),
        robustbench_name="Cui2023Decoupled_WRN-28-10",
        footnote="It uses additional 50M synthetic images in training.",
        method_labels=_labels(("IKL-AT", README_V1)),
        notes=("Trained with 50M generated images; RobustBench lists additional_data false (the images are "
               "synthetic).",
               "DKLv2's README lists another 50M checkpoint, GKL-AT (73.65 / 39.37): gkl-at-cifar100-wrn28-50m."),
    ),
    _cifar_entry(
        name="gkl-at-cifar100-wrn28-50m",
        **_dm_wrn28("cifar100"),
        reported=(_readme(73.65, 39.37, note="DKLv2 README only", reference=README_V2),),
        recipe=Recipe(None, None, None, source=f"not published; {README_V2} names the loss (GKL) and the data",
                      extra_data="50M generated images (Wang et al. 2023)",
                      note="Only the loss (GKL) and the data (50M generated images) are published; alpha, beta, "
                           "T, gamma, batch size and epochs are not, and the training config refuses to start "
                           "until they are chosen."),
        original_sources=_drive("1H86QPlAnYZe6IVdGOhAQ73VsEBJ6VPom", None),
        robustbench_name=None,
        footnote="It uses additional 50M synthetic images in training.",
        method_labels=_labels(("GKL-AT", README_V2)),
        notes=("Listed only in DKLv2's README (GKL-AT 50M); its AutoAttack log is a Google Drive file, id "
               "1T7L2ofy2ETtsoCRm8kXH6614fG_WmGoB (https://drive.google.com/file/d/1T7L2ofy2ETtsoCRm8kXH6614fG_WmGoB), "
               "not a file of the repository.",
               "Not on the RobustBench leaderboard; RobustBench's CIFAR-100 WRN-28-10 entry is "
               "ikl-at-cifar100-wrn28-50m (73.85 / 39.18, DKLv1's IKL-AT 50M).",
               "Release bug (not reproduced): DKLv2's sh/train_dkl_cifar10.sh line 38 lacks a trailing "
               "backslash, so --T 1.0 --epochs --seed of its second run are never passed."),
    ),
)

SOURCE_OURS = "dkl_zoo AutoAttack evaluation"
FMNIST_CLEAN, FMNIST_AA = 80.4, 59.7
FMNIST_SHA256 = "af520466d9591d133373f568f10e0650d1517b67e5d8ac1eb619af8d8800d4d3"
_FMNIST_CONFIG = "training/configs/ikl-at-fmnist-wrn10-1.yaml"

_FMNIST = ModelEntry.of(
    name="ikl-at-fmnist-wrn10-1",
    architecture="wide_resnet",
    arch_kwargs={"depth": 10, "widen_factor": 1, "num_classes": 10, "in_channels": 1},
    arch_label="WideResNet-10-1 (1 input channel)",
    dataset="fashion-mnist",
    threat_model="Linf",
    eps=0.1,
    eps_label="0.1",
    input_size=(1, 28, 28),
    reported=(
        ReportedResult(SOURCE_OURS, FMNIST_CLEAN, FMNIST_AA, _FMNIST_CONFIG,
                       note="first 1000 test images, AutoAttack standard, eps 0.1, seed 0"),
    ),
    recipe=Recipe(3.0, 20.0, 4.0, source=f"{_FMNIST_CONFIG} (the released CIFAR-10 recipe on a CPU budget)"),
    original_sources=(),
    robustbench_name=None,
    venue="dkl_zoo (trained by this project)",
    training_config="ikl-at-fmnist-wrn10-1.yaml",
    revision="packaged",
    sha256=FMNIST_SHA256,
    license="apache-2.0",
    license_note="Trained by this project from Fashion-MNIST (MIT licence); weights under Apache-2.0.",
    embedded_file="weights/ikl-at-fmnist-wrn10-1.safetensors",
    description=(
        "\nA small real IKL-AT model shipped inside the package: it loads with no network and evaluates on "
        "two CPU cores in minutes, for newcomers, CI systems and downstream test suites."
    ),
    notes=("Trained by this project; how, and a TRADES baseline with the same budget: the lab notes "
           "(dkl_zoo/lab_notes/ikl-at-fmnist-wrn10-1.md, also in the model card).",),
    lab_notes="ikl-at-fmnist-wrn10-1.md",
)

STANDARD_FMNIST_CLEAN, STANDARD_FMNIST_AA = 91.6, 0.0
STANDARD_FMNIST_SHA256 = "f597cea820bb5d9b314cdb4fc0c0982020b2c49ff6fdbb6c5ebebef5013c3e31"
_STANDARD_CONFIG = "training/configs/standard-fmnist-wrn10-1.yaml"

_STANDARD_FMNIST = ModelEntry.of(
    name="standard-fmnist-wrn10-1",
    architecture="wide_resnet",
    arch_kwargs={"depth": 10, "widen_factor": 1, "num_classes": 10, "in_channels": 1},
    arch_label="WideResNet-10-1 (1 input channel)",
    dataset="fashion-mnist",
    threat_model="Linf",
    eps=0.1,
    eps_label="0.1",
    input_size=(1, 28, 28),
    reported=(
        ReportedResult(SOURCE_OURS, STANDARD_FMNIST_CLEAN, STANDARD_FMNIST_AA, _STANDARD_CONFIG,
                       note="first 1000 test images, AutoAttack standard, eps 0.1, seed 0, measured as "
                            "ikl-at-fmnist-wrn10-1's"),
    ),
    recipe=Recipe(None, None, None, source=f"{_STANDARD_CONFIG} (ikl-at-fmnist-wrn10-1's budget, no attack)"),
    original_sources=(),
    robustbench_name=None,
    venue="dkl_zoo (trained by this project)",
    training_config="standard-fmnist-wrn10-1.yaml",
    revision="packaged",
    sha256=STANDARD_FMNIST_SHA256,
    license="apache-2.0",
    license_note="Trained by this project from Fashion-MNIST (MIT licence); weights under Apache-2.0.",
    embedded_file="weights/standard-fmnist-wrn10-1.safetensors",
    description=(
        "\nShipped inside the package as the contrast to ikl-at-fmnist-wrn10-1: the same architecture, data and "
        "training budget, no adversarial training. It shows what robustness buys: its answers flip under attacks "
        "that the IKL-AT model withstands (`dkl-zoo attack ikl-at-fmnist-wrn10-1 IMAGE --compare "
        "standard-fmnist-wrn10-1`)."
    ),
    notes=("Not adversarially robust, by design: a non-robust baseline like RobustBench's Standard entries.",
           "Trained by this project; how, and its numbers next to the IKL-AT model's: the lab notes "
           "(dkl_zoo/lab_notes/standard-fmnist-wrn10-1.md, also in the model card)."),
    lab_notes="standard-fmnist-wrn10-1.md",
    method="standard",
)

REGISTRY: Mapping[str, ModelEntry] = {entry.name: entry for entry in (*_ENTRIES, _FMNIST, _STANDARD_FMNIST)}
RELEASED: tuple[str, ...] = tuple(entry.name for entry in _ENTRIES)
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
        from .errors import UnknownModelError

        raise UnknownModelError(name, list(REGISTRY)) from None
    from .pins import apply_pin, load_pins

    return apply_pin(entry, _checked_pins(load_pins()))


def _checked_pins(pins: Mapping[str, Any]) -> Mapping[str, Any]:
    """A pins file names registry entries only: a pin under a misspelt name would leave its entry unpinned."""
    unknown = sorted(set(pins) - set(REGISTRY))
    if unknown:
        import difflib

        from .errors import InvalidArgumentError
        from .pins import pins_path

        closest = {name: difflib.get_close_matches(name, list(REGISTRY), n=1, cutoff=0.5) for name in unknown}
        shown = ", ".join(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
                          for name, close in closest.items())
        raise InvalidArgumentError(f"{pins_path()} pins {shown}, which the registry does not have; a pins file names "
                                   "registry entries only (see dkl_zoo.list_models()): correct or remove them")
    return pins
