"""timm registration and RobustBench's load_model, against the local Hub-protocol server."""

from __future__ import annotations

import pytest
import torch

import dkl_zoo
from dkl_zoo.integrations.timm import ROBUSTBENCH_ALIASES, robustbench_timm_name
from dkl_zoo.maintainers.publish import publish
from dkl_zoo.original.convert import write_repo_folder
from dkl_zoo.registry import REGISTRY
from helpers import closed_port_url, run_python, trained_like
from helpers.hub_server import HubServer

X = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(5))


@pytest.fixture(scope="module")
def zoo_hub(tmp_path_factory):
    """Full-size random weights for two entries, published the way `dkl-zoo publish` does."""
    torch.manual_seed(0)
    models = {}
    with HubServer() as hub:
        for name in ("ikl-at-cifar10-wrn34", "ikl-at-cifar100-wrn34-v2"):
            entry = REGISTRY[name]
            model = trained_like(dkl_zoo.build_model(entry))
            folder = write_repo_folder(entry, model.state_dict(), tmp_path_factory.mktemp(name))
            publish(folder, entry.repo_id, endpoint=hub.url, token="t")
            models[name] = model
        yield hub, models


@pytest.fixture()
def hub_env(zoo_hub, monkeypatch, tmp_path):
    from huggingface_hub import constants

    hub, models = zoo_hub
    # What HF_ENDPOINT does when set before huggingface_hub is imported (these are fixed at import time).
    monkeypatch.setattr(constants, "ENDPOINT", hub.url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub.url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    return hub, models


def test_every_entry_and_robustbench_alias_is_a_timm_model():
    import timm

    for entry in REGISTRY.values():
        assert timm.is_model(entry.name.replace("-", "_"))
    listed = timm.list_pretrained("*")  # the zoo shows up where timm users look for pretrained weights
    assert {e.timm_name for e in REGISTRY.values()} | set(ROBUSTBENCH_ALIASES) <= set(listed)
    cfg = timm.models.get_pretrained_cfg("ikl_at_cifar10_wrn34")
    assert cfg.hf_hub_id == "dkl-zoo/ikl-at-cifar10-wrn34" and cfg.input_size == (3, 32, 32) and cfg.mean == (0.0,) * 3
    assert ROBUSTBENCH_ALIASES == {
        "cui2023decoupled_wrn_34_10_cifar10_linf": "ikl-at-cifar10-wrn34",
        "cui2023decoupled_wrn_28_10_cifar10_linf": "ikl-at-cifar10-wrn28-20m",
        "cui2023decoupled_wrn_34_10_cifar100_linf": "ikl-at-cifar100-wrn34-v2",
        "cui2023decoupled_wrn_34_10_autoaug_cifar100_linf": "ikl-at-cifar100-wrn34-autoaug",
        "cui2023decoupled_wrn_28_10_cifar100_linf": "ikl-at-cifar100-wrn28-50m",
    }
    for alias in ROBUSTBENCH_ALIASES:
        assert timm.is_model(alias)
    assert robustbench_timm_name("Cui2023Decoupled_WRN-34-10", "cifar100") == "cui2023decoupled_wrn_34_10_cifar100_linf"


def test_timm_pretrained_false_and_num_classes():
    import timm

    model = timm.create_model("ikl_at_cifar10_wrn34", pretrained=False, num_classes=7)
    assert model.fc.out_features == 7 and model.training
    dm = timm.create_model("ikl_at_cifar100_wrn28_50m", pretrained=False)
    assert dm.logits.out_features == 100
    with pytest.raises(ValueError, match="takes 3 input channels"):
        timm.create_model("ikl_at_cifar10_wrn34", in_chans=1)


def test_timm_data_config_is_input_size_and_identity_normalisation():
    import timm

    model = timm.create_model("ikl_at_cifar100_wrn28_50m", pretrained=False)
    config = timm.data.resolve_data_config(model=model)
    assert config["input_size"] == (3, 32, 32)
    assert config["mean"] == (0.0, 0.0, 0.0) and config["std"] == (1.0, 1.0, 1.0)  # normalisation is inside


@pytest.mark.slow
def test_timm_pretrained_loads_verified_weights(hub_env):
    import timm

    hub, models = hub_env
    model = timm.create_model("ikl_at_cifar10_wrn34", pretrained=True)
    assert not model.training
    torch.testing.assert_close(model(X), models["ikl-at-cifar10-wrn34"](X), rtol=0, atol=1e-5)
    swapped = timm.create_model("ikl_at_cifar10_wrn34", pretrained=True, num_classes=5)
    assert swapped.fc.out_features == 5
    assert torch.equal(swapped.block1.layer[0].conv1.weight, model.block1.layer[0].conv1.weight)


@pytest.mark.slow
def test_timm_hf_hub_name_uses_the_converters_config(hub_env):
    import timm

    hub, models = hub_env
    model = timm.create_model("hf-hub:dkl-zoo/ikl-at-cifar10-wrn34", pretrained=True)
    torch.testing.assert_close(model(X), models["ikl-at-cifar10-wrn34"](X), rtol=0, atol=1e-5)
    assert hub.count("GET", "/config.json") >= 1


@pytest.mark.slow
def test_robustbench_load_model_returns_our_verified_weights(hub_env):
    from dkl_zoo.integrations.robustbench import enable_robustbench

    enable_robustbench()
    from robustbench.utils import load_model

    hub, models = hub_env
    model = load_model("Cui2023Decoupled_WRN-34-10", dataset="cifar100", threat_model="Linf")
    torch.testing.assert_close(model(X), models["ikl-at-cifar100-wrn34-v2"](X), rtol=0, atol=1e-5)
    assert not model.training
    assert hub.count("GET", "/dkl-zoo/ikl-at-cifar100-wrn34-v2/resolve/") == 1


IMPORT_COST = """
import sys, dkl_zoo
dkl_zoo.list_models(); dkl_zoo.model_info("ikl-at-cifar10-wrn34")
heavy = [m for m in ("robustbench", "autoattack", "pyautoattack", "timm", "torchvision", "matplotlib",
                     "huggingface_hub") if m in sys.modules]
print("HEAVY", heavy)
import timm
print("REGISTERED", timm.is_model("ikl_at_cifar10_wrn34"))
"""


def test_import_dkl_zoo_imports_nothing_heavy_and_timm_registers_later():
    done = run_python(IMPORT_COST)
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stdout
    assert "REGISTERED True" in done.stdout


def test_timm_hf_hub_name_with_the_hub_down_fails_at_once_with_our_error(hub_env, monkeypatch):
    import time

    import timm
    from huggingface_hub import constants

    from dkl_zoo.errors import OfflineError

    down = closed_port_url()
    monkeypatch.setattr(constants, "ENDPOINT", down)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", down + "/{repo_id}/resolve/{revision}/{filename}")
    started = time.monotonic()
    with pytest.raises(OfflineError, match="could not be reached"):
        timm.create_model("hf-hub:dkl-zoo/ikl-at-cifar10-wrn34", pretrained=True)
    assert time.monotonic() - started < 5  # no 25 s of retries


TIMM_AS_USERS_SEE_IT = """
import json, sys
if sys.argv[1] == "with":
    import dkl_zoo
import timm
from timm.models import _factory
zoo = set(timm.list_models("*ikl*") + timm.list_models("*gkl*") + timm.list_models("*trades*")
          + timm.list_models("*standard_fmnist*") + timm.list_models("*Cui2023*") + timm.list_models("*cui2023*"))
model = timm.create_model("resnet18", pretrained=False, num_classes=7)
print(json.dumps({"others": sorted(set(timm.list_models()) - zoo), "zoo": len(zoo),
                  "resnet18": [sum(p.numel() for p in model.parameters()), sorted(model.state_dict())[:5]],
                  "pretrained_cfg": model.pretrained_cfg.get("hf_hub_id"),
                  "hooks": [type(f).__name__ for f in sys.meta_path if "Timm" in type(f).__name__],
                  "factory_loader": _factory.load_model_config_from_hf.__module__}))
"""


def test_a_users_own_import_timm_is_unchanged_for_every_other_name():
    """The import hook adds the zoo's names and removes itself; everything else timm has stays as it was."""
    import json

    without, with_zoo = (
        run_python(TIMM_AS_USERS_SEE_IT.replace("sys.argv[1]", repr(arg))) for arg in ("without", "with")
    )
    assert without.returncode == 0 and with_zoo.returncode == 0, without.stderr + with_zoo.stderr
    before, after = json.loads(without.stdout), json.loads(with_zoo.stdout)
    assert before["zoo"] == 0 and after["zoo"] >= 12  # the zoo's names, and only they, were added
    assert after["others"] == before["others"] and len(before["others"]) > 1000
    assert after["resnet18"] == before["resnet18"] and after["pretrained_cfg"] == before["pretrained_cfg"]
    assert after["hooks"] == [] == before["hooks"]  # the hook ran once and left sys.meta_path
    from timm.models import _hub

    if _hub.has_hf_hub(False):  # timm's own Hub support on: its loader is left alone
        assert after["factory_loader"] == before["factory_loader"]
