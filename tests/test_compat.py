"""dkl_zoo._compat: the places this package reaches into other libraries, refused outside the checked releases."""

from __future__ import annotations

import logging
import warnings
from importlib import metadata

import pytest
import torch
from torch import nn

from dkl_zoo import _compat
from dkl_zoo._autoattack import make_adversary
from dkl_zoo._compat import autoattack_sanity_checks as _run_checks
from dkl_zoo.errors import IncompatibleDependencyError


def test_the_installed_releases_are_inside_the_checked_ranges():
    for distribution in _compat.CHECKED:
        _compat.check_version(distribution, "this test")


@pytest.mark.parametrize(
    "distribution, release",
    [
        ("pyautoattack", "0.3.0"),
        ("huggingface_hub", "0.34.0"),
        ("huggingface_hub", "3.0.0"),
        ("timm", "2.1.0"),
        ("gradio", "7.0.0"),
        ("gradio", "5.50.0"),
    ],
)
def test_a_release_outside_the_range_is_one_clear_error(monkeypatch, distribution, release):
    real = metadata.version
    monkeypatch.setattr(metadata, "version", lambda name: release if name == distribution else real(name))
    with pytest.raises(IncompatibleDependencyError) as info:
        _compat.check_version(distribution, "the download deadline")
    assert str(info.value) == (
        f"the download deadline reaches into {distribution}, and was checked against "
        f"{distribution}{_compat.CHECKED[distribution]}; {distribution} {release} is installed: pip install "
        f"'{distribution}{_compat.CHECKED[distribution]}'"
    )


def test_a_missing_library_is_not_this_checks_business(monkeypatch):
    def missing(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", missing)
    _compat.check_version("timm", "x")


def test_the_upper_bounds_of_pyproject_are_the_checked_ranges():
    import re

    from helpers import ROOT

    text = (ROOT / "pyproject.toml").read_text()
    for distribution, spec in _compat.CHECKED.items():
        upper = re.search(r"<[\d.]+", spec).group(0)
        declared = re.findall(rf'"{distribution}([^"]*)"', text)
        assert declared and all(upper in d for d in declared), (distribution, declared)


def test_no_other_module_patches_another_library():
    """Assignments into other libraries' modules (timm's factory, sys.modules entries, a client's hooks) happen in
    _compat only."""
    import ast

    from helpers import ROOT

    offenders = []
    for path in sorted((ROOT / "dkl_zoo").rglob("*.py")):
        if path.name == "_compat.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    text = ast.unparse(target)
                    if text.startswith(("sys.modules[", "_factory.", "_hub.")) or ".event_hooks" in text:
                        offenders.append(f"{path.name}:{node.lineno} {text}")
    assert offenders == []


# ---- AutoAttack's sanity checks, run through dkl_zoo._compat ---------------------------------------------


class _Linear(nn.Module):
    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(3 * 4 * 4, classes)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x)


class _NoisyAboveFour(_Linear):
    """Random outputs only for batches of more than four images: tells which examples the check used."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.logits(x)
        return out + torch.randn_like(out) if x.shape[0] > 4 else out


class _Softmax(_Linear):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x).softmax(dim=1)


class _Dynamic(_Linear):
    """Takes a gradient inside its forward pass: what AutoAttack calls a dynamic defence."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            z = x.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad((z**2).sum(), z)
        return self.logits(x + 0 * grad)


def _check_messages(
    model: nn.Module, *, version: str = "custom", attacks=("apgd-ce",), batch_size: int = 4, classes: int = 10
) -> list[str]:
    adversary = make_adversary(model, eps=0.1, version=version, attacks=list(attacks) if version == "custom" else None)
    logger = logging.getLogger("dkl_zoo.test-checks")
    logger.propagate = False
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    x = torch.rand(8, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    y = torch.arange(8) % classes
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # every finding goes to the log, none is a Python warning
            _run_checks(adversary, model, x, y, batch_size, "cpu", logger, version)
    finally:
        logger.removeHandler(handler)
    return [record.getMessage() for record in records]


def test_a_plain_model_passes_every_check_silently():
    assert _check_messages(_Linear()) == []


def test_a_randomised_model_is_reported_in_the_log():
    messages = _check_messages(_NoisyAboveFour(), batch_size=8)
    assert len(messages) == 1 and "randomized defense" in messages[0]


def test_the_checks_look_at_the_first_batch_only():
    assert _check_messages(_NoisyAboveFour(), batch_size=4) == []


def test_version_rand_skips_the_randomisation_check():
    assert _check_messages(_NoisyAboveFour(), version="rand", batch_size=8) == []


def test_probability_outputs_are_reported():
    messages = _check_messages(_Softmax())
    assert len(messages) == 1 and "probability distribution" in messages[0]


def test_a_dynamic_defence_is_reported_and_does_not_flag_the_next_model():
    messages = _check_messages(_Dynamic())
    assert len(messages) == 1 and "dynamic defense" in messages[0]
    assert _check_messages(_Linear()) == []  # AutoAttack's call counters are reset before each run


@pytest.mark.parametrize("attacks", [("apgd-ce", "fab-t"), ("apgd-ce", "apgd-t")])
def test_too_few_classes_for_the_targeted_attacks_is_reported(attacks):
    messages = _check_messages(_Linear(classes=3), attacks=attacks, classes=3)
    assert len(messages) == 1 and ("target classes" in messages[0] or "targeted DLR" in messages[0])
