"""Conversion of released checkpoints, publishing, model cards and the fallback to the original release."""

from __future__ import annotations

import hashlib
import json
import pickle
import warnings
import zipfile

import pytest
import torch
from huggingface_hub import ModelCard

import dkl_zoo
from dkl_zoo.errors import (
    IntegrityError,
    InvalidArgumentError,
    OriginalReleaseError,
    RemoteNotFoundError,
    StateDictMismatchError,
    UnsafeCheckpointError,
)
from dkl_zoo.maintainers.cards import checkout_cards_dir, render_card, stale_cards
from dkl_zoo.maintainers.publish import publish
from dkl_zoo.original.convert import convert_checkpoint, load_original
from dkl_zoo.registry import REGISTRY, SOURCE_LOG, SOURCE_README, SOURCE_ROBUSTBENCH
from helpers import ROOT, tiny_entry, trained_like

X = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def released_variants(model: torch.nn.Module) -> dict[str, object]:
    """The ways the released files and RobustBench's copies wrap a state dict."""
    sd = model.state_dict()
    extra = {
        "sub_block1.layer.0.bn1.weight": torch.ones(16),
        "sub_block1.layer.0.conv1.weight": torch.ones(16, 16, 3, 3),
    }
    return {
        "dataparallel_in_state_dict": {"state_dict": {f"module.{k}": v for k, v in sd.items()}, "epoch": 200},
        "model_state_dict": {"model_state_dict": dict(sd), "optimizer": {"lr": 0.1}},
        "sequential_module_0": {f"module.0.{k}": v for k, v in sd.items()},
        "normalize_then_net": {
            "module.0.mean": torch.zeros(3),
            "module.0.std": torch.ones(3),
            **{f"module.1.{k}": v for k, v in sd.items()},
        },
        "sub_block1": {**{f"module.{k}": v for k, v in sd.items()}, **{f"module.{k}": v for k, v in extra.items()}},
        "bare": dict(sd),
    }


@pytest.mark.parametrize("variant", sorted(released_variants(torch.nn.Linear(1, 1))))
def test_convert_publish_load_round_trip(variant, tmp_path, hub, cache_dir):
    torch.manual_seed(0)
    entry = tiny_entry()
    model = trained_like(dkl_zoo.build_model(entry))
    src = tmp_path / "release.pt"
    torch.save(released_variants(model)[variant], src)
    folder = convert_checkpoint(src, entry, tmp_path / "repo")
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    commit = publish(folder, entry.repo_id, endpoint=hub.url, token="test-token")
    assert (
        len(commit) == 40
        and hub.files(entry.repo_id, commit)["model.safetensors"] == (folder / "model.safetensors").read_bytes()
    )
    loaded = dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir)
    assert torch.equal(loaded(X), model(X))
    # pinning what convert printed and publish returned
    pinned = entry.with_weights(
        revision=commit, sha256=hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    )
    assert torch.equal(dkl_zoo.load(pinned, endpoint=hub.url, cache_dir=cache_dir)(X), model(X))


def test_conversion_is_deterministic_and_records_provenance(tmp_path, capsys, caplog):
    torch.manual_seed(0)
    entry = tiny_entry("ikl-at-cifar100-wrn28-50m")
    model = trained_like(dkl_zoo.build_model(entry))
    src = tmp_path / "release.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, src)
    with caplog.at_level("INFO", logger="dkl_zoo.original.convert"):
        first = convert_checkpoint(src, entry, tmp_path / "a")
    printed = caplog.text
    assert capsys.readouterr().out == ""  # a library logs; the command decides what to show
    second = convert_checkpoint(src, entry, tmp_path / "b")
    for name in ("model.safetensors", "config.json", "README.md"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
    weights_sha = hashlib.sha256((first / "model.safetensors").read_bytes()).hexdigest()
    assert f"model.safetensors sha256 {weights_sha}" in printed
    from safetensors import safe_open

    with safe_open(str(first / "model.safetensors"), "pt") as handle:
        meta = handle.metadata()
    assert meta["name"] == entry.name and meta["architecture"] == "dm_wide_resnet"
    assert meta["source_sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    config = json.loads((first / "config.json").read_text())
    assert config["architecture"] == "ikl_at_cifar100_wrn28_50m" and config["num_classes"] == 100
    assert config["pretrained_cfg"]["input_size"] == [3, 32, 32]
    assert config["pretrained_cfg"]["mean"] == [0.0, 0.0, 0.0] and config["pretrained_cfg"]["std"] == [1.0, 1.0, 1.0]
    assert config["dkl_zoo"]["weights_sha256"] == weights_sha


def test_pickle_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    src = tmp_path / "evil.pt"
    with open(src, "wb") as handle:
        pickle.dump({"state_dict": Exploit()}, handle, protocol=2)
    with pytest.raises(UnsafeCheckpointError, match="nothing in the file was executed"):
        convert_checkpoint(src, tiny_entry(), tmp_path / "out")
    assert not marker.exists()
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_html_instead_of_checkpoint_is_named(tmp_path):
    src = tmp_path / "download.pt"
    src.write_text("<!DOCTYPE html><html><title>Google Drive - Quota exceeded</title></html>")
    with pytest.raises(OriginalReleaseError, match="invalid load key '<'"):
        load_original(src)


def test_wrong_architecture_is_a_mismatch_naming_the_entry(tmp_path):
    other = dkl_zoo.build_model(tiny_entry("ikl-at-cifar100-wrn34"))
    src = tmp_path / "release.pt"
    torch.save(other.state_dict(), src)
    with pytest.raises(
        StateDictMismatchError, match=r"wrong shape: fc.weight .*is it the file of ikl-at-cifar10-wrn34"
    ):
        convert_checkpoint(src, tiny_entry(), tmp_path / "out")


def test_publish_refuses_a_folder_that_was_not_converted(tmp_path, hub):
    with pytest.raises(InvalidArgumentError, match="missing model.safetensors, config.json, README.md"):
        publish(tmp_path, "dkl-zoo/x", endpoint=hub.url, token="t")


def _released_bytes(model, tmp_path) -> bytes:
    src = tmp_path / "drive-file.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, src)
    return src.read_bytes()


@pytest.mark.filterwarnings("ignore:.*trusting it on first use:UserWarning")
def test_fallback_to_original_release_through_the_confirmation_page(drive, hub, cache_dir, tmp_path):
    torch.manual_seed(0)
    entry = tiny_entry()
    model = trained_like(dkl_zoo.build_model(entry))
    readme_id = entry.weights.original_sources[0].google_drive_id
    drive.files[readme_id] = _released_bytes(model, tmp_path)
    drive.large.add(readme_id)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("default")  # Python's default: a warning once per place that causes it
        for _ in range(2):
            loaded = dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir, progress=False)
            if not drive.requests:
                break
            assert any(p.startswith("/download?") and "confirm=t" in p for p in drive.requests)
            drive.requests.clear()  # the second load finds the converted file: no Drive request
    assert torch.equal(loaded(X), model(X)) and drive.requests == []
    said = [w for w in seen if "weights come from the original release" in str(w.message)]
    assert len(said) == 1 and said[0].filename == __file__  # said once, at the caller's load()
    # Offline, the converted file still serves.
    assert torch.equal(dkl_zoo.load(entry, endpoint="http://127.0.0.1:9", cache_dir=cache_dir)(X), model(X))


def test_fallback_uses_robustbench_copy_when_the_readme_file_is_over_quota(drive, hub, cache_dir, tmp_path):
    torch.manual_seed(1)
    entry = tiny_entry()
    model = trained_like(dkl_zoo.build_model(entry))
    readme, robustbench = (s.google_drive_id for s in entry.weights.original_sources)
    drive.quota.add(readme)
    drive.files[robustbench] = _released_bytes(model, tmp_path)
    with pytest.warns(UserWarning, match="RobustBench Google Drive"):
        loaded = dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir, progress=False)
    assert torch.equal(loaded(X), model(X))


def test_fallback_failure_says_what_happened(drive, hub, cache_dir):
    entry = tiny_entry()
    for source in entry.weights.original_sources:
        drive.quota.add(source.google_drive_id)
    with pytest.raises(OriginalReleaseError, match="Quota exceeded") as info:
        dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir, progress=False)
    assert "README Google Drive" in str(info.value) and "RobustBench Google Drive" in str(info.value)
    with pytest.raises(RemoteNotFoundError):
        dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir, allow_original=False)


def test_tampered_fallback_file_is_refused(drive, hub, cache_dir, tmp_path):
    torch.manual_seed(2)
    entry = tiny_entry()
    model = trained_like(dkl_zoo.build_model(entry))
    drive.files[entry.weights.original_sources[0].google_drive_id] = _released_bytes(model, tmp_path)
    with pytest.warns(UserWarning):
        dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir, progress=False)
    weights = next((cache_dir / "dkl_zoo").rglob("model.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir)


@pytest.mark.filterwarnings("ignore:.*trusting it on first use:UserWarning")
def test_fallback_must_match_the_registry_pin(drive, hub, cache_dir, tmp_path):
    torch.manual_seed(3)
    entry = tiny_entry().with_weights(sha256="f" * 64)
    model = trained_like(dkl_zoo.build_model(entry))
    drive.files[entry.weights.original_sources[0].google_drive_id] = _released_bytes(model, tmp_path)
    with pytest.raises(IntegrityError, match="it changed"):
        dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir, progress=False)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_checked_in_card_parses_and_carries_the_registry_numbers(name):
    path = ROOT / "model_cards" / name / "README.md"
    card = ModelCard.load(path)
    entry = REGISTRY[name]
    results = {r.metric_type: r for r in card.data.eval_results}
    assert results["accuracy"].metric_value == entry.headline.clean_acc
    assert results["robust_accuracy"].metric_value == entry.headline.robust_acc
    assert results["robust_accuracy"].metric_config == f"Linf, eps={entry.provenance.eps_label}"
    if entry.weights.original_sources:
        assert entry.headline.source == SOURCE_README
    assert all(r.dataset_type == entry.dataset and r.dataset_split == "test" for r in results.values())
    text = card.text
    for result in entry.provenance.reported:  # the provenance table lists every source's numbers
        assert f"| {result.source}" in text and f"{result.clean_acc:.2f} | {result.robust_acc:.2f}" in text
    for note in entry.provenance.notes:
        assert note in text
    assert "@inproceedings{cui2024decoupled" in text and entry.provenance.license_note in text


def test_cards_are_in_sync_with_the_registry(tmp_path):
    assert checkout_cards_dir(ROOT / "tests") == ROOT / "model_cards" and checkout_cards_dir("/") is None
    assert stale_cards(ROOT / "model_cards") == [], "run `dkl-zoo cards` in the checkout"
    (tmp_path / "ikl-at-cifar10-wrn34").mkdir()
    (tmp_path / "ikl-at-cifar10-wrn34" / "README.md").write_text(
        render_card("ikl-at-cifar10-wrn34").replace("57.13", "57.14")
    )
    assert "ikl-at-cifar10-wrn34" in stale_cards(tmp_path)


def test_provenance_disagreements_in_cards():
    card = (ROOT / "model_cards" / "ikl-at-cifar100-wrn34-v2" / "README.md").read_text()
    assert "64.08 / 31.65" in card and "byte-identical" in card
    wrn34 = (ROOT / "model_cards" / "ikl-at-cifar10-wrn34" / "README.md").read_text()
    assert f"| {SOURCE_LOG} | 85.31 | 57.09 |" in wrn34 and f"| {SOURCE_ROBUSTBENCH} | 85.31 | 57.09 |" in wrn34


def test_missing_paths_and_files_that_are_not_checkpoints_are_named(tmp_path, hub):
    with pytest.raises(InvalidArgumentError, match=r"checkpoint .*missing.pt does not exist"):
        convert_checkpoint(tmp_path / "missing.pt", "ikl-at-cifar10-wrn34", tmp_path / "out")
    with pytest.raises(InvalidArgumentError, match="is not a file: give the checkpoint file itself"):
        convert_checkpoint(tmp_path, "ikl-at-cifar10-wrn34", tmp_path / "out")
    (tmp_path / "notes.txt").write_text("weights: see the README\n")
    with pytest.raises(OriginalReleaseError, match="is not a PyTorch checkpoint \\(neither the zip archive"):
        convert_checkpoint(tmp_path / "notes.txt", "ikl-at-cifar10-wrn34", tmp_path / "out")
    with pytest.raises(InvalidArgumentError, match=r"missing-folder is not a folder \(it does not exist\)"):
        publish(tmp_path / "missing-folder", "dkl-zoo/x", endpoint=hub.url, token="t")
    folder = tmp_path / "repo"
    folder.mkdir()
    for name in ("model.safetensors", "config.json", "README.md"):
        (folder / name).write_text("x")
    with pytest.raises(InvalidArgumentError, match="'bad id' is not a valid Hub repo id"):
        publish(folder, "bad id", endpoint=hub.url, token="t")
    assert hub.requests == []


def test_publishing_to_a_failing_hub_is_a_hub_access_error(tmp_path, hub):
    from dkl_zoo.errors import HubAccessError

    folder = tmp_path / "repo"
    folder.mkdir()
    for name in ("model.safetensors", "config.json", "README.md"):
        (folder / name).write_text("x")
    hub.fail_with = 503
    with pytest.raises(HubAccessError, match=r"publishing .*answered HTTP 503 for me/x") as info:
        publish(folder, "me/x", endpoint=hub.url, token="t")
    assert info.value.status == 503


# ---- a zip bomb ------------------------------------------------------------------------------------------


def test_zip_bomb_is_refused_from_its_declared_sizes(tmp_path):
    from dkl_zoo.original.convert import load_original

    bomb = tmp_path / "bomb.pt"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("archive/data.pkl", "w", force_zip64=True) as member:
            zeros = bytes(1 << 20)
            for _ in range(64):
                member.write(zeros)
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(UnsafeCheckpointError, match="zip bomb"):
        load_original(bomb)


# ---- conversion never runs pickled code ------------------------------------------------------------------


def test_convert_never_runs_pickled_code_whatever_error_it_ends_in(tmp_path):
    from dkl_zoo.original.convert import load_original

    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    for name, write in (
        ("legacy.pt", lambda p: p.write_bytes(pickle.dumps({"state_dict": Exploit()}, protocol=2))),
        ("zip.pt", lambda p: torch.save({"state_dict": Exploit()}, p)),
    ):
        src = tmp_path / name
        write(src)
        with pytest.raises(Exception) as info:  # noqa: PT011 (the marker is the check, the type comes after)
            load_original(src)
        assert not marker.exists(), f"{name}: the pickled payload ran"
        assert isinstance(info.value, UnsafeCheckpointError), info.value
