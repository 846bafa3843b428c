"""Architectures of the released checkpoints, one file each, and the builder that picks them by name."""

from ._builder import ARCHITECTURES, assign_state_dict, build_architecture, build_model, model_from_file, read_weights
from ._pretrained import pretrained_cfg
from .dm_wide_resnet import DMWideResNet
from .wide_resnet import WideResNet

__all__ = [
    "ARCHITECTURES",
    "DMWideResNet",
    "WideResNet",
    "assign_state_dict",
    "build_architecture",
    "build_model",
    "model_from_file",
    "pretrained_cfg",
    "read_weights",
]
