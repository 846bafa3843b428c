"""Verified loading over the Hub protocol, against a real HTTP server and the real huggingface_hub client."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import save

import dkl_zoo
from dkl_zoo import _hub as zoo_hub
from dkl_zoo._integrity import verify_file
from dkl_zoo.errors import (
    DownloadError,
    DownloadTimeoutError,
    EntryNotFoundError,
    HubAccessError,
    IntegrityError,
    InvalidArgumentError,
    OfflineError,
    RemoteNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
    WeightsFormatError,
)
from helpers import (
    closed_port_url,
    ctrl_c_reaches_it,
    python_env,
    run_python,
    safetensors_bytes,
    tiny_entry,
    trained_like,
)

X = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def weight_gets(hub) -> int:
    return hub.count("GET", "/resolve/")


def test_first_download_gives_identical_logits_in_eval_mode(hub, published, cache_dir):
    entry, reference, _ = published
    model = dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir)
    assert not model.training
    assert torch.equal(model(X), reference(X))
    assert weight_gets(hub) == 1


def test_second_load_comes_from_cache_without_fetching_weights(hub, published, cache_dir):
    entry, reference, _ = published
    dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir)
    hub.requests.clear()
    model = dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir)
    assert torch.equal(model(X), reference(X))
    assert weight_gets(hub) == 0
    assert hub.count("HEAD", "/resolve/") == 1  # only the freshness check


def test_local_files_only(hub, published, cache_dir):
    entry, reference, _ = published
    with pytest.raises(OfflineError, match="not in the local cache and offline mode is on"):
        dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir, local_files_only=True)
    assert hub.requests == []
    dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir)
    hub.requests.clear()
    model = dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir, local_files_only=True)
    assert torch.equal(model(X), reference(X))
    assert hub.requests == []


OFFLINE_SCRIPT = """
import dataclasses, sys, torch, dkl_zoo
from dkl_zoo.registry import get_entry
entry = get_entry("ikl-at-cifar10-wrn34")
entry = entry.with_arch(kwargs={**entry.arch.kwargs, "depth": 10, "widen_factor": 1})
try:
    model = dkl_zoo.load(entry)
except dkl_zoo.OfflineError as error:
    print("OFFLINE", error)
    sys.exit(3)
print("SUM", float(sum(p.detach().double().sum() for p in model.parameters())))
"""


def test_hf_hub_offline_env_and_hf_endpoint_mirror(hub, published, cache_dir):
    entry, reference, _ = published
    expected = float(sum(p.detach().double().sum() for p in reference.parameters()))
    offline = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache_dir), "HF_ENDPOINT": hub.url}
    cold = run_python(OFFLINE_SCRIPT, offline)
    assert cold.returncode == 3, cold.stderr
    assert "offline mode is on" in cold.stdout and "HF_HUB_OFFLINE" in cold.stdout
    online = run_python(OFFLINE_SCRIPT, {"HF_HUB_CACHE": str(cache_dir), "HF_ENDPOINT": hub.url})
    assert online.returncode == 0, online.stderr
    assert float(online.stdout.split("SUM ")[1]) == pytest.approx(expected, rel=1e-12)
    hub.requests.clear()
    warm = run_python(OFFLINE_SCRIPT, offline)
    assert warm.returncode == 0, warm.stderr + warm.stdout
    assert float(warm.stdout.split("SUM ")[1]) == pytest.approx(expected, rel=1e-12)
    assert hub.requests == []


def test_pinned_revision_and_sha256(hub, published, cache_dir):
    entry, reference, first_sha = published
    first_bytes = hub.files(entry.repo_id)["model.safetensors"]
    other = trained_like(dkl_zoo.build_model(entry), seed=5)
    hub.commit(entry.repo_id, {"model.safetensors": safetensors_bytes(other)})  # main moves on
    pinned = entry.with_weights(revision=first_sha, sha256=hashlib.sha256(first_bytes).hexdigest())
    model = dkl_zoo.load(pinned, endpoint=hub.url, cache_dir=cache_dir)
    assert torch.equal(model(X), reference(X))
    assert f"/resolve/{first_sha}/" in hub.requests[-1][1]
    latest = dkl_zoo.load(pinned, endpoint=hub.url, cache_dir=cache_dir, revision="main")
    assert torch.equal(latest(X), other(X))
    # Offline, the pinned commit is found in the cache by its sha.
    again = dkl_zoo.load(pinned, endpoint=hub.url, cache_dir=cache_dir, local_files_only=True)
    assert torch.equal(again(X), reference(X))


def test_wrong_pin_is_an_integrity_error(hub, published, cache_dir):
    entry, _, sha = published
    wrong = entry.with_weights(revision=sha, sha256="0" * 64)
    with pytest.raises(IntegrityError) as info:
        dkl_zoo.load(wrong, endpoint=hub.url, cache_dir=cache_dir)
    assert info.value.expected == "0" * 64
    assert info.value.got == hashlib.sha256(hub.files(entry.repo_id)["model.safetensors"]).hexdigest()


def test_tampered_cached_file_is_refused_removed_and_healed_by_the_next_load(hub, published, cache_dir):
    entry, reference, _ = published
    dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir)
    blob = next(Path(cache_dir).rglob("blobs/*"))
    pointer = next(Path(cache_dir).rglob("snapshots/*/model.safetensors"))
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF  # flip bits of one weight: same size, so huggingface_hub cannot notice
    blob.write_bytes(bytes(data))
    with pytest.raises(IntegrityError) as info:
        dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir, local_files_only=True)
    assert info.value.expected == blob.name and info.value.got != blob.name
    assert "removed from the cache" in str(info.value)
    assert not blob.exists() and not pointer.exists() and not pointer.is_symlink()
    with pytest.raises(OfflineError):  # the bad copy is gone, never used again
        dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir, local_files_only=True)
    hub.requests.clear()
    model = dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir)  # a plain load heals the cache
    assert torch.equal(model(X), reference(X))
    assert weight_gets(hub) == 1


def test_unknown_repo_revision_and_file(hub, published, cache_dir):
    entry, _, _ = published
    with pytest.raises(RepositoryNotFoundError, match="Repository not found") as raised:
        dkl_zoo.load(
            dataclasses.replace(entry, name="not-published"),
            endpoint=hub.url,
            cache_dir=cache_dir,
            allow_original=False,
        )
    assert isinstance(raised.value, RemoteNotFoundError) and raised.value.kind == "repository"
    with pytest.raises(RepositoryNotFoundError, match="Repository not found"):  # an entry with no original release
        dkl_zoo.load(
            dataclasses.replace(entry, name="not-published").with_weights(original_sources=()),
            endpoint=hub.url,
            cache_dir=cache_dir,
        )
    with pytest.raises(RevisionNotFoundError, match="Revision 'v9' not found"):
        dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir, revision="v9")
    with pytest.raises(EntryNotFoundError, match="File 'weights.safetensors' not found"):
        dkl_zoo.load(entry.with_weights(filename="weights.safetensors"), endpoint=hub.url, cache_dir=cache_dir)


@pytest.mark.parametrize("status", [401, 403, 503])
def test_refused_or_failing_hub_is_not_called_offline(hub, published, cache_dir, status):
    """401/403 name the token, 5xx the server; neither is 'offline'. With the file cached, the cache serves."""
    entry, reference, _ = published
    hub.fail_with = status
    with pytest.raises(HubAccessError, match=f"answered HTTP {status}") as raised:
        dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir)
    assert raised.value.status == status
    assert ("token" in str(raised.value)) == (status in (401, 403))


def test_server_error_without_and_with_cache(hub, published, cache_dir):
    entry, reference, _ = published
    hub.fail_with = 500
    started = time.monotonic()
    with pytest.raises(HubAccessError, match="answered HTTP 500") as raised:
        dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir)
    assert time.monotonic() - started < 5
    assert raised.value.status == 500 and not isinstance(raised.value, OfflineError)
    hub.fail_with = None
    dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir)
    hub.fail_with = 500
    model = dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir)
    assert torch.equal(model(X), reference(X))


def test_server_down_without_cache_fails_fast_and_with_cache_works(hub, published, cache_dir):
    entry, reference, _ = published
    down = closed_port_url()
    started = time.monotonic()
    with pytest.raises(OfflineError, match="could not be reached"):
        dkl_zoo.load(entry, endpoint=down, cache_dir=cache_dir)
    assert time.monotonic() - started < 5
    dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir)
    model = dkl_zoo.load(entry, endpoint=down, cache_dir=cache_dir)
    assert torch.equal(model(X), reference(X))


def test_pretrained_false_builds_fresh_weights_without_network():
    model = dkl_zoo.load(tiny_entry(), pretrained=False, endpoint=closed_port_url())
    assert not model.training and model(X).shape == (4, 10)


def test_device_and_dtype(hub, published, cache_dir):
    entry, reference, _ = published
    model = dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir, dtype=torch.float64)
    assert next(model.parameters()).dtype == torch.float64
    torch.testing.assert_close(model(X.double()).float(), reference(X), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="floating-point dtype"):
        dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir, dtype=torch.int64)


def test_dm_entry_loads_with_normalisation_inside(hub, cache_dir):
    entry = tiny_entry("ikl-at-cifar100-wrn28-50m")
    reference = trained_like(dkl_zoo.build_model(entry))
    hub.add_repo(entry.repo_id, {"model.safetensors": safetensors_bytes(reference)})
    model = dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir)
    assert torch.equal(model(X), reference(X))
    assert model.mean.flatten().tolist() == pytest.approx(list(entry.arch.mean))


def test_git_sha1_etag_check(tmp_path):
    path = tmp_path / "config.json"
    path.write_bytes(b'{"a": 1}\n')
    git_id = hashlib.sha1(b"blob 9\0" + path.read_bytes()).hexdigest()
    _, against = verify_file(path, expected_sha256=None, hub_etag=git_id)
    assert "git blob sha1" in against
    with pytest.raises(IntegrityError, match="git blob sha1"):
        verify_file(path, expected_sha256=None, hub_etag="1" * 40)
    with pytest.raises(IntegrityError, match="none available"):
        verify_file(path, expected_sha256=None, hub_etag=None)


@pytest.mark.slow
def test_full_size_registry_name_through_hf_endpoint(hub, cache_dir, monkeypatch):
    """``load("ikl-at-cifar10-wrn34")`` itself, full size, through HF_ENDPOINT in a fresh interpreter."""
    monkeypatch.setenv("DKL_ZOO_NAMESPACE", "mirror")
    torch.manual_seed(0)
    model = trained_like(dkl_zoo.build_model("ikl-at-cifar10-wrn34"))
    hub.add_repo("mirror/ikl-at-cifar10-wrn34", {"model.safetensors": safetensors_bytes(model)})
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    expected = model(x)
    script = (
        "import json, torch, dkl_zoo\n"
        "m = dkl_zoo.load('ikl-at-cifar10-wrn34')\n"
        "x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))\n"
        "print('OUT', json.dumps(m(x).flatten().tolist()))\n"
    )
    env = {"HF_ENDPOINT": hub.url, "HF_HUB_CACHE": str(cache_dir), "DKL_ZOO_NAMESPACE": "mirror"}
    done = run_python(script, env, timeout=300)
    assert done.returncode == 0, done.stderr
    got = torch.tensor(json.loads(done.stdout.split("OUT ")[1]))
    torch.testing.assert_close(got, expected.flatten(), rtol=0, atol=1e-5)
    assert os.environ.get("HF_HUB_OFFLINE") != "1"


# ---- the Hub's hashes, remembered beside the cache (joints found by mutation testing) ----------------------


def test_hub_hash_record_lives_in_the_repo_cache_folder_normalised(tmp_path):
    commit, etag = "c" * 40, "AB" * 32
    zoo_hub.record_hash(tmp_path, "ns/name", commit, "model.safetensors", f'"{etag}"', 123)
    path = tmp_path / "models--ns--name" / "dkl_zoo-hashes" / commit / "model.safetensors.json"
    assert zoo_hub.hash_record_path(tmp_path, "ns/name", commit, "model.safetensors") == path
    assert json.loads(path.read_text()) == {"etag": etag.lower(), "size": 123}
    assert zoo_hub.recorded_hash(tmp_path, "ns/name", commit, "model.safetensors") == etag.lower()
    inode = path.stat().st_ino
    zoo_hub.record_hash(tmp_path, "ns/name", commit, "model.safetensors", etag, 123)
    assert path.stat().st_ino == inode  # the same record is not rewritten
    zoo_hub.record_hash(tmp_path, "ns/name", commit, "config.json", "1" * 40, 9)  # a git blob sha1 (small file)
    assert zoo_hub.recorded_hash(tmp_path, "ns/name", commit, "config.json") == "1" * 40
    for garbage in ('{"etag": "not-a-hash"}', '{"etag": 7}', "[]", "{"):
        path.write_text(garbage)
        assert zoo_hub.recorded_hash(tmp_path, "ns/name", commit, "model.safetensors") is None
    assert zoo_hub.recorded_hash(tmp_path, "ns/other", commit, "model.safetensors") is None


def test_snapshot_paths_name_their_commit_and_cache_entries(tmp_path):
    commit = "d" * 40
    assert zoo_hub._commit_of(f"/c/models--a--b/snapshots/{commit}/model.safetensors") == commit
    assert zoo_hub._commit_of("/c/models--a--b/snapshots/main/model.safetensors") is None
    assert zoo_hub._commit_of(f"/c/elsewhere/{commit}/model.safetensors") is None
    plain = tmp_path / "model.safetensors"
    plain.write_bytes(b"x")
    assert zoo_hub._cache_files(str(plain)) == (plain,)  # a cache without symlinks: one file to delete
    link = tmp_path / "link"
    link.symlink_to(plain)
    assert zoo_hub._cache_files(str(link)) == (link, plain)


def test_endpoint_with_a_trailing_slash_is_the_same_server(hub, published, cache_dir):
    entry, reference, _ = published
    assert zoo_hub.endpoint_of(hub.url + "/") == hub.url
    model = dkl_zoo.load(entry, endpoint=hub.url + "/", cache_dir=cache_dir)
    assert torch.equal(model(X), reference(X))


def test_explicit_unpinned_revision_after_main_moved_is_checked_against_its_own_commit(hub, published, cache_dir):
    entry, reference, first_sha = published
    hub.commit(entry.repo_id, {"model.safetensors": safetensors_bytes(trained_like(dkl_zoo.build_model(entry), 4))})
    model = dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir, revision=first_sha)
    assert torch.equal(model(X), reference(X))
    offline = dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir, revision=first_sha, local_files_only=True)
    assert torch.equal(offline(X), reference(X))


# ---- local problems are the disk's, not the server's ----------------------------------------------------------


def test_a_cache_path_that_is_a_file_names_the_setting_not_the_server(hub, published, tmp_path):
    from dkl_zoo.errors import CacheError

    entry, _, _ = published
    (tmp_path / "file").write_text("")
    with pytest.raises(CacheError, match=r"is a file, not a folder\. Pass cache_dir= a writable folder"):
        dkl_zoo.load(entry, endpoint=hub.url, cache_dir=tmp_path / "file" / "cache")
    done = run_python(
        f"import dkl_zoo\nfrom dkl_zoo.registry import get_entry\n"
        f"try:\n    dkl_zoo.load(get_entry('ikl-at-cifar10-wrn34').with_weights(repo='{entry.repo_id}'), "
        f"pretrained=True, allow_original=False)\n"
        f"except dkl_zoo.errors.CacheError as e:\n    print('CACHE', e)\n",
        {"HF_HUB_CACHE": str(tmp_path / "file"), "HF_ENDPOINT": hub.url},
    )
    assert (
        "CACHE" in done.stdout and "HF_HUB_CACHE" in done.stdout and "server" not in done.stdout.split("CACHE")[1][:40]
    )


def test_a_read_only_cache_is_a_cache_error_and_a_cached_file_still_loads(hub, published, tmp_path):
    from dkl_zoo.errors import CacheError
    from helpers import unwritable

    entry, model, _ = published
    empty = tmp_path / "empty"
    empty.mkdir()
    with unwritable(empty):
        with pytest.raises(CacheError, match=r"cannot be stored in the cache .*Nothing is wrong with the server"):
            dkl_zoo.load(entry, endpoint=hub.url, cache_dir=empty)
    shared = tmp_path / "shared"
    dkl_zoo.load(entry, endpoint=hub.url, cache_dir=shared)  # filled once by whoever may write it
    folders = [p for p in shared.rglob("*") if p.is_dir()] + [shared]
    records = list(shared.rglob("dkl_zoo-hashes/*/*.json"))
    for record in records:
        record.unlink()  # as if another tool had downloaded the file
    with unwritable(*folders):
        with pytest.warns(UserWarning, match="could not be recorded in the cache"):
            again = dkl_zoo.load(entry, endpoint=hub.url, cache_dir=shared)
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(again(x), model(x))


def test_hash_records_follow_the_umask_so_a_shared_cache_serves_every_user(hub, published, cache_dir):
    entry, _, _ = published
    old = os.umask(0o022)
    try:
        dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir)
    finally:
        os.umask(old)
    records = list(cache_dir.rglob("dkl_zoo-hashes/*/*.json"))
    assert records and all(r.stat().st_mode & 0o777 == 0o644 for r in records)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"name": None}, "name must be a registry name .* got NoneType"),
        ({"revision": 123}, "revision must be a branch, tag or commit id"),
        ({"cache_dir": 123}, r"cache_dir must be a path \(str or os.PathLike\), got int"),
        ({"endpoint": 123}, "endpoint must be an http"),
        ({"token": 1.5}, "token must be a string"),
        ({"progress": "no"}, "progress must be True or False"),
    ],
)
def test_load_arguments_of_the_wrong_kind_are_refused_before_any_request(hub, kwargs, message):
    name = kwargs.pop("name", "ikl-at-cifar10-wrn34")
    with pytest.raises(InvalidArgumentError, match=message):
        dkl_zoo.load(name, **kwargs)
    assert hub.requests == []


# ---- fail closed -------------------------------------------------------------------------------------------


def test_verified_only_refuses_unpinned_weights_before_any_request(hub, published, cache_dir, monkeypatch):
    from dkl_zoo.errors import UnpinnedWeightsError

    entry, model, sha = published
    with pytest.raises(UnpinnedWeightsError, match="no pinned sha256, and verified_only is on"):
        dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir, verified_only=True)
    monkeypatch.setenv("DKL_ZOO_VERIFIED_ONLY", "1")
    with pytest.raises(UnpinnedWeightsError):
        dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir)
    assert hub.requests == []
    assert dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir, verified_only=False) is not None  # keyword wins
    assert dkl_zoo.load("ikl-at-fmnist-wrn10-1") is not None  # packaged: pinned in the registry
    digest = hashlib.sha256(safetensors_bytes(model)).hexdigest()
    pinned = entry.with_weights(sha256=digest, revision=sha)
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(dkl_zoo.load(pinned, endpoint=hub.url, cache_dir=cache_dir)(x), model(x))
    with pytest.raises(UnpinnedWeightsError, match="revision 'main' is not the pinned one"):
        dkl_zoo.load(pinned, endpoint=hub.url, cache_dir=cache_dir, revision="main")
    monkeypatch.setenv("DKL_ZOO_VERIFIED_ONLY", "maybe")
    with pytest.raises(InvalidArgumentError, match="DKL_ZOO_VERIFIED_ONLY='maybe' is not a yes/no value"):
        dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir)


def test_a_local_weights_file_loads_through_load_and_fails_closed_only_with_its_pin(tmp_path):
    from dkl_zoo.errors import UnpinnedWeightsError

    name = "ikl-at-fmnist-wrn10-1"
    shipped = Path(dkl_zoo.__file__).parent / dkl_zoo.model_info(name).weights.embedded_file
    copy = tmp_path / "mine.safetensors"
    copy.write_bytes(shipped.read_bytes())
    x = torch.rand(2, 1, 28, 28)
    model = dkl_zoo.load(name, weights_file=copy)
    assert torch.equal(model(x), dkl_zoo.load(name)(x)) and not model.training
    assert dkl_zoo.loading.weights_sha256_of(model) == dkl_zoo.model_info(name).weights.sha256
    assert dkl_zoo.load(name, weights_file=copy, verified_only=True) is not None  # its bytes are the pinned ones
    changed = tmp_path / "changed.safetensors"
    changed.write_bytes(shipped.read_bytes()[:-1] + bytes([shipped.read_bytes()[-1] ^ 1]))
    with pytest.raises(IntegrityError):
        dkl_zoo.load(name, weights_file=changed, verified_only=True)
    with pytest.raises(InvalidArgumentError, match="weights_file .*: no such file"):
        dkl_zoo.load(name, weights_file=tmp_path / "none.safetensors")
    unpinned = dkl_zoo.model_info(name).with_weights(sha256=None)
    with pytest.raises(UnpinnedWeightsError):
        dkl_zoo.load(unpinned, weights_file=copy, verified_only=True)


# ---- the chain of verification under attack: planted cache entries, bad servers, deadlines ---------------


def _cache_entries(cache_dir: Path) -> tuple[list[Path], list[Path]]:
    blobs = [p for p in cache_dir.rglob("blobs/*")]
    links = [p for p in cache_dir.rglob("snapshots/*/model.safetensors")]
    return blobs, links


def _other_weights(entry, seed: int) -> bytes:
    return safetensors_bytes(trained_like(dkl_zoo.build_model(entry), seed=seed))


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
import dkl_zoo
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
    env = python_env({"HF_ENDPOINT": hub.url, "HF_HUB_CACHE": str(cache_dir)})
    process = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_SCRIPT], env=env, stdout=subprocess.PIPE, text=True, preexec_fn=ctrl_c_reaches_it
    )
    assert hub.wait_until(lambda: hub.bytes_trickled >= 1), "the download never started"
    assert hub.count("GET", "/resolve/") == 1
    process.send_signal(signal.SIGINT)  # mid-download: the body is still trickling
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
