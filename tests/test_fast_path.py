"""predict's fast path: onnxruntime over the model's checked ONNX export, cached and trusted like the weights.

Every test runs on the shipped WRN-10-1 and real onnxruntime; most in a cache folder of their own, so that what
they build, damage or lock is theirs."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

import dkl_zoo
from dkl_zoo import _onnx_cache, settings
from dkl_zoo.cli import main
from dkl_zoo.errors import CacheError, InvalidArgumentError, MissingDependencyError
from dkl_zoo.examples import example_images
from helpers import python_env, unwritable

NAME = "ikl-at-fmnist-wrn10-1"


@pytest.fixture()
def own_cache(tmp_path, monkeypatch):
    """An empty cache of this test's own, and no session held from earlier tests."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(settings.CACHE_ENV, str(folder))
    _onnx_cache.forget_sessions()
    yield folder
    _onnx_cache.forget_sessions()


def _files():
    return [example.path for example in example_images()]


def _eager(model, files):
    """What PyTorch computes for the files: the reference every backend must give."""
    transform = dkl_zoo.model_info(NAME).transforms()
    with torch.no_grad():
        return torch.softmax(model(torch.stack([transform(f) for f in files])), dim=1)


def _probabilities(predictions):
    return torch.tensor([p.probability for p in predictions]), torch.tensor([p.index for p in predictions])


def _assert_same_as(predictions, reference):
    probability, index = _probabilities(predictions)
    assert torch.equal(index, reference.argmax(1))
    assert torch.allclose(probability, reference.max(1).values, atol=1e-4)


def _served(model):
    return _onnx_cache._SERVED.get(model, {})


def _exports(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.onnx"))


def test_auto_runs_the_cached_export_and_answers_as_pytorch(own_cache):
    model = dkl_zoo.load(NAME)
    files = _files()
    fast = dkl_zoo.predict(model, files, progress=False)
    assert _served(model), "auto on the CPU with onnxruntime installed must use it"
    (onnx_file,) = _exports(own_cache)
    record = json.loads(onnx_file.with_suffix(".json").read_text())
    assert record["weights"] == dkl_zoo.loading.weights_sha256_of(model)
    assert record["onnx_sha256"] == dkl_zoo._integrity.file_digest(onnx_file)
    assert record["max_abs_diff"] <= 1e-4 and record["checked_batches"] == [1, 8]  # export's own check ran
    assert onnx_file.parent.name == NAME and onnx_file.parent.parent == own_cache / "onnx"
    _assert_same_as(fast, _eager(model, files))
    slow = dkl_zoo.predict(model, files, progress=False, backend="torch")
    assert [p.index for p in slow] == [p.index for p in fast]


def test_a_second_load_and_a_registry_name_reuse_the_export(own_cache):
    first = dkl_zoo.load(NAME)
    dkl_zoo.predict(first, _files()[:1], progress=False)
    built = _exports(own_cache)[0].stat().st_mtime_ns
    _onnx_cache.forget_sessions()  # as a new process: the file is read and checked again, not rebuilt
    second = dkl_zoo.load(NAME)
    dkl_zoo.predict(second, _files()[:1], progress=False)
    by_name = dkl_zoo.predict(NAME, _files()[:1], progress=False)
    assert _served(second) and len(_exports(own_cache)) == 1
    assert _exports(own_cache)[0].stat().st_mtime_ns == built
    assert by_name[0].index == dkl_zoo.predict(second, _files()[:1], backend="torch", progress=False)[0].index


def _swap_in_another_model(onnx_file: Path) -> None:
    """Replace the cached file by a valid ONNX model that answers differently (one bias moved by 20)."""
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(onnx_file))
    for initializer in proto.graph.initializer:
        values = numpy_helper.to_array(initializer)
        if values.ndim == 1 and values.shape[0] == 10:  # the classifier's bias
            values = values.copy()
            values[3] += 20  # float32 still: a file onnxruntime runs
            initializer.CopyFrom(numpy_helper.from_array(values, initializer.name))
            break
    else:
        raise AssertionError("no classifier bias in the export")
    onnx.save(proto, str(onnx_file))


@pytest.mark.parametrize("damage", ["swapped", "truncated", "record-deleted"])
def test_a_damaged_or_swapped_file_is_rebuilt_and_never_run(own_cache, damage):
    model = dkl_zoo.load(NAME)
    files = _files()
    dkl_zoo.predict(model, files[:1], progress=False)
    (onnx_file,) = _exports(own_cache)
    good = onnx_file.read_bytes()
    if damage == "swapped":
        _swap_in_another_model(onnx_file)
    elif damage == "truncated":
        onnx_file.write_bytes(good[: len(good) // 2])
    else:
        onnx_file.with_suffix(".json").unlink()
    _onnx_cache.forget_sessions()
    if damage == "swapped":  # the swapped file runs and answers otherwise: only its sha256 gives it away
        import onnxruntime

        session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
        transform = dkl_zoo.model_info(NAME).transforms()
        images = torch.stack([transform(f) for f in files]).numpy()
        assert set(session.run(["logits"], {"images": images})[0].argmax(1).tolist()) == {3}
    again = dkl_zoo.predict(dkl_zoo.load(NAME), files, progress=False)
    _assert_same_as(again, _eager(model, files))  # a swapped file run would answer class 3 everywhere
    assert onnx_file.read_bytes() == good  # rebuilt: the export is deterministic
    record = json.loads(onnx_file.with_suffix(".json").read_text())
    assert record["onnx_sha256"] == dkl_zoo._integrity.file_digest(onnx_file)


def _edit_in_place(model):
    with torch.no_grad():
        model.fc.bias.data[3] += 20  # .data: no version counter moves


def _optimiser_step(model):
    optimiser = torch.optim.SGD(model.parameters(), lr=1.0)
    model.fc.bias.grad = None
    optimiser.zero_grad()
    (-model.fc.bias[3] * 20).backward()
    optimiser.step()


def _new_parameter(model):
    bias = model.fc.bias.detach().clone()
    bias[3] += 20
    model.fc.bias = torch.nn.Parameter(bias)


def _storage_swapped(model):
    bias = model.fc.bias.detach().clone()
    bias[3] += 20
    model.fc.bias.data = bias


def _state_dict_loaded(model):
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["fc.bias"][3] += 20
    model.load_state_dict(state)


def _small_edit_in_a_large_tensor(model):
    weight = max(model.parameters(), key=lambda p: p.numel())
    assert weight.numel() > 4096  # projected as rows, in place
    with torch.no_grad():
        weight.data.view(-1)[weight.numel() // 2 + 17] += 1e-2


EDITS = [_edit_in_place, _optimiser_step, _new_parameter, _storage_swapped, _state_dict_loaded]


@pytest.mark.parametrize("edit", EDITS, ids=lambda f: f.__name__.strip("_"))
def test_weights_changed_after_load_are_never_answered_by_the_stale_export(edit):
    model = dkl_zoo.load(NAME)
    files = _files()
    before = dkl_zoo.predict(model, files, progress=False)
    assert _served(model)
    edit(model)
    model.eval()
    reference = _eager(model, files)
    assert reference.argmax(1).tolist() != [p.index for p in before]  # the edit changes the answers
    _assert_same_as(dkl_zoo.predict(model, files, progress=False), reference)  # auto: PyTorch answers now


def test_explicit_onnxruntime_rebuilds_for_changed_weights(own_cache):
    model = dkl_zoo.load(NAME)
    files = _files()
    dkl_zoo.predict(model, files[:1], progress=False, backend="onnxruntime")
    _edit_in_place(model)
    _assert_same_as(dkl_zoo.predict(model, files, progress=False, backend="onnxruntime"), _eager(model, files))
    names = [path.name for path in _exports(own_cache)]
    assert len(names) == 2 and sum(name.startswith("content-") for name in names) == 1


def test_the_fingerprint_sees_a_small_edit_anywhere():
    from dkl_zoo._weights_watch import fingerprint, unchanged_since_load

    model = dkl_zoo.load(NAME)
    loaded = fingerprint(model)
    assert fingerprint(model) == loaded and unchanged_since_load(model)
    _small_edit_in_a_large_tensor(model)
    assert fingerprint(model) != loaded and not unchanged_since_load(model)
    other = dkl_zoo.load(NAME).to(memory_format=torch.channels_last)  # read in place in its memory order
    laid_out = fingerprint(other)
    assert fingerprint(other) == laid_out
    with torch.no_grad():
        other.conv1.weight.data[0, 0, 0, 1] -= 1e-3
    assert fingerprint(other) != laid_out


def test_a_read_only_cache_uses_pytorch_and_says_why_once(own_cache):
    own_cache.mkdir()
    model = dkl_zoo.load(NAME)
    files = _files()
    with unwritable(own_cache), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = dkl_zoo.predict(model, files, progress=False)
        dkl_zoo.predict(model, files, progress=False)
        with pytest.raises(CacheError, match="read-only"):
            dkl_zoo.predict(model, files, progress=False, backend="onnxruntime")
    said = [str(w.message) for w in caught if "ONNX cache" in str(w.message)]
    assert len(said) == 1 and "read-only" in said[0] and "PyTorch" in said[0]
    assert not _served(model) and _exports(own_cache) == []
    _assert_same_as(first, _eager(model, files))


def test_a_read_only_cache_that_holds_the_export_still_serves_it(own_cache):
    model = dkl_zoo.load(NAME)
    dkl_zoo.predict(model, _files()[:1], progress=False)
    _onnx_cache.forget_sessions()
    with unwritable(*{p.parent for p in own_cache.rglob("*")}, own_cache):
        again = dkl_zoo.load(NAME)
        dkl_zoo.predict(again, _files()[:1], progress=False)
        assert _served(again)


def test_two_processes_that_build_at_once_make_one_good_file(own_cache):
    code = (
        "import sys, dkl_zoo, dkl_zoo.exporting as e\n"
        "real = e.export\n"
        "def counted(*a, **k):\n"
        "    print('built', flush=True)\n"
        "    return real(*a, **k)\n"
        "e.export = counted\n"
        f"m = dkl_zoo.load({NAME!r})\n"
        "from dkl_zoo.examples import example_images\n"
        "files = [x.path for x in example_images()]\n"
        "print([p.index for p in dkl_zoo.predict(m, files, progress=False, backend='onnxruntime')])\n"
    )
    env = python_env({settings.CACHE_ENV: str(own_cache)})
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=300) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    assert sum(out.count("built") for out, _ in outputs) == 1  # the other waited on the lock and used the file
    expected = str(_eager(dkl_zoo.load(NAME), _files()).argmax(1).tolist())
    assert [out.strip().splitlines()[-1] for out, _ in outputs] == [expected, expected]
    (onnx_file,) = _exports(own_cache)
    assert json.loads(onnx_file.with_suffix(".json").read_text())["onnx_sha256"] == dkl_zoo._integrity.file_digest(
        onnx_file
    )
    assert not [p for p in own_cache.rglob("*") if ".tmp" in p.name or p.name.startswith(".")]


def test_without_onnxruntime_auto_uses_pytorch_with_one_hint(own_cache, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if it were not installed
    monkeypatch.setattr(_onnx_cache, "_SAID", set())
    _onnx_cache.runtime_installed.cache_clear()
    try:
        model = dkl_zoo.load(NAME)
        files = _files()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            first = dkl_zoo.predict(model, files, progress=False)
            dkl_zoo.predict(model, files, progress=False)
        hints = [str(w.message) for w in caught if "dkl-zoo[export]" in str(w.message)]
        assert len(hints) == 1 and "backend='torch'" in hints[0]
        _assert_same_as(first, _eager(model, files))
        with pytest.raises(MissingDependencyError, match=r"dkl-zoo\[export\]"):
            dkl_zoo.predict(NAME, files, backend="onnxruntime")
        assert main(["predict", NAME, str(files[0]), "--backend", "onnxruntime", "--quiet"]) == 1
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            dkl_zoo.predict(model, files, progress=False, backend="torch")
        assert not caught  # choosing PyTorch silences the hint
        assert _exports(own_cache) == []
    finally:
        monkeypatch.undo()
        _onnx_cache.runtime_installed.cache_clear()


def test_bad_backends_are_refused_before_any_model_is_loaded(tmp_path):
    with pytest.raises(InvalidArgumentError, match="backend must be one of 'auto', 'torch', 'onnxruntime'"):
        dkl_zoo.predict("no-such-model", _files(), backend="tensorrt")
    model = dkl_zoo.load(NAME)
    with pytest.raises(InvalidArgumentError, match="runs the float32 eval-mode model"):
        dkl_zoo.predict(model.double(), _files(), backend="onnxruntime")
    trained = dkl_zoo.load(NAME).train()
    with pytest.warns(RuntimeWarning, match="training mode"):
        with pytest.raises(InvalidArgumentError, match="eval-mode"):
            dkl_zoo.predict(trained, _files(), backend="onnxruntime")


def test_workers_stream_through_the_fast_path(tmp_path):
    from PIL import Image

    from dkl_zoo.data import load_fashion_mnist
    from helpers import fashion_mnist_or_skip

    fashion_mnist_or_skip()
    x, _ = load_fashion_mnist(train=False)
    for i in range(40):
        Image.fromarray((x[i, 0] * 255).round().to(torch.uint8).numpy()).save(tmp_path / f"{i:02d}.png")
    model = dkl_zoo.load(NAME)
    answers = dkl_zoo.predict(model, tmp_path, batch_size=16, workers=2, progress=False)
    assert _served(model).get(False) is not None  # the session that sleeps between batches, for the workers
    _assert_same_as(answers, _eager(model, sorted(tmp_path.glob("*.png"))))


def test_forget_exports_deletes_the_folder(own_cache, capsys):
    dkl_zoo.predict(dkl_zoo.load(NAME), _files()[:1], progress=False)
    assert _exports(own_cache)
    assert main(["forget-exports"]) == 0
    assert "deleted 3 file(s)" in capsys.readouterr().out  # the export, its record and its lock
    assert not (own_cache / "onnx").exists()
    assert main(["forget-exports"]) == 0
    assert "nothing was changed" in capsys.readouterr().out


def test_an_export_that_fails_its_check_is_never_run_and_auto_says_so_once(own_cache, monkeypatch):
    """The export compares its file with PyTorch before keeping it; when they differ, auto answers with PyTorch."""
    from dkl_zoo import exporting
    from dkl_zoo.errors import ExportCheckError

    real = exporting._WRITERS["onnx"]

    def off_by_one(model, example, path, metadata, dynamic_batch):  # a file that answers otherwise
        run = real(model, example, path, metadata, dynamic_batch)
        return lambda x: run(x) + 1.0

    monkeypatch.setitem(exporting._WRITERS, "onnx", off_by_one)
    monkeypatch.setattr(_onnx_cache, "_SAID", set())
    model = dkl_zoo.load(NAME)
    files = _files()
    built = []
    monkeypatch.setattr(_onnx_cache, "_build", lambda *a, real=_onnx_cache._build: built.append(1) or real(*a))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = dkl_zoo.predict(model, files, progress=False)
        dkl_zoo.predict(model, files, progress=False)
    assert len(built) == 1  # tried once per process, not on every call
    said = [str(w.message) for w in caught if "other logits than PyTorch" in str(w.message)]
    assert len(said) == 1 and said[0].startswith("predicting with PyTorch")
    assert not _served(model) and _exports(own_cache) == []  # nothing kept, nothing run
    _assert_same_as(first, _eager(model, files))
    with pytest.raises(ExportCheckError):
        dkl_zoo.predict(model, files, progress=False, backend="onnxruntime")


def test_a_subclass_over_the_same_weights_gets_its_own_export(own_cache):
    """Weights from no verified file are keyed by their content and the model's class: a subclass with another
    forward over the same state dict never runs the first model's export."""
    base = dkl_zoo.build_model(dkl_zoo.model_info(NAME))  # random weights: not from load
    base.eval()

    class Shifted(type(base)):
        def forward(self, x):
            return super().forward(x) + torch.arange(10.0) * 5

    shifted = Shifted(**dict(dkl_zoo.model_info(NAME).arch.kwargs)).eval()
    shifted.load_state_dict(base.state_dict())
    files = _files()
    dkl_zoo.predict(base, files, entry=NAME, backend="onnxruntime", progress=False)
    answers = dkl_zoo.predict(shifted, files, entry=NAME, backend="onnxruntime", progress=False)
    _assert_same_as(answers, _eager(shifted, files))
    assert len(_exports(own_cache)) == 2
