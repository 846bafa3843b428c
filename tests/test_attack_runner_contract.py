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


def test_the_state_file_records_every_setting_that_decides_the_result(tmp_path):
    model, x, y = _data()
    state = tmp_path / "state.json"
    run_autoattack(_adversary(model), model, x, y, batch_size=6, config={"eps": 8 / 255}, state_path=state,
                   progress=False)
    config = json.loads(state.read_text())["config"]
    assert set(config) == {"eps", "attacks", "batch_size", "n", "data_sha256", "model_sha256", "world", "rank"}
    assert (config["attacks"], config["batch_size"], config["n"], config["world"], config["rank"]) == (
        ["apgd-ce"], 6, 12, 1, 0)
