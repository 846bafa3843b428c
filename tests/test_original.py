"""The original-release fallback: its cache record, its trust store and its refusals."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

import dkl_zoo
from dkl_zoo import settings
from dkl_zoo.errors import (
    IntegrityError,
    OfflineError,
)
from helpers import safetensors_bytes, tiny_entry, trained_like


def _other_weights(entry, seed: int) -> bytes:
    return safetensors_bytes(trained_like(dkl_zoo.build_model(entry), seed=seed))


# ---- the original-release record -------------------------------------------------------------------------


def _zoo_cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv(settings.CACHE_ENV, str(tmp_path / "zoo-cache"))
    return tmp_path / "zoo-cache" / "original"


@pytest.mark.parametrize(
    "record",
    [
        "{not json",
        '{"source": "README Google Drive x"}',
        '["a"]',
        '{"source": "README", "weights_sha256": "../../etc/passwd"}',
    ],
)
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
    record = {
        "source": "README Google Drive x",
        "weights": f"{planted_sha}/model.safetensors",
        "weights_sha256": planted_sha,
    }
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
