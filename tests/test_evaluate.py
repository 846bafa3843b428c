"""Evaluation: RobustBench's numbers, resume, shards, writers and errors, with the real AutoAttack."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dkl_zoo.evaluation import (
    EvalResult,
    evaluate,
    merge_results,
    robustness_curve,
    write_robustbench_json,
)
from dkl_zoo.integrations.robustbench import enable_robustbench
from helpers import python_env
from helpers.colour_data import (
    ColourClassifier,
    colour_images,
    colour_set,
    labels_for,
    point_torchvision_at,
    write_cifar,
)

HERE = Path(__file__).resolve().parent
FAST = dict(version="custom", attacks=["apgd-ce"], progress=False)
TWO = dict(version="custom", attacks=["apgd-ce", "apgd-dlr"], progress=False)


@pytest.fixture()
def colour_data():
    return colour_set(48, seed=1)


@pytest.fixture()
def cifar_dir(tmp_path, monkeypatch):
    model = ColourClassifier()
    images = colour_images(24, seed=2)
    labels = labels_for(model, images)
    written = write_cifar(tmp_path / "data", images, labels)
    point_torchvision_at(monkeypatch, written)
    return model, tmp_path / "data"


def same(a: EvalResult, b: EvalResult) -> bool:
    return (a.n_clean_correct, a.n_robust, a.robust_after_counts) == (
        b.n_clean_correct,
        b.n_robust,
        b.robust_after_counts,
    )


@pytest.mark.slow
def test_identical_to_robustbench_benchmark(cifar_dir, capsys):
    """Standard AutoAttack, several batches: ours and robustbench.eval.benchmark give the same numbers."""
    model, data_dir = cifar_dir
    enable_robustbench()
    from robustbench.eval import benchmark

    clean, robust = benchmark(
        model,
        n_examples=12,
        dataset="cifar10",
        threat_model="Linf",
        data_dir=str(data_dir),
        device=torch.device("cpu"),
        batch_size=4,
        eps=8 / 255,
    )
    ours = evaluate(
        model, dataset="cifar10", n_examples=12, data_dir=data_dir, batch_size=4, eps=8 / 255, progress=False
    )
    assert 0 < robust < clean < 1, "the test model must be partly robust for this comparison to mean anything"
    assert ours.clean_acc == clean
    assert ours.robust_acc == robust
    assert ours.attacks == ["apgd-ce", "apgd-t", "fab-t", "square"]
    assert "Clean accuracy" in capsys.readouterr().out


@pytest.mark.slow
def test_robustbench_imports_and_its_state_path_resumes(cifar_dir, tmp_path):
    """robustbench's own resume path (aa_state_path) runs on our state file."""
    model, data_dir = cifar_dir
    enable_robustbench()
    import autoattack
    from robustbench.eval import benchmark

    assert autoattack.__dkl_zoo_shim__
    adversary = autoattack.AutoAttack(
        model, norm="Linf", eps=8 / 255, version="custom", attacks_to_run=["apgd-ce"], device="cpu", verbose=False
    )
    assert adversary.attacks_to_run == ["apgd-ce"] and adversary.apgd.eps == 8 / 255
    clean, robust = benchmark(
        model,
        n_examples=8,
        dataset="cifar10",
        threat_model="Linf",
        data_dir=str(data_dir),
        device=torch.device("cpu"),
        batch_size=4,
        eps=8 / 255,
        aa_state_path=tmp_path / "rb_state.json",
    )
    assert (tmp_path / "rb_state.json").exists()
    assert 0 <= robust <= clean <= 1


def test_clean_accuracy_and_fields(colour_data, tmp_path):
    model, x, y = colour_data
    result = evaluate(model, data=(x, y), n_examples=48, batch_size=16, log_path=tmp_path / "aa.log", **TWO)
    with torch.no_grad():
        expected_clean = (model(x).argmax(1) == y).sum().item() / 48
    assert result.clean_acc == expected_clean
    # recorded for this model, data and seed 0: 41 clean, 32 left after APGD-CE, 31 after APGD-DLR
    assert (result.n_clean_correct, result.robust_after_counts) == (41, {"apgd-ce": 32, "apgd-dlr": 31})
    assert result.n_robust == 31 and result.robust_acc == 31 / 48
    assert list(result.robust_acc_after) == ["apgd-ce", "apgd-dlr"]
    assert result.robust_acc_after["apgd-dlr"] == result.robust_acc
    assert result.eps == pytest.approx(8 / 255) and result.version == "custom" and result.n_examples == 48
    assert "torch" in result.library_versions and "pyautoattack" in result.library_versions
    assert EvalResult.from_json(result.to_json()) == result
    log = (tmp_path / "aa.log").read_text()
    assert "initial accuracy" in log and "robust accuracy after APGD-CE" in log and "robust accuracy:" in log
    assert 0 < result.max_perturbation <= 8 / 255 + 1e-6


@pytest.mark.parametrize("stop_after", [-7, 2, 9])  # in the checks, in the first attack, in the second
def test_interrupted_then_resumed_equals_uninterrupted(colour_data, tmp_path, stop_after):
    model, x, y = colour_data
    whole = evaluate(model, data=(x, y), n_examples=48, batch_size=16, **TWO)

    class Interrupting(torch.nn.Module):
        """Ctrl-C after `stop_after` attack batches: KeyboardInterrupt from inside the evaluation."""

        def __init__(self):
            super().__init__()
            self.inner, self.calls = model, 0

        def forward(self, inputs):
            if not torch.is_grad_enabled():
                self.calls += 1
                if self.calls > stop_after + 8:  # the checks and the clean pass call it without grad too
                    raise KeyboardInterrupt
            return self.inner(inputs)

    state = tmp_path / "state.json"
    with pytest.raises(KeyboardInterrupt):
        evaluate(Interrupting().eval(), data=(x, y), n_examples=48, batch_size=16, state_path=state, **TWO)
    if stop_after > 0:
        progress = json.loads(state.read_text())
        assert progress["attack_index"] == (0 if stop_after == 2 else 1) and not progress["finished"]
    resumed = evaluate(model, data=(x, y), n_examples=48, batch_size=16, state_path=state, **TWO)
    assert same(resumed, whole)


KILL_SCRIPT = """
import sys, threading, torch
sys.path.insert(0, {tests!r})
from helpers.colour_data import ColourClassifier
from dkl_zoo.evaluation import evaluate
from dkl_zoo.evaluation.state import RunState
x, y = torch.load({data!r})
save = RunState.save
def save_then_wait(self, path):  # once a batch of the attack is saved, say so and wait to be killed
    save(self, path)
    if self.attack_indices:
        print("SAVED", flush=True)
        threading.Event().wait()
RunState.save = save_then_wait
evaluate(ColourClassifier(), data=(x, y), n_examples=len(y), batch_size=8, state_path={state!r},
         version="custom", attacks=["apgd-ce"], progress=False)
"""


def test_killed_process_resumes_to_the_same_result(colour_data, tmp_path):
    model, x, y = colour_data
    torch.save((x, y), tmp_path / "data.pt")
    whole = evaluate(model, data=(x, y), n_examples=48, batch_size=8, **FAST)
    state = tmp_path / "state.json"
    code = KILL_SCRIPT.format(tests=str(HERE), data=str(tmp_path / "data.pt"), state=str(state))
    env = python_env({"OMP_NUM_THREADS": "1"})
    process = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "SAVED\n"  # mid-run, whatever the machine's speed: the child waits now
    process.kill()  # SIGKILL: no cleanup runs
    process.wait()
    data = json.loads(state.read_text())
    assert not data["finished"]
    resumed = evaluate(model, data=(x, y), n_examples=48, batch_size=8, state_path=state, **FAST)
    assert same(resumed, whole)


def test_state_of_another_evaluation_is_refused(colour_data, tmp_path):
    model, x, y = colour_data
    state = tmp_path / "state.json"
    evaluate(model, data=(x, y), n_examples=16, batch_size=16, state_path=state, **FAST)
    with pytest.raises(ValueError, match="different evaluation .*eps"):
        evaluate(model, data=(x, y), n_examples=16, batch_size=16, state_path=state, eps=4 / 255, **FAST)
    state.write_text("not json")
    with pytest.raises(ValueError, match="not a dkl_zoo evaluation state"):
        evaluate(model, data=(x, y), n_examples=16, batch_size=16, state_path=state, **FAST)


def test_two_ranks_merged_equal_the_whole(colour_data, tmp_path):
    """Shards under a real torch.distributed group (gloo on 127.0.0.1): merged == one process."""
    model, x, y = colour_data
    torch.save((x, y), tmp_path / "data.pt")
    whole = evaluate(model, data=(x, y), n_examples=48, batch_size=8, **TWO)
    processes = []
    for rank in range(2):
        env = python_env(
            {
                "RANK": str(rank),
                "WORLD_SIZE": "2",
                "OMP_NUM_THREADS": "1",
                "RENDEZVOUS_FILE": str(tmp_path / "rendezvous"),  # a file store: no port to find, none to lose
                "STATE_PATH": str(tmp_path / "state"),
            }
        )
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    str(HERE / "helpers" / "shard_worker.py"),
                    str(tmp_path / f"r{rank}.json"),
                    str(tmp_path / "data.pt"),
                ],
                env=env,
            )
        )
    assert [p.wait(timeout=300) for p in processes] == [0, 0]
    parts = [EvalResult.from_json(tmp_path / f"r{rank}.json") for rank in range(2)]
    assert [p.example_range for p in parts] == [(0, 24), (24, 48)]
    merged = merge_results(parts)
    assert same(merged, whole)
    assert merged.clean_acc == whole.clean_acc and merged.robust_acc == whole.robust_acc
    for rank in range(2):  # the ranks ran as one group: each held all 48 examples and knew its place
        state = json.loads((tmp_path / f"state.rank{rank}").read_text())
        assert (state["config"]["n"], state["config"]["world"], state["config"]["rank"]) == (48, 2, rank)


def test_independent_shards_cover_the_set_and_merge(colour_data):
    model, x, y = colour_data
    parts = [evaluate(model, data=(x, y), n_examples=48, batch_size=8, shard=(i, 3), **FAST) for i in range(3)]
    assert [p.example_range for p in parts] == [(0, 16), (16, 32), (32, 48)]
    merged = merge_results(reversed(parts))
    assert merged.n_examples == 48 and merged.example_range == (0, 48)
    assert merged.n_clean_correct == sum(p.n_clean_correct for p in parts)
    whole = evaluate(model, data=(x, y), n_examples=48, batch_size=8, **FAST)
    assert merged.clean_acc == whole.clean_acc  # clean accuracy never depends on the batching
    with pytest.raises(ValueError, match="contiguous"):
        merge_results([parts[0], parts[2]])
    other = evaluate(model, data=(x, y), n_examples=48, batch_size=8, shard=(1, 3), eps=2 / 255, **FAST)
    with pytest.raises(ValueError, match="differ in eps"):
        merge_results([parts[0], other])


def test_robustbench_json_has_every_field(colour_data, tmp_path):
    model, x, y = colour_data
    result = evaluate(model, data=(x, y), n_examples=16, batch_size=16, **FAST)
    with pytest.raises(ValueError, match="not a RobustBench evaluation.*not 'standard'.*16 test images"):
        write_robustbench_json(result, tmp_path / "refused.json", entry="ikl-at-cifar10-wrn34")
    assert not (tmp_path / "refused.json").exists()
    info = write_robustbench_json(
        result, tmp_path / "Cui2023Decoupled_WRN-34-10.json", entry="ikl-at-cifar10-wrn34", nonstandard=True
    )
    assert info["unreliable"] is True and "NOT a standard RobustBench evaluation" in info["footnote"]
    written = json.loads((tmp_path / "Cui2023Decoupled_WRN-34-10.json").read_text())
    assert written == info
    for key in (
        "link",
        "name",
        "authors",
        "additional_data",
        "number_forward_passes",
        "dataset",
        "venue",
        "architecture",
        "eps",
        "clean_acc",
        "reported",
        "autoattack_acc",
    ):
        assert key in written
    assert written["eps"] == "8/255" and written["architecture"] == "WideResNet-34-10"
    assert written["clean_acc"] == f"{100 * result.clean_acc:.2f}" and written["reported"] == "57.13"
    assert written["link"] == "https://arxiv.org/abs/2305.13948" and written["venue"] == "NeurIPS 2024"
    dm = write_robustbench_json(result, tmp_path / "dm.json", entry="ikl-at-cifar10-wrn28-20m", nonstandard=True)
    assert dm["footnote"].startswith("It uses additional 20M synthetic images in training. NOT a standard")
    with pytest.raises(ValueError, match="unknown RobustBench field"):
        write_robustbench_json(result, tmp_path / "x.json", acc="1", nonstandard=True)
    standard = dataclasses.replace(
        result,
        version="standard",
        attacks=["apgd-ce", "apgd-t", "fab-t", "square"],
        n_examples=10_000,
        example_range=(0, 10_000),
    )
    clean = write_robustbench_json(standard, tmp_path / "ok.json", entry="ikl-at-cifar10-wrn34")
    assert clean["unreliable"] is False and "footnote" not in clean


def test_robustness_curve_writes_png_and_csv(colour_data, tmp_path):
    model, x, y = colour_data
    results = robustness_curve(
        model,
        [8 / 255, 0.5 / 255, 2 / 255],
        png_path=tmp_path / "curve.png",
        data=(x, y),
        n_examples=16,
        batch_size=16,
        **FAST,
    )
    assert [round(r.eps * 255, 3) for r in results] == [0.5, 2.0, 8.0]
    # recorded for this model, data and seed 0 (16 images): 13 clean; robust 13, 13, 10 as eps grows
    assert [(r.n_clean_correct, r.n_robust) for r in results] == [(13, 13), (13, 13), (13, 10)]
    png = (tmp_path / "curve.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
    rows = (tmp_path / "curve.csv").read_text().splitlines()
    assert rows[0].startswith("eps,eps_pixels,clean_acc,robust_acc") and len(rows) == 4


def test_a_model_in_training_mode_is_warned_about(colour_data):
    model, x, y = colour_data
    with pytest.warns(RuntimeWarning, match="training mode; AutoAttack expects eval mode"):
        evaluate(model.train(), data=(x, y), n_examples=4, batch_size=4, **FAST)


def test_missing_cifar_offline_says_which_files(tmp_path, monkeypatch):
    from dkl_zoo.data import DatasetNotFoundError, load_test_set

    monkeypatch.setattr("torchvision.datasets.CIFAR10.url", "http://127.0.0.1:9/cifar-10-python.tar.gz")
    with pytest.raises(DatasetNotFoundError, match=r"test_batch.*cifar-10-python.tar.gz"):
        load_test_set("cifar10", 10, tmp_path)


def test_cifar_loader_reads_the_written_set_in_order(cifar_dir):
    from dkl_zoo.data import load_test_set

    _, data_dir = cifar_dir
    x, y = load_test_set("cifar10", 5, data_dir)
    assert x.shape == (5, 3, 32, 32) and x.dtype == torch.float32 and x.is_contiguous()
    assert 0 <= float(x.min()) and float(x.max()) <= 1
    images = colour_images(24, seed=2)
    assert torch.equal(x, torch.from_numpy(images[:5]).permute(0, 3, 1, 2).float() / 255)


def test_public_evaluate_is_the_function_whatever_was_imported_first():
    import dkl_zoo
    import dkl_zoo.evaluation

    assert dkl_zoo.evaluate is dkl_zoo.evaluation.evaluate
    assert dkl_zoo.merge_results is merge_results and dkl_zoo.EvalResult is EvalResult


def test_channels_last_layout_gives_the_same_flags_and_is_applied_to_conv_models():
    """evaluate runs a conv model with channels-last weights (faster on CPU), on a copy, and the result does not
    change; the caller's model keeps its layout."""
    from dkl_zoo.models import WideResNet

    torch.manual_seed(0)
    x = torch.rand(12, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    results, layouts = [], []
    for channels_last in (False, True):
        torch.manual_seed(0)
        model = WideResNet(depth=10, widen_factor=1, num_classes=10).eval()
        y = model(x).argmax(1)  # every image starts correct: the attack decides every flag
        seen: list[bool] = []
        model.conv1.register_forward_pre_hook(
            lambda module, args, seen=seen: seen.append(module.weight.is_contiguous(memory_format=torch.channels_last))
        )
        kwargs = dict(
            data=(x, y),
            n_examples=12,
            version="custom",
            attacks=["apgd-ce"],
            eps=0.03,
            batch_size=6,
            progress=False,
            channels_last=channels_last,
        )
        results.append(evaluate(model, **kwargs))
        layouts.append(set(seen))
        assert not model.conv1.weight.is_contiguous(memory_format=torch.channels_last)  # the caller's model as it was
    assert layouts == [{False}, {True}]
    plain, fast = results
    assert plain.n_clean_correct == fast.n_clean_correct == 12
    assert (plain.n_robust, plain.robust_after_counts) == (fast.n_robust, fast.robust_after_counts)
    assert 0 < plain.n_robust < 12  # the attack succeeded on some images and not on others
