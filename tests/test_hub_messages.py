"""What each Hub failure says, word for word, and what it carries: the message is the user's only guide, so a
wrong repo, a lost hint or a dropped token is a bug even when the error class is right."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import dkl_zoo
from dkl_zoo import _hub as zoo_hub
from dkl_zoo.errors import (
    DownloadError,
    EntryNotFoundError,
    HubAccessError,
    InvalidArgumentError,
    OfflineError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from helpers import closed_port_url, safetensors_bytes, tiny_entry, trained_like


def _load(entry, hub, cache_dir, **kwargs):
    return dkl_zoo.load(entry, endpoint=hub.url, cache_dir=cache_dir, allow_original=False, **kwargs)


def test_missing_revision_repository_and_file_say_exactly_what_and_where(hub, published, cache_dir):
    entry, _, _ = published
    with pytest.raises(RevisionNotFoundError) as raised:
        _load(entry, hub, cache_dir, revision="v9")
    assert str(raised.value) == (
        f"Revision 'v9' not found (repo '{entry.repo_id}' at {hub.url}). Check the revision (a branch, tag or "
        "full commit sha), or leave it out to use the pinned one."
    )
    assert (raised.value.repo_id, raised.value.endpoint, raised.value.kind) == (entry.repo_id, hub.url, "revision")

    other = dataclasses.replace(entry, name="not-published")
    with pytest.raises(RepositoryNotFoundError) as raised:
        _load(other, hub, cache_dir)
    assert str(raised.value) == (
        f"Repository not found (repo '{other.repo_id}' at {hub.url}). The repo may not be published yet, be "
        f"private (a token: HF_TOKEN), or {hub.url} is not the Hub you meant (HF_ENDPOINT); dkl_zoo.load falls "
        "back to the original release when it can."
    )
    assert raised.value.repo_id == other.repo_id

    with pytest.raises(EntryNotFoundError) as raised:
        _load(entry.with_weights(filename="weights.safetensors"), hub, cache_dir)
    assert str(raised.value) == (
        f"File 'weights.safetensors' not found at revision 'main' (repo '{entry.repo_id}' at {hub.url}). The repo "
        "exists but has no weights at this revision; publish them (dkl-zoo publish) or pick another revision."
    )
    assert raised.value.kind == "file"


@pytest.mark.parametrize(
    "status, fix",
    [
        (401, "Check your token (HF_TOKEN, `hf auth login`) and that you may read this repo."),
        (403, "Check your token (HF_TOKEN, `hf auth login`) and that you may read this repo."),
        (502, "The Hub failed; try again later, or point HF_ENDPOINT at a mirror."),
    ],
)
def test_refusals_and_server_failures_name_the_status_and_the_remedy(hub, published, cache_dir, status, fix):
    entry, _, _ = published
    hub.fail_with = status
    with pytest.raises(HubAccessError) as raised:
        _load(entry, hub, cache_dir)
    assert str(raised.value) == (
        f"{entry.name}: weights {entry.repo_id}@main/model.safetensors are not in the local cache and the Hub at "
        f"{hub.url} answered HTTP {status}. {fix}"
    )
    assert raised.value.status == status


def test_the_token_reaches_the_hub_on_every_request(hub, cache_dir):
    """A private repo: without the token the Hub refuses (401); with it the weights load."""
    torch.manual_seed(0)
    entry = tiny_entry()
    model = trained_like(dkl_zoo.build_model(entry))
    hub.add_repo(entry.repo_id, {"model.safetensors": safetensors_bytes(model)})
    hub.require_token = "hf_secret"
    with pytest.raises(HubAccessError, match="answered HTTP 401") as raised:
        _load(entry, hub, cache_dir)
    assert raised.value.status == 401
    loaded = _load(entry, hub, cache_dir, token="hf_secret")
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(loaded(x), model.eval()(x))
    hub.requests.clear()
    _load(entry, hub, cache_dir, token="hf_secret")  # cached: the freshness check carries the token too
    assert hub.count("HEAD", "/resolve/") == 1 and hub.count("GET", "/resolve/") == 0


def test_offline_mode_and_an_unreachable_hub_say_why_and_what_to_do(published, cache_dir):
    entry, _, _ = published
    with pytest.raises(OfflineError) as raised:
        dkl_zoo.load(entry, cache_dir=cache_dir, local_files_only=True, allow_original=False)
    assert str(raised.value) == (
        f"{entry.name}: weights {entry.repo_id}@main/model.safetensors are not in the local cache and offline "
        "mode is on (local_files_only=True or HF_HUB_OFFLINE=1). Load it once while online (`dkl-zoo download "
        "NAME` on a machine that is online, then copy its HF_HUB_CACHE here), or unset HF_HUB_OFFLINE."
    )
    closed = closed_port_url()
    with pytest.raises(OfflineError) as raised:
        dkl_zoo.load(entry, endpoint=closed, cache_dir=cache_dir, allow_original=False)
    assert str(raised.value).startswith(
        f"{entry.name}: weights {entry.repo_id}@main/model.safetensors are not in the local cache and the Hub at "
        f"{closed} could not be reached ("
    )
    assert str(raised.value).endswith(
        "). Check your connection or HF_ENDPOINT, or pre-fetch the weights on a machine that is online "
        "(`dkl-zoo download NAME`)."
    )
    assert "could not be reached (None" not in str(raised.value)


def test_a_body_that_is_not_the_file_is_a_download_error_naming_server_and_file(hub, published, cache_dir):
    entry, _, _ = published
    hub.replace_body["model.safetensors"] = b"<html>captive portal</html>"
    with pytest.raises(DownloadError) as raised:
        _load(entry, hub, cache_dir)
    message = str(raised.value)
    assert message.startswith(f"{entry.name}: {hub.url} did not send the file {entry.repo_id}@main/model.safetensors (")
    assert message.endswith(
        "). Nothing was kept; try again, or check HF_ENDPOINT / your proxy (an HTML page instead of the file?)."
    )
    assert "(Consistency check failed: file should be of size " in message  # huggingface_hub's own first line


def test_an_invalid_repo_id_says_where_it_came_from(monkeypatch, cache_dir):
    with pytest.raises(InvalidArgumentError) as raised:
        dkl_zoo.load(tiny_entry().with_weights(repo="no/good/id"), cache_dir=cache_dir, allow_original=False)
    assert str(raised.value).startswith("'no/good/id' is not a valid Hub repo id (from the entry's repo): ")
    monkeypatch.setenv("DKL_ZOO_NAMESPACE", "my org!")
    with pytest.raises(InvalidArgumentError) as raised:
        dkl_zoo.load(tiny_entry(), cache_dir=cache_dir, allow_original=False)
    assert "is not a valid Hub repo id (from DKL_ZOO_NAMESPACE='my org!'): " in str(raised.value)


def test_a_damaged_or_different_hash_record_is_rewritten(tmp_path):
    commit, etag = "c" * 40, "a" * 64
    path = zoo_hub.hash_record_path(tmp_path, "ns/name", commit, "model.safetensors")
    path.parent.mkdir(parents=True)
    path.write_text("{broken")
    zoo_hub.record_hash(tmp_path, "ns/name", commit, "model.safetensors", etag, 5)
    assert zoo_hub.recorded_hash(tmp_path, "ns/name", commit, "model.safetensors") == etag
    zoo_hub.record_hash(tmp_path, "ns/name", commit, "model.safetensors", "b" * 64, 5)
    assert zoo_hub.recorded_hash(tmp_path, "ns/name", commit, "model.safetensors") == "b" * 64


def test_locate_called_directly_downloads_once_and_an_explicit_pinned_revision_keeps_the_pin(hub, published, cache_dir):
    entry, _, commit = published
    first = zoo_hub.locate(entry, endpoint=hub.url, cache_dir=cache_dir)  # defaults: online, no forced download
    assert first.path.exists() and hub.count("GET", "/resolve/") == 1
    zoo_hub.locate(entry, endpoint=hub.url, cache_dir=cache_dir)
    assert hub.count("GET", "/resolve/") == 1  # the cache serves the second call
    wrong_pin = entry.with_weights(revision=commit, sha256="0" * 64)
    located = zoo_hub.locate(wrong_pin, revision=commit, endpoint=hub.url, cache_dir=cache_dir)
    assert located.expected_sha256 == "0" * 64  # naming the pinned revision is still the pinned load
    other = zoo_hub.locate(wrong_pin, revision="main", endpoint=hub.url, cache_dir=cache_dir)
    assert other.expected_sha256 is None  # another revision: checked against the Hub's hash instead


def test_the_invalid_repo_id_message_keeps_huggingface_hubs_reason(cache_dir):
    with pytest.raises(InvalidArgumentError, match=r"\(from the entry's repo\): Repo id must"):
        dkl_zoo.load(tiny_entry().with_weights(repo="no/good/id"), cache_dir=cache_dir, allow_original=False)
