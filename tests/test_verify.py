"""``dkl_zoo.verify`` and ``dkl-zoo verify`` on the real Fashion-MNIST test set with the shipped models and their
shipped references: planted faults are caught (at the fingerprint, in seconds), harmless changes raise no false
alarm, references are verified like weights (shipped, and published on the Hub test server by ``dkl-zoo release``),
exported files are checked through their runtime, and the JSON, the exit codes and an interrupted run are as
documented."""

from __future__ import annotations

import copy
import json
import signal
import subprocess
import sys
import time

import pytest
import torch
from test_cli import in_process

import dkl_zoo
from dkl_zoo.errors import IntegrityError, InvalidArgumentError
from dkl_zoo.registry import get_entry
from dkl_zoo.verification import (
    Verification,
    make_reference,
    open_checkpoint,
    read_reference,
    reference_for,
    write_reference,
)
from helpers import fashion_mnist_or_skip, python_env, safetensors_bytes
from helpers.planted import Wrapped, noisy

ROBUST, STANDARD = "ikl-at-fmnist-wrn10-1", "standard-fmnist-wrn10-1"
QUICK = dict(n_robust=0, progress=False)
"""The fingerprint and the clean check only: the planted faults and the false alarms are decided there."""


@pytest.fixture(scope="module", autouse=True)
def _fashion_mnist() -> None:
    fashion_mnist_or_skip()


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return dkl_zoo.load(ROBUST)


def test_the_shipped_references_are_real_records_of_the_shipped_weights():
    for name in (ROBUST, STANDARD):
        reference, found = reference_for(get_entry(name))
        assert reference is not None, found
        assert reference.weights_sha256 == get_entry(name).weights.sha256
        assert reference.protocol.n_examples == 1000 and reference.protocol.version == "standard"
        assert reference.protocol.eps == 0.1 and reference.protocol.seed == 0 and reference.protocol.batch_size == 250
        assert reference.clean_correct.numel() == 10_000 and reference.fingerprint_logits.shape == (256, 10)
        reported = get_entry(name).headline
        assert round(100 * float(reference.clean_correct[:1000].float().mean()), 2) == reported.clean_acc
        assert round(100 * reference.robust_accuracy, 2) == reported.robust_acc


def test_the_shipped_model_is_consistent(model):
    result = dkl_zoo.verify(model, n_robust=0, progress=False)
    assert result.verdict == "consistent" and [c.verdict for c in result.checks] == [
        "consistent",
        "consistent",
        "skipped",
    ]
    assert result.check("fingerprint").numbers["max_abs_diff"] <= 1e-4
    assert result.check("clean").numbers["paired"]["lost"] == result.check("clean").numbers["paired"]["gained"] == 0


def test_the_robust_check_pairs_the_attack_with_the_reference_flags():
    # the standard model: APGD-CE breaks each image at once, so forty attacked images take seconds
    result = dkl_zoo.verify(STANDARD, n_robust=40, progress=False)
    robust = result.check("robust")
    assert result.verdict == "consistent" and robust.verdict == "consistent" and robust.images == 40
    assert robust.numbers["paired"]["n"] == 40 and robust.numbers["accuracy"] == 0.0
    assert robust.numbers["reported"] == [
        {"source": get_entry(STANDARD).headline.source, "percent": 0.0, "inside_95_interval": True}
    ]


@pytest.mark.parametrize(
    "fault, cause",
    [
        ("standard-weights", "these are the weights of standard-fmnist-wrn10-1"),
        ("minus-one-to-one", "maps [0, 1] images to [-1, 1]"),
        ("zero-to-255", "multiplies [0, 1] images by 255"),
        ("contrast", "a small change of the images"),
        ("noisy-weights", "weights changed slightly"),
        ("train-mode", "training mode"),
    ],
)
def test_each_planted_fault_is_caught_at_the_fingerprint_in_seconds(model, fault, cause):
    planted = {
        "standard-weights": lambda: dkl_zoo.load(STANDARD),
        "minus-one-to-one": lambda: Wrapped(copy.deepcopy(model), lambda x: 2 * x - 1).eval(),
        "zero-to-255": lambda: Wrapped(copy.deepcopy(model), lambda x: 255 * x).eval(),
        "contrast": lambda: Wrapped(copy.deepcopy(model), lambda x: (x - 0.5) * 0.98 + 0.5).eval(),
        "noisy-weights": lambda: noisy(model, 1e-3),
        "train-mode": lambda: copy.deepcopy(model).train(),
    }[fault]()
    started = time.monotonic()
    result = dkl_zoo.verify(planted, entry=ROBUST, progress=False)
    assert result.verdict == "inconsistent" and [c.name for c in result.checks] == ["fingerprint"]
    assert result.checks[0].images <= 32 and time.monotonic() - started < 30
    assert any(cause in text for text in result.causes), result.causes


@pytest.mark.parametrize("change", ["weights-times-1-plus-1e-7", "one-thread", "three-threads", "channels-last"])
def test_harmless_changes_raise_no_false_alarm(model, change):
    threads = torch.get_num_threads()
    subject = copy.deepcopy(model)
    if change == "weights-times-1-plus-1e-7":
        with torch.no_grad():
            for p in subject.parameters():
                p.mul_(1 + 1e-7)
    elif change == "channels-last":
        subject = subject.to(memory_format=torch.channels_last)
    else:
        torch.set_num_threads(1 if change == "one-thread" else 3)
    try:
        result = dkl_zoo.verify(subject, entry=ROBUST, **QUICK)
    finally:
        torch.set_num_threads(threads)
    assert result.verdict == "consistent", result.summary()


def test_verify_leaves_the_callers_model_as_it_was(model):
    from test_hostile_inputs import _fingerprint, _same

    training = copy.deepcopy(model).train()
    before = _fingerprint(training)
    dkl_zoo.verify(training, entry=ROBUST, **QUICK)
    assert _same(before, _fingerprint(training))


def test_a_reference_with_another_sha256_is_refused():
    entry = get_entry(ROBUST).with_weights(reference_sha256="0" * 64)
    with pytest.raises(IntegrityError):
        dkl_zoo.verify(dkl_zoo.load(ROBUST), entry=entry, **QUICK)


def test_an_entry_without_a_reference_gets_the_reported_intervals_and_says_why(model):
    entry = get_entry(ROBUST).with_weights(embedded_reference=None, reference_sha256=None)
    result = dkl_zoo.verify(model, entry=entry, n_clean=1000, n_robust=0, progress=False)
    assert [c.name for c in result.checks] == ["clean", "robust"]
    assert result.check("clean").numbers["reported"][0]["inside_95_interval"]
    assert any("no paired check was possible" in note and "without a reference record" in note for note in result.notes)
    assert result.verdict == "consistent"


def test_the_json_has_the_documented_schema(model, tmp_path):
    result = dkl_zoo.verify(model, **QUICK)
    data = json.loads(result.to_json(tmp_path / "v.json"))
    assert json.loads((tmp_path / "v.json").read_text()) == data
    assert set(data) == {
        "schema",
        "entry",
        "verdict",
        "checks",
        "causes",
        "notes",
        "reference",
        "environment",
        "seconds",
    }
    assert data["schema"] == 1 and data["verdict"] in ("consistent", "inconsistent", "inconclusive")
    for check in data["checks"]:
        assert set(check) == {"name", "verdict", "images", "seconds", "detail", "numbers"}
    assert data["environment"]["torch"] == torch.__version__ and "threads" in data["environment"]
    assert isinstance(result, Verification) and "FINGERPRINT" not in result.summary()


def test_bad_arguments_are_refused_before_any_work(model):
    for kwargs, words in (
        ({"time_limit": 0}, "time_limit"),
        ({"n_clean": 0}, "n_clean"),
        ({"seed": -1}, "seed"),
        ({"progress": "no"}, "progress"),
        ({"device": "meta"}, "meta"),
        ({"data_dir": 3}, "data_dir"),
        ({"entry": "ikl-at-cifar10-wrn34"}, "does not take ikl-at-cifar10-wrn34's input"),
    ):
        with pytest.raises(InvalidArgumentError, match=words):
            dkl_zoo.verify(model, **{"progress": False, **kwargs})


# ---- exported files -------------------------------------------------------------------------------------


def test_an_onnx_export_is_checked_through_onnxruntime_and_says_why_there_is_no_robust_check(model, tmp_path):
    path = dkl_zoo.export(model, tmp_path / "model.onnx").path
    subject = open_checkpoint(path, ROBUST)
    result = dkl_zoo.verify(subject, entry=ROBUST, progress=False)
    assert result.verdict == "consistent"
    assert [c.verdict for c in result.checks] == ["consistent", "consistent", "skipped"]
    assert "onnxruntime" in result.check("robust").detail and "gradients" in result.check("robust").detail


def test_a_torchscript_export_gets_all_three_checks(tmp_path):
    path = dkl_zoo.export(STANDARD, tmp_path / "model.bin", format="torchscript").path
    result = dkl_zoo.verify(open_checkpoint(path), entry=STANDARD, n_robust=24, progress=False)
    assert [c.verdict for c in result.checks] == ["consistent", "consistent", "consistent"]


def test_checkpoints_are_told_apart_by_content_not_ending(model, tmp_path):
    from dkl_zoo.verification import checkpoint_kind

    weights = tmp_path / "weights.onnx"  # a safetensors file with a misleading ending
    weights.write_bytes(safetensors_bytes(model))
    exported = dkl_zoo.export(model, tmp_path / "program.safetensors", format="exported-program").path
    assert checkpoint_kind(weights) == "safetensors" and checkpoint_kind(exported) == "exported-program"
    text = tmp_path / "notes.pt"
    text.write_text("not a model")
    with pytest.raises(InvalidArgumentError, match="neither a safetensors weights file nor a model"):
        checkpoint_kind(text)
    with pytest.raises(InvalidArgumentError, match="is an export of ikl-at-fmnist-wrn10-1, not of ikl-at-cifar10"):
        open_checkpoint(exported, "ikl-at-cifar10-wrn34")


# ---- the command ------------------------------------------------------------------------------------------


def test_exit_codes_consistent_inconsistent_inconclusive_usage_and_error(model, tmp_path, capsys):
    assert in_process(capsys, "verify", ROBUST, "--n-robust", "0", "--quiet").returncode == 0
    changed = tmp_path / "noisy.safetensors"
    changed.write_bytes(safetensors_bytes(noisy(model, 1e-3)))
    done = in_process(
        capsys, "verify", ROBUST, "--checkpoint", str(changed), "--quiet", "--json-out", str(tmp_path / "v.json")
    )
    assert done.returncode == 3 and "INCONSISTENT" in done.stdout and "likely cause" in done.stdout
    assert json.loads((tmp_path / "v.json").read_text())["verdict"] == "inconsistent"
    assert in_process(capsys, "verify", STANDARD, "--n-robust", "3", "--quiet").returncode == 4
    assert in_process(capsys, "verify", ROBUST, "--time-limit", "-1").returncode == 2
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(safetensors_bytes(torch.nn.Linear(2, 2)))
    failed = in_process(capsys, "verify", ROBUST, "--checkpoint", str(broken), "--quiet")
    assert failed.returncode == 1 and "StateDictMismatchError" in failed.stderr


def test_a_terminated_verify_leaves_no_file(tmp_path):
    out = tmp_path / "verify.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "dkl_zoo", "verify", ROBUST, "--n-robust", "50", "--json-out", str(out)],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=python_env(),
    )
    seen, deadline = "", time.monotonic() + 120
    while "robust check" not in seen and time.monotonic() < deadline:  # the robust check's progress: attacking now
        seen += process.stderr.read(1)
    process.send_signal(signal.SIGTERM)
    _, rest = process.communicate(timeout=120)
    assert process.returncode == 143, seen + rest
    assert list(tmp_path.iterdir()) == []


# ---- references: made from a state file, published and pinned by a release, fetched and checked ---------


def test_a_reference_is_made_from_a_finished_state_and_refused_for_other_weights(model, tmp_path):
    state = tmp_path / "run.state.json"
    dkl_zoo.evaluate(
        model,
        dataset="fashion-mnist",
        eps=0.1,
        n_examples=8,
        version="custom",
        attacks=["apgd-ce"],
        batch_size=8,
        state_path=state,
        progress=False,
        data_dir=tmp_path,
    )
    reference = make_reference(ROBUST, state, n_clean=300, data_dir=tmp_path)
    assert reference.protocol.n_examples == 8 and reference.clean_correct.numel() == 300
    path = write_reference(reference, tmp_path / "reference.safetensors")
    again = read_reference(path)
    assert torch.equal(again.fingerprint_logits, reference.fingerprint_logits) and again.header() == reference.header()
    shipped, _ = reference_for(get_entry(ROBUST))
    assert torch.equal(again.fingerprint_logits, shipped.fingerprint_logits)  # the same weights, the same images
    assert torch.equal(again.clean_correct, shipped.clean_correct[:300])
    from dkl_zoo.errors import EvaluationStateError

    with pytest.raises(EvaluationStateError, match="other weights"):
        make_reference(STANDARD, state, n_clean=300, data_dir=tmp_path)
    assert b"pickle" not in path.read_bytes()[:64]


@pytest.mark.slow
def test_release_publishes_and_pins_a_reference_and_verify_fetches_and_checks_it(drive, hub, tmp_path, monkeypatch):
    from test_release import _serve

    from dkl_zoo._pins import apply_pin, load_pins
    from dkl_zoo.maintainers.release import release
    from dkl_zoo.registry import ModelEntry
    from helpers import tiny_entry, trained_like
    from helpers.colour_data import colour_images, point_torchvision_at, write_cifar

    entry: ModelEntry = tiny_entry("ikl-at-cifar10-wrn34")
    torch.manual_seed(0)
    net = trained_like(dkl_zoo.build_model(entry))
    _serve(drive, entry, net)
    pins_path = tmp_path / "pins.json"
    release(
        [entry],
        namespace="zoo-test",
        pins_path=pins_path,
        endpoint=hub.url,
        work_dir=tmp_path / "work",
        progress=False,
        echo=lambda _: None,
    )
    import huggingface_hub.constants as constants

    import dkl_zoo._hub as hub_io

    # what HF_ENDPOINT and HF_HUB_CACHE give at import time (huggingface_hub reads them once)
    monkeypatch.setattr(hub_io, "endpoint_of", lambda endpoint: (endpoint or hub.url).rstrip("/"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    pinned = apply_pin(entry, load_pins(pins_path))
    loaded = dkl_zoo.load(pinned)
    images = colour_images(300, seed=2)
    with torch.no_grad():
        labels = loaded(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255).argmax(1).tolist()
    point_torchvision_at(monkeypatch, write_cifar(tmp_path / "data", images, labels))
    state = tmp_path / "state.json"
    dkl_zoo.evaluate(
        loaded,
        dataset="cifar10",
        eps=8 / 255,
        n_examples=6,
        version="custom",
        attacks=["apgd-ce"],
        batch_size=6,
        state_path=state,
        data_dir=tmp_path / "data",
        progress=False,
    )
    record = write_reference(make_reference(loaded, state, data_dir=tmp_path / "data"), tmp_path / "ref.safetensors")

    rows = release(
        [entry],
        namespace="zoo-test",
        pins_path=pins_path,
        endpoint=hub.url,
        work_dir=tmp_path / "work",
        progress=False,
        echo=lambda _: None,
        references=[record],
    )
    pin = load_pins(pins_path)[entry.name]
    assert rows[0].action == "reference published" and pin.reference_sha256 is not None
    assert "reference.safetensors" in hub.files(pin.repo_id, pin.revision)
    pinned = apply_pin(entry, load_pins(pins_path))
    result = dkl_zoo.verify(loaded, entry=pinned, data_dir=tmp_path / "data", n_robust=6, progress=False)
    assert result.checks[0].name == "fingerprint" and result.checks[0].verdict == "consistent"
    assert result.check("robust").numbers["paired"]["n"] == 6
    assert "reference.safetensors" in (result.reference or "")

    # another file at the pinned path: refused, and the cache heals (the next call fetches it again)
    hub.substitute["reference.safetensors"] = b"\x08" + bytes(200)
    fresh = tmp_path / "fresh-cache"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(fresh))
    with pytest.raises(IntegrityError):
        dkl_zoo.verify(loaded, entry=pinned, data_dir=tmp_path / "data", n_robust=0, progress=False)
    hub.substitute.clear()
    assert (
        dkl_zoo.verify(loaded, entry=pinned, data_dir=tmp_path / "data", n_robust=0, progress=False).checks[0].verdict
        == "consistent"
    )
