"""The model shipped in the package: loads with no network, and its recorded numbers hold on real data."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pytest

import dkl_zoo
from dkl_zoo.registry import REGISTRY
from helpers import fashion_mnist_or_skip, run_python

NAME = "ikl-at-fmnist-wrn10-1"
ENTRY = REGISTRY[NAME]
N_CHECK = 50  # AutoAttack standard on 50 images: about 90 s on 2 idle cores (FAB-T and Square the most)


@pytest.mark.parametrize("name", [NAME, "standard-fmnist-wrn10-1"])
def test_packaged_weights_are_small_and_pinned(name):
    entry = REGISTRY[name]
    path = Path(dkl_zoo.__file__).parent / entry.weights.embedded_file
    assert path.stat().st_size < 2_000_000
    assert hashlib.sha256(path.read_bytes()).hexdigest() == entry.weights.sha256
    assert entry.arch.input_size == (1, 28, 28) and entry.provenance.eps == 0.1 and entry.dataset == "fashion-mnist"


def test_the_contrast_is_the_same_network_trained_without_attacks():
    standard = REGISTRY["standard-fmnist-wrn10-1"]
    assert standard.provenance.method == "standard" and ENTRY.provenance.method == "adversarial"
    assert (standard.arch, standard.provenance.eps) == (ENTRY.arch, ENTRY.provenance.eps)
    assert standard.headline.clean_acc > ENTRY.headline.clean_acc and standard.headline.robust_acc == 0.0


NO_NETWORK = """
import sys, dkl_zoo
model = dkl_zoo.load("ikl-at-fmnist-wrn10-1")
print("OK", type(model).__name__, model.training, "huggingface_hub" in sys.modules)
"""


@pytest.mark.parametrize("name", [NAME, "standard-fmnist-wrn10-1"])
def test_loads_offline_with_an_empty_cache_and_makes_no_hub_call(hub, tmp_path, name):
    env = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "empty"), "HF_ENDPOINT": hub.url}
    done = run_python(NO_NETWORK.replace(NAME, name), env)
    assert done.returncode == 0, done.stderr
    assert "OK WideResNet False False" in done.stdout  # eval mode; huggingface_hub not even imported
    online = run_python(
        NO_NETWORK.replace(NAME, name), {"HF_HUB_CACHE": str(tmp_path / "empty"), "HF_ENDPOINT": hub.url}
    )
    assert online.returncode == 0 and hub.requests == []


def test_tampered_package_file_is_refused(tmp_path, monkeypatch):
    from dkl_zoo.errors import IntegrityError

    with pytest.raises(IntegrityError):
        dkl_zoo.load(ENTRY.with_weights(sha256="0" * 64))


def test_recorded_numbers_hold_on_the_real_test_images():
    """The first 50 test images, AutoAttack standard, seed 0, one batch: 35 clean (70.00 %) and 26 robust
    (52.00 %) on every run recorded, on CPU and GPU alike; one image of slack for floating-point ties."""
    fashion_mnist_or_skip()
    result = dkl_zoo.evaluate(NAME, n_examples=N_CHECK, batch_size=N_CHECK, progress=False)
    assert abs(result.n_clean_correct - 35) <= 1, result.summary()
    assert abs(result.n_robust - 26) <= 1, result.summary()
    assert result.robust_after_counts["square"] == result.n_robust
    # the contrast model on the same images: more of them right, none left under attack
    contrast = dkl_zoo.evaluate("standard-fmnist-wrn10-1", n_examples=N_CHECK, batch_size=N_CHECK, progress=False)
    assert contrast.n_robust == 0 and contrast.n_clean_correct > result.n_clean_correct, contrast.summary()
    # and the 1000-image numbers the entry reports are consistent with this subset (3 sigma, binomial)
    recorded = ENTRY.headline
    for measured, expected in (
        (result.clean_acc, recorded.clean_acc / 100),
        (result.robust_acc, recorded.robust_acc / 100),
    ):
        assert abs(measured - expected) <= 3 * math.sqrt(expected * (1 - expected) / N_CHECK)
