"""`dkl-zoo release`, end to end with real clients: a Drive-like server with the large-file confirmation page,
the Hub-protocol test server, the real huggingface_hub upload API; then pinned loads through the Hub path."""

from __future__ import annotations

import hashlib
import io
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import dkl_zoo
from dkl_zoo._pins import Pin, load_pins, save_pins
from dkl_zoo.errors import IntegrityError, InvalidArgumentError
from dkl_zoo.maintainers.release import ReleaseCheckError, release
from dkl_zoo.registry import get_entry
from helpers import ROOT, python_env, safetensors_bytes, tiny_entry, trained_like
from helpers.drive_server import DriveServer

X = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def _original_bytes(model: torch.nn.Module, wrapped: bool) -> bytes:
    """What the authors uploaded: a pickled state dict, DataParallel-prefixed for the WRN-34-10 files."""
    state = {(f"module.{k}" if wrapped else k): v for k, v in model.state_dict().items()}
    buffer = io.BytesIO()
    torch.save({"state_dict": state} if wrapped else state, buffer)
    return buffer.getvalue()


def _serve(drive: DriveServer, entry, model, wrapped: bool = True) -> bytes:
    data = _original_bytes(model, wrapped)
    file_id = entry.weights.original_sources[0].google_drive_id
    drive.files[file_id] = data
    drive.large.add(file_id)  # behind the "can't scan for viruses" page
    return data


@pytest.mark.slow
def test_release_two_full_size_entries_then_load_them_pinned(drive, hub, tmp_path, monkeypatch):
    torch.manual_seed(0)
    wrn34 = trained_like(dkl_zoo.build_model("ikl-at-cifar10-wrn34"))
    dm = trained_like(dkl_zoo.build_model("ikl-at-cifar100-wrn28-50m"))
    originals = {
        "ikl-at-cifar10-wrn34": _serve(drive, get_entry("ikl-at-cifar10-wrn34"), wrn34),
        "ikl-at-cifar100-wrn28-50m": _serve(drive, get_entry("ikl-at-cifar100-wrn28-50m"), dm, wrapped=False),
    }
    pins_path = tmp_path / "pins.json"
    lines: list[str] = []
    rows = release(
        list(originals),
        namespace="zoo-test",
        pins_path=pins_path,
        endpoint=hub.url,
        work_dir=tmp_path / "work",
        progress=False,
        echo=lines.append,
    )
    assert [r.action for r in rows] == ["released", "released"]
    assert "model.safetensors sha256" in lines[-1] and "zoo-test/ikl-at-cifar10-wrn34" in lines[-1]
    pins = load_pins(pins_path)
    for name, data in originals.items():
        pin = pins[name]
        served = hub.files(pin.repo_id, pin.revision)
        assert pin.repo_id == f"zoo-test/{name}" and len(pin.revision) == 40
        assert set(served) >= {"model.safetensors", "config.json", "README.md"}
        assert pin.sha256 == hashlib.sha256(served["model.safetensors"]).hexdigest()
        assert pin.original_sha256 == hashlib.sha256(data).hexdigest()
        assert pin.original_source.startswith("README Google Drive")
        assert len(hub._repos[pin.repo_id].history) == 2  # create_repo's first commit, then one upload

    monkeypatch.setenv("DKL_ZOO_PINS", str(pins_path))
    cache = tmp_path / "hf-cache"
    for name, reference in (("ikl-at-cifar10-wrn34", wrn34), ("ikl-at-cifar100-wrn28-50m", dm)):
        entry = get_entry(name)
        assert (entry.repo_id, entry.weights.revision) == (pins[name].repo_id, pins[name].revision)
        model = dkl_zoo.load(name, endpoint=hub.url, cache_dir=cache)
        assert torch.allclose(model(X), reference(X), rtol=0, atol=1e-5)
        offline = dkl_zoo.load(name, endpoint=hub.url, cache_dir=cache, local_files_only=True)
        assert torch.equal(offline(X), model(X))

    # Tampering on the server: other bytes (with their own hash) at the pinned path are refused.
    hub.substitute["model.safetensors"] = safetensors_bytes(
        trained_like(dkl_zoo.build_model("ikl-at-cifar10-wrn34"), 3)
    )
    with pytest.raises(IntegrityError):
        dkl_zoo.load("ikl-at-cifar10-wrn34", endpoint=hub.url, cache_dir=tmp_path / "fresh-cache")
    hub.substitute.clear()

    # A second run is a no-op: nothing fetched, nothing committed, the pins file unchanged.
    before = pins_path.read_bytes()
    drive.requests.clear()
    again = release(
        list(originals),
        namespace="zoo-test",
        pins_path=pins_path,
        endpoint=hub.url,
        work_dir=tmp_path / "work",
        progress=False,
        echo=lambda _: None,
    )
    assert [r.action for r in again] == ["up to date", "up to date"]
    assert pins_path.read_bytes() == before and drive.requests == []
    assert all(len(hub._repos[p.repo_id].history) == 2 for p in pins.values())


def test_dry_run_changes_nothing(drive, hub, tmp_path):
    lines: list[str] = []
    rows = release(
        ["ikl-at-cifar10-wrn34", "gkl-at-cifar100-wrn28-50m"],
        namespace="zoo-test",
        pins_path=tmp_path / "pins.json",
        dry_run=True,
        work_dir=tmp_path / "work",
        echo=lines.append,
    )
    assert [r.action for r in rows] == ["would release", "would release"]
    assert "1SFdNdKE6ezI6OsINWX-h74dGo2-9u3Ac" in lines[0] and "zoo-test/ikl-at-cifar10-wrn34" in lines[0]
    assert not (tmp_path / "pins.json").exists() and not (tmp_path / "work").exists()
    assert hub.requests == [] and drive.requests == []


def test_bad_arguments_are_refused_before_any_work(drive, hub, tmp_path):
    for names, namespace, message in (
        (["nope"], "ns", "unknown model"),
        (["ikl-at-fmnist-wrn10-1"], "ns", "no original release"),
        (["ikl-at-cifar10-wrn34"], "a/b", "single name"),
        (["ikl-at-cifar10-wrn34"], "bad name!", "not a Hub user"),
    ):
        with pytest.raises(InvalidArgumentError, match=message):
            release(
                names, namespace=namespace, pins_path=tmp_path / "p.json", endpoint=hub.url, work_dir=tmp_path / "w"
            )
    assert hub.requests == [] and drive.requests == []


def _tiny(name: str = "ikl-at-cifar10-wrn34", seed: int = 0):
    torch.manual_seed(seed)
    entry = tiny_entry(name)
    return entry, trained_like(dkl_zoo.build_model(entry), seed)


def test_check_data_gate_refuses_weights_that_miss_the_reported_accuracy(drive, hub, tmp_path, monkeypatch):
    from helpers.colour_data import colour_images, point_torchvision_at, write_cifar

    entry, model = _tiny()
    _serve(drive, entry, model)
    images = colour_images(40, seed=5)
    with torch.no_grad():
        own = model(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255).argmax(1).tolist()
    point_torchvision_at(monkeypatch, write_cifar(tmp_path / "data", images, [(c + 1) % 10 for c in own]))
    with pytest.raises(ReleaseCheckError, match="more than 3 sigma"):  # reported 85.31 %, measured 0 %
        release(
            [entry],
            namespace="zoo-test",
            pins_path=tmp_path / "pins.json",
            endpoint=hub.url,
            work_dir=tmp_path / "work",
            check_data=tmp_path / "data",
            check_n=40,
            progress=False,
            echo=lambda _: None,
        )
    assert not hub.has_repo(f"zoo-test/{entry.name}") and not (tmp_path / "pins.json").exists()
    point_torchvision_at(monkeypatch, write_cifar(tmp_path / "data", images, own))  # measured 100 %: within 3 sigma
    lines: list[str] = []
    rows = release(
        [entry],
        namespace="zoo-test",
        pins_path=tmp_path / "pins.json",
        endpoint=hub.url,
        work_dir=tmp_path / "work",
        check_data=tmp_path / "data",
        check_n=40,
        progress=False,
        echo=lines.append,
    )
    assert rows[0].action == "released" and entry.name in load_pins(tmp_path / "pins.json")
    assert "clean accuracy 100.00 % on the first 40 test images (reported 85.31 %)" in lines[0]


KILLED_RELEASE = """
import sys
sys.path.insert(0, {tests!r})
from helpers import tiny_entry
from dkl_zoo.maintainers.release import release
entries = [tiny_entry("ikl-at-cifar10-wrn34"), tiny_entry("ikl-at-cifar100-wrn34")]
release(entries, namespace="zoo-test", pins_path={pins!r}, endpoint={endpoint!r}, work_dir={work!r},
        progress=False)
"""


def test_release_killed_mid_upload_resumes_without_duplicate_commits(drive, hub, tmp_path):
    import threading

    first, first_model = _tiny("ikl-at-cifar10-wrn34", 1)
    second, second_model = _tiny("ikl-at-cifar100-wrn34", 2)
    _serve(drive, first, first_model)
    _serve(drive, second, second_model)
    hub.hold_commits = threading.Event()
    script = KILLED_RELEASE.format(
        tests=str(ROOT / "tests"), pins=str(tmp_path / "pins.json"), endpoint=hub.url, work=str(tmp_path / "work")
    )
    env = python_env()
    process = subprocess.Popen(
        [sys.executable, "-c", script], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    started = hub.wait_until(lambda: hub.commits_seen >= 1 or process.poll() is not None, timeout=120)
    assert started and hub.commits_seen == 1, process.stderr.read().decode() if process.poll() is not None else ""
    process.send_signal(signal.SIGKILL)  # mid-upload of the first entry
    process.wait()
    hub.hold_commits.set()
    hub.hold_commits = None
    assert hub.wait_until(lambda: hub.commits_done == 1)  # the held request is dropped: nothing committed
    assert not (tmp_path / "pins.json").exists()
    drive.requests.clear()
    rows = release(
        [first, second],
        namespace="zoo-test",
        pins_path=tmp_path / "pins.json",
        endpoint=hub.url,
        work_dir=tmp_path / "work",
        progress=False,
        echo=lambda _: None,
    )
    assert rows[0].action in ("released", "already on the Hub") and rows[1].action == "released"
    first_downloads = [p for p in drive.requests if first.weights.original_sources[0].google_drive_id in p]
    assert first_downloads == []  # the original fetched before the kill was kept and reused
    for entry in (first, second):
        history = hub._repos[f"zoo-test/{entry.name}"].history
        assert len(history) == 2, f"{entry.name}: {len(history) - 1} upload commits"
    pins = load_pins(tmp_path / "pins.json")
    assert set(pins) == {first.name, second.name}
    assert pins[first.name].revision == hub._repos[f"zoo-test/{first.name}"].history[-1]


def test_changed_original_is_refused_against_its_pin(drive, hub, tmp_path):
    entry, model = _tiny()
    _serve(drive, entry, model)
    pins_path = tmp_path / "pins.json"
    save_pins(
        {
            entry.name: Pin(
                f"other/{entry.name}",
                "a" * 40,
                "b" * 64,
                original_sha256="c" * 64,
                original_source="README Google Drive x",
            )
        },
        pins_path,
    )
    with pytest.raises(IntegrityError, match="changed since it was pinned"):
        release(
            [entry],
            namespace="zoo-test",
            pins_path=pins_path,
            endpoint=hub.url,
            work_dir=tmp_path / "w",
            progress=False,
            echo=lambda _: None,
        )
    assert not hub.has_repo(f"zoo-test/{entry.name}")


# ---- the fallback, honest ------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:.*does not exist yet:UserWarning")
def test_unpinned_fallback_trusts_on_first_use_says_so_and_refuses_a_later_different_file(drive, hub, tmp_path, capsys):
    from dkl_zoo.cli import main as cli_main

    entry, model = _tiny()
    data = _serve(drive, entry, model)
    with pytest.warns(UserWarning, match=f"trusting it on first use. Its sha256 is {hashlib.sha256(data).hexdigest()}"):
        dkl_zoo.load(entry, endpoint=hub.url, cache_dir=tmp_path / "hf", progress=False)
    # The cached conversion goes (e.g. a new machine keeps known_originals.json), and Drive now serves another file.
    import shutil

    shutil.rmtree(tmp_path / "hf" / "dkl_zoo" / "original")  # cache_dir holds the fallback's files too
    _serve(drive, entry, trained_like(dkl_zoo.build_model(entry), seed=8))
    with pytest.raises(IntegrityError, match=r"forget_original\('ikl-at-cifar10-wrn34', '.*hf/dkl_zoo'\)") as caught:
        dkl_zoo.load(entry, endpoint=hub.url, cache_dir=tmp_path / "hf", progress=False)
    assert caught.value.remedy.command == f"dkl-zoo forget-original {entry.name} --cache-dir {tmp_path / 'hf'}"
    assert cli_main(["forget-original", entry.name]) == 0  # DKL_ZOO_CACHE: nothing trusted there
    assert "forgot 0 trusted original" in capsys.readouterr().out
    assert cli_main(["forget-original", entry.name, "--cache-dir", str(tmp_path / "hf")]) == 0
    assert "forgot 1 trusted original" in capsys.readouterr().out
    with pytest.warns(UserWarning, match="trusting it on first use"):
        dkl_zoo.load(entry, endpoint=hub.url, cache_dir=tmp_path / "hf", progress=False)


def test_pinned_original_with_another_sha256_is_refused(drive, hub, tmp_path):
    entry, model = _tiny()
    _serve(drive, entry, model)
    pinned = entry.with_weights(original_sha256="0" * 64, original_source=entry.weights.original_sources[0].key)
    with pytest.raises(IntegrityError, match="pins.json"):
        dkl_zoo.load(pinned, endpoint=hub.url, cache_dir=tmp_path / "hf", progress=False)
    assert not list(tmp_path.rglob("model.safetensors"))


def test_pins_file_applies_through_dkl_zoo_pins_and_bad_files_are_named(tmp_path, monkeypatch):
    pins_path = tmp_path / "pins.json"
    save_pins({"ikl-at-cifar10-wrn34": Pin("mirror/ikl-at-cifar10-wrn34", "1" * 40, "2" * 64)}, pins_path)
    assert get_entry("ikl-at-cifar10-wrn34").weights.revision is None  # the shipped pins file pins nothing yet
    monkeypatch.setenv("DKL_ZOO_PINS", str(pins_path))
    entry = get_entry("ikl-at-cifar10-wrn34")
    assert (entry.repo_id, entry.weights.revision, entry.weights.sha256) == (
        "mirror/ikl-at-cifar10-wrn34",
        "1" * 40,
        "2" * 64,
    )
    monkeypatch.setenv("DKL_ZOO_NAMESPACE", "elsewhere")  # a mirror the pins do not describe: content pin only
    from dkl_zoo._hub import repo_id_of

    entry = get_entry("ikl-at-cifar10-wrn34")
    assert (repo_id_of(entry), entry.weights.revision, entry.weights.sha256) == (
        "elsewhere/ikl-at-cifar10-wrn34",
        None,
        "2" * 64,
    )
    monkeypatch.delenv("DKL_ZOO_NAMESPACE")
    pins_path.write_text(
        json.dumps(
            {"format": 1, "pins": {"ikl-at-cifar10-wrn34": {"repo_id": "x/y", "revision": "main", "sha256": "2" * 64}}}
        )
    )
    with pytest.raises(InvalidArgumentError, match="40-hex commit"):
        get_entry("ikl-at-cifar10-wrn34")
    monkeypatch.setenv("DKL_ZOO_PINS", str(tmp_path / "missing.json"))
    with pytest.raises(InvalidArgumentError, match="DKL_ZOO_PINS"):
        get_entry("ikl-at-cifar10-wrn34")


def test_shipped_pins_file_is_valid_and_cards_show_its_pins():
    pins = load_pins()
    path = Path(dkl_zoo.__file__).parent / "pins.json"
    assert json.loads(path.read_text())["format"] == 1
    for name, pin in pins.items():
        card = (ROOT / "model_cards" / name / "README.md").read_text()
        assert pin.revision in card and pin.sha256 in card


def test_a_pin_under_a_name_the_registry_lacks_is_refused_with_the_closest_names(tmp_path, monkeypatch):
    """A misspelt name used to be ignored, and its entry loaded unpinned bytes."""
    pins_path = tmp_path / "pins.json"
    save_pins({"ikl-at-cifar10-wrn43": Pin("dkl-zoo/ikl-at-cifar10-wrn43", "1" * 40, "2" * 64)}, pins_path)
    monkeypatch.setenv("DKL_ZOO_PINS", str(pins_path))
    with pytest.raises(
        InvalidArgumentError,
        match=r"pins 'ikl-at-cifar10-wrn43' \(did you mean 'ikl-at-cifar10-wrn34'\?\), "
        "which the registry does not have",
    ):
        get_entry("ikl-at-cifar10-wrn34")
    with pytest.raises(InvalidArgumentError, match="which the registry does not have"):
        dkl_zoo.load("ikl-at-fmnist-wrn10-1")


def _add_pin(path: str, name: str, digit: str) -> None:  # one release's write, in its own process
    from dkl_zoo._pins import Pin, update_pins

    update_pins(path, {name: Pin(f"dkl-zoo/{name}", digit * 40, digit * 64)})


def test_releases_writing_one_pins_file_at_once_keep_every_pin(tmp_path):
    import multiprocessing

    path = tmp_path / "pins.json"
    names = [
        "ikl-at-cifar10-wrn34",
        "ikl-at-cifar10-wrn28-20m",
        "ikl-at-cifar100-wrn34",
        "ikl-at-cifar100-wrn34-v2",
        "ikl-at-cifar100-wrn28-50m",
        "gkl-at-cifar100-wrn28-50m",
    ]
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_add_pin, args=(str(path), name, str(i + 1))) for i, name in enumerate(names)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [w.exitcode for w in workers] == [0] * len(names)
    assert sorted(load_pins(path)) == sorted(names)
    assert {p.name for p in tmp_path.iterdir()} == {"pins.json", ".pins.json.lock"}


def test_an_unwritable_pins_file_is_refused_before_anything_is_fetched(drive, hub, tmp_path):
    from helpers import unwritable

    folder = tmp_path / "pins"
    folder.mkdir()
    with unwritable(folder):
        with pytest.raises(InvalidArgumentError, match="cannot write the pins file .*not writable here"):
            release(
                ["ikl-at-cifar10-wrn34"],
                namespace="zoo-test",
                pins_path=folder / "pins.json",
                endpoint=hub.url,
                work_dir=tmp_path / "work",
                progress=False,
            )
    (tmp_path / "a-file").write_text("")
    with pytest.raises(InvalidArgumentError, match="is not a folder"):
        release(
            ["ikl-at-cifar10-wrn34"],
            namespace="zoo-test",
            pins_path=tmp_path / "a-file" / "pins.json",
            endpoint=hub.url,
            work_dir=tmp_path / "work",
            progress=False,
        )
    assert hub.requests == [] and drive.requests == []


def test_a_hub_answering_500_during_a_release_is_a_hub_access_error(drive, hub, tmp_path):
    from dkl_zoo.errors import HubAccessError

    entry, model = _tiny()
    _serve(drive, get_entry("ikl-at-cifar10-wrn34"), model)
    hub.fail_with = 500
    with pytest.raises(HubAccessError, match=r"releasing .*answered HTTP 500") as info:
        release(
            [entry],
            namespace="zoo-test",
            pins_path=tmp_path / "pins.json",
            endpoint=hub.url,
            work_dir=tmp_path / "work",
            progress=False,
            echo=lambda line: None,
        )
    assert info.value.status == 500 and not (tmp_path / "pins.json").exists()


def test_library_arguments_are_named_as_keywords_not_flags(drive, hub, tmp_path):
    with pytest.raises(InvalidArgumentError, match=r"^check_n must be a positive integer, got 0$"):
        release(["ikl-at-cifar10-wrn34"], namespace="ns", pins_path=tmp_path / "p.json", check_data=tmp_path, check_n=0)
    with pytest.raises(InvalidArgumentError, match=r"^namespace 'a/b' must be a single name"):
        release(["ikl-at-cifar10-wrn34"], namespace="a/b", pins_path=tmp_path / "p.json")


@pytest.mark.parametrize(
    "template, message",
    [
        ("http://127.0.0.1:9/file", r"must contain \{id\} exactly once"),
        ("http://127.0.0.1:9/{id}/{id}", r"must contain \{id\} exactly once"),
        ("http://127.0.0.1:9/{other}", r"has the field\(s\) \{other\}; only \{id\}"),
        ("http://127.0.0.1:9/{0}", r"has the field\(s\) \{0\}"),
        ("http://127.0.0.1:9/{", r"is not a URL template \(Single '\{' encountered"),
    ],
)
def test_an_original_url_template_without_exactly_one_id_is_refused_by_name(
    drive, hub, tmp_path, monkeypatch, template, message
):
    """Without {id} every entry fetched one URL, so two different models loaded the same weights."""
    entry, model = _tiny()
    _serve(drive, entry, model)
    monkeypatch.setenv("DKL_ZOO_ORIGINAL_URL", template)
    with pytest.raises(InvalidArgumentError, match="DKL_ZOO_ORIGINAL_URL=.* " + message):
        dkl_zoo.load(entry, endpoint=hub.url, cache_dir=tmp_path / "hf", progress=False)
    assert drive.requests == []


@pytest.mark.filterwarnings("ignore:.*does not exist yet:UserWarning", "ignore:.*trusting it on first use:UserWarning")
def test_an_unusable_zoo_cache_names_dkl_zoo_cache_and_forgetting_changes_all_or_nothing(
    drive, hub, tmp_path, monkeypatch
):
    from dkl_zoo.errors import CacheError
    from dkl_zoo.original import forget_original, known_originals_path
    from helpers import unwritable

    entry, model = _tiny()
    _serve(drive, entry, model)
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("DKL_ZOO_CACHE", str(tmp_path / "a-file"))
    with pytest.raises(CacheError, match=r"cannot keep the original release .* point DKL_ZOO_CACHE.* at a writable"):
        dkl_zoo.load(entry, endpoint=hub.url, progress=False)
    dkl_zoo.load(entry, endpoint=hub.url, cache_dir=tmp_path / "hf", progress=False)  # the keyword wins
    assert list((tmp_path / "hf" / "dkl_zoo" / "original" / entry.name).glob("*/model.safetensors"))
    cache = tmp_path / "zoo"
    cache.mkdir()
    monkeypatch.setenv("DKL_ZOO_CACHE", str(cache))
    with unwritable(cache):
        with pytest.raises(CacheError, match="DKL_ZOO_CACHE"):
            dkl_zoo.load(entry, endpoint=hub.url, progress=False)
    dkl_zoo.load(entry, endpoint=hub.url, progress=False)
    record = known_originals_path().read_text()
    kept = sorted(p.relative_to(cache) for p in cache.rglob("*"))
    for frozen in ([cache, cache / "original"], [cache]):  # the conversion cannot move / the record cannot change
        with unwritable(*frozen):
            with pytest.raises(CacheError, match="cannot forget the original release"):
                forget_original(entry.name)
        assert known_originals_path().read_text() == record
        assert sorted(p.relative_to(cache) for p in cache.rglob("*")) == kept
    assert forget_original(entry.name) and not (cache / "original" / entry.name).exists()
    assert sorted(p.name for p in (cache / "original").iterdir()) == []
