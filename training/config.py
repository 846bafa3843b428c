"""Training configuration: defaults, YAML files, ``key=value`` overrides, and strict validation.

Unknown keys are errors (a typo must never silently fall back to a default), with the closest valid key
suggested. Values that look like pixels where fractions are expected (eps > 1) are refused.
"""

from __future__ import annotations

import copy
import difflib
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from dkl_zoo._choices import DATASETS
from dkl_zoo.errors import InvalidArgumentError

__all__ = ["DEFAULTS", "ConfigError", "load_config", "apply_overrides", "validate"]


class ConfigError(InvalidArgumentError):
    """A configuration that cannot be run as written."""


DEFAULTS: dict[str, Any] = {
    "name": None,  # registry entry this config reproduces (None for ad-hoc runs)
    "method": "ikl",  # ikl | trades | standard (no attack: the non-robust contrast)
    "dataset": "cifar10",  # cifar10 | cifar100 | fashion-mnist | synthetic
    "data_dir": "./data",
    "synthetic_size": 256,  # images of the synthetic data set (smoke tests)
    "arch": {"name": "wide_resnet", "depth": 34, "widen_factor": 10},
    "epochs": 200,
    "batch_size": 128,
    "bn_replicas": 1,  # >1: batch norm as nn.DataParallel over that many GPUs computes it (chunks)
    "lr": 0.2,
    "momentum": 0.9,
    "nesterov": False,
    "weight_decay": 5.0e-4,
    "weight_decay_on_bn": True,
    "lr_schedule": "cosine-epoch",  # cosine-epoch (released) | onecycle (generated-data runs) | constant
    "lr_warmup": 0,  # epochs (cosine-epoch) or fraction of steps (onecycle)
    "eps": 8 / 255,
    "eps_ramp": "linear",  # linear: eps_e = eps * e / epochs (released) | constant
    "attack_schedule": "as-released",  # as-released (5 steps of eps_e/2) | staged (2/3/4/5) | low (2 steps of eps_e)
    "attack_loss": "soft-ce",  # soft-ce | dkl | kl
    "attack_init_std": 0.001,
    "alpha": 3.0,
    "beta": 20.0,
    "temperature": 4.0,  # T of the class prior
    "softce_temperature": 1.0,  # temperature inside the soft cross-entropy (released: none, i.e. 1)
    "gamma": 1.0,  # GKL power of the weights
    "normalize": "batch",  # batch (IKL, v1) | weights (GKL, v2)
    "prior_momentum": 1.0,
    "trades_beta": 6.0,  # TRADES baseline: weight of KL(nat || adv)
    "awp": {"gamma": 5.0e-3, "warmup": 10},
    "aug": "basic",  # basic | autoaug (dual view)
    "gamma_aug": 1.0,
    "epoch_ema": {"enabled": True, "decay": 0.9},
    "step_ema": {"enabled": False, "tau": 0.9996, "start_epoch": 150, "warmup": False},
    "generated": {"path": None, "fraction": 0.7},
    "seed": 0,
    "checkpoint_every_steps": 0,
    "log_every_steps": 20,  # metrics are read from the device (a sync) this often; every step gets its row
    "max_steps_per_epoch": 0,  # 0 = full epochs; >0 truncates (smoke tests, budgets)
    "amp": "none",  # none | bf16 (CUDA only)
    "channels_last": False,
    "compile": False,  # torch.compile the network for the attack and training passes (same math)
    "sync_bn": False,
    "device": "auto",
    "final_eval": {"n_examples": 1000, "pgd_steps": 20, "batch_size": 500},
    "export": True,
    "progress": True,
    "sources": {},  # free-form: where each value comes from (documentation only)
}

_CHOICES = {
    "method": ("ikl", "trades", "standard"),
    "dataset": (*DATASETS, "synthetic"),  # synthetic: the smoke tests' own small data set
    "lr_schedule": ("cosine-epoch", "onecycle", "constant"),
    "eps_ramp": ("linear", "constant"),
    "attack_schedule": ("as-released", "staged", "low"),
    "attack_loss": ("soft-ce", "dkl", "kl"),
    "normalize": ("batch", "weights"),
    "aug": ("basic", "autoaug"),
    "amp": ("none", "bf16"),
}


def _merge(base: dict, update: Mapping, where: str = "") -> dict:
    for key, value in update.items():
        path = f"{where}{key}"
        if key not in base:
            close = difflib.get_close_matches(str(key), [str(k) for k in base], n=1)
            hint = f" (did you mean {where + close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown config key {path!r}{hint}; valid keys here: {', '.join(map(str, base))}")
        if isinstance(base[key], dict) and key not in ("sources",):
            if not isinstance(value, Mapping):
                raise ConfigError(f"config key {path!r} must be a mapping, got {value!r}")
            if key == "arch":
                base[key] = dict(value)  # architectures take their own kwargs
            else:
                _merge(base[key], value, path + ".")
        else:
            base[key] = value
    return base


def validate(config: dict) -> dict:
    for key, choices in _CHOICES.items():
        if config[key] not in choices:
            raise ConfigError(f"{key} must be one of {', '.join(choices)}, got {config[key]!r}")
    eps = config["eps"]
    if not _is_number(eps) or eps <= 0:
        raise ConfigError(f"eps must be a positive fraction of the [0, 1] pixel range, got {eps!r}")
    if eps > 1:
        raise ConfigError(
            f"eps={eps} is larger than 1: give it as a fraction of the [0, 1] pixel range, e.g. {eps}/255 = "
            f"{eps / 255:.6f} (YAML: eps: {eps / 255:.6f})"
        )
    for key in ("epochs", "batch_size"):
        if config[key] is None:
            raise ConfigError(
                f"{key} is not set: the released code does not publish it for this run; choose a value "
                f"explicitly ({key}=...) and record why"
            )
        if not _is_count(config[key]) or config[key] < 1:
            raise ConfigError(f"{key} must be a positive integer, got {config[key]!r}")
    for key in ("lr", "momentum", "weight_decay", "alpha", "beta", "temperature", "softce_temperature"):
        value = config[key]
        if value is None:
            raise ConfigError(
                f"{key} is not set: the released code does not publish it for this run; choose a value "
                f"explicitly ({key}=...) and record why"
            )
        if not _is_number(value) or value < 0:
            raise ConfigError(f"{key} must be a non-negative finite number, got {value!r}")
    if config["temperature"] <= 0 or config["softce_temperature"] <= 0:
        raise ConfigError("temperatures must be positive")
    if not _is_number(config["prior_momentum"]) or not 0 < config["prior_momentum"] <= 1:
        raise ConfigError(f"prior_momentum must be in (0, 1], got {config['prior_momentum']}")
    _check_numbers(config)
    _check_arch(config["arch"])
    fraction = config["generated"]["fraction"]
    if config["generated"]["path"] and not (_is_number(fraction) and 0 < fraction < 1):
        raise ConfigError(f"generated.fraction must be in (0, 1), got {fraction!r}")
    if config["method"] == "standard" and config["awp"]["gamma"] > 0:
        raise ConfigError(
            "method standard trains without attacks, and AWP perturbs the weights against the robust "
            "loss: set awp.gamma: 0"
        )
    _check_device_name(config["device"])
    return config


def _is_number(value: Any) -> bool:
    """A finite int or float; booleans are not numbers here (YAML's ``true`` must not pass as 1)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# (key path, lowest allowed, highest allowed, integer?) checked after the loss/optimiser keys above
_RANGES: tuple[tuple[str, float, float, bool], ...] = (
    ("lr", 0.0, math.inf, False),
    ("momentum", 0.0, 1.0, False),
    ("gamma", 0.0, math.inf, False),
    ("gamma_aug", 0.0, math.inf, False),
    ("trades_beta", 0.0, math.inf, False),
    ("attack_init_std", 0.0, math.inf, False),
    ("awp.gamma", 0.0, math.inf, False),
    ("awp.warmup", 0, math.inf, True),
    ("epoch_ema.decay", 0.0, 1.0, False),
    ("step_ema.tau", 0.0, 1.0, False),
    ("step_ema.start_epoch", 0, math.inf, True),
    ("seed", 0, 2**63 - 1, True),
    ("bn_replicas", 1, 1024, True),
    ("synthetic_size", 1, math.inf, True),
    ("checkpoint_every_steps", 0, math.inf, True),
    ("log_every_steps", 1, math.inf, True),
    ("max_steps_per_epoch", 0, math.inf, True),
    ("final_eval.n_examples", 0, math.inf, True),
    ("final_eval.pgd_steps", 1, math.inf, True),
    ("final_eval.batch_size", 1, math.inf, True),
)


def _lookup(config: Mapping, dotted: str) -> Any:
    value: Any = config
    for part in dotted.split("."):
        value = value[part]
    return value


def _check_numbers(config: dict) -> None:
    for key, low, high, integer in _RANGES:
        value = _lookup(config, key)
        if value is None:
            raise ConfigError(
                f"{key} is not set: the released code does not publish it for this run; choose a value "
                f"explicitly ({key}=...) and record why"
            )
        kind = "an integer" if integer else "a finite number"
        if not (_is_count(value) if integer else _is_number(value)) or not low <= value <= high:
            bounds = f">= {low}" if high == math.inf else f"in [{low}, {high}]"
            raise ConfigError(f"{key} must be {kind} {bounds}, got {value!r}")
    if config["lr"] == 0:
        raise ConfigError("lr must be positive, got 0")
    for key in (
        "epoch_ema.enabled",
        "step_ema.enabled",
        "step_ema.warmup",
        "weight_decay_on_bn",
        "nesterov",
        "channels_last",
        "compile",
        "sync_bn",
        "export",
        "progress",
    ):
        if not isinstance(_lookup(config, key), bool):
            raise ConfigError(f"{key} must be true or false, got {_lookup(config, key)!r}")


def _check_arch(arch: Mapping) -> None:
    """Build the architecture on the meta device (no memory, no init cost) so bad kwargs fail here."""
    from dkl_zoo.models import build_architecture

    if "name" not in arch:
        raise ConfigError("arch needs a 'name' (wide_resnet or dm_wide_resnet)")
    kwargs = {k: v for k, v in arch.items() if k != "name"}
    try:
        build_architecture(str(arch["name"]), meta=True, **kwargs)
    except (ValueError, TypeError) as error:
        raise ConfigError(f"arch {dict(arch)!r} cannot be built: {error}") from None


def _check_device_name(device: Any) -> None:
    from dkl_zoo._devices import parsed_device

    try:
        parsed_device(str(device), allow_auto=True)
    except InvalidArgumentError as error:
        raise ConfigError(str(error)) from None


def _parse_value(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_overrides(config: dict, overrides: Sequence[str]) -> dict:
    """``key=value`` or ``awp.gamma=0`` (values parsed as YAML: numbers, booleans, null, lists)."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value (e.g. epochs=10 or awp.gamma=0)")
        key, text = item.split("=", 1)
        value: Any = _parse_value(text)
        for part in reversed(key.split(".")[1:]):
            value = {part: value}
        _merge(config, {key.split(".")[0]: value})
    return config


def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> dict:
    """Defaults, updated by the YAML file, then by the overrides; validated."""
    config = copy.deepcopy(DEFAULTS)
    if path is not None:
        path = Path(path)
        if path.is_dir():
            raise ConfigError(
                f"config file {path} is a folder; give one of its .yaml files (configs live in training/configs/)"
            )
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist (configs live in training/configs/)")
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as error:
            where = getattr(error, "problem_mark", None)
            line = f" at line {where.line + 1}, column {where.column + 1}" if where is not None else ""
            problem = getattr(error, "problem", None) or type(error).__name__
            raise ConfigError(f"{path} is not valid YAML{line}: {problem}") from None
        if not isinstance(loaded, Mapping):
            raise ConfigError(f"{path} must hold a mapping of config keys")
        _merge(config, loaded)
    apply_overrides(config, overrides)
    return validate(config)
