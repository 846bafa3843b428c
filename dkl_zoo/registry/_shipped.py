"""The two models this project trained and ships inside the package: an IKL-AT model and its non-robust
contrast, both WideResNet-10-1 on Fashion-MNIST with the same budget. They load with no network."""

from __future__ import annotations

from ._architectures import wrn10_1_fashion
from ._constants import SOURCE_OURS
from ._types import ModelEntry, Provenance, Recipe, ReportedResult, WeightsSpec

__all__ = ["SHIPPED_ENTRIES", "FMNIST_SHA256", "STANDARD_FMNIST_SHA256"]

FMNIST_SHA256 = "af520466d9591d133373f568f10e0650d1517b67e5d8ac1eb619af8d8800d4d3"
STANDARD_FMNIST_SHA256 = "f597cea820bb5d9b314cdb4fc0c0982020b2c49ff6fdbb6c5ebebef5013c3e31"
FMNIST_REFERENCE_SHA256 = "e595c3d833f58d20ca9888db4ac366102e3391d2e72b839fdcfa63e0dfbda6d0"
STANDARD_FMNIST_REFERENCE_SHA256 = "91fdf2139a0224175c11591d1178347393adcf3c86fa332f72a9996d5d8a176e"
"""The shipped reference records (``dkl_zoo.verify``): AutoAttack standard, Linf eps 0.1, seed 0, batch 250, on the
first 1000 Fashion-MNIST test images (as the reported numbers), made here with ``dkl-zoo eval --state`` and
``dkl-zoo reference``; each record holds the commands and environment that made it."""
_IKL_CONFIG = "training/configs/ikl-at-fmnist-wrn10-1.yaml"
_STANDARD_CONFIG = "training/configs/standard-fmnist-wrn10-1.yaml"
_OURS = "dkl_zoo (trained by this project)"
_LICENSE = "Trained by this project from Fashion-MNIST (MIT licence); weights under Apache-2.0."
_MEASURED = "first 1000 test images, AutoAttack standard, eps 0.1, seed 0"

SHIPPED_ENTRIES: tuple[ModelEntry, ...] = (
    ModelEntry(
        name="ikl-at-fmnist-wrn10-1",
        arch=wrn10_1_fashion(),
        weights=WeightsSpec(
            revision="packaged",
            sha256=FMNIST_SHA256,
            embedded_file="weights/ikl-at-fmnist-wrn10-1.safetensors",
            embedded_reference="references/ikl-at-fmnist-wrn10-1.safetensors",
            reference_sha256=FMNIST_REFERENCE_SHA256,
        ),
        provenance=Provenance(
            dataset="fashion-mnist",
            threat_model="Linf",
            eps=0.1,
            eps_label="0.1",
            reported=(ReportedResult(SOURCE_OURS, 80.4, 59.7, _IKL_CONFIG, note=_MEASURED),),
            recipe=Recipe(3.0, 20.0, 4.0, source=f"{_IKL_CONFIG} (the released CIFAR-10 recipe on a CPU budget)"),
            robustbench_name=None,
            venue=_OURS,
            training_config="ikl-at-fmnist-wrn10-1.yaml",
            license="apache-2.0",
            license_note=_LICENSE,
            description=(
                "\nA small real IKL-AT model shipped inside the package: it loads with no network and evaluates on "
                "two CPU cores in minutes, for newcomers, CI systems and downstream test suites."
            ),
            notes=(
                "Trained by this project; how, and a TRADES baseline with the same budget: the lab notes "
                "(dkl_zoo/lab_notes/ikl-at-fmnist-wrn10-1.md, also in the model card).",
            ),
            lab_notes="ikl-at-fmnist-wrn10-1.md",
        ),
    ),
    ModelEntry(
        name="standard-fmnist-wrn10-1",
        arch=wrn10_1_fashion(),
        weights=WeightsSpec(
            revision="packaged",
            sha256=STANDARD_FMNIST_SHA256,
            embedded_file="weights/standard-fmnist-wrn10-1.safetensors",
            embedded_reference="references/standard-fmnist-wrn10-1.safetensors",
            reference_sha256=STANDARD_FMNIST_REFERENCE_SHA256,
        ),
        provenance=Provenance(
            dataset="fashion-mnist",
            threat_model="Linf",
            eps=0.1,
            eps_label="0.1",
            reported=(
                ReportedResult(
                    SOURCE_OURS, 91.6, 0.0, _STANDARD_CONFIG, note=f"{_MEASURED}, measured as ikl-at-fmnist-wrn10-1's"
                ),
            ),
            recipe=Recipe(None, None, None, source=f"{_STANDARD_CONFIG} (ikl-at-fmnist-wrn10-1's budget, no attack)"),
            robustbench_name=None,
            venue=_OURS,
            training_config="standard-fmnist-wrn10-1.yaml",
            license="apache-2.0",
            license_note=_LICENSE,
            description=(
                "\nShipped inside the package as the contrast to ikl-at-fmnist-wrn10-1: the same architecture, data "
                "and training budget, no adversarial training. It shows what robustness buys: its answers flip under "
                "attacks that the IKL-AT model withstands (`dkl-zoo attack ikl-at-fmnist-wrn10-1 IMAGE --compare "
                "standard-fmnist-wrn10-1`)."
            ),
            notes=(
                "Not adversarially robust, by design: a non-robust baseline like RobustBench's Standard entries.",
                "Trained by this project; how, and its numbers next to the IKL-AT model's: the lab notes "
                "(dkl_zoo/lab_notes/standard-fmnist-wrn10-1.md, also in the model card).",
            ),
            lab_notes="standard-fmnist-wrn10-1.md",
            method="standard",
        ),
    ),
)
