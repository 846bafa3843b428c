"""timm's pretrained config of an entry, built in one place: the Hub repo's ``config.json``, timm's model
registry (``timm.list_pretrained()``) and the ``pretrained_cfg`` of a created model all read it.

Normalisation lives inside the models (or nowhere), so the data config says mean 0 / std 1: timm's transforms
then hand the model [0, 1] images, which is what it expects.
"""

from __future__ import annotations

from typing import Any

from .. import settings
from ..registry import PAPER_URL, RELEASE_URL, ModelEntry

__all__ = ["pretrained_cfg"]

_LAYERS = {"wide_resnet": ("conv1", "fc"), "dm_wide_resnet": ("init_conv", "logits")}


def pretrained_cfg(entry: ModelEntry) -> dict[str, Any]:
    """The fields of timm's ``PretrainedCfg`` for ``entry`` (torch-free: no model is built)."""
    channels = entry.arch.input_size[0]
    first_conv, classifier = _LAYERS[entry.arch.name]
    return {
        "architecture": entry.timm_name,
        "hf_hub_id": entry.repo_id_in(settings.namespace()),
        "input_size": tuple(entry.arch.input_size),
        "mean": (0.0,) * channels,
        "std": (1.0,) * channels,
        "interpolation": "bilinear",
        "crop_pct": 1.0,
        "crop_mode": "center",
        "num_classes": entry.num_classes,
        "first_conv": first_conv,
        "classifier": classifier,
        "license": entry.provenance.license,
        "label_names": entry.categories,
        "paper_ids": "arXiv:" + PAPER_URL.rsplit("/", 1)[-1],
        "origin_url": RELEASE_URL if entry.weights.original_sources else None,
    }
