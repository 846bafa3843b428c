"""run_autoattack's own defaults, its log and console lines, and the state file's settings: what a caller other
than `evaluate` (RobustBench's adapter, a script) relies on."""

from __future__ import annotations

import json

import torch

from dkl_zoo.attack_runner import run_autoattack
from dkl_zoo.autoattack_adapter import make_adversary

from evalkit import ColourClassifier, colour_images, labels_for


def _data(n: int = 12):
    model = ColourClassifier()
    images = colour_images(n, seed=5)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous().float() / 255
    return model, x, torch.tensor(labels_for(model, images))


def _adversary(model):
    return make_adversary(model, eps=8 / 255, version="custom", attacks=["apgd-ce"], seed=0)


def test_defaults_show_progress_keep_no_adversarial_images_and_print_nothing(capsys):
    model, x, y = _data()
    outcome = run_autoattack(_adversary(model), model, x, y, batch_size=6, config={})
    out, err = capsys.readouterr()
    assert out == ""  # echo is off by default
    assert "clean" in err and "apgd-ce" in err  # progress bars (tqdm writes to stderr) are on by default
    assert outcome.x_adv is None and outcome.y_adv is None


def test_keep_adversarial_and_echo_give_images_and_autoattacks_lines(capsys, tmp_path):
    model, x, y = _data()
    log = tmp_path / "aa.log"
    outcome = run_autoattack(_adversary(model), model, x, y, batch_size=6, config={"version": "custom"},
                             keep_adversarial=True, echo=True, progress=False, log_path=log)
    out, err = capsys.readouterr()
    assert err == ""  # progress=False: no bars
    lines = log.read_text().splitlines()
    assert lines[0] == "using custom version including apgd-ce."
    assert lines[1].startswith("initial accuracy: ")
    assert out.splitlines() == lines  # echo prints exactly the log's lines
    assert outcome.x_adv is not None and outcome.x_adv.shape == x.shape
    assert torch.equal(outcome.y_adv[outcome.flags], y[outcome.flags])  # robust examples keep their label
    assert (outcome.x_adv - x).abs().max() <= 8 / 255 + 1e-6
    assert outcome.robust_after == {"apgd-ce": int(outcome.flags.sum())}  # counted over every example


def test_the_state_file_records_every_setting_that_decides_the_result(tmp_path):
    model, x, y = _data()
    state = tmp_path / "state.json"
    run_autoattack(_adversary(model), model, x, y, batch_size=6, config={"eps": 8 / 255}, state_path=state,
                   progress=False)
    config = json.loads(state.read_text())["config"]
    assert set(config) == {"eps", "attacks", "batch_size", "n", "data_sha256", "model_sha256", "world", "rank"}
    assert (config["attacks"], config["batch_size"], config["n"], config["world"], config["rank"]) == (
        ["apgd-ce"], 6, 12, 1, 0)


class _NoisyProbabilities(torch.nn.Module):
    """Random probability outputs: AutoAttack's checks flag both (randomised, not logits)."""

    def __init__(self, base: torch.nn.Module) -> None:
        super().__init__()
        self.base = base

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.base(x) + torch.randn(x.shape[0], 10)).softmax(dim=1)


def test_the_sanity_checks_run_through_the_runner_with_its_version_batch_and_log(tmp_path):
    model, x, y = _data()
    noisy = _NoisyProbabilities(model)
    for version, randomised_reported in (("custom", True), ("rand", False)):
        log = tmp_path / f"{version}.log"
        adversary = make_adversary(noisy, eps=8 / 255, version="custom", attacks=["apgd-ce", "apgd-dlr"], seed=0)
        adversary.attacks_to_run = []  # the checks only: no attack is run
        run_autoattack(adversary, noisy, x, y, batch_size=6, config={"version": version}, log_path=log,
                       progress=False)
        text = log.read_text()
        assert ("randomized defense" in text) == randomised_reported
        assert "probability distribution" in text
    lines = (tmp_path / "custom.log").read_text().splitlines()
    assert lines[0] == "using custom version including ."
    two = tmp_path / "two.log"
    run_autoattack(_adversary_two(model), model, x, y, batch_size=6, config={"version": "custom"}, log_path=two,
                   progress=False)
    assert two.read_text().splitlines()[0] == "using custom version including apgd-ce, apgd-dlr."


def _adversary_two(model):
    return make_adversary(model, eps=8 / 255, version="custom", attacks=["apgd-ce", "apgd-dlr"], seed=0)
