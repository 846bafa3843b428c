"""Architectures: the exact state-dict keys and shapes of RobustBench's classes, counts, behaviour."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import dkl_zoo
from dkl_zoo.errors import StateDictMismatchError
from dkl_zoo.models import (
    DMWideResNet,
    WideResNet,
    assign_state_dict,
    build_architecture,
)
from helpers import DATA, trained_like

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


@pytest.mark.parametrize(
    "factory",
    [
        lambda: WideResNet(depth=10, widen_factor=1, num_classes=7, in_channels=1),
        lambda: DMWideResNet(depth=10, width=1, num_classes=7, in_channels=1, mean=(0.5,), std=(0.25,)),
    ],
)
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


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"depth": 12}, "depth must be 6n"),
        ({"num_classes": 1}, "num_classes >= 2"),
    ],
)
def test_bad_architecture_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WideResNet(**kwargs)


def test_unknown_architecture():
    with pytest.raises(ValueError, match="Unknown architecture 'resnet'; known: dm_wide_resnet, wide_resnet"):
        build_architecture("resnet")


# ---- strict assignment and the builder's joints ----------------------------------------------------------


def test_correct_state_dict_plus_one_extra_tensor_is_refused_naming_the_key():
    state = dict(WideResNet(depth=10, widen_factor=1).state_dict())
    state["head.extra"] = torch.zeros(3)
    with pytest.raises(StateDictMismatchError, match=r"unexpected: head\.extra") as info:
        assign_state_dict(WideResNet(depth=10, widen_factor=1), state)
    assert info.value.unexpected == ["head.extra"] and info.value.missing == []


# ---- the builder's remaining joints (found by mutation testing) --------------------------------------------


class _WithConstant(torch.nn.Module):
    """A layer whose non-persistent buffer (like the DM WideResNet's mean/std) is rebuilt, not loaded."""

    def __init__(self, rebuild: bool = True) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(2, 2)
        self.register_buffer("scale", torch.full((2,), 3.0), persistent=False)
        if not rebuild:
            self.reset_non_persistent_buffers = None  # type: ignore[assignment]

    def reset_non_persistent_buffers(self) -> None:
        self.scale = torch.full((2,), 3.0, device=self.linear.weight.device)

    def forward(self, x):
        return self.linear(x) * self.scale


def test_non_persistent_buffers_are_rebuilt_after_a_meta_build():
    weights = {f"0.{k}": v.clone() for k, v in _WithConstant().state_dict().items()}
    with torch.device("meta"):
        outer = torch.nn.Sequential(_WithConstant())
    assign_state_dict(outer, weights)
    assert not any(b.is_meta for b in outer.buffers()) and torch.equal(outer[0].scale, torch.full((2,), 3.0))
    with torch.device("meta"):
        stuck = torch.nn.Sequential(_WithConstant(rebuild=False))
    with pytest.raises(StateDictMismatchError, match=r"missing: 0\.scale"):
        assign_state_dict(stuck, weights)


def test_boolean_tensor_for_an_integer_buffer_is_refused():
    from dkl_zoo.errors import WeightsFormatError

    state = dict(WideResNet(depth=10, widen_factor=1).state_dict())
    state["bn1.num_batches_tracked"] = torch.tensor(True)
    with pytest.raises(WeightsFormatError, match="bn1.num_batches_tracked"):
        assign_state_dict(WideResNet(depth=10, widen_factor=1), state)


def test_every_wrongly_typed_tensor_is_named_and_integer_buffers_keep_their_type():
    from dkl_zoo.errors import WeightsFormatError

    model = WideResNet(depth=10, widen_factor=1)
    state = dict(model.state_dict())
    convs = [k for k in state if k.endswith("conv1.weight") or k.endswith("conv2.weight")][:7]
    for key in convs[:2]:
        state[key] = state[key].to(torch.int16)
    with pytest.raises(WeightsFormatError) as info:
        assign_state_dict(WideResNet(depth=10, widen_factor=1), state)
    assert f"{convs[0]} is torch.int16" in str(info.value) and f"; {convs[1]} is torch.int16" in str(info.value)
    assert "in all" not in str(info.value) and "needs torch.float32. Re-convert" in str(info.value)
    for key in convs[:5]:
        state[key] = state[key].to(torch.int16)
    with pytest.raises(WeightsFormatError) as info:
        assign_state_dict(WideResNet(depth=10, widen_factor=1), state)
    assert "in all" not in str(info.value) and str(info.value).count("is torch.int16") == 5
    state[convs[5]] = state[convs[5]].to(torch.int16)
    with pytest.raises(WeightsFormatError, match=r"\(6 in all\)") as info:
        assign_state_dict(WideResNet(depth=10, widen_factor=1), state)
    assert str(info.value).count("is torch.int16") == 5
    for key in convs:
        state[key] = state[key].to(torch.int16)
    with pytest.raises(WeightsFormatError, match=r"\(7 in all\)"):
        assign_state_dict(WideResNet(depth=10, widen_factor=1), state)
    as64 = assign_state_dict(WideResNet(depth=10, widen_factor=1), dict(model.state_dict()), dtype=torch.float64)
    assert as64.conv1.weight.dtype == torch.float64 and as64.bn1.num_batches_tracked.dtype == torch.int64
