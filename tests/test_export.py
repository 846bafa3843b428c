"""``export``: ONNX, TorchScript and ExportedProgram files of both architectures, written only once checked."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import dkl_zoo
from dkl_zoo._integrity import file_digest
from dkl_zoo.errors import ExportCheckError, InvalidArgumentError
from dkl_zoo.examples import example_images
from dkl_zoo.exporting import CHECK_BATCH, export
from helpers import run_python, tiny_entry, trained_like

FMNIST = "ikl-at-fmnist-wrn10-1"


def tiny(name: str):
    """A WRN-10-1 of the entry's architecture family, with non-trivial batch-norm statistics."""
    torch.manual_seed(0)
    return trained_like(dkl_zoo.load(tiny_entry(name), pretrained=False))


def inputs(channels: int, size: int, batch: int) -> torch.Tensor:
    return torch.rand((batch, channels, size, size), generator=torch.Generator().manual_seed(7))


@pytest.mark.parametrize("name", ["ikl-at-cifar10-wrn34", "ikl-at-cifar100-wrn28-50m"])
def test_onnx_of_both_architectures_matches_pytorch_at_any_batch(name, tmp_path):
    import onnx
    import onnxruntime

    model = tiny(name)
    result = export(model, tmp_path / "model.onnx")
    assert result.format == "onnx" and result.checked_batches == (1, CHECK_BATCH) and result.max_abs_diff <= 1e-4
    assert result.sha256 == file_digest(tmp_path / "model.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["images"] and [o.name for o in session.get_outputs()] == [
        "logits"
    ]
    for batch in (1, 3, 13):  # batches it was not checked at: the batch dimension is free
        x = inputs(3, 32, batch)
        with torch.no_grad():
            expected = model(x).numpy()
        assert np.abs(session.run(["logits"], {"images": x.numpy()})[0] - expected).max() <= 1e-4
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "model.onnx")).metadata_props}
    entry = dkl_zoo.loading.entry_of(model)
    assert meta["dkl_zoo.name"] == name and json.loads(meta["dkl_zoo.categories"]) == list(entry.categories)
    spec = json.loads(meta["dkl_zoo.input"])
    assert spec["shape"] == ["batch", 3, 32, 32] and spec["range"] == [0.0, 1.0] and spec["layout"] == "NCHW"
    assert meta["dkl_zoo.weights_sha256"].startswith("unknown")  # random weights: no verified file
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]  # no temporary file left


def test_the_shipped_model_carries_its_weights_hash_and_static_batch_is_batch_one(tmp_path):
    import onnx

    result = export(FMNIST, tmp_path / "fmnist.onnx", dynamic_batch=False)
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "fmnist.onnx")).metadata_props}
    assert meta["dkl_zoo.weights_sha256"] == dkl_zoo.model_info(FMNIST).weights.sha256
    assert json.loads(meta["dkl_zoo.input"])["shape"] == [1, 1, 28, 28] and result.checked_batches == (1,)
    assert result.metadata == meta


@pytest.mark.parametrize("fmt", ["torchscript", "exported-program"])
@pytest.mark.parametrize("name", ["ikl-at-cifar10-wrn34", "ikl-at-cifar100-wrn28-50m"])
def test_torchscript_and_exported_program_round_trip(name, fmt, tmp_path):
    model = tiny(name)
    path = tmp_path / f"model.{fmt}"
    result = export(model, path, format=fmt)
    assert result.max_abs_diff <= 1e-5
    x = inputs(3, 32, 5)
    with torch.no_grad():
        expected = model(x)
        if fmt == "torchscript":
            extra = {"dkl_zoo.json": ""}
            loaded = torch.jit.load(str(path), _extra_files=extra)
            got = loaded(x)
            meta = json.loads(extra["dkl_zoo.json"])
        else:
            extra = {"dkl_zoo.json": ""}
            loaded = torch.export.load(str(path), extra_files=extra)
            got = loaded.module()(x)
            meta = json.loads(extra["dkl_zoo.json"])
    assert torch.allclose(got, expected, atol=1e-5)
    assert meta["dkl_zoo.name"] == name and result.sha256 == file_digest(path)


def test_a_file_that_does_not_match_is_not_written(tmp_path):
    (tmp_path / "keep.onnx").write_bytes(b"what was there before")
    with pytest.raises(ExportCheckError, match=r"computes other logits than PyTorch .* no file was written"):
        export(FMNIST, tmp_path / "keep.onnx", atol=1e-30)
    assert (tmp_path / "keep.onnx").read_bytes() == b"what was there before"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.onnx"]


def test_bad_requests_are_refused_before_any_work(tmp_path):
    with pytest.raises(InvalidArgumentError, match="unknown export format 'tflite'"):
        export(FMNIST, tmp_path / "x", format="tflite")
    with pytest.raises(InvalidArgumentError, match="is a folder; give a file name"):
        export(FMNIST, tmp_path)
    (tmp_path / "file").write_text("")
    with pytest.raises(InvalidArgumentError, match="is not a folder"):
        export(FMNIST, tmp_path / "file" / "x.onnx")
    with pytest.raises(InvalidArgumentError, match=r"atol must be a number in \(0, 1\)"):
        export(FMNIST, tmp_path / "x.onnx", atol=0)


def test_without_the_export_extra_the_message_names_it(tmp_path):
    code = (
        f"import sys; sys.modules['onnxruntime'] = None\n"
        f"import dkl_zoo\n"
        f"try:\n    dkl_zoo.export('{FMNIST}', r'{tmp_path / 'x.onnx'}')\n"
        f"except dkl_zoo.MissingDependencyError as e:\n    print('REFUSED', e)\n"
    )
    done = run_python(code)
    assert "REFUSED ONNX export needs onnxruntime: pip install 'dkl-zoo[export]'" in done.stdout, done.stderr
    assert not (tmp_path / "x.onnx").exists()


def test_real_inputs_are_the_shipped_examples_through_the_entrys_transforms():
    from dkl_zoo.exporting import _check_inputs

    real, random = _check_inputs(dkl_zoo.model_info("ikl-at-cifar10-wrn34"), 12)
    transform = dkl_zoo.model_info("ikl-at-cifar10-wrn34").transforms()
    examples = example_images()
    assert real.shape == random.shape == (12, 3, 32, 32)
    assert torch.equal(real[0], transform(examples[0].path)) and torch.equal(real[10], transform(examples[0].path))
    assert not torch.equal(real, random)
