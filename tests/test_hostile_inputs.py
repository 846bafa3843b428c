"""Inference under hostile input: outputs that must not be replaced, interrupted writes, failed commands, the
caller's model, memory bounded by the image, 48-bit PNGs, strict flags, file names that would drive a terminal,
and every error a user meets is one of ours, naming the input and the fix.

Everything runs for real: real files, FIFOs and /dev/null, real processes for the signals."""

from __future__ import annotations

import copy
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps
from test_cli import in_process

import dkl_zoo
from dkl_zoo.errors import DklZooError, ImageReadError, InvalidArgumentError, ModelOutputError
from dkl_zoo.examples import example_images
from helpers import ROOT, python_env, tiny_entry
from helpers.png16 import write_png16

NAME = "ikl-at-fmnist-wrn10-1"
CIFAR = "ikl-at-cifar10-wrn34"


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return dkl_zoo.load(NAME)


def _fingerprint(module: torch.nn.Module) -> tuple:
    """What the caller owns: every tensor's values, device, dtype and layout, the mode, and the hooks."""
    tensors = tuple(
        (k, v.device.type, v.dtype, v.is_contiguous(), v.detach().cpu().clone()) for k, v in module.state_dict().items()
    )
    hooks = tuple(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in module.modules())
    return tensors, module.training, hooks


def _same(a: tuple, b: tuple) -> bool:
    (ta, mode_a, hooks_a), (tb, mode_b, hooks_b) = a, b
    return (
        (mode_a, hooks_a) == (mode_b, hooks_b)
        and len(ta) == len(tb)
        and all(x[:4] == y[:4] and torch.equal(x[4], y[4]) for x, y in zip(ta, tb))
    )


def _dkl_zoo(*args: str, cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dkl_zoo", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=python_env({"HF_HUB_OFFLINE": "1"}),
    )


# 1-2. Outputs that are not regular files, and read-only outputs, are refused by name and left as they were.


def test_export_refuses_dev_null_a_fifo_and_a_read_only_file(tmp_path):
    fifo = tmp_path / "pipe.onnx"
    os.mkfifo(fifo)
    locked = tmp_path / "locked.pt"
    locked.write_bytes(b"keep me")
    locked.chmod(0o444)
    for target, words in (("/dev/null", "not a regular file"), (fifo, "not a regular file"), (locked, "read-only")):
        with pytest.raises(InvalidArgumentError, match=words) as caught:
            dkl_zoo.export(NAME, target, format="torchscript")
        assert str(target) in str(caught.value)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert locked.read_bytes() == b"keep me" and sorted(p.name for p in tmp_path.iterdir()) == [
        "locked.pt",
        "pipe.onnx",
    ]


def test_every_writer_refuses_what_it_must_not_replace(tmp_path):
    from dkl_zoo._atomic import atomic_write_text
    from dkl_zoo.adversarial import save_png

    locked = tmp_path / "locked.json"
    locked.write_text("{}")
    locked.chmod(0o444)
    image = torch.zeros(1, 4, 4)
    for write in (lambda p: atomic_write_text(p, "x"), lambda p: save_png(image, p)):
        for target in ("/dev/null", locked, tmp_path):
            with pytest.raises(InvalidArgumentError):
                write(target)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode) and locked.read_text() == "{}"


@pytest.mark.parametrize("target", ["/dev/null", "read-only", "fifo"])
def test_predict_out_refuses_them_before_any_work(tmp_path, capsys, target):
    path = {"/dev/null": Path("/dev/null"), "read-only": tmp_path / "r.json", "fifo": tmp_path / "p.json"}[target]
    if target == "read-only":
        path.write_text("[]")
        path.chmod(0o444)
    elif target == "fifo":
        os.mkfifo(path)
    done = in_process(capsys, "predict", NAME, str(example_images()[0].path), "--out", str(path), "--quiet")
    assert done.returncode == 2 and str(path) in done.stderr
    assert ("read-only" if target == "read-only" else "not a regular file") in done.stderr
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    if target == "read-only":
        assert path.read_text() == "[]"


def test_a_symlinked_output_is_written_through_to_its_target(tmp_path, capsys):
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    done = in_process(
        capsys, "predict", NAME, str(example_images()[0].path), "--format", "json", "--out", str(link), "--quiet"
    )
    assert done.returncode == 0 and link.is_symlink()
    assert json.loads(real.read_text())[0]["label"]


# 3. Interrupted writes leave nothing behind, and the target as it was.


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_an_interrupted_predict_out_leaves_no_temporary_file_and_the_old_output(tmp_path, how):
    images = tmp_path / "images"
    images.mkdir()
    for i in range(20000):  # links: many files cheaply, so that the signal lands while predicting on any machine
        (images / f"{i:05d}.png").symlink_to(example_images()[i % 10].path)
    out = tmp_path / "out" / "predictions.json"
    out.parent.mkdir()
    out.write_text("the previous run's output\n")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dkl_zoo",
            "predict",
            NAME,
            str(images),
            "--format",
            "json",
            "--out",
            str(out),
            "--batch-size",
            "1",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=python_env(),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    _signal_once_writing(process, out.parent, how)
    _, rest = process.communicate(timeout=60)
    assert process.returncode == (143 if how == signal.SIGTERM else 130), rest
    assert sorted(p.name for p in out.parent.iterdir()) == ["predictions.json"]
    assert out.read_text() == "the previous run's output\n"


def _signal_once_writing(process: subprocess.Popen, folder: Path, how: int) -> None:
    """Send ``how`` once the command's temporary file is in ``folder``: the signal lands mid-write."""
    deadline = time.monotonic() + 120
    while not any(p.name.startswith(".") for p in folder.iterdir()):
        assert process.poll() is None and time.monotonic() < deadline, "the command never started writing"
        time.sleep(0.01)
    process.send_signal(how)


def test_a_terminated_export_leaves_no_temporary_file(tmp_path):
    out = tmp_path / "model.onnx"
    process = _dkl_zoo("export", NAME, "--out", str(out))
    _signal_once_writing(process, tmp_path, signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 143 and err.strip().endswith("terminated"), err
    assert list(tmp_path.iterdir()) == []


def test_an_interrupt_wrapped_by_torch_export_stays_an_interrupt(tmp_path):
    class Interrupts(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 10, 28)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise KeyboardInterrupt  # as a Ctrl-C in the middle of tracing

    model = Interrupts().eval()
    from dkl_zoo import _model_fit

    _model_fit._FITTED.setdefault(model, set()).add(NAME)  # it fits: only its export is interrupted
    with pytest.raises(KeyboardInterrupt):
        dkl_zoo.export(model, tmp_path / "m.pt2", format="exported-program", entry=NAME)
    assert list(tmp_path.iterdir()) == []


def test_the_command_reads_a_wrapped_interrupt_as_ctrl_c(capsys, monkeypatch):
    from dkl_zoo.cli import export as export_verb

    def wrapped(args):  # what torch.export does with a Ctrl-C in its tracer
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as interrupt:
            raise RuntimeError("torch._dynamo failed") from interrupt

    monkeypatch.setattr(export_verb, "run_export", wrapped)
    done = in_process(capsys, "export", NAME, "--out", "/tmp/never-written.pt2")
    assert done.returncode == 130 and done.stderr.strip() == "interrupted"


# 4. A failed command leaves no folder it made.


@pytest.mark.parametrize(
    "args",
    [
        ("predict", "no-such-model", "{image}", "--out", "{out}"),
        ("predict", NAME, "{missing}", "--out", "{out}"),
        ("attack", NAME, "{image}", "--target", "no-such-class", "--out", "{out}.png", "--attack", "pgd"),
        ("export", NAME, "--format", "onnx", "--out", "{out}.onnx", "--static-batch", "--format", "nonsense"),
    ],
    ids=["unknown-model", "missing-input", "bad-target", "bad-format"],
)
def test_a_failed_command_leaves_no_folder(tmp_path, capsys, args):
    out = tmp_path / "new" / "deeper" / "result"
    filled = [a.format(image=example_images()[0].path, out=out, missing=tmp_path / "nothing.png") for a in args]
    try:
        done = in_process(capsys, *filled)
    except SystemExit:
        pass
    else:
        assert done.returncode in (1, 2)
    assert not (tmp_path / "new").exists()


def test_the_folder_of_a_successful_output_is_made(tmp_path, capsys):
    out = tmp_path / "new" / "deeper" / "p.csv"
    assert (
        in_process(
            capsys, "predict", NAME, str(example_images()[0].path), "--format", "csv", "--out", str(out), "--quiet"
        ).returncode
        == 0
    )
    assert out.read_text().startswith("path,")


# 5. The caller's model is never changed.


def test_no_public_function_changes_the_callers_model(model, tmp_path):
    before = _fingerprint(model)
    image = example_images()[0].path
    with pytest.raises(InvalidArgumentError, match="meta"):
        dkl_zoo.predict(model, image, device="meta", progress=False)
    dkl_zoo.predict(model, image, device="cpu", progress=False)
    dkl_zoo.attack_image(model, image, attack="pgd", steps=2)
    dkl_zoo.export(model, tmp_path / "m.pt", format="torchscript")
    assert _same(before, _fingerprint(model))
    training = copy.deepcopy(model).train()
    snapshot = _fingerprint(training)
    dkl_zoo.export(training, tmp_path / "t.pt", format="torchscript", entry=NAME)
    assert _same(snapshot, _fingerprint(training)) and training.training  # exported in eval mode, from a copy
    with pytest.warns(RuntimeWarning, match="training mode"):  # each forward pass would move its batch-norm statistics
        dkl_zoo.predict(training, [image, image], progress=False)
    with pytest.warns(RuntimeWarning, match="training mode"):
        dkl_zoo.attack_image(training, image, attack="pgd", steps=1)
    with pytest.warns(RuntimeWarning, match="training mode"):
        dkl_zoo.evaluate(
            training,
            dataset="fashion-mnist",
            eps=0.1,
            n_examples=2,
            version="custom",
            attacks=["apgd-ce"],
            batch_size=2,
            progress=False,
            channels_last=False,
            data=(torch.rand(2, 1, 28, 28), torch.tensor([0, 1])),
        )
    assert _same(snapshot, _fingerprint(training))


# 6. Memory is bounded by the input and the output, not by the image's shape.


def test_a_1_by_200000_strip_is_transformed_in_bounded_memory(tmp_path):
    strip = tmp_path / "strip.png"
    Image.fromarray((np.arange(200000) % 256).astype(np.uint8)[None]).save(strip)
    code = (
        "import resource, dkl_zoo, torch; t = dkl_zoo.model_info('ikl-at-fmnist-wrn10-1').transforms();"
        "t(torch.zeros(1, 30, 30)); before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss;"
        f"x = t({str(strip)!r}); after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss;"
        "print(tuple(x.shape), (after - before) // 1024)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=python_env(),
    )
    shape, grown_mb = done.stdout.split(") ")
    assert shape == "(1, 28, 28" and int(grown_mb) < 64, done.stdout + done.stderr  # it took 626 MB


@pytest.mark.parametrize("size", [(1, 300), (5, 7), (20, 27), (3, 3), (2, 1000), (13, 200), (40, 33), (300, 2)])
def test_enlarging_computes_what_resize_then_crop_computes(size):
    from dkl_zoo.transforms import _resize_cover

    x = torch.rand((3, *size), generator=torch.Generator().manual_seed(sum(size)))
    for height, width in ((28, 28), (32, 32)):
        h, w = size
        scale = max(height / h, width / w)
        new_h, new_w = max(height, round(h * scale)), max(width, round(w * scale))
        full = torch.nn.functional.interpolate(
            x[None], size=(new_h, new_w), mode="bilinear", align_corners=False, antialias=True
        )[0].clamp(0, 1)
        top, left = (new_h - height) // 2, (new_w - width) // 2
        expected = full[:, top : top + height, left : left + width]
        # PyTorch computes its sample centres in float32: at 1:14 enlargement they drift by about 2e-5
        assert torch.allclose(_resize_cover(x, height, width), expected, rtol=0, atol=5e-5)


# 10. A 48-bit PNG keeps its depth.


def test_a_48_bit_png_is_read_at_full_depth_and_upright(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 65536, size=(5, 7, 3), dtype=np.uint16)
    from dkl_zoo.transforms import to_tensor_image

    exact = to_tensor_image(write_png16(tmp_path / "deep.png", pixels))
    assert torch.equal(exact, torch.from_numpy(pixels.transpose(2, 0, 1).astype(np.float32)) / 65535.0)
    for orientation in range(1, 9):
        path = write_png16(tmp_path / f"o{orientation}.png", pixels, exif_orientation=orientation)
        upright = ImageOps.exif_transpose(Image.open(path).convert("RGB"))  # Pillow: 8 bits, turned
        reference = torch.from_numpy(np.asarray(upright).transpose(2, 0, 1).astype(np.int64))
        assert torch.equal((to_tensor_image(path) * 65535).round().long() >> 8, reference), orientation


def test_without_torchvision_a_48_bit_png_is_read_at_8_bits_and_said_once(tmp_path):
    pixels = np.full((4, 4, 3), 40000, dtype=np.uint16)
    path = write_png16(tmp_path / "deep.png", pixels)
    code = (
        "import sys, warnings; sys.modules['torchvision'] = None; sys.modules['torchvision.io'] = None\n"
        "from dkl_zoo.transforms import to_tensor_image\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        f"    a = to_tensor_image({str(path)!r}); b = to_tensor_image({str(path)!r})\n"
        "print(len(caught), round(float(a.max()) * 255, 3), '8 bits' in str(caught[0].message))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=python_env(),
    )
    assert done.stdout.split() == ["1", str(float(40000 >> 8)), "True"], done.stdout + done.stderr


# 11. Boolean keywords take True or False only.


def test_truthy_strings_are_not_booleans(model, tmp_path):
    with pytest.raises(InvalidArgumentError, match="dynamic_batch must be True or False, got 'no'"):
        dkl_zoo.export(model, tmp_path / "m.onnx", dynamic_batch="no")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="progress must be True or False"):
        dkl_zoo.predict(model, example_images()[0].path, progress="no")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="progress must be True or False"):
        dkl_zoo.load(NAME, progress=1)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="channels_last must be True or False"):
        dkl_zoo.evaluate(
            model,
            channels_last="no",
            data=(torch.rand(2, 1, 28, 28), torch.tensor([0, 1])),  # type: ignore[arg-type]
            n_examples=2,
        )
    from dkl_zoo.demo import serve

    with pytest.raises(InvalidArgumentError, match="share must be True or False"):
        serve(share="no")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


# 12. File names cannot drive the terminal.


def test_names_with_escape_sequences_are_printed_escaped_and_kept_exact_in_json(tmp_path, capsys):
    name = "evil\x1b[2J\x1b]0;owned\x07.png"
    image = tmp_path / name
    image.write_bytes(example_images()[0].path.read_bytes())
    table = in_process(capsys, "predict", NAME, str(image), "--quiet")
    assert table.returncode == 0 and "\x1b" not in table.stdout and "\\x1b[2J" in table.stdout
    as_json = in_process(capsys, "predict", NAME, str(image), "--format", "json", "--quiet")
    assert json.loads(as_json.stdout)[0]["path"] == str(image)
    missing = in_process(capsys, "predict", NAME, str(tmp_path / ("gone\x1b[31m.png")), "--quiet")
    assert missing.returncode == 2 and "\x1b" not in missing.stderr and "\\x1b[31m" in missing.stderr


# Every error a user meets is ours.


def test_one_bad_file_does_not_sink_a_folder(tmp_path, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    for example in example_images()[:3]:
        (folder / example.path.name).write_bytes(example.path.read_bytes())
    Image.fromarray(np.full((28, 28), 3.5, dtype=np.float32), mode="F").save(folder / "bright.tif")
    (folder / "loop.png").symlink_to(folder / "loop.png")
    out = tmp_path / "p.json"
    done = in_process(capsys, "predict", NAME, str(folder), "--format", "json", "--out", str(out), "--quiet")
    assert done.returncode == 1
    rows = {Path(row["path"]).name: row for row in json.loads(out.read_text())}
    assert len(rows) == 5 and sum("label" in row for row in rows.values()) == 3
    assert "values up to 3.5" in rows["bright.tif"]["error"]
    assert "loops" in rows["loop.png"]["error"]


def test_a_device_file_is_refused_unread_and_a_missing_file_named():
    started = time.monotonic()
    with pytest.raises(ImageReadError, match="not a regular file"):
        dkl_zoo.model_info(NAME).transforms()("/dev/zero")
    assert time.monotonic() - started < 5  # not read to its (missing) end
    with pytest.raises(InvalidArgumentError, match="empty"):
        dkl_zoo.model_info(NAME).transforms()("")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_any_floating_batch_is_computed_in_the_models_dtype(model, dtype):
    batch = torch.stack([dkl_zoo.model_info(NAME).transforms()(e.path) for e in example_images()])
    expected = [p.index for p in dkl_zoo.predict(model, batch, progress=False)]
    assert [p.index for p in dkl_zoo.predict(model, batch.to(dtype), progress=False)] == expected


@pytest.mark.parametrize(
    "batch, words",
    [
        (torch.zeros(0, 1, 28, 28), "no pixels"),
        (torch.zeros(2, 1, 28, 28, device="meta"), "meta device"),
        (torch.zeros(1, 0, 28), "no pixels"),
    ],
    ids=["empty-batch", "meta-batch", "zero-size-image"],
)
def test_empty_and_meta_tensors_are_ours(model, batch, words):
    with pytest.raises(InvalidArgumentError, match=words):
        dkl_zoo.predict(model, batch, progress=False)


def test_a_model_of_another_entry_is_refused_with_the_entry_it_fits(model, tmp_path):
    for call in (
        lambda: dkl_zoo.predict(model, example_images()[0].path, entry=CIFAR, progress=False),
        lambda: dkl_zoo.attack_image(model, example_images()[0].path, entry=CIFAR, attack="pgd"),
        lambda: dkl_zoo.export(model, tmp_path / "m.pt", format="torchscript", entry=CIFAR),
    ):
        with pytest.raises(InvalidArgumentError, match="does not take ikl-at-cifar10-wrn34's input") as caught:
            call()
        assert "it fits ikl-at-fmnist-wrn10-1" in str(caught.value)
    hundred = dkl_zoo.load(tiny_entry("ikl-at-cifar100-wrn34"), pretrained=False)
    with pytest.raises(ModelOutputError, match="not B×10 logits.*it fits .*ikl-at-cifar100-wrn34"):
        dkl_zoo.predict(hundred, torch.rand(1, 3, 32, 32), entry=CIFAR, progress=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"target": "²"}, "unknown target class"),
        ({"top_k": 0}, "top_k must be a positive integer"),
        ({"top_k": -1}, "top_k must be a positive integer"),
        ({"target": 1.5}, "target must be a class name or an index"),
        ({"device": "xpu"}, "'xpu' is not available here"),
        ({"device": "hpu"}, "'hpu' is not available here"),
        ({"device": "meta"}, "holds shapes, not values"),
    ],
)
def test_attack_image_arguments_are_refused_in_our_words(model, kwargs, words):
    with pytest.raises(InvalidArgumentError, match=words):
        dkl_zoo.attack_image(model, example_images()[0].path, attack="pgd", steps=1, **kwargs)


def test_attack_checks_the_figure_ending_before_attacking(tmp_path, capsys):
    started = time.monotonic()
    done = in_process(
        capsys, "attack", NAME, str(example_images()[0].path), "--steps", "100000", "--out", str(tmp_path / "f.xyz")
    )
    assert done.returncode == 2 and "ending names no image format" in done.stderr
    assert time.monotonic() - started < 30 and list(tmp_path.iterdir()) == []


def test_training_out_under_a_regular_file_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "training.train",
            "--config",
            str(ROOT / "training" / "configs" / "ikl-at-fmnist-wrn10-1.yaml"),
            "--out",
            str(blocker / "run"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=python_env(),
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "a file of that name is in the way" in done.stderr


def test_forget_original_of_a_shipped_entry_says_there_is_none(capsys):
    done = in_process(capsys, "forget-original", NAME)
    assert done.returncode == 0 and "ships inside the dkl_zoo package" in done.stdout
    assert "no downloaded original file to forget" in done.stdout


def test_every_public_function_stays_the_function_after_every_submodule_is_imported():
    import importlib
    import inspect
    import pkgutil

    for module in pkgutil.walk_packages(dkl_zoo.__path__, "dkl_zoo."):
        if not module.name.startswith("dkl_zoo.cli.maintainers") and module.name != "dkl_zoo.__main__":
            importlib.import_module(module.name)
    for name in dkl_zoo.__all__:
        value = getattr(dkl_zoo, name)
        assert not inspect.ismodule(value), f"dkl_zoo.{name} is a module, not the public {name}"
    assert callable(dkl_zoo.attack_figure) and dkl_zoo.attack_figure.__module__ == "dkl_zoo.figure"
    dkl_zoo.attack_figure([dkl_zoo.attack_image(NAME, example_images()[0].path, attack="pgd", steps=1)])
    dkl_zoo.attack_figure([dkl_zoo.attack_image(NAME, example_images()[0].path, attack="pgd", steps=1)])


def test_errors_are_all_ours_for_a_sample_of_bad_arguments(model):
    for call in (
        lambda: dkl_zoo.predict(model, example_images()[0].path, entry=3),  # type: ignore[arg-type]
        lambda: dkl_zoo.predict(model, example_images()[0].path, batch_size=True),  # type: ignore[arg-type]
        lambda: dkl_zoo.predict(model, example_images()[0].path, device="xpu", progress=False),
    ):
        with pytest.raises(DklZooError):
            call()


def test_one_device_rule_for_every_function():
    """device=None: where the model's weights are (a registry name: the CPU), for every use case alike."""
    import inspect

    from dkl_zoo._devices import run_device

    for function in (dkl_zoo.predict, dkl_zoo.predict_iter, dkl_zoo.attack_image, dkl_zoo.evaluate, dkl_zoo.verify):
        assert inspect.signature(function).parameters["device"].default is None, function.__name__
    buffers_only = torch.nn.BatchNorm2d(3, affine=False).to(torch.float64)
    assert run_device(buffers_only, None) == torch.device("cpu") == run_device(None, None)
    assert run_device(torch.nn.Linear(2, 2), "cpu") == torch.device("cpu")
    with pytest.raises(InvalidArgumentError, match="meta device"):
        run_device(torch.nn.Linear(2, 2, device="meta"), None)
    with pytest.raises(InvalidArgumentError, match="meta device"):
        dkl_zoo.evaluate(
            torch.nn.Linear(2, 2, device="meta"),
            data=(torch.rand(2, 3, 4, 4), torch.zeros(2).long()),
            n_examples=2,
            eps=0.1,
        )
