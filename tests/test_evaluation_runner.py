"""run_autoattack's own defaults, its log and console lines, and the state file's settings: what a caller other
than `evaluate` (RobustBench's adapter, a script) relies on."""

from __future__ import annotations

import json
import math
import sys
import time

import pytest
import torch

import dkl_zoo
from dkl_zoo._autoattack import make_adversary
from dkl_zoo.errors import (
    EvaluationStateError,
)
from dkl_zoo.evaluation import evaluate
from dkl_zoo.evaluation.runner import run_autoattack
from helpers.colour_data import (
    ColourClassifier,
    as_tensor,
    colour_images,
    colour_set,
    labels_for,
)


def _data(n: int = 12):
    return colour_set(n, seed=5)


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
    outcome = run_autoattack(
        _adversary(model),
        model,
        x,
        y,
        batch_size=6,
        config={"version": "custom"},
        keep_adversarial=True,
        echo=True,
        progress=False,
        log_path=log,
    )
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
    run_autoattack(
        _adversary(model), model, x, y, batch_size=6, config={"eps": 8 / 255}, state_path=state, progress=False
    )
    config = json.loads(state.read_text())["config"]
    assert set(config) == {"eps", "attacks", "batch_size", "n", "data_sha256", "model_sha256", "world", "rank"}
    assert (config["attacks"], config["batch_size"], config["n"], config["world"], config["rank"]) == (
        ["apgd-ce"],
        6,
        12,
        1,
        0,
    )


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
        run_autoattack(adversary, noisy, x, y, batch_size=6, config={"version": version}, log_path=log, progress=False)
        text = log.read_text()
        assert ("randomized defense" in text) == randomised_reported
        assert "probability distribution" in text
    lines = (tmp_path / "custom.log").read_text().splitlines()
    assert lines[0] == "using custom version including ."
    two = tmp_path / "two.log"
    run_autoattack(
        _adversary_two(model), model, x, y, batch_size=6, config={"version": "custom"}, log_path=two, progress=False
    )
    assert two.read_text().splitlines()[0] == "using custom version including apgd-ce, apgd-dlr."


def _adversary_two(model):
    return make_adversary(model, eps=8 / 255, version="custom", attacks=["apgd-ce", "apgd-dlr"], seed=0)


class _GradientInForward(torch.nn.Module):
    """Takes an input gradient inside its forward: AutoAttack's check calls that a dynamic defense."""

    def __init__(self, base: torch.nn.Module) -> None:
        super().__init__()
        self.base = base

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            probe = x.detach().requires_grad_(True)
            (gradient,) = torch.autograd.grad(self.base(probe).sum(), probe)
        return self.base(x) + 0 * gradient.sum()


class _RecordingBatchSizes(torch.nn.Module):
    def __init__(self, base: torch.nn.Module) -> None:
        super().__init__()
        self.base, self.sizes = base, []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.sizes.append(x.shape[0])
        return self.base(x)


def _checks_log(tmp_path, model, attacks, name, **targets):
    """The run's log when every example is misclassified: the checks run, then no attack has work to do."""
    _, x, _ = _data()
    with torch.no_grad():
        logits = model(x)
        y = (logits.argmax(1) + 1) % logits.shape[1]
    adversary = make_adversary(model, eps=8 / 255, version="custom", attacks=attacks, seed=0)
    for attack, count in targets.items():  # apgd_targeted= / fab=: that attack's number of target classes
        getattr(adversary, attack).n_target_classes = count
    adversary.attacks_to_run = attacks
    log = tmp_path / f"{name}.log"
    run_autoattack(adversary, model, x, y, batch_size=6, config={"version": "custom"}, log_path=log, progress=False)
    return log.read_text()


def test_each_sanity_check_writes_its_finding_to_the_run_log(tmp_path):
    dynamic = _GradientInForward(ColourClassifier())
    dynamic_log = _checks_log(tmp_path, dynamic, [], "dynamic")
    assert "it seems to be a dynamic defense!" in dynamic_log
    assert "not currently supported" not in dynamic_log  # checked as a PyTorch model, not a TensorFlow one
    quiet = _checks_log(tmp_path, ColourClassifier(), ["apgd-ce", "apgd-dlr"], "quiet")
    assert "it seems" not in quiet and "classes" not in quiet  # nor did the dynamic model's finding carry over
    three = _checks_log(tmp_path, ColourClassifier(num_classes=3), ["apgd-ce", "apgd-dlr"], "three")
    assert "with only 3 classes it is not possible to use the targeted DLR loss!" in three
    # five classes: 4 target classes at most; each attack is checked with its own number of targets
    fab_too_many = _checks_log(
        tmp_path, ColourClassifier(num_classes=5), ["apgd-t", "fab-t"], "fab", apgd_targeted=4, fab=9
    )
    assert "are used in FAB-T!" in fab_too_many and "APGD-T" not in fab_too_many
    apgd_too_many = _checks_log(
        tmp_path, ColourClassifier(num_classes=5), ["apgd-t", "fab-t"], "apgd", apgd_targeted=9, fab=4
    )
    assert "are used in APGD-T!" in apgd_too_many and "FAB-T" not in apgd_too_many


def test_the_checks_look_at_the_first_batch_only(tmp_path):
    recording = _RecordingBatchSizes(ColourClassifier())
    model, x, y = _data()
    adversary = make_adversary(recording, eps=8 / 255, version="custom", attacks=["apgd-ce"], seed=0)
    adversary.attacks_to_run = []
    run_autoattack(adversary, recording, x, y, batch_size=5, config={"version": "custom"}, progress=False)
    # five forwards of the randomness check, one of the output-range check, one of the dynamic check, on the
    # first 5 of 12 examples; then the clean pass in batches of 5, 5 and 2
    assert recording.sizes == [5] * 7 + [5, 5, 2]


def test_a_debugger_or_coverage_tracer_survives_the_checks():
    """AutoAttack's dynamic-defense check traces the forward pass and then removes every trace function; the
    runner puts back the one that was there (a debugger's, a coverage tool's)."""

    model, x, y = _data()

    def tracer(frame, event, arg):
        return None

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        run_autoattack(_adversary(model), model, x, y, batch_size=6, config={}, progress=False)
        still_tracing = sys.gettrace()
    finally:
        sys.settrace(previous)
    assert still_tracing is tracer


def test_a_state_with_a_malformed_flag_list_reports_it_and_checks_nothing_against_it():
    from dkl_zoo.evaluation.state import RunState

    short = RunState(config={}, clean_flags=[True] * 3, flags=[True] * 4, attack_indices=[3])
    assert short.problems(4, 1) == ["clean_flags must be a list of 4 booleans"]


def test_state_problems_at_every_boundary_and_each_message():
    from dkl_zoo.evaluation.state import RunState

    consistent = dict(config={}, clean_flags=[True, True, False, True], flags=[True, False, False, True])

    def problems(**changes) -> list[str]:
        return RunState(**{**consistent, **changes}).problems(4, 2)

    indices = "attack_indices must list clean-correct examples"
    assert problems() == [] and problems(attack_index=2) == [] and problems(attack_indices=[0, 3]) == []
    assert problems(clean_flags=None, flags=None) == []  # a fresh state
    assert problems(finished=True) == [] and problems(batches_done=0) == []
    assert problems(robust_after={"apgd-ce": 0, "apgd-t": 4}) == []
    assert problems(attack_index=3) == problems(attack_index=-1) == ["attack_index must be an integer in [0, 2]"]
    for bad in ([4], [-1], [2], [True], (0, 3), "0"):  # out of range, not clean-correct, a bool, not a list
        assert problems(attack_indices=bad) == [indices], bad
    assert problems(batches_done=-1) == ["batches_done must be a non-negative integer"]
    for bad in ({"apgd-ce": 5}, {"apgd-ce": -1}, {"apgd-ce": 1.0}):
        assert problems(robust_after=bad) == ["robust_after must map attacks to counts in [0, 4]"], bad
    assert problems(clean_flags=None, flags=None, finished=True) == ["a finished state must hold its flags"]
    assert problems(flags=[True, False, True, True]) == [
        "an example is robust but not clean-correct (flags must be a subset of clean_flags)"
    ]


def test_a_state_file_holding_another_json_value_is_refused_by_name(tmp_path):
    from dkl_zoo.errors import EvaluationStateError
    from dkl_zoo.evaluation.state import RunState

    path = tmp_path / "state.json"
    path.write_text("[1, 2]")
    with pytest.raises(EvaluationStateError) as info:
        RunState.load(path)
    assert str(info.value) == (
        f"{path} is not a dkl_zoo evaluation state (a JSON list, not an object); delete it or choose another state_path"
    )


def test_a_finished_state_is_restored_and_says_so_in_the_log(tmp_path):
    model, x, y = _data()
    state, log = tmp_path / "state.json", tmp_path / "aa.log"
    first = run_autoattack(_adversary(model), model, x, y, batch_size=6, config={}, state_path=state, progress=False)
    again = run_autoattack(
        _adversary(model), model, x, y, batch_size=6, config={}, state_path=state, log_path=log, progress=False
    )
    assert log.read_text().splitlines() == [f"evaluation already finished; results restored from {state}"]
    assert torch.equal(again.flags, first.flags) and again.robust_after == first.robust_after


def test_adversarial_labels_are_the_models_labels_of_the_returned_images_also_after_a_resume(tmp_path):
    model, x, y = _data()

    def predicted(images):
        with torch.no_grad():
            return model(images).argmax(1)

    state, log = tmp_path / "state.json", tmp_path / "aa.log"
    fresh = run_autoattack(
        _adversary(model), model, x, y, batch_size=5, config={}, state_path=state, keep_adversarial=True, progress=False
    )
    fooled = fresh.clean_flags & ~fresh.flags
    assert fooled.any() and (~fresh.clean_flags).any()  # the data has every kind of example
    assert torch.equal(fresh.y_adv, predicted(fresh.x_adv))
    assert not torch.equal(fresh.x_adv[fooled], x[fooled]) and torch.equal(fresh.x_adv[~fooled], x[~fooled])
    resumed = run_autoattack(
        _adversary(model),
        model,
        x,
        y,
        batch_size=5,
        config={},
        state_path=state,
        keep_adversarial=True,
        progress=False,
        log_path=log,
    )
    assert torch.equal(resumed.x_adv, x) and torch.equal(resumed.y_adv, predicted(x))
    assert log.read_text().splitlines()[-1] == (
        f"x_adv: the {int(fooled.sum())} examples fooled before this session "
        "are their clean images (a state file keeps flags, not images)"
    )


def test_the_log_follows_autoattacks_lines_with_the_numbers_of_the_run(tmp_path):
    import re

    model, x, y = _data()
    log = tmp_path / "aa.log"
    started = time.monotonic()
    outcome = run_autoattack(
        _adversary(model), model, x, y, batch_size=6, config={"version": "custom"}, log_path=log, progress=False
    )
    elapsed = time.monotonic() - started
    lines = log.read_text().splitlines()
    batches = [
        re.fullmatch(r"apgd-ce - (\d)/2 - (\d) out of (\d) successfully perturbed", line).groups()
        for line in lines[3:5]
    ]
    fooled = [int(b[1]) for b in batches]
    assert [(b[0], b[2]) for b in batches] == [("1", "6"), ("2", str(int(outcome.clean_flags.sum()) - 6))]
    clean, robust = 100 * outcome.clean_flags.float().mean().item(), 100 * outcome.flags.float().mean().item()
    assert lines[:3] == [
        "using custom version including apgd-ce.",
        f"initial accuracy: {clean:.2f}%",
        "running apgd-ce",
    ]
    assert sum(fooled) == int((outcome.clean_flags & ~outcome.flags).sum()) > 0
    after = re.fullmatch(rf"robust accuracy after APGD-CE: {robust:.2f}% \(total time ([0-9.]+) s\)", lines[5])
    assert after is not None and 0 <= float(after.group(1)) <= elapsed + 0.05
    assert lines[6:] == [f"max Linf perturbation: {outcome.max_perturbation:.5f}", f"robust accuracy: {robust:.2f}%"]


def test_counts_that_contradict_the_flags_are_refused():
    """A hand-edited state whose counts disagree with its flags would give a result that contradicts itself."""
    from dkl_zoo.evaluation.state import RunState

    attacks, everything = ["apgd-ce", "apgd-t"], slice(0, 6)
    clean = [True, True, True, True, True, False]
    after_first = [True, True, True, True, True, False]  # 5 robust after apgd-ce

    def problems(**changes) -> list[str]:
        base = dict(config={}, clean_flags=clean, flags=after_first, attack_index=1, robust_after={"apgd-ce": 5})
        return RunState(**{**base, **changes}).count_problems(attacks, everything)

    assert problems() == []
    assert problems(robust_after={"apgd-ce": 0}) == [
        "robust_after says 0 examples are robust after apgd-ce, the flags say 5"
    ]
    assert problems(robust_after={}) == ["robust_after must hold a count for every attack done"]
    assert problems(robust_after={"apgd-ce": 5, "apgd-t": 5}) == [
        "robust_after holds a count for an attack not done yet"
    ]
    assert problems(robust_after={"apgd-ce": 5, "fab": 5}) == [
        "robust_after names attacks this evaluation does not run: fab"
    ]
    assert problems(attack_index=2, robust_after={"apgd-ce": 4, "apgd-t": 5}) == [
        "robust_after must not grow from one attack to the next"
    ]
    fewer = [True, True, False, False, False, False]
    assert problems(flags=fewer, attack_indices=[0, 1, 2, 3, 4]) == []  # mid-attack: the flags only fall
    assert problems(flags=after_first, attack_index=0, robust_after={}) == []
    assert problems(flags=fewer, attack_index=0, robust_after={}) == [
        "before the first attack the flags must equal clean_flags"
    ]
    assert problems(attack_index=1, finished=True, robust_after={"apgd-ce": 5}) == [
        "a finished state must count every attack, the skipped ones at the final count"
    ]
    assert problems(attack_index=1, finished=True, robust_after={"apgd-ce": 5, "apgd-t": 5}) == []


def test_a_state_whose_counts_contradict_its_flags_is_refused_on_resume(tmp_path):
    from dkl_zoo.errors import EvaluationStateError

    model, x, y = _data()
    state = tmp_path / "state.json"
    run_autoattack(_adversary(model), model, x, y, batch_size=6, config={}, state_path=state, progress=False)
    data = json.loads(state.read_text())
    first = data["config"]["attacks"][0]
    data["robust_after"][first] = data["robust_after"][first] + 1
    state.write_text(json.dumps(data))
    with pytest.raises(EvaluationStateError, match=f"robust_after says .* after {first}"):
        run_autoattack(_adversary(model), model, x, y, batch_size=6, config={}, state_path=state, progress=False)
    data["robust_after"][first] -= 1
    data["seconds"] = "x"
    state.write_text(json.dumps(data))
    with pytest.raises(EvaluationStateError, match="seconds must be a non-negative number"):
        run_autoattack(_adversary(model), model, x, y, batch_size=6, config={}, state_path=state, progress=False)


# ---- state files belong to one model, one data set, one set of settings ----------------------------------

FAST = dict(version="custom", attacks=["apgd-ce"], progress=False)


def test_state_of_another_model_is_refused_and_left_untouched(colour_data, tmp_path):
    model, x, y = colour_data
    state = tmp_path / "state.json"
    evaluate(model, data=(x, y), n_examples=16, batch_size=16, state_path=state, **FAST)
    before = state.read_bytes()
    other = ColourClassifier(seed=1)  # same architecture, other weights
    with pytest.raises(EvaluationStateError, match=r"differs in: model\)") as info:
        evaluate(other, data=(x, y), n_examples=16, batch_size=16, state_path=state, **FAST)
    assert info.value.differing == ["model"]
    assert state.read_bytes() == before
    with pytest.raises(EvaluationStateError, match=r"differs in: data\)") as info:
        evaluate(model, data=(x.flip(0), y.flip(0)), n_examples=16, batch_size=16, state_path=state, **FAST)
    assert info.value.differing == ["data"]
    assert state.read_bytes() == before


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("clean_flags", [True] * 15, "clean_flags must be a list of 16 booleans"),
        ("flags", [1] * 16, "flags must be a list of 16 booleans"),
        ("flags", "all", "flags must be a list of 16 booleans"),
        ("attack_index", 7, "attack_index"),
        ("batches_done", -1, "batches_done"),
        ("robust_after", {"apgd-ce": 99}, "robust_after"),
    ],
)
def test_inconsistent_state_contents_are_refused(colour_data, tmp_path, field, value, message):
    model, x, y = colour_data
    state = tmp_path / "state.json"
    evaluate(model, data=(x, y), n_examples=16, batch_size=16, state_path=state, **FAST)
    data = json.loads(state.read_text())
    data[field] = value
    state.write_text(json.dumps(data))
    before = state.read_bytes()
    with pytest.raises(EvaluationStateError, match=message):
        evaluate(model, data=(x, y), n_examples=16, batch_size=16, state_path=state, **FAST)
    assert state.read_bytes() == before


def test_robust_flags_must_be_a_subset_of_the_clean_ones(colour_data, tmp_path):
    model, x, y = colour_data
    state = tmp_path / "state.json"
    evaluate(model, data=(x, y), n_examples=16, batch_size=16, state_path=state, **FAST)
    data = json.loads(state.read_text())
    data["clean_flags"][0], data["flags"][0] = False, True
    state.write_text(json.dumps(data))
    with pytest.raises(EvaluationStateError, match="subset"):
        evaluate(model, data=(x, y), n_examples=16, batch_size=16, state_path=state, **FAST)


# ---- which examples each attack gets, what a resumed run redoes, the log ---------------------------------


class AttackSpy:
    """Records every call of AutoAttack's APGD (the real one runs); can stop the run after some calls."""

    def __init__(self, adversary, stop_after: int | None = None) -> None:
        self.real = adversary.apgd.perturb
        self.inputs: list[torch.Tensor] = []
        self.stop_after = stop_after
        adversary.apgd.perturb = self

    def __call__(self, x, y):
        if self.stop_after is not None and len(self.inputs) >= self.stop_after:
            raise KeyboardInterrupt
        self.inputs.append(x.detach().clone())
        return self.real(x, y)


def _quarter_misclassified(n: int = 40):
    model = ColourClassifier()
    images = colour_images(n, seed=3)
    labels = torch.tensor(labels_for(model, images))
    labels[::4] = (labels[::4] + 1) % 10  # a quarter misclassified by construction
    x = as_tensor(images)
    return model, x, labels


def _run(model, x, y, *, state_path=None, stop_after=None):
    adversary = make_adversary(model, eps=8 / 255, version="custom", attacks=["apgd-ce", "apgd-dlr"], seed=0)
    spy = AttackSpy(adversary, stop_after)
    outcome = run_autoattack(
        adversary, model, x, y, batch_size=8, config={"test": 1}, state_path=state_path, progress=False
    )
    return outcome, spy


def test_first_attack_gets_exactly_the_clean_correct_examples_and_robust_is_a_subset():
    model, x, y = _quarter_misclassified()
    outcome, spy = _run(model, x, y)
    with torch.no_grad():
        correct = model(x).argmax(1).eq(y)
    assert torch.equal(outcome.clean_flags, correct) and not correct.all()
    clean_idx = torch.nonzero(correct).flatten()
    first_attack = torch.cat(spy.inputs[: math.ceil(len(clean_idx) / 8)])
    assert torch.equal(first_attack, x[clean_idx])
    assert not (outcome.flags & ~outcome.clean_flags).any()


@pytest.mark.parametrize("k", [1, 3])
def test_resume_after_k_batches_runs_only_the_remaining_batches(tmp_path, k):
    model, x, y = _quarter_misclassified()
    whole, spy_whole = _run(model, x, y)
    state = tmp_path / "state.json"
    with pytest.raises(KeyboardInterrupt):
        _run(model, x, y, state_path=state, stop_after=k)
    resumed, spy_resumed = _run(model, x, y, state_path=state)
    assert len(spy_resumed.inputs) == len(spy_whole.inputs) - k
    assert all(torch.equal(a, b) for a, b in zip(spy_resumed.inputs, spy_whole.inputs[k:]))
    assert torch.equal(resumed.flags, whole.flags) and resumed.robust_after == whole.robust_after


def test_data_fingerprint_depends_on_the_shape_too():
    from dkl_zoo.evaluation.state import fingerprint

    x, y = torch.arange(32.0), torch.arange(2)
    assert fingerprint(x.reshape(2, 1, 4, 4), y) != fingerprint(x.reshape(2, 1, 2, 8), y)
    assert fingerprint(x.reshape(2, 1, 4, 4), y) == fingerprint(x.reshape(2, 1, 4, 4).clone(), y.clone())


def test_evaluation_logs_to_its_file_without_touching_the_root_logger(tmp_path):
    import logging

    class Collect(logging.Handler):
        def __init__(self) -> None:
            super().__init__(logging.DEBUG)
            self.records: list[logging.LogRecord] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.records.append(record)

    model, x, y = _quarter_misclassified(16)
    root, collect = logging.getLogger(), Collect()
    level = root.level
    root.addHandler(collect)
    root.setLevel(logging.DEBUG)
    try:
        dkl_zoo.evaluate(
            model,
            data=(x, y),
            n_examples=16,
            batch_size=8,
            version="custom",
            attacks=["apgd-ce"],
            progress=False,
            log_path=tmp_path / "aa.log",
        )
        assert root.level == logging.DEBUG  # the run leaves the root logger's level alone
    finally:
        root.removeHandler(collect)
        root.setLevel(level)
    assert "robust accuracy after APGD-CE" in (tmp_path / "aa.log").read_text()
    # AutoAttack's lines go to the file only: nothing propagates to (or is logged on) the root logger
    assert not [r for r in collect.records if r.name.startswith("dkl_zoo") or "accuracy" in r.getMessage()]
    assert not [h for h in logging.getLogger("dkl_zoo.autoattack").handlers if isinstance(h, logging.FileHandler)]
