"""The chain of verification under attack: planted cache entries, bad servers, stale state files, planted
checkpoints, and bad input refused before any slow work. Real huggingface_hub client, real HTTP server on
127.0.0.1, real safetensors files, the real training CLI; nothing of ours is mocked."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import save

import dkl_zoo
from dkl_zoo import settings
from dkl_zoo.cli import main as cli_main
from dkl_zoo.errors import (
    DownloadError,
    DownloadTimeoutError,
    EvaluationStateError,
    IntegrityError,
    InvalidArgumentError,
    OfflineError,
    UnsafeCheckpointError,
    WeightsFormatError,
)
from dkl_zoo.evaluation import evaluate
from training.config import ConfigError, load_config
from training.train import main as train_main

from conftest import ROOT, safetensors_bytes, tiny_entry, trained_like
from evalkit import ColourClassifier

X = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
CONFIGS = ROOT / "training" / "configs"
FAST = dict(version="custom", attacks=["apgd-ce"], progress=False)


def _cache_entries(cache_dir: Path) -> tuple[list[Path], list[Path]]:
    blobs = [p for p in cache_dir.rglob("blobs/*")]
    links = [p for p in cache_dir.rglob("snapshots/*/model.safetensors")]
    return blobs, links


def _other_weights(entry, seed: int) -> bytes:
    return safetensors_bytes(trained_like(dkl_zoo.build_model(entry), seed=seed))


# ---- 3. unpinned loads check against what the Hub said, remembered beside the cache ----------------------

@pytest.mark.parametrize("how", ["offline", "online", "force_download"])
def test_repointed_snapshot_link_is_refused_in_every_mode_then_healed(hub, published, cache_dir, how):
    """Another weights file stored under its own sha256, the snapshot link re-pointed at it: refused."""
    entry, reference, _ = published
    dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir)
    (good_blob,), (link,) = _cache_entries(cache_dir)
    planted = _other_weights(entry, seed=9)
    fake_blob = good_blob.parent / hashlib.sha256(planted).hexdigest()
    fake_blob.write_bytes(planted)
    link.unlink()
    link.symlink_to(os.path.relpath(fake_blob, link.parent))
    kwargs = {"offline": {"local_files_only": True}, "online": {}, "force_download": {"force_download": True}}[how]
    with pytest.raises(IntegrityError) as info:
        dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir, **kwargs)
    assert info.value.expected == good_blob.name  # what the Hub reported, not the planted blob's own name
    assert info.value.got == fake_blob.name
    assert not fake_blob.exists() and not link.is_symlink()  # removed before the error was raised
    model = dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir)
    assert torch.equal(model(X), reference(X))


def test_offline_load_without_a_recorded_hub_hash_is_refused(hub, published, cache_dir):
    entry, _, _ = published
    dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir)
    for record in cache_dir.rglob("dkl_zoo-hashes/*/*.json"):
        record.unlink()
    with pytest.raises(IntegrityError, match="No hash reported by the Hub was recorded"):
        dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir, local_files_only=True)
    model = dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir)  # online: the record is written again
    assert not model.training and list(cache_dir.rglob("dkl_zoo-hashes/*/*.json"))


# ---- 4. a bad download never poisons the cache ------------------------------------------------------------

def test_wrong_bytes_under_the_good_hash_are_removed_and_the_next_load_heals(hub, published, cache_dir):
    entry, reference, _ = published
    good = hub.files(entry.repo_id)["model.safetensors"]
    hub.replace_body["model.safetensors"] = good[:-1] + bytes([good[-1] ^ 0xFF])  # same size
    with pytest.raises(IntegrityError):
        dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir)
    assert _cache_entries(cache_dir) == ([], [])
    hub.replace_body.clear()
    model = dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir)
    assert torch.equal(model(X), reference(X))


def test_pinned_entry_from_a_mirror_serving_other_bytes_with_their_own_hash(hub, published, cache_dir):
    entry, reference, sha = published
    good = hub.files(entry.repo_id)["model.safetensors"]
    pinned = entry.with_weights(revision=sha, sha256=hashlib.sha256(good).hexdigest())
    hub.substitute["model.safetensors"] = _other_weights(entry, seed=4)
    for kwargs in ({}, {"force_download": True}):
        with pytest.raises(IntegrityError) as info:
            dkl_zoo.load(pinned, endpoint=hub.url, cache_dir=cache_dir, **kwargs)
        assert info.value.expected == pinned.weights.sha256
        assert _cache_entries(cache_dir) == ([], [])
    hub.substitute.clear()  # the mirror is repaired: a plain load now succeeds, nothing to clean by hand
    model = dkl_zoo.load(pinned, endpoint=hub.url, cache_dir=cache_dir)
    assert torch.equal(model(X), reference(X))


def test_html_page_instead_of_the_file_is_a_download_error_and_nothing_is_kept(hub, published, cache_dir):
    entry, _, _ = published
    hub.replace_body["model.safetensors"] = b"<!doctype html><html><title>Sign in</title></html>"
    with pytest.raises(DownloadError, match="did not send the file"):
        dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir)
    assert _cache_entries(cache_dir) == ([], [])
    assert not list(cache_dir.rglob("*.incomplete"))


def test_broken_safetensors_header_is_a_weights_format_error(hub, cache_dir):
    entry = tiny_entry()
    hub.add_repo(entry.repo_id, {"model.safetensors": b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all"})
    with pytest.raises(WeightsFormatError, match="not a readable safetensors file"):
        dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir)


# ---- 5. a total download deadline ---------------------------------------------------------------------------

def test_trickling_server_hits_the_download_deadline(hub, published, cache_dir, monkeypatch):
    entry, _, _ = published
    monkeypatch.setenv("DKL_ZOO_DOWNLOAD_TIMEOUT", "1.5")
    hub.trickle_seconds = 0.2  # one byte every 0.2 s: huggingface_hub's 10 s read timeout never fires
    hub.trickle_budget = 8.0  # without a deadline the server gives up first, and the test fails instead of hanging
    started = time.monotonic()
    with pytest.raises(DownloadTimeoutError, match="longer than 1.5 s"):
        dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir)
    assert time.monotonic() - started < hub.trickle_budget  # the deadline ended it, not the server
    assert _cache_entries(cache_dir) == ([], []) and not list(cache_dir.rglob("*.incomplete"))


@pytest.mark.parametrize("value", ["0", "-3", "soon", "nan"])
def test_bad_download_timeout_is_refused_before_any_request(hub, published, cache_dir, monkeypatch, value):
    entry, _, _ = published
    monkeypatch.setenv("DKL_ZOO_DOWNLOAD_TIMEOUT", value)
    with pytest.raises(InvalidArgumentError, match="DKL_ZOO_DOWNLOAD_TIMEOUT"):
        dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir)
    assert hub.requests == []


CTRL_C_SCRIPT = """
import dataclasses, signal, dkl_zoo
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, even when started from a background job
from dkl_zoo.registry import get_entry
entry = get_entry("ikl-at-cifar10-wrn34")
entry = entry.with_arch(kwargs={**entry.arch.kwargs, "depth": 10, "widen_factor": 1})
try:
    dkl_zoo.load(entry)
except KeyboardInterrupt:
    print("INTERRUPTED", flush=True)
"""


def test_ctrl_c_during_a_stalled_download_exits_at_once(hub, published, cache_dir):
    hub.trickle_seconds = 0.5
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_ENDPOINT": hub.url, "HF_HUB_CACHE": str(cache_dir)}
    process = subprocess.Popen([sys.executable, "-c", CTRL_C_SCRIPT], env=env, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while hub.count("GET", "/resolve/") == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hub.count("GET", "/resolve/") == 1, "the download never started"
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=10)  # a hang here fails the test
    assert "INTERRUPTED" in out


# ---- 6. the rest: one clear error of ours, before slow work ----------------------------------------------

def test_bad_namespace_names_the_variable_and_asks_nothing(hub, cache_dir, monkeypatch):
    monkeypatch.setenv("DKL_ZOO_NAMESPACE", "my org!")
    with pytest.raises(InvalidArgumentError, match="DKL_ZOO_NAMESPACE='my org!'"):
        dkl_zoo.load(tiny_entry(), endpoint=hub.url, cache_dir=cache_dir)
    assert hub.requests == []


@pytest.mark.parametrize("stored", [torch.float16, torch.float64, torch.bfloat16])
def test_weights_in_another_float_precision_are_cast(hub, cache_dir, stored):
    entry = tiny_entry()
    reference = trained_like(dkl_zoo.build_model(entry))
    tensors = {k: (v.to(stored) if v.is_floating_point() else v) for k, v in reference.state_dict().items()}
    hub.add_repo(entry.repo_id, {"model.safetensors": save(tensors)})
    model = dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir)
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    expected = trained_like(dkl_zoo.build_model(entry))
    expected.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in tensors.items()})
    assert torch.equal(model(X), expected(X))
    as64 = dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir, dtype=torch.float64)
    assert {p.dtype for p in as64.parameters()} == {torch.float64}


@pytest.mark.parametrize("key_kind", ["weight as int", "counter as float"])
def test_tensors_of_the_wrong_kind_are_refused_by_name(hub, cache_dir, key_kind):
    entry = tiny_entry()
    tensors = dict(trained_like(dkl_zoo.build_model(entry)).state_dict())
    if key_kind == "weight as int":
        tensors["conv1.weight"] = tensors["conv1.weight"].to(torch.int32)
        key = "conv1.weight"
    else:
        tensors["bn1.num_batches_tracked"] = tensors["bn1.num_batches_tracked"].double()
        key = "bn1.num_batches_tracked"
    hub.add_repo(entry.repo_id, {"model.safetensors": save({k: v.contiguous() for k, v in tensors.items()})})
    with pytest.raises(WeightsFormatError, match=key.replace(".", r"\.")):
        dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir)


def _zoo_cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv(settings.CACHE_ENV, str(tmp_path / "zoo-cache"))
    return tmp_path / "zoo-cache" / "original"


@pytest.mark.parametrize("record", ["{not json", '{"source": "README Google Drive x"}', '["a"]',
                                    '{"source": "README", "weights_sha256": "../../etc/passwd"}'])
def test_corrupt_original_record_is_removed_not_a_raw_error(tmp_path, monkeypatch, record):
    entry = tiny_entry()
    folder = _zoo_cache(tmp_path, monkeypatch) / entry.name
    folder.mkdir(parents=True)
    (folder / "record.json").write_text(record)
    with pytest.warns(UserWarning, match="corrupt record"):
        with pytest.raises(OfflineError):
            dkl_zoo.load(entry, endpoint="http://127.0.0.1:9")
    assert not (folder / "record.json").exists()


def test_original_record_cannot_override_the_registry_pin(tmp_path, monkeypatch):
    entry = tiny_entry()
    good = _other_weights(entry, seed=1)
    pinned = entry.with_weights(sha256=hashlib.sha256(good).hexdigest())
    planted = _other_weights(entry, seed=2)
    planted_sha = hashlib.sha256(planted).hexdigest()
    folder = _zoo_cache(tmp_path, monkeypatch) / entry.name
    (folder / planted_sha).mkdir(parents=True)
    (folder / planted_sha / "model.safetensors").write_bytes(planted)
    record = {"source": "README Google Drive x", "weights": f"{planted_sha}/model.safetensors",
              "weights_sha256": planted_sha}
    (folder / "record.json").write_text(json.dumps(record))
    with pytest.raises(OfflineError):  # the planted file is never found under the pinned hash
        dkl_zoo.load(pinned, endpoint="http://127.0.0.1:9")
    (folder / pinned.weights.sha256).mkdir()
    (folder / pinned.weights.sha256 / "model.safetensors").write_bytes(planted)  # planted under the pinned name too
    with pytest.warns(UserWarning):
        with pytest.raises(IntegrityError) as info:
            dkl_zoo.load(pinned, endpoint="http://127.0.0.1:9")
    assert info.value.expected == pinned.weights.sha256 and info.value.got == planted_sha
    assert not (folder / pinned.weights.sha256 / "model.safetensors").exists() and not (folder / "record.json").exists()


def test_zip_bomb_is_refused_from_its_declared_sizes(tmp_path):
    from dkl_zoo.convert import load_original

    bomb = tmp_path / "bomb.pt"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("archive/data.pkl", "w", force_zip64=True) as member:
            zeros = bytes(1 << 20)
            for _ in range(64):
                member.write(zeros)
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(UnsafeCheckpointError, match="zip bomb"):
        load_original(bomb)


# ---- 1. evaluation state files belong to one model, one data set, one set of settings -----------------------

@pytest.fixture()
def colour_xy():
    from evalkit import colour_set

    return colour_set(16, seed=1)


def test_state_of_another_model_is_refused_and_left_untouched(colour_xy, tmp_path):
    model, x, y = colour_xy
    state = tmp_path / "state.json"
    evaluate(model, data=(x, y), n_examples=16, batch_size=16, state_path=state, **FAST)
    before = state.read_bytes()
    other = ColourClassifier(seed=1)  # same architecture, other weights
    with pytest.raises(EvaluationStateError, match=r"differs in: model\)") as info:
        evaluate(other, data=(x, y), n_examples=16, batch_size=16, state_path=state, **FAST)
    assert info.value.differing == ["model"]
    assert state.read_bytes() == before
    with pytest.raises(EvaluationStateError, match=r"differs in: data\)") as info:
        evaluate(model, data=(x.flip(0), y.flip(0)), n_examples=16, batch_size=16, state_path=state, **FAST)
    assert info.value.differing == ["data"]
    assert state.read_bytes() == before


@pytest.mark.parametrize("field, value, message", [
    ("clean_flags", [True] * 15, "clean_flags must be a list of 16 booleans"),
    ("flags", [1] * 16, "flags must be a list of 16 booleans"),
    ("flags", "all", "flags must be a list of 16 booleans"),
    ("attack_index", 7, "attack_index"),
    ("batches_done", -1, "batches_done"),
    ("robust_after", {"apgd-ce": 99}, "robust_after"),
])
def test_inconsistent_state_contents_are_refused(colour_xy, tmp_path, field, value, message):
    model, x, y = colour_xy
    state = tmp_path / "state.json"
    evaluate(model, data=(x, y), n_examples=16, batch_size=16, state_path=state, **FAST)
    data = json.loads(state.read_text())
    data[field] = value
    state.write_text(json.dumps(data))
    before = state.read_bytes()
    with pytest.raises(EvaluationStateError, match=message):
        evaluate(model, data=(x, y), n_examples=16, batch_size=16, state_path=state, **FAST)
    assert state.read_bytes() == before


def test_robust_flags_must_be_a_subset_of_the_clean_ones(colour_xy, tmp_path):
    model, x, y = colour_xy
    state = tmp_path / "state.json"
    evaluate(model, data=(x, y), n_examples=16, batch_size=16, state_path=state, **FAST)
    data = json.loads(state.read_text())
    data["clean_flags"][0], data["flags"][0] = False, True
    state.write_text(json.dumps(data))
    with pytest.raises(EvaluationStateError, match="subset"):
        evaluate(model, data=(x, y), n_examples=16, batch_size=16, state_path=state, **FAST)


def test_bad_arguments_are_refused_before_the_model_is_loaded(hub, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    cases = [({"n_examples": 0}, "positive integer"), ({"n_examples": 20_000}, "larger than"),
             ({"eps": float("nan")}, "positive"), ({"shard": (3, 2)}, "shard"), ({"shard": (0, 10_001)}, "split"),
             ({"batch_size": 0}, "batch_size"), ({"device": "cuda:99"}, "device")]
    for name, other_dataset in (("ikl-at-fmnist-wrn10-1", "cifar10"), ("ikl-at-cifar10-wrn34", "fashion-mnist")):
        for kwargs, message in [*cases, ({"dataset": other_dataset}, "model; evaluating it on")]:
            with pytest.raises(InvalidArgumentError, match=message):
                evaluate(name, **kwargs)  # the CIFAR entry would come from the Hub: no request may be made
    assert hub.requests == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message for a machine without CUDA")
def test_cuda_without_a_gpu_is_one_clear_error(colour_xy):
    model, x, y = colour_xy
    with pytest.raises(InvalidArgumentError, match="no CUDA device"):
        evaluate(model, data=(x, y), n_examples=4, device="cuda", **FAST)
    with pytest.raises(InvalidArgumentError, match="no CUDA device"):
        dkl_zoo.load("ikl-at-fmnist-wrn10-1", device="cuda")


@pytest.mark.parametrize("argv, message", [
    (["--eps", "8/0"], "eps must be a number"),
    (["--eps", "nan"], "positive"),
    (["--eps", "-0.1"], "positive"),
    (["--n-examples", "0"], "positive integer"),
    (["--shard", "3", "2"], "shard"),
    (["--dataset", "cifar10"], "fashion-mnist model"),
])
def test_cli_eval_usage_errors_exit_2_before_loading(argv, message, capsys):
    try:
        code = cli_main(["eval", "ikl-at-fmnist-wrn10-1", "--quiet", *argv])
    except SystemExit as exit_:  # argparse's own usage errors
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err
    assert "usage error" in err or "error:" in err
    assert message in err and "Traceback" not in err


def test_cli_json_out_in_a_missing_folder_is_created_and_a_file_parent_refused(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert cli_main(["eval", "ikl-at-fmnist-wrn10-1", "--quiet", "--json-out", str(blocker / "r.json")]) == 2
    assert "cannot create the folder" in capsys.readouterr().err


# ---- 2. training: resume reads no code; configs refuse bad values in one line ------------------------------

class _Planted:
    def __reduce__(self):
        return (Path.touch, (Path(os.environ["DKL_ZOO_TEST_MARKER"]),))


def _smoke_run(tmp_path) -> Path:
    out = tmp_path / "run"
    assert train_main(["--config", str(CONFIGS / "smoke.yaml"), "--out", str(out), "epochs=1",
                       "final_eval.n_examples=0"]) == 0
    return out


def test_resume_never_runs_code_from_a_planted_checkpoint(tmp_path, monkeypatch, capsys):
    out = _smoke_run(tmp_path)
    marker = tmp_path / "marker"
    monkeypatch.setenv("DKL_ZOO_TEST_MARKER", str(marker))
    state = torch.load(out / "checkpoint.pt", weights_only=True)  # our own checkpoints need no code
    state["payload"] = _Planted()
    torch.save(state, out / "checkpoint.pt")
    code = train_main(["--config", str(CONFIGS / "smoke.yaml"), "--out", str(out), "--resume", "epochs=1",
                       "final_eval.n_examples=0"])
    assert not marker.exists(), "the planted payload ran"
    err = capsys.readouterr().err
    assert code == 2 and "need code to unpickle" in err and "checkpoint.pt" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("damage", ["truncated", "empty", "foreign", "garbage"])
def test_damaged_checkpoint_is_one_line_naming_the_file(tmp_path, capsys, damage):
    out = _smoke_run(tmp_path)
    path = out / "checkpoint.pt"
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "foreign":
        torch.save({"weights": torch.zeros(3)}, path)
    else:
        path.write_bytes(os.urandom(4096))
    capsys.readouterr()
    code = train_main(["--config", str(CONFIGS / "smoke.yaml"), "--out", str(out), "--resume", "epochs=1",
                       "final_eval.n_examples=0"])
    err = capsys.readouterr().err
    assert code == 2 and str(path) in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("override, message", [
    ("eps=.nan", "eps must be a positive"),
    ("lr=.inf", "lr must be"),
    ("momentum=5", "momentum must be"),
    ("epochs=true", "epochs must be a positive integer"),
    ("awp.gamma=-0.1", "awp.gamma must be"),
    ("final_eval.n_examples=-5", "final_eval.n_examples must be"),
    ("max_steps_per_epoch=-1", "max_steps_per_epoch must be"),
    ("seed=abc", "seed must be an integer"),
    ("arch={name: resnet50}", "Unknown architecture 'resnet50'"),
    ("arch={name: wide_resnet, depth: 11, widen_factor: 1}", "depth must be 6n \\+ 4"),
    ("device=tpu", "device .tpu. is not a device name \\(auto, cpu, cuda"),
])
def test_bad_config_values_are_one_line_errors(override, message, tmp_path, capsys):
    with pytest.raises(ConfigError, match=message):
        load_config(CONFIGS / "smoke.yaml", [override])
    assert train_main(["--config", str(CONFIGS / "smoke.yaml"), "--out", str(tmp_path / "r"), override]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_yaml_syntax_error_names_the_line(tmp_path, capsys):
    path = tmp_path / "broken.yaml"
    path.write_text("lr: 0.1\narch: {name: wide_resnet\nepochs: 3\n")
    assert train_main(["--config", str(path), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "not valid YAML at line" in err and len(err.strip().splitlines()) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message for a machine without CUDA")
def test_cuda_device_without_cuda_is_refused(tmp_path, capsys):
    assert train_main(["--config", str(CONFIGS / "smoke.yaml"), "--out", str(tmp_path / "r"), "device=cuda"]) == 2
    assert "no CUDA device" in capsys.readouterr().err
