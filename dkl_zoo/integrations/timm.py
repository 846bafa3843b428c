"""timm registration: every entry as a timm model, plus the names RobustBench's ``load_model`` looks up.

``import dkl_zoo`` does not import timm. The registration runs when timm is imported (a post-import hook),
or at once if timm already is. ``timm.create_model("ikl_at_cifar10_wrn34", pretrained=True)`` then loads
the verified weights through ``dkl_zoo.load``; ``timm.create_model("hf-hub:dkl-zoo/ikl-at-cifar10-wrn34")``
works through the repo's config.json, also with a timm whose own Hub support is off (timm 1.0.9, which
robustbench pins, cannot import huggingface_hub 2.x and silently disables it).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from torch import nn

from .. import settings
from .._compat import route_timm_hub_configs
from ..errors import InvalidArgumentError
from ..models import pretrained_cfg as zoo_pretrained_cfg
from ..registry import REGISTRY

__all__ = ["robustbench_timm_name", "register_timm_models", "ROBUSTBENCH_ALIASES"]


def robustbench_timm_name(robustbench_name: str, dataset: str, threat_model: str = "Linf") -> str:
    """The name ``robustbench.utils.load_model`` tries in timm before its own zoo."""
    return f"{robustbench_name.lower().replace('-', '_')}_{dataset.lower()}_{threat_model.lower()}"


def _robustbench_aliases() -> dict[str, str]:
    aliases = {}
    for entry in REGISTRY.values():
        if entry.provenance.robustbench_name:
            aliases[
                robustbench_timm_name(entry.provenance.robustbench_name, entry.dataset, entry.provenance.threat_model)
            ] = entry.name
    return aliases


ROBUSTBENCH_ALIASES = _robustbench_aliases()
"""timm alias → entry. RobustBench's CIFAR-100 ``Cui2023Decoupled_WRN-34-10`` (65.76 / 31.91) is
``ikl-at-cifar100-wrn34-v2``, the README's second CIFAR-100 row."""


def _classifier_name(model: nn.Module) -> str:
    return "fc" if hasattr(model, "fc") else "logits"


def _reset_classifier(model: nn.Module, num_classes: int) -> None:
    name = _classifier_name(model)
    old: nn.Linear = getattr(model, name)
    setattr(model, name, nn.Linear(old.in_features, num_classes))
    model.num_classes = num_classes


def _hub_id(pretrained_cfg: Any) -> str | None:
    if pretrained_cfg is None:
        return None
    if isinstance(pretrained_cfg, dict):
        return pretrained_cfg.get("hf_hub_id")
    return getattr(pretrained_cfg, "hf_hub_id", None)


def _entrypoint(entry_name: str, public_name: str):
    def create(
        pretrained: bool = False,
        pretrained_cfg: Any = None,
        pretrained_cfg_overlay: dict | None = None,
        num_classes: int | None = None,
        in_chans: int | None = None,
        **kwargs: Any,
    ) -> nn.Module:
        from ..loading import build_model, load

        unsupported = {k: v for k, v in kwargs.items() if v not in (None, 0, 0.0, "")}
        if unsupported:
            raise InvalidArgumentError(f"{public_name} does not take {sorted(unsupported)}")
        from ..registry import get_entry

        entry = get_entry(entry_name)  # with its pin
        if in_chans is not None and in_chans != entry.arch.input_size[0]:
            raise InvalidArgumentError(f"{public_name} takes {entry.arch.input_size[0]} input channels, not {in_chans}")
        if pretrained:
            hub_id = _hub_id(pretrained_cfg)
            revision = None
            if hub_id:
                hub_id, _, revision = hub_id.partition("@")
                if hub_id != entry.repo_id_in(settings.namespace()):
                    entry = entry.with_weights(repo=hub_id, revision=None, sha256=None)
            model = load(entry, revision=revision or None)
            if num_classes is not None and num_classes != entry.num_classes:
                _reset_classifier(model, num_classes)
        else:
            model = build_model(entry, num_classes=num_classes)
        cfg = zoo_pretrained_cfg(entry)
        cfg.update(pretrained_cfg_overlay or {})
        model.pretrained_cfg = cfg
        model.default_cfg = cfg
        return model

    create.__name__ = public_name
    create.__qualname__ = public_name
    create.__module__ = __name__
    create.__doc__ = f"dkl_zoo entry {entry_name!r} (weights verified by dkl_zoo.load)."
    return create


def _load_model_config_from_hf(model_id: str):
    """timm's ``load_model_config_from_hf``, fetching config.json through ``dkl_zoo._hub`` (cache first, one
    request without retries: offline it fails at once with ``OfflineError`` instead of retrying for 25 s)."""
    from .._hub import fetch_file

    repo_id, _, revision = model_id.partition("@")
    with open(fetch_file(repo_id, "config.json", revision=revision or None)) as handle:
        hf_config = json.load(handle)
    if "pretrained_cfg" not in hf_config:
        pretrained_cfg = dict(hf_config)
        hf_config = {
            "architecture": pretrained_cfg.pop("architecture"),
            "num_features": pretrained_cfg.pop("num_features", None),
            "pretrained_cfg": pretrained_cfg,
        }
    pretrained_cfg = dict(hf_config["pretrained_cfg"])
    pretrained_cfg["hf_hub_id"] = model_id
    pretrained_cfg["source"] = "hf-hub"
    if "num_classes" in hf_config:
        pretrained_cfg["num_classes"] = hf_config["num_classes"]
    return pretrained_cfg, hf_config["architecture"], hf_config.get("model_args", {})


def register_timm_models() -> None:
    """Register every entry (and RobustBench's names for them) in timm's model registry; idempotent."""
    from timm.models import is_model, register_model

    if all(is_model(entry.timm_name) for entry in REGISTRY.values()):
        return  # timm's own registry says it is done: no state of ours

    module = sys.modules[__name__]
    names = {entry.timm_name: entry.name for entry in REGISTRY.values()}
    names.update(ROBUSTBENCH_ALIASES)
    # timm reads `default_cfgs` of the entrypoint's module: with an hf_hub_id, timm.list_pretrained() lists it
    module.default_cfgs = {public: zoo_pretrained_cfg(REGISTRY[entry_name]) for public, entry_name in names.items()}
    for public, entry_name in names.items():
        fn = _entrypoint(entry_name, public)
        setattr(module, public, fn)
        register_model(fn)
    route_timm_hub_configs(_load_model_config_from_hf)
