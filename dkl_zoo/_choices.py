"""The closed lists of names the package accepts, declared once: the command line's ``choices``, the library's
checks and the training configs all read them here (torch-free, so ``dkl-zoo --help`` stays fast)."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "DATASETS",
    "TEST_SIZES",
    "THREAT_MODELS",
    "AUTOATTACK_VERSIONS",
    "AUTOATTACK_ATTACKS",
    "IMAGE_ATTACKS",
    "EXPORT_FORMATS",
    "PREDICTION_FORMATS",
    "PREDICTION_BACKENDS",
]

DATASETS: Mapping[str, int] = {"cifar10": 10, "cifar100": 100, "fashion-mnist": 10}
"""Test sets the zoo evaluates on, and their number of classes."""
TEST_SIZES: Mapping[str, int] = {"cifar10": 10_000, "cifar100": 10_000, "fashion-mnist": 10_000}
"""Images in each test set: what a whole-test-set (leaderboard) evaluation covers."""
THREAT_MODELS = ("Linf", "L2", "L1")
"""Norms of the attacks (AutoAttack's)."""
AUTOATTACK_VERSIONS = ("standard", "plus", "rand", "custom")
"""AutoAttack's versions; ``standard`` is RobustBench's (APGD-CE, APGD-T, FAB-T, Square)."""
AUTOATTACK_ATTACKS = ("apgd-ce", "apgd-dlr", "apgd-t", "fab", "fab-t", "square")
"""The attacks a ``custom`` AutoAttack run may name."""
IMAGE_ATTACKS = ("apgd-ce", "pgd")
"""Attacks of ``attack_image``: AutoAttack's APGD on cross-entropy, or PGD (no AutoAttack needed)."""
EXPORT_FORMATS = ("onnx", "torchscript", "exported-program")
PREDICTION_FORMATS = ("table", "json", "csv")
PREDICTION_BACKENDS = ("auto", "torch", "onnxruntime")
"""What computes ``predict``'s logits: ``auto`` (onnxruntime on the CPU when the ``export`` extra is installed,
PyTorch otherwise), or one of the two."""
