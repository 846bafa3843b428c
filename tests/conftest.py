"""Shared fixtures: a Hub-protocol server on 127.0.0.1, a Google-Drive stand-in, a cache folder, a published tiny
model, and the colour data the evaluation tests use. Plain helpers live in the ``helpers`` package."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

import dkl_zoo
from dkl_zoo import settings
from helpers import safetensors_bytes, tiny_entry, trained_like
from helpers.hub_server import HubServer


@pytest.fixture()
def hub():
    with HubServer() as server:
        yield server


@pytest.fixture()
def drive(monkeypatch, tmp_path):
    """A Google-Drive stand-in on 127.0.0.1 that the original-release fallback and `dkl-zoo release` use."""
    from helpers.drive_server import DriveServer

    with DriveServer() as server:
        monkeypatch.setenv(settings.ORIGINAL_URL_ENV, server.url_template)
        monkeypatch.setenv(settings.CACHE_ENV, str(tmp_path / "zoo-cache"))
        yield server


@pytest.fixture()
def cache_dir(tmp_path: Path) -> Path:
    path = tmp_path / "hf-cache"
    path.mkdir()
    return path


@pytest.fixture()
def published(hub: HubServer):
    """A tiny WRN published at the entry's repo id; returns (entry, reference model, commit sha)."""
    torch.manual_seed(0)
    entry = tiny_entry()
    model = trained_like(dkl_zoo.build_model(entry))
    sha = hub.add_repo(entry.repo_id, {"model.safetensors": safetensors_bytes(model), "config.json": b"{}"})
    return entry, model, sha


@pytest.fixture()
def colour_data():
    """A colour classifier, 16 of its images and labels (clean accuracy below 100 %): fresh for every test,
    so hooks a test puts on the model stay in that test."""
    from helpers.colour_data import colour_set

    return colour_set(16, seed=1)


def pytest_configure(config) -> None:
    """Under pytest-xdist each worker computes on one core (torch and the processes it starts alike): two
    workers with two threads each on two cores spin-wait on each other and run slower than one.

    The package's cache (``DKL_ZOO_CACHE``: original files, predict's ONNX exports) is one temporary folder for
    the whole run, made before the workers start so that they share it: an export that ``predict`` makes is made
    once per run, under its file lock, never in the user's home."""
    if not hasattr(config, "workerinput") and not os.environ.get(settings.CACHE_ENV):
        import tempfile

        config._dkl_zoo_cache = tempfile.mkdtemp(prefix="dkl-zoo-test-cache-")
        os.environ[settings.CACHE_ENV] = config._dkl_zoo_cache
    if os.environ.get("PYTEST_XDIST_WORKER"):
        for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[variable] = "1"
        torch.set_num_threads(1)


def pytest_unconfigure(config) -> None:
    folder = getattr(config, "_dkl_zoo_cache", None)
    if folder is not None:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop(settings.CACHE_ENV, None)


def _fail_in_ci(report) -> None:
    """In CI everything a test needs is installed (``.ci/run`` does it): a skip there would test nothing and
    still look green, so it is reported as a failure that says what was missing."""
    if report.skipped and os.environ.get("CI") and not hasattr(report, "wasxfail"):
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where everything the test needs must be installed: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_in_ci(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_in_ci(outcome.get_result())
