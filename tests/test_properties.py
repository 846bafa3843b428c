"""Property-based tests of the public entry points' arguments (Hypothesis): any value either works or raises one
of our errors (a ``DklZooError``), and the caller's model and files are never changed.

The examples are few (the whole suite stays within its time budget on 2 cores) and drawn from the values a
hostile caller would try: wrong types, bools where numbers go, NaN and infinities, negative and huge numbers,
strings that look like numbers, tensors of every dtype and of empty, odd or meta shape, and outputs that must
not be replaced."""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_hostile_inputs import _fingerprint, _same

import dkl_zoo
from dkl_zoo.errors import DklZooError
from dkl_zoo.examples import example_images

NAME = "ikl-at-fmnist-wrn10-1"
SCALE = int(os.environ.get("DKL_ZOO_TEST_EXAMPLES_SCALE", "1"))
"""Multiplies every test's number of examples (a deeper search by hand: ``DKL_ZOO_TEST_EXAMPLES_SCALE=20``); CI
runs the derandomised few."""


def _few(n: int) -> settings:
    return settings(
        max_examples=n * SCALE,
        deadline=None,
        derandomize=SCALE == 1,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


FEW = _few(25)

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 300),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.just("2"),
    st.just("no"),
    st.just([]),
    st.just(object()),
)
dtypes = st.sampled_from(
    [
        torch.uint8,
        torch.int8,
        torch.int64,
        torch.bool,
        torch.float16,
        torch.bfloat16,
        torch.float32,
        torch.float64,
        torch.complex64,
    ]
)


@st.composite
def tensors(draw: st.DrawFn) -> torch.Tensor:
    shape = draw(st.lists(st.integers(0, 40), min_size=0, max_size=5))
    if math.prod(shape) > 20_000:
        shape = [1, 1, 28, 28]
    dtype = draw(dtypes)
    values = torch.rand(shape) * draw(st.sampled_from([1.0, 255.0, -1.0, float("nan")]))
    tensor = values.to(dtype) if dtype != torch.bool else values > 0.5
    return tensor.to("meta") if draw(st.booleans()) and draw(st.booleans()) and draw(st.booleans()) else tensor


@st.composite
def arrays(draw: st.DrawFn) -> np.ndarray:
    shape = draw(st.lists(st.integers(0, 30), min_size=1, max_size=4))
    dtype = draw(st.sampled_from([np.uint8, np.uint16, np.int32, np.float32, np.float64, np.bool_]))
    return (np.random.default_rng(len(shape)).random(shape) * draw(st.sampled_from([1, 255, 70000]))).astype(dtype)


def mostly(valid: st.SearchStrategy, hostile: st.SearchStrategy) -> st.SearchStrategy:
    """Valid values about four times in five: every argument of a call must be valid for the call to work, and
    the working calls are what check that nothing was changed on the way."""
    return st.one_of(valid, valid, valid, valid, hostile)


good_images = st.one_of(
    st.sampled_from([str(e.path) for e in example_images()[:3]]),
    st.builds(lambda n: torch.rand(n, 1, 28, 28), st.integers(1, 3)),
    st.builds(lambda: (np.random.default_rng(0).random((30, 20, 3)) * 255).astype(np.uint8)),
)
images = st.one_of(
    tensors(),
    arrays(),
    junk,
    st.sampled_from([str(e.path) for e in example_images()[:2]]),
    st.sampled_from(["", "/dev/zero", "/dev/null", "/", "no/such/file.png"]),
)
devices = st.sampled_from([None, "cpu", "meta", "xpu", "hpu", "cuda", "cuda:7", "", "gpu", "cpu:0", 3, True])


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return dkl_zoo.load(NAME)


OUTCOMES: dict[str, list[bool]] = {}
"""Per test, whether each example worked (True) or was refused with our error (False)."""


def _works_or_ours(call) -> object:  # type: ignore[no-untyped-def]
    import inspect

    test = inspect.stack()[2].function if inspect.stack()[1].function == "<lambda>" else inspect.stack()[1].function
    try:
        result = call()
    except DklZooError:
        OUTCOMES.setdefault(test, []).append(False)
        return None
    OUTCOMES.setdefault(test, []).append(True)
    return result


@FEW
@given(image=mostly(good_images.filter(lambda x: not isinstance(x, torch.Tensor) or x.dim() == 3), images))
def test_transforms_give_the_input_size_in_0_1_or_our_error(image):
    transform = dkl_zoo.model_info(NAME).transforms()
    x = _works_or_ours(lambda: transform(image))
    if x is not None:
        assert x.dtype == torch.float32 and tuple(x.shape) == (1, 28, 28)
        assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@FEW
@given(
    inputs=mostly(good_images, st.one_of(images, st.lists(images, max_size=3))),
    top_k=mostly(st.integers(1, 12), junk | st.integers(-2, 0)),
    batch_size=mostly(st.integers(1, 4), junk),
    device=mostly(st.sampled_from([None, "cpu"]), devices),
    entry=mostly(st.sampled_from([None, NAME]), st.sampled_from(["nope", 3, ""])),
    progress=mostly(st.just(False), st.sampled_from(["no", 0, None])),
    backend=mostly(st.sampled_from(["auto", "torch", "onnxruntime"]), st.sampled_from(["ort", "", None, 1])),
)
def test_predict_works_or_raises_ours_and_leaves_the_model_alone(
    model, inputs, top_k, batch_size, device, entry, progress, backend
):
    before = _fingerprint(model)
    answers = _works_or_ours(
        lambda: dkl_zoo.predict(
            model,
            inputs,
            top_k=top_k,
            batch_size=batch_size,
            device=device,
            entry=entry,
            progress=progress,
            backend=backend,
        )
    )
    if answers is not None:
        assert all(0 <= a.index < 10 and 0.0 <= a.probability <= 1.0 for a in answers)
    assert _same(before, _fingerprint(model))


@FEW
@given(
    eps=mostly(st.floats(0.001, 1), junk | st.floats(-1, 2)),
    attack=mostly(st.just("pgd"), st.sampled_from(["apgd-ce", "fgsm", "", None])),
    steps=mostly(st.integers(1, 2), st.sampled_from([0, -1, True, 1.5, "2"])),
    target=mostly(st.sampled_from([None, "Shirt", 4]), junk | st.sampled_from(["Trouser", "²", "9"])),
    seed=mostly(st.integers(0, 2**40), st.sampled_from([-1, 2**64, True, 1.0])),
    top_k=mostly(st.integers(1, 12), st.sampled_from([0, True, "3"])),
    time_limit=mostly(st.sampled_from([None, 30.0]), st.sampled_from([0, -1, float("nan"), float("inf"), True])),
    device=mostly(st.sampled_from([None, "cpu"]), devices),
)
def test_attack_image_works_or_raises_ours(model, eps, attack, steps, target, seed, top_k, time_limit, device):
    before = _fingerprint(model)
    result = _works_or_ours(
        lambda: dkl_zoo.attack_image(
            model,
            example_images()[1].path,
            eps=eps,
            attack=attack,
            steps=steps,
            target=target,
            seed=seed,
            top_k=top_k,
            time_limit=time_limit,
            device=device,
        )
    )
    if result is not None:
        assert result.linf <= result.eps + 1e-6
    assert _same(before, _fingerprint(model))


@_few(12)
@given(
    format=mostly(st.sampled_from(["torchscript", "exported-program"]), st.sampled_from(["onnx", "tflite", "", None])),
    atol=mostly(st.just(1e-4), st.sampled_from([0, -1, 2, float("nan"), True, "1e-4"])),
    dynamic_batch=mostly(st.booleans(), st.sampled_from(["no", 1, None])),
    where=mostly(
        st.sampled_from(["file", "nested/new/file"]), st.sampled_from(["/dev/null", "folder", "read-only", "", "fifo"])
    ),
)
def test_export_works_or_raises_ours_and_replaces_only_what_it_may(
    model, tmp_path_factory, format, atol, dynamic_batch, where
):
    folder = tmp_path_factory.mktemp("export")
    (folder / "read-only").write_text("keep")
    (folder / "read-only").chmod(0o444)
    os.mkfifo(folder / "fifo")
    target = {"/dev/null": "/dev/null", "": "", "folder": str(folder)}.get(where, str(folder / where))
    before = _fingerprint(model)
    result = _works_or_ours(
        lambda: dkl_zoo.export(model, target, format=format, atol=atol, dynamic_batch=dynamic_batch)
    )
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode) and stat.S_ISFIFO(os.stat(folder / "fifo").st_mode)
    assert (folder / "read-only").read_text() == "keep"
    names = {p.name for p in folder.iterdir()}
    if result is None:  # refused or failed: nothing new beside the two files that were there
        assert names == {"read-only", "fifo"}
    else:
        assert Path(target).is_file() and not any(n.startswith(".") for n in names)
    assert _same(before, _fingerprint(model))


@_few(10)
@given(
    eps=mostly(st.just(0.1), st.sampled_from([0.0, -0.1, float("nan"), 8, True, "8/255"])),
    n_examples=mostly(st.integers(1, 3), st.sampled_from([0, -1, 11, True, 2.0])),
    batch_size=mostly(st.just(2), st.sampled_from([0, True, "2"])),
    seed=mostly(st.integers(0, 5), st.sampled_from([-1, True, "0"])),
    threat_model=mostly(st.just("Linf"), st.sampled_from(["L2", "L3", ""])),
    device=mostly(st.just("cpu"), devices),
    channels_last=st.booleans(),
)
def test_evaluate_works_or_raises_ours_and_leaves_the_model_alone(
    model, eps, n_examples, batch_size, seed, threat_model, device, channels_last
):
    transform = dkl_zoo.model_info(NAME).transforms()
    x = torch.stack([transform(e.path) for e in example_images()])
    y = torch.tensor([e.label for e in example_images()])
    before = _fingerprint(model)
    result = _works_or_ours(
        lambda: dkl_zoo.evaluate(
            model,
            eps=eps,
            n_examples=n_examples,
            batch_size=batch_size,
            seed=seed,
            threat_model=threat_model,
            device=device if device is not None else "cpu",
            data=(x, y),
            version="custom",
            attacks=["apgd-ce"],
            progress=False,
            channels_last=channels_last,
        )
    )
    if result is not None:
        assert 0.0 <= result.robust_acc <= result.clean_acc <= 1.0
    assert _same(before, _fingerprint(model))


def test_the_examples_include_calls_that_work_and_calls_that_are_refused():
    """Runs last in this file (pytest keeps the file's order): a search that only ever failed, or never did,
    would prove nothing about the other outcome."""
    assert len(OUTCOMES) == 5, OUTCOMES.keys()
    for test, outcomes in OUTCOMES.items():
        assert any(outcomes) and not all(outcomes), (test, outcomes)
