"""Architectures: the exact state-dict keys and shapes of RobustBench's classes, counts, behaviour."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import dkl_zoo
from dkl_zoo.errors import StateDictMismatchError
from dkl_zoo.models import DMWideResNet, WideResNet, assign_state_dict, build_architecture

from conftest import DATA, trained_like

REFERENCE = DATA / "reference"
ENTRY_TO_REFERENCE = {
    "ikl-at-cifar10-wrn34": "keys_cifar10_WRN-34-10.txt",
    "ikl-at-cifar10-wrn28-20m": "keys_cifar10_WRN-28-10_DM.txt",
    "ikl-at-cifar100-wrn34": "keys_cifar100_WRN-34-10.txt",
    "ikl-at-cifar100-wrn34-v2": "keys_cifar100_WRN-34-10.txt",
    "ikl-at-cifar100-wrn34-autoaug": "keys_cifar100_WRN-34-10.txt",
    "ikl-at-cifar100-wrn28-50m": "keys_cifar100_WRN-28-10_DM.txt",
    "gkl-at-cifar100-wrn28-50m": "keys_cifar100_WRN-28-10_DM.txt",  # DKLv2's GKL-AT 50M: same architecture
}


def read_reference(path: Path) -> tuple[list[tuple[str, tuple[int, ...], str]], int]:
    lines = path.read_text().splitlines()
    params = int(lines[0].split(" entries, ")[1].split(" params")[0])
    rows = []
    for line in lines[1:]:
        name, shape, dtype = line.split("\t")
        rows.append((name, tuple(int(d) for d in shape.strip("()").split(",") if d.strip()), dtype))
    return rows, params


def test_every_released_entry_has_a_reference_list():
    from dkl_zoo.registry import RELEASED

    assert sorted(ENTRY_TO_REFERENCE) == sorted(RELEASED)


def test_shipped_fashion_mnist_architecture():
    model = dkl_zoo.build_model("ikl-at-fmnist-wrn10-1")
    assert sum(p.numel() for p in model.parameters()) == 77_562
    assert model.conv1.weight.shape == (16, 1, 3, 3)
    assert model.eval()(torch.rand(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize("name", sorted(ENTRY_TO_REFERENCE))
def test_state_dict_matches_robustbench_exactly(name):
    rows, params = read_reference(REFERENCE / ENTRY_TO_REFERENCE[name])
    model = dkl_zoo.build_model(name, meta=True)
    ours = [(k, tuple(v.shape), str(v.dtype)) for k, v in model.state_dict().items()]
    assert ours == rows  # same names, same order, same shapes and dtypes
    assert sum(p.numel() for p in model.parameters()) == params


def test_parameter_counts_of_the_issue():
    count = lambda name: sum(p.numel() for p in dkl_zoo.build_model(name, meta=True).parameters())  # noqa: E731
    assert count("ikl-at-cifar10-wrn34") == 46_160_474
    assert count("ikl-at-cifar10-wrn28-20m") == 36_479_194


@pytest.mark.parametrize("factory", [
    lambda: WideResNet(depth=10, widen_factor=1, num_classes=7, in_channels=1),
    lambda: DMWideResNet(depth=10, width=1, num_classes=7, in_channels=1, mean=(0.5,), std=(0.25,)),
])
@pytest.mark.parametrize("size", [28, 32])
def test_tiny_variants_any_channels_classes_and_size(factory, size):
    model = factory().eval()
    out = model(torch.rand(3, 1, size, size))
    assert out.shape == (3, 7)
    assert torch.isfinite(out).all()


def test_dm_normalisation_is_inside_and_not_in_state_dict():
    torch.manual_seed(0)
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 0.2)
    model = trained_like(DMWideResNet(depth=10, width=1, mean=mean, std=std))
    assert not any(k in model.state_dict() for k in ("mean", "std"))
    x = torch.rand(2, 3, 32, 32)
    # Shifting the input by the mean and scaling by std must be what the model undoes internally.
    reference = DMWideResNet(depth=10, width=1, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    reference.load_state_dict(model.state_dict())
    reference.eval()
    normalised = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    torch.testing.assert_close(model(x), reference(normalised))


def test_dm_uses_batchnorm_momentum_001_and_silu():
    model = build_architecture("dm_wide_resnet", depth=10, width=1)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(m.momentum == 0.01 for m in norms)
    assert any(isinstance(m, torch.nn.SiLU) for m in model.modules())


def test_dm_strided_padding_is_asymmetric():
    model = DMWideResNet(depth=10, width=1).eval()
    block = model.layer[1].block[0]
    assert block._padding == (0, 1, 0, 1)
    assert model.layer[0].block[0]._padding == (1, 1, 1, 1)
    # A symmetric padding would change the output: the released weights depend on this detail.
    x = torch.rand(1, 16, 32, 32)
    ours = block(x)
    block._padding = (1, 1, 1, 1)
    shifted = block(x)
    assert shifted.shape == ours.shape == (1, 32, 16, 16)
    assert not torch.allclose(shifted, ours)


def test_meta_build_then_assign_equals_regular_model():
    torch.manual_seed(1)
    source = trained_like(DMWideResNet(depth=10, width=1, num_classes=10))
    target = build_architecture("dm_wide_resnet", meta=True, depth=10, width=1, num_classes=10)
    assign_state_dict(target, source.state_dict())
    target.eval()
    assert not any(t.is_meta for t in list(target.parameters()) + list(target.buffers()))
    x = torch.rand(4, 3, 32, 32)
    assert torch.equal(target(x), source(x))


def test_released_style_module_prefix_is_rejected_with_a_hint():
    model = WideResNet(depth=10, widen_factor=1)
    released = {f"module.{k}": v for k, v in model.state_dict().items()}
    with pytest.raises(StateDictMismatchError) as info:
        assign_state_dict(WideResNet(depth=10, widen_factor=1), released)
    message = str(info.value)
    assert "missing: conv1.weight" in message and "unexpected: module.conv1.weight" in message
    assert "convert" in message
    assert len(info.value.missing) == len(model.state_dict())


def test_wrong_shape_is_rejected():
    state = WideResNet(depth=10, widen_factor=1, num_classes=100).state_dict()
    with pytest.raises(StateDictMismatchError, match=r"wrong shape: fc.weight \(100, 64\) != \(10, 64\)"):
        assign_state_dict(WideResNet(depth=10, widen_factor=1, num_classes=10), state)


@pytest.mark.parametrize("kwargs, message", [
    ({"depth": 12}, "depth must be 6n"),
    ({"num_classes": 1}, "num_classes >= 2"),
])
def test_bad_architecture_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WideResNet(**kwargs)


def test_unknown_architecture():
    with pytest.raises(ValueError, match="Unknown architecture 'resnet'; known: dm_wide_resnet, wide_resnet"):
        build_architecture("resnet")
