"""Content checks of weights files: what a pin must equal, what an integrity error says."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

import dkl_zoo
from dkl_zoo._integrity import verify_file
from dkl_zoo.errors import IntegrityError
from dkl_zoo.registry import REGISTRY

X = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))


# ---- a pin that differs in one hex digit; what an integrity error says -----------------------------------


def _last_digit_changed(sha256: str) -> str:
    return sha256[:-1] + ("0" if sha256[-1] != "0" else "1")


def test_pin_differing_in_the_last_hex_digit_is_refused_by_verify_file(tmp_path):
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"weights")
    actual = hashlib.sha256(b"weights").hexdigest()
    assert verify_file(path, expected_sha256=actual, hub_etag=None) == (actual, "sha256 pin")
    with pytest.raises(IntegrityError):
        verify_file(path, expected_sha256=_last_digit_changed(actual), hub_etag=None)
    with pytest.raises(IntegrityError):  # the Hub's LFS ETag, compared the same way
        verify_file(path, expected_sha256=None, hub_etag=_last_digit_changed(actual))


def test_pinned_hub_load_with_the_last_hex_digit_wrong_is_refused(hub, published, cache_dir):
    entry, reference, sha = published
    good = hashlib.sha256(hub.files(entry.repo_id)["model.safetensors"]).hexdigest()
    model = dkl_zoo.load(entry.with_weights(revision=sha, sha256=good), endpoint=hub.url, cache_dir=cache_dir)
    assert torch.equal(model(X), reference(X))
    with pytest.raises(IntegrityError):
        dkl_zoo.load(
            entry.with_weights(revision=sha, sha256=_last_digit_changed(good)), endpoint=hub.url, cache_dir=cache_dir
        )


def test_packaged_entry_with_the_last_hex_digit_wrong_is_refused_and_the_package_file_kept():
    entry = REGISTRY["ikl-at-fmnist-wrn10-1"]
    with pytest.raises(IntegrityError):
        dkl_zoo.load(entry.with_weights(sha256=_last_digit_changed(entry.weights.sha256)))
    packaged = Path(dkl_zoo.__file__).parent / entry.weights.embedded_file
    assert packaged.exists()  # a failed check never deletes a file of the installation
    assert not dkl_zoo.load(entry).training


# ---- integrity: what an error says, and what verification returns (joints found by mutation testing) --------


def test_integrity_errors_name_the_file_what_was_expected_and_what_to_do(tmp_path):
    import hashlib as _hashlib

    from dkl_zoo._integrity import (
        LocatedFile,
        file_digest,
        git_blob_sha1,
        verify,
        verify_or_discard,
    )

    path = tmp_path / "model.safetensors"
    path.write_bytes(b"weights")
    actual = _hashlib.sha256(b"weights").hexdigest()
    cases = [
        dict(expected_sha256="A" * 64, hub_etag=None),
        dict(expected_sha256=None, hub_etag="b" * 64),
        dict(expected_sha256=None, hub_etag="c" * 40),
    ]
    for kwargs in cases:
        with pytest.raises(IntegrityError) as info:
            verify_file(path, **kwargs)
        error = info.value
        assert error.path == str(path) and str(path) in str(error)
        assert error.expected == (kwargs["expected_sha256"] or kwargs["hub_etag"]).lower()
        assert error.got == (git_blob_sha1(path) if kwargs["hub_etag"] == "c" * 40 else actual)
        assert error.algorithm == ("git blob sha1" if kwargs["hub_etag"] == "c" * 40 else "sha256")
        assert "It was removed from the cache: load again" in str(error)
    with pytest.raises(IntegrityError) as info:
        verify_file(path, expected_sha256=None, hub_etag=None)
    assert info.value.path == str(path) and info.value.expected == "a hash reported by the Hub"
    assert "No hash reported by the Hub was recorded for this cached file (it was downloaded by another tool" in str(
        info.value
    ) and "Load once while online, or pin the sha256" in str(info.value)
    assert verify_file(path, expected_sha256=None, hub_etag=actual) == (actual, "sha256 reported by the Hub (LFS ETag)")
    assert (
        verify_file(path, expected_sha256=None, hub_etag=git_blob_sha1(path))[1]
        == "git blob sha1 reported by the Hub (ETag)"
    )
    verified = verify(LocatedFile(path, "rev-1", actual.upper(), None))
    assert (verified.path, verified.sha256, verified.revision, verified.checked_against) == (
        path,
        actual,
        "rev-1",
        "sha256 pin",
    )
    # a file with no recorded hash is refused but kept (nothing proves it bad); a mismatch is removed
    with pytest.raises(IntegrityError):
        verify_or_discard(LocatedFile(path, "r", None, None, cache_files=(path,)))
    assert path.exists()
    with pytest.raises(IntegrityError):
        verify_or_discard(LocatedFile(path, "r", "0" * 64, None, cache_files=(path,)))
    assert not path.exists()
    for data in (b"", b"x", bytes(range(256)) * 9000):
        path.write_bytes(data)
        assert file_digest(path) == _hashlib.sha256(data).hexdigest()
        assert git_blob_sha1(path) == _hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
