"""`evaluate`'s contract, field by field: every argument refused with its exact message (and the boundaries
accepted), every default, and every number of the result traced to the state the run wrote."""

from __future__ import annotations

import dataclasses
import json
import time
from importlib import metadata

import pytest
import torch

import dkl_zoo
from dkl_zoo._autoattack import make_adversary
from dkl_zoo.errors import (
    InvalidArgumentError,
)
from dkl_zoo.evaluation import EvalResult, evaluate
from dkl_zoo.evaluation.runner import run_autoattack
from dkl_zoo.evaluation.state import fingerprint, model_fingerprint
from dkl_zoo.registry import get_entry
from helpers.colour_data import ColourClassifier, as_tensor, colour_images, labels_for

TWO = dict(version="custom", attacks=["apgd-ce", "apgd-dlr"], progress=False)
ONE = dict(version="custom", attacks=["apgd-ce"], progress=False)


@pytest.fixture()
def data(colour_data):
    return colour_data


def _clean_flags(model, x, y):
    with torch.no_grad():
        return (model(x).argmax(1) == y).tolist()


def test_every_number_of_the_result_is_the_state_the_run_wrote(data, tmp_path):
    model, x, y = data
    state_path = tmp_path / "state.json"
    result = evaluate(
        model,
        data=(x, y),
        n_examples=12,
        batch_size=5,
        eps=6 / 255,
        seed=3,
        state_path=state_path,
        channels_last=False,
        **TWO,
    )
    state = json.loads(state_path.read_text())
    assert state["config"] == {
        "eps": 6 / 255,
        "norm": "Linf",
        "version": "custom",
        "seed": 3,
        "dataset": "cifar10",
        "range": [0, 12],
        "attacks": ["apgd-ce", "apgd-dlr"],
        "batch_size": 5,
        "n": 12,
        "data_sha256": fingerprint(x[:12], y[:12]),
        "model_sha256": model_fingerprint(model),
        "world": 1,
        "rank": 0,
    }
    assert state["clean_flags"] == _clean_flags(model, x[:12], y[:12]) and state["finished"] is True
    # recorded for this model, data and seed 3: 10 of 12 clean, 8 left after APGD-CE and after APGD-DLR
    assert (result.n_clean_correct, result.n_robust, result.robust_after_counts) == (
        10,
        8,
        {"apgd-ce": 8, "apgd-dlr": 8},
    )
    assert result.n_clean_correct == sum(state["clean_flags"]) and result.n_robust == sum(state["flags"])
    assert result.robust_after_counts == state["robust_after"]
    assert (result.clean_acc, result.robust_acc) == (10 / 12, 8 / 12)
    assert result.robust_acc_after == {"apgd-ce": 8 / 12, "apgd-dlr": 8 / 12}
    assert result.n_examples == 12 and result.example_range == (0, 12) and result.shard is None
    assert (result.eps, result.threat_model, result.version, result.attacks) == (
        6 / 255,
        "Linf",
        "custom",
        ["apgd-ce", "apgd-dlr"],
    )
    assert (result.dataset, result.seed, result.batch_size, result.model_name, result.extra) == (
        "cifar10",
        3,
        5,
        None,
        {},
    )
    assert result.seconds == state["seconds"] > 0  # with a state file: the time summed over every session
    assert result.max_perturbation == state["max_perturbation"] and 0 < result.max_perturbation <= 6 / 255 + 1e-6
    assert result.library_versions["torch"] == torch.__version__
    assert result.library_versions["pyautoattack"] == metadata.version("pyautoattack")
    assert result.library_versions["dkl-zoo"] == metadata.version("dkl-zoo")


def test_a_shard_counts_its_own_slice_and_says_which(data, tmp_path):
    model, x, y = data
    state_path = tmp_path / "state.json"
    result = evaluate(model, data=(x, y), n_examples=12, batch_size=4, shard=(1, 3), state_path=state_path, **ONE)
    state = json.loads(state_path.read_text())
    assert state["config"]["range"] == [4, 8] and state["config"]["n"] == 4
    assert state["config"]["data_sha256"] == fingerprint(x[4:8], y[4:8])
    assert result.example_range == (4, 8) and result.shard == (1, 3) and result.n_examples == 4
    assert result.n_clean_correct == sum(_clean_flags(model, x[4:8], y[4:8]))
    assert result.clean_acc == result.n_clean_correct / 4 and result.robust_acc == result.n_robust / 4


def test_without_a_state_file_seconds_is_this_calls_time(data):
    model, x, y = data
    before = time.monotonic()
    result = evaluate(model, data=(x, y), n_examples=4, batch_size=4, **ONE)
    assert 0 < result.seconds <= time.monotonic() - before


def test_registry_entries_give_name_dataset_eps_and_classes(data):
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 3, 5, 9])
    by_name = evaluate("ikl-at-fmnist-wrn10-1", data=(x, y), n_examples=4, batch_size=4, **ONE)
    assert (by_name.model_name, by_name.dataset, by_name.eps) == ("ikl-at-fmnist-wrn10-1", "fashion-mnist", 0.1)
    entry = get_entry("ikl-at-fmnist-wrn10-1")
    renamed = evaluate(entry, data=(x, y), n_examples=4, batch_size=4, model_name="mine", eps=0.05, **ONE)
    assert (renamed.model_name, renamed.dataset, renamed.eps) == ("mine", "fashion-mnist", 0.05)
    assert renamed.n_clean_correct == by_name.n_clean_correct  # the same verified model
    model, cx, cy = data
    plain = evaluate(model, data=(cx, cy), n_examples=4, batch_size=4, model_name="colours", **ONE)
    assert (plain.model_name, plain.dataset, plain.eps) == ("colours", "cifar10", 8 / 255)


def test_default_eps_of_l2_and_boundaries_that_are_accepted(data):
    model, x, y = data
    l2 = evaluate(model, data=(x, y), n_examples=8, batch_size=8, threat_model="L2", **ONE)
    assert (l2.eps, l2.threat_model) == (0.5, "L2")
    # recorded for this model and data: 6 clean, 5 robust in L2 at 0.5; an Linf attack at 0.5 leaves none
    assert (l2.n_clean_correct, l2.n_robust) == (6, 5)
    assert evaluate(model, data=(x, y), n_examples=4, batch_size=4, threat_model="L2", eps=8, **ONE).eps == 8.0
    whole = evaluate(model, data=(x, y), n_examples=16, batch_size=1, eps=1, shard=(15, 16), **ONE)
    assert type(whole.eps) is float and whole.eps == 1.0  # eps = 1 is the whole pixel range: allowed
    assert whole.example_range == (15, 16) and whole.batch_size == 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(dataset="mnist"), "unknown dataset 'mnist'; known: cifar10, cifar100, fashion-mnist"),
        (dict(threat_model="linf"), "unknown threat model 'linf'; known: Linf, L2, L1"),
        (
            dict(eps=8),
            "eps=8 is larger than 1, but inputs are [0, 1] images: an Linf eps is a fraction of the pixel "
            "range. Did you give it in pixels? Use eps=8/255 = 0.03137.",
        ),
        (
            dict(eps=1.5),
            "eps=1.5 is larger than 1, but inputs are [0, 1] images: an Linf eps is a fraction of the "
            "pixel range. Did you give it in pixels? Use eps=1.5/255 = 0.00588.",
        ),
        (dict(eps=0), "eps must be a positive number, got 0"),
        (dict(eps=-0.1), "eps must be a positive number, got -0.1"),
        (dict(eps="8/255"), "eps must be a positive number, got '8/255'"),
        (dict(eps=True), "eps must be a positive number, got True"),
        (dict(eps=float("nan")), "eps must be a positive number, got nan"),
        (dict(eps=float("inf"), threat_model="L2"), "eps must be a positive number, got inf"),
        (
            dict(eps=None, threat_model="L1", version="fast"),
            "unknown AutoAttack version 'fast'; known: standard, plus, rand, custom",
        ),
        (
            dict(version="custom", attacks=None),
            "version='custom' needs attacks=[...] from apgd-ce, apgd-dlr, apgd-t, fab, fab-t, square",
        ),
        (
            dict(version="rand", attacks=["apgd-ce"]),
            "attacks=... needs version='custom' (version 'rand' fixes its own attacks)",
        ),
        (
            dict(version="custom", attacks=["pgd"]),
            "unknown attack(s) ['pgd']; known: apgd-ce, apgd-dlr, apgd-t, fab, fab-t, square",
        ),
        (
            dict(version="custom", attacks=[]),
            "unknown attack(s) []; known: apgd-ce, apgd-dlr, apgd-t, fab, fab-t, square",
        ),
        (
            dict(version="standard", attacks=["apgd-ce"]),
            "attacks=... needs version='custom' (version 'standard' fixes its own attacks)",
        ),
        (dict(batch_size=0), "batch_size must be a positive integer, got 0"),
        (dict(batch_size=True), "batch_size must be a positive integer, got True"),
        (dict(batch_size=4.0), "batch_size must be a positive integer, got 4.0"),
        (dict(n_examples=0), "n_examples must be a positive integer, got 0"),
        (dict(n_examples=True), "n_examples must be a positive integer, got True"),
        (dict(n_examples="4"), "n_examples must be a positive integer, got '4'"),
        (dict(n_examples=17), "n_examples=17 is larger than the data given (16 images)"),
        (dict(shard=(0, 17)), "cannot split 16 examples into 17 shards"),
        (dict(shard=(2, 2)), "shard must be (i, n) with 0 <= i < n, got (2, 2)"),
        (dict(shard=(-1, 2)), "shard must be (i, n) with 0 <= i < n, got (-1, 2)"),
        (dict(shard=(0, 0)), "shard must be (i, n) with 0 <= i < n, got (0, 0)"),
        (dict(shard=(1.0, 2)), "shard must be (i, n) with 0 <= i < n, got (1.0, 2)"),
        (dict(shard=(0, 2.0)), "shard must be (i, n) with 0 <= i < n, got (0, 2.0)"),
        (dict(shard=(0,)), "shard must be (i, n) with 0 <= i < n, got (0,)"),
        (dict(shard=3), "shard must be (i, n) with 0 <= i < n, got 3"),
    ],
)
def test_each_bad_argument_has_its_own_message(data, kwargs, message):
    model, x, y = data
    arguments = {"n_examples": 16, "batch_size": 4, **ONE, **kwargs}
    with pytest.raises(InvalidArgumentError) as info:
        evaluate(model, data=(x, y), **arguments)
    assert str(info.value) == message


def test_entry_on_another_dataset_and_a_count_beyond_the_test_set_are_refused_without_data():
    with pytest.raises(InvalidArgumentError) as info:
        evaluate("ikl-at-fmnist-wrn10-1", dataset="cifar100")
    assert str(info.value) == (
        "ikl-at-fmnist-wrn10-1 is a fashion-mnist model; evaluating it on cifar100 means "
        "nothing (leave dataset out to use the entry's)"
    )
    with pytest.raises(InvalidArgumentError) as info:
        evaluate(ColourClassifier(), n_examples=10_001)
    assert str(info.value) == "n_examples=10001 is larger than the cifar10 test set (10000 images)"


def test_given_data_of_other_dtypes_is_evaluated_as_float_images_and_integer_labels(data):
    model, x, y = data
    as_given = evaluate(
        model, data=(x.double(), y.to(torch.uint8)), n_examples=8, batch_size=8, **ONE
    )  # as read from files
    as_expected = evaluate(model, data=(x, y), n_examples=8, batch_size=8, **ONE)
    assert (as_given.n_clean_correct, as_given.n_robust) == (as_expected.n_clean_correct, as_expected.n_robust)


def _result(**changes):
    fields = dict(
        clean_acc=0.75,
        robust_acc=0.5,
        n_examples=8,
        robust_acc_after={"apgd-ce": 0.625, "apgd-t": 0.5},
        eps=8 / 255,
        threat_model="Linf",
        version="custom",
        attacks=["apgd-ce", "apgd-t"],
        dataset="cifar10",
        seed=0,
        batch_size=4,
        seconds=12.34,
        library_versions={"torch": "2"},
        n_clean_correct=6,
        n_robust=4,
        robust_after_counts={"apgd-ce": 5, "apgd-t": 4},
        example_range=(8, 16),
        model_name="ikl-at-cifar10-wrn34",
        shard=(1, 2),
    )
    return EvalResult(**{**fields, **changes})


def test_summary_is_what_dkl_zoo_eval_prints():
    assert _result().summary().splitlines() == [
        "ikl-at-cifar10-wrn34 on cifar10, first 8 test images (shard 1 of 2), Linf eps 0.03137, AutoAttack custom",
        "  clean accuracy:  75.00%",
        "  after apgd-ce  62.50%",
        "  after apgd-t   50.00%",
        "  robust accuracy: 50.00%   (12.3 s)",
    ]
    assert _result(model_name=None, shard=None).summary().splitlines()[0] == (
        "model on cifar10, first 8 test images, Linf eps 0.03137, AutoAttack custom"
    )


def test_a_result_round_trips_through_its_json_file(tmp_path):
    result = _result(extra={"merged_shards": 2})
    text = result.to_json(tmp_path / "result.json")
    assert (tmp_path / "result.json").read_text() == text + "\n" and json.loads(text)["shard"] == [1, 2]
    assert text == json.dumps(dataclasses.asdict(result), indent=2)
    again = EvalResult.from_json(tmp_path / "result.json")
    assert again == result and again.example_range == (8, 16) and again.shard == (1, 2)
    assert EvalResult.from_json(f"  {text}") == result  # the text itself, leading blanks allowed
    assert EvalResult.from_json(_result(shard=None).to_json()).shard is None


def test_the_api_and_dkl_zoo_eval_share_robustbenchs_defaults():
    """`dkl_zoo.evaluate(name)` and `dkl-zoo eval NAME` run the same protocol when given nothing else."""
    import inspect

    from dkl_zoo.cli import build_parser

    defaults = {name: p.default for name, p in inspect.signature(evaluate).parameters.items()}
    cli = vars(build_parser().parse_args(["eval", "ikl-at-cifar10-wrn34"]))
    shared = (
        "dataset",
        "threat_model",
        "eps",
        "n_examples",
        "version",
        "attacks",
        "batch_size",
        "device",
        "data_dir",
        "seed",
        "shard",
    )
    assert (
        {k: defaults[k] for k in shared}
        == {k: cli[k] for k in shared}
        == {
            "dataset": None,
            "threat_model": "Linf",
            "eps": None,
            "n_examples": 10_000,
            "version": "standard",
            "attacks": None,
            "batch_size": 500,
            "device": None,  # where the model is: a registry name or a checkpoint loads on the CPU
            "data_dir": "./data",
            "seed": 0,
            "shard": None,
        }
    )
    assert (defaults["state_path"], defaults["log_path"], cli["state"], cli["log"]) == (None, None, None, None)
    assert defaults["progress"] is True and defaults["channels_last"] is True


def test_a_model_that_is_not_a_module_is_refused_before_any_work(data):
    _, x, y = data
    for model, kind in ((lambda images: images.mean(dim=(2, 3)), "function"), (None, "NoneType")):
        with pytest.raises(InvalidArgumentError) as info:
            evaluate(model, data=(x, y), n_examples=4, **ONE)
        assert str(info.value) == (
            f"model_or_name must be a torch nn.Module, a registry name or a ModelEntry, got {kind} (wrap a function "
            "in an nn.Module: its weights identify the resume state)"
        )


def test_the_seed_reaches_the_attacks(data):
    """The run's random draws are AutoAttack's, seeded with ``seed``: the global generator ends where a run of
    the same attack seeded by hand leaves it, and elsewhere for another seed."""

    model, x, y = data

    def draws_after_evaluate(seed: int) -> torch.Tensor:
        evaluate(model, data=(x, y), n_examples=8, batch_size=8, seed=seed, **ONE)
        return torch.rand(4)

    adversary = make_adversary(model, eps=8 / 255, version="custom", attacks=["apgd-ce"], seed=3)
    run_autoattack(adversary, model, x[:8], y[:8], batch_size=8, config={}, progress=False)
    by_hand = torch.rand(4)
    assert torch.equal(draws_after_evaluate(3), by_hand)
    assert not torch.equal(draws_after_evaluate(4), by_hand)


def test_the_test_set_read_from_data_dir_gives_what_the_same_tensors_give(data, tmp_path, monkeypatch):
    from helpers.colour_data import point_torchvision_at, write_cifar

    model, _, _ = data
    images = colour_images(12, seed=4)
    labels = labels_for(model, images)
    point_torchvision_at(monkeypatch, write_cifar(tmp_path / "data", images, labels))
    from_disk = evaluate(model, data_dir=tmp_path / "data", n_examples=10, batch_size=5, **ONE)
    x = as_tensor(images)
    given = evaluate(model, data=(x, torch.tensor(labels)), n_examples=10, batch_size=5, **ONE)
    assert from_disk.n_examples == 10 and from_disk.dataset == "cifar10"
    assert (from_disk.n_clean_correct, from_disk.n_robust) == (given.n_clean_correct, given.n_robust)


def test_a_convolutional_model_without_any_other_parameter_is_run_channels_last_and_left_as_it_was(data):
    _, x, y = data
    torch.manual_seed(0)
    convolution_only = torch.nn.Sequential(torch.nn.Conv2d(3, 10, 32, bias=False), torch.nn.Flatten()).eval()
    seen: list[bool] = []  # the layout of the weights each forward pass ran with (the hook travels with a copy)
    convolution_only[0].register_forward_pre_hook(
        lambda module, args: seen.append(module.weight.is_contiguous(memory_format=torch.channels_last))
    )
    evaluate(convolution_only, data=(x, y), n_examples=4, batch_size=4, **ONE)
    assert seen and all(seen)
    assert not convolution_only[0].weight.is_contiguous(memory_format=torch.channels_last)


# ---- the writers: RobustBench's JSON, the curve's CSV and figure ------------------------------------------


def test_robustbench_json_without_an_entry_is_exactly_robustbenchs_fields(tmp_path):
    from dkl_zoo.evaluation import write_robustbench_json

    standard = _result(
        version="standard",
        attacks=["apgd-ce", "apgd-t", "fab-t", "square"],
        n_examples=10_000,
        example_range=(0, 10_000),
        clean_acc=0.80766,
        robust_acc=0.5,
        eps=0.5,
        shard=None,
    )
    path = tmp_path / "new" / "folder" / "Mine.json"
    info = write_robustbench_json(standard, path, name="Mine", additional_data=True)
    assert info == {
        "link": "",
        "name": "Mine",
        "authors": "",
        "additional_data": True,
        "number_forward_passes": 1,
        "dataset": "cifar10",
        "venue": "",
        "architecture": "",
        "eps": "0.5",
        "clean_acc": "80.77",
        "reported": "",
        "autoattack_acc": "50.00",
        "unreliable": False,
    }
    assert path.read_text() == json.dumps(info, indent=2) + "\n"
    bare = write_robustbench_json(standard, tmp_path / "bare.json")
    assert (bare["name"], bare["link"], bare["authors"], bare["additional_data"]) == ("", "", "", False)


def test_robustbench_json_from_an_entry_and_marked_nonstandard(tmp_path):
    from dkl_zoo.evaluation import write_robustbench_json

    result = _result(robust_acc=0.4567)
    with pytest.raises(InvalidArgumentError) as info:
        write_robustbench_json(result, tmp_path / "refused.json", entry="ikl-at-cifar10-wrn34")
    reasons = "AutoAttack version 'custom' (apgd-ce, apgd-t), not 'standard'; 8 test images (8, 16), not all 10000"
    assert str(info.value) == (
        f"not a RobustBench evaluation ({reasons}): a submission file needs AutoAttack standard on the whole test "
        "set. Pass nonstandard=True to write it marked unreliable."
    )
    written = write_robustbench_json(
        result, tmp_path / "a.json", entry=get_entry("ikl-at-cifar10-wrn34"), nonstandard=True
    )
    assert written == {
        "link": "https://arxiv.org/abs/2305.13948",
        "name": "Decoupled Kullback-Leibler Divergence Loss",
        "authors": "Jiequan Cui, Zhuotao Tian, Zhisheng Zhong, Xiaojuan Qi, Bei Yu, Hanwang Zhang",
        "additional_data": False,
        "number_forward_passes": 1,
        "dataset": "cifar10",
        "venue": "NeurIPS 2024",
        "architecture": "WideResNet-34-10",
        "eps": "8/255",
        "clean_acc": "75.00",
        "reported": "57.13",
        "autoattack_acc": "45.67",
        "unreliable": True,
        "footnote": f"NOT a standard RobustBench evaluation: {reasons}.",
    }
    silu = write_robustbench_json(result, tmp_path / "b.json", entry="ikl-at-cifar10-wrn28-20m", nonstandard=True)
    assert silu["architecture"] == "WideResNet-28-10"  # RobustBench's name, without our "(SiLU, DeepMind style)"


def test_nonstandard_reasons_name_each_difference():
    from dkl_zoo.evaluation import nonstandard_reasons

    whole = dict(n_examples=10_000, example_range=(0, 10_000))
    assert nonstandard_reasons(_result(version="standard", **whole)) == []
    assert nonstandard_reasons(_result(version="standard", n_examples=10_000, example_range=(1, 10_001))) == [
        "10000 test images (1, 10001), not all 10000"
    ]  # e.g. a hand-edited result file
    assert nonstandard_reasons(_result(version="plus", attacks=["apgd-ce", "fab"], **whole)) == [
        "AutoAttack version 'plus' (apgd-ce, fab), not 'standard'"
    ]
    assert nonstandard_reasons(_result(version="standard", dataset="unlisted", n_examples=5)) == []


def test_the_curve_csv_has_one_exact_row_per_eps(tmp_path):
    from dkl_zoo.evaluation import write_curve_csv

    results = [_result(eps=e, robust_acc=r, clean_acc=0.8125) for e, r in ((2 / 255, 0.75), (0.5, 0.125))]
    write_curve_csv(results, tmp_path / "curve.csv")
    assert (tmp_path / "curve.csv").read_bytes().decode() == (
        "eps,eps_pixels,clean_acc,robust_acc,n_examples,version\r\n"
        "0.007843,2.000,0.8125,0.7500,8,custom\r\n"
        "0.500000,127.500,0.8125,0.1250,8,custom\r\n"
    )


def test_the_curve_figure_plots_robust_accuracy_in_percent_against_eps_in_pixels():
    from dkl_zoo.evaluation import curve_figure

    results = [_result(eps=e, robust_acc=r) for e, r in ((1 / 255, 0.75), (4 / 255, 0.5))]
    figure = curve_figure(results)
    (axis,) = figure.axes
    (line,) = axis.lines
    assert list(line.get_xdata()) == pytest.approx([1, 4]) and list(line.get_ydata()) == pytest.approx([75, 50])
    assert line.get_marker() == "o"
    assert axis.get_xlabel() == "Linf eps (x 1/255)" and axis.get_ylabel() == "AutoAttack accuracy (%)"
    assert axis.get_ylim() == (0, 100)
    assert axis.get_title() == "ikl-at-cifar10-wrn34: cifar10, n=8"
    assert curve_figure([_result(model_name=None)]).axes[0].get_title() == "model: cifar10, n=8"


def test_robustness_curve_writes_its_files_where_asked(data, tmp_path):
    import struct

    from dkl_zoo.evaluation import robustness_curve

    model, x, y = data
    robustness_curve(
        model,
        [4 / 255],
        png_path=tmp_path / "plot.png",
        csv_path=tmp_path / "table.csv",
        data=(x, y),
        n_examples=4,
        batch_size=4,
        **ONE,
    )
    png = (tmp_path / "plot.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (600, 420)  # 5 x 3.5 in, 120 dpi
    assert len((tmp_path / "table.csv").read_text().splitlines()) == 2 and not (tmp_path / "plot.csv").exists()
    with pytest.raises(ValueError, match="^eps_list must hold at least one eps$"):
        robustness_curve(model, [], png_path=tmp_path / "none.png")


def test_a_curve_of_a_registry_entry_is_labelled_with_its_name_and_data_set(tmp_path):
    from dkl_zoo.evaluation import robustness_curve

    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 3, 5, 9])
    for target in ("ikl-at-fmnist-wrn10-1", get_entry("ikl-at-fmnist-wrn10-1")):
        results = robustness_curve(
            target, [0.1, 0.05], png_path=tmp_path / "fmnist.png", data=(x, y), n_examples=4, batch_size=4, **ONE
        )
        assert [(r.model_name, r.dataset, r.eps) for r in results] == [
            ("ikl-at-fmnist-wrn10-1", "fashion-mnist", 0.05),
            ("ikl-at-fmnist-wrn10-1", "fashion-mnist", 0.1),
        ]


def test_merged_shards_are_exactly_the_whole_sets_result():
    from dkl_zoo.evaluation import merge_results

    first = _result(
        shard=(0, 2),
        example_range=(0, 8),
        n_clean_correct=6,
        n_robust=4,
        seconds=10.0,
        robust_after_counts={"apgd-ce": 5, "apgd-t": 4},
        max_perturbation=0.02,
    )
    second = _result(
        shard=(1, 2),
        example_range=(8, 16),
        n_clean_correct=7,
        n_robust=2,
        seconds=2.5,
        robust_after_counts={"apgd-ce": 3, "apgd-t": 2},
        max_perturbation=0.03,
        library_versions={"torch": "other"},
        batch_size=99,
    )
    merged = merge_results([second, first])
    assert merged == EvalResult(
        clean_acc=13 / 16,
        robust_acc=6 / 16,
        n_examples=16,
        robust_acc_after={"apgd-ce": 8 / 16, "apgd-t": 6 / 16},
        eps=8 / 255,
        threat_model="Linf",
        version="custom",
        attacks=["apgd-ce", "apgd-t"],
        dataset="cifar10",
        seed=0,
        batch_size=4,
        seconds=12.5,
        library_versions={"torch": "2"},
        n_clean_correct=13,
        n_robust=6,
        robust_after_counts={"apgd-ce": 8, "apgd-t": 6},
        example_range=(0, 16),
        max_perturbation=0.03,
        model_name="ikl-at-cifar10-wrn34",
        shard=None,
        extra={"merged_shards": 2},
    )
    assert merged.attacks is not first.attacks  # a copy: editing the merged result leaves the shard alone
    partial = merge_results(
        [
            first,
            _result(
                shard=(1, 2), example_range=(8, 16), robust_after_counts={"apgd-ce": 3}, n_clean_correct=1, n_robust=0
            ),
        ]
    )
    assert partial.robust_after_counts == {"apgd-ce": 8, "apgd-t": 4}  # an attack a shard skipped counts 0 there
    with pytest.raises(ValueError, match="^merge_results needs at least one result$"):
        merge_results([])
    with pytest.raises(ValueError) as info:
        merge_results([first, _result(example_range=(8, 16), eps=4 / 255, seed=1)])
    assert str(info.value) == "cannot merge results of different evaluations (differ in eps, seed)"
    with pytest.raises(ValueError) as info:
        merge_results([first, _result(example_range=(9, 16))])
    assert str(info.value) == ("shard ranges must be contiguous and non-overlapping: (0, 8) then (9, 16)")


def test_a_model_of_the_wrong_shape_or_values_is_refused_word_for_word(data):
    _, x, y = data

    class Constant(torch.nn.Module):
        def __init__(self, outputs) -> None:
            super().__init__()
            self.outputs = outputs
            self.weight = torch.nn.Parameter(torch.zeros(1))

        def forward(self, images):
            return self.outputs(images.shape[0])

    who, another = "the model (on clean test images)", ": a model of another data set (a CIFAR-100 model on CIFAR-10?)"
    broken = "returned NaN or infinite logits; its weights or inputs are broken (no prediction or accuracy can be "
    cases = [  # the one wording of every use case's logits check (dkl_zoo._inputs.check_logits)
        (
            lambda b: torch.zeros(b, 100),
            f"{who} returned B×100 logits, not B×10 logits for the data set's 10 classes{another}",
        ),
        (lambda b: torch.full((b, 10), float("inf")), f"{who} {broken}computed from them)"),
        (lambda b: torch.full((b, 10), float("nan")), f"{who} {broken}computed from them)"),
        (lambda b: torch.zeros(b, 10, 1), f"{who} returned a tensor of shape (2, 10, 1), not B×C logits{another}"),
        (lambda b: [torch.zeros(b, 10)], f"{who} returned list, not B×C logits{another}"),
        # (logits, features), as some research models return
        (lambda b: (torch.zeros(b, 10), torch.zeros(b, 8)), f"{who} returned tuple, not B×C logits{another}"),
    ]
    for outputs, message in cases:
        with pytest.raises(ValueError) as info:
            evaluate(Constant(outputs).eval(), data=(x, y), n_examples=4, **ONE)
        assert str(info.value) == message


# ---- inputs that used to be evaluated silently wrong ---------------------------------------------------------


@pytest.mark.parametrize(
    "transform, message",
    [
        (
            lambda x: x * 255,
            r"the test images have values up to .*values up to 255: pass uint8 images or divide by 255",
        ),
        (lambda x: x * 2 - 1, r"the test images have values from -.*normalised images"),
        (lambda x: (x * 255).round().to(torch.uint8), r"the test images are uint8 \(0–255\).*pass x.float\(\) / 255"),
        (lambda x: x.int(), r"the test images must be float images in \[0, 1\], got dtype torch.int32"),
        (lambda x: x.permute(0, 2, 3, 1), r"the test images must be a 4-d|look channels-last|channel"),
    ],
)
def test_images_outside_0_1_or_integer_images_are_refused_before_the_model_runs(data, transform, message):
    model, x, y = data
    calls = []
    model.register_forward_hook(lambda *args: calls.append(1))
    with pytest.raises(InvalidArgumentError, match=message):
        evaluate(model, data=(transform(x), y), n_examples=8, batch_size=8, **ONE)
    assert calls == []


@pytest.mark.parametrize("bad_label, shown", [(10, "found 10"), (-1, "found -1")])
def test_labels_outside_the_classes_are_refused_not_counted_as_wrong(data, bad_label, shown):
    model, x, y = data
    labels = y.clone()
    labels[3] = bad_label
    with pytest.raises(
        InvalidArgumentError, match=rf"the test labels must be in \[0, 10\) for a 10-class model, {shown}"
    ):
        evaluate(model, data=(x, labels), n_examples=8, batch_size=8, **ONE)
    with pytest.raises(InvalidArgumentError, match="the test labels must be integer class indices"):
        evaluate(model, data=(x, y.float()), n_examples=8, batch_size=8, **ONE)


class _NaNAfter(torch.nn.Module):
    """A model whose logits turn NaN for every image past the first ``good`` it has seen."""

    def __init__(self, inner: torch.nn.Module, good: int) -> None:
        super().__init__()
        self.inner, self.good, self.seen = inner, good, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.inner(x)
        self.seen += len(x)
        return out if self.seen <= self.good else out * float("nan")


def test_logits_that_turn_nan_after_the_first_check_stop_the_run(data):
    model, x, y = data
    from dkl_zoo.errors import ModelOutputError

    broken = _NaNAfter(model, good=2 + 2 + 4)  # the output probe, the sanity checks' batch, a first clean batch
    with pytest.raises(ModelOutputError, match="NaN or infinite logits"):
        evaluate(broken, data=(x, y), n_examples=12, batch_size=4, channels_last=False, **ONE)


def test_a_data_set_with_other_channels_than_the_model_is_refused_by_name():
    from dkl_zoo.loading import load

    fmnist = load("ikl-at-fmnist-wrn10-1")
    colour = torch.rand(4, 3, 28, 28)
    with pytest.raises(InvalidArgumentError, match=r"have 3 channel\(s\), the model takes 1"):
        evaluate("ikl-at-fmnist-wrn10-1", data=(colour, torch.zeros(4, dtype=torch.long)), n_examples=4, **ONE)
    with pytest.raises(InvalidArgumentError, match=r"the model cannot take the test images \(3×28×28 each\)"):
        evaluate(fmnist, dataset="fashion-mnist", data=(colour, torch.zeros(4, dtype=torch.long)), n_examples=4, **ONE)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"seed": "x"}, r"seed must be an integer in \[0, 2\*\*63\), got 'x'"),
        ({"seed": 2**70}, r"seed must be an integer in \[0, 2\*\*63\)"),
        ({"data_dir": 123}, "data_dir must be a path"),
        ({"state_path": 1.5}, "state_path must be a path"),
    ],
)
def test_run_arguments_are_refused_before_the_model_is_loaded(kwargs, message, monkeypatch):
    from dkl_zoo import loading

    monkeypatch.setattr(loading, "load", lambda *a, **k: pytest.fail("the model was loaded"))
    with pytest.raises(InvalidArgumentError, match=message):
        evaluate("ikl-at-fmnist-wrn10-1", n_examples=4, **{**ONE, **kwargs})


def test_a_curve_gives_each_eps_its_own_state_and_resumes(data, tmp_path):
    from dkl_zoo.evaluation import robustness_curve

    model, x, y = data
    state = tmp_path / "curve.json"
    kwargs = dict(
        png_path=tmp_path / "curve.png",
        data=(x, y),
        n_examples=6,
        batch_size=6,
        state_path=state,
        channels_last=False,
        **ONE,
    )
    first = robustness_curve(model, [2 / 255, 4 / 255], **kwargs)
    states = sorted(p.name for p in tmp_path.glob("curve.eps-*.json"))
    assert states == [f"curve.eps-{2 / 255:.6g}.json", f"curve.eps-{4 / 255:.6g}.json"] and not state.exists()
    again = robustness_curve(model, [2 / 255, 4 / 255], **kwargs)  # resumed: every state is finished
    assert [r.n_robust for r in again] == [r.n_robust for r in first]


def test_every_eps_of_a_curve_is_checked_before_the_first_runs(data, tmp_path):
    from dkl_zoo.evaluation import robustness_curve

    model, x, y = data
    calls = []
    model.register_forward_hook(lambda *args: calls.append(1))
    with pytest.raises(InvalidArgumentError, match="eps=5 is larger than 1"):
        robustness_curve(model, [0.05, 5], png_path=tmp_path / "c.png", data=(x, y), n_examples=4, **ONE)
    assert calls == []


# ---- refused before the model is loaded ------------------------------------------------------------------


def test_bad_arguments_are_refused_before_the_model_is_loaded(hub, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    cases = [
        ({"n_examples": 0}, "positive integer"),
        ({"n_examples": 20_000}, "larger than"),
        ({"eps": float("nan")}, "positive"),
        ({"shard": (3, 2)}, "shard"),
        ({"shard": (0, 10_001)}, "split"),
        ({"batch_size": 0}, "batch_size"),
        ({"device": "cuda:99"}, "device"),
    ]
    for name, other_dataset in (("ikl-at-fmnist-wrn10-1", "cifar10"), ("ikl-at-cifar10-wrn34", "fashion-mnist")):
        for kwargs, message in [*cases, ({"dataset": other_dataset}, "model; evaluating it on")]:
            with pytest.raises(InvalidArgumentError, match=message):
                evaluate(name, **kwargs)  # the CIFAR entry would come from the Hub: no request may be made
    assert hub.requests == []


NO_GPU_SCRIPT = """
import torch, dkl_zoo
from dkl_zoo.errors import InvalidArgumentError
from helpers.colour_data import colour_set
assert not torch.cuda.is_available()
model, x, y = colour_set(16, seed=1)
calls = [lambda: dkl_zoo.evaluate(model, data=(x, y), n_examples=4, device="cuda", version="custom",
                                  attacks=["apgd-ce"], progress=False),
         lambda: dkl_zoo.load("ikl-at-fmnist-wrn10-1", device="cuda")]
for call in calls:
    try:
        call()
        print("no error")
    except InvalidArgumentError as error:
        print(error)
"""


def test_cuda_without_a_gpu_is_one_clear_error():
    """On a machine without CUDA (hidden from this process, so the test runs on GPU machines too)."""
    from helpers import ROOT, run_python

    done = run_python(NO_GPU_SCRIPT, env={"CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and all("no CUDA device" in line for line in lines), done.stdout


# ---- the Fashion-MNIST entry's default eps ---------------------------------------------------------------


def test_fashion_mnist_entry_evaluates_at_eps_0_1_by_default_without_the_data_set():
    model = dkl_zoo.load("ikl-at-fmnist-wrn10-1")
    x = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = model(x).argmax(1)
    result = dkl_zoo.evaluate(
        "ikl-at-fmnist-wrn10-1",
        data=(x, y),
        n_examples=8,
        batch_size=8,
        version="custom",
        attacks=["apgd-ce"],
        progress=False,
    )
    assert result.eps == 0.1 and result.dataset == "fashion-mnist" and result.clean_acc == 1.0
