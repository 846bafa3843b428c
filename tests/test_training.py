"""training/: our step equals the released step, resume is bit-identical, configs say what was run."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import dkl_zoo
from dkl_zoo.losses import ClassPrior
from dkl_zoo.models import WideResNet
from dkl_zoo.registry import REGISTRY, RELEASED
from helpers import ROOT, python_env
from training.config import ConfigError, load_config
from training.ikl_at import (
    AdversarialWeightPerturbation,
    IKLATStep,
    attack_budget,
    cosine_lr,
)
from training.train import main as train_main

CONFIGS = ROOT / "training" / "configs"


from helpers.released_port import released_step  # noqa: E402


@pytest.mark.parametrize("attack_loss, epoch", [("soft-ce", 12), ("dkl", 12), ("soft-ce", 3)])
def test_one_step_equals_the_released_step(attack_loss, epoch):
    config = load_config(CONFIGS / "ikl-at-cifar10-wrn34.yaml", [f"attack_loss={attack_loss}", "bn_replicas=1"])
    torch.manual_seed(0)
    base = WideResNet(depth=10, widen_factor=1, num_classes=10).double()
    x = torch.rand(8, 3, 32, 32, dtype=torch.float64)
    y = torch.randint(0, 10, (8,))
    prior_matrix = torch.softmax(torch.randn(10, 10, dtype=torch.float64) * 2, dim=1)

    theirs = copy.deepcopy(base)
    their_proxy = copy.deepcopy(base)
    their_opt = torch.optim.SGD(theirs.parameters(), lr=config["lr"], momentum=0.9, weight_decay=5e-4)
    their_proxy_opt = torch.optim.SGD(their_proxy.parameters(), lr=config["lr"])
    torch.manual_seed(1)
    accumulated = released_step(theirs, their_proxy, their_proxy_opt, their_opt, x, y, prior_matrix, epoch, config)

    ours = copy.deepcopy(base)
    our_opt = torch.optim.SGD(ours.parameters(), lr=config["lr"], momentum=0.9, weight_decay=5e-4)
    prior = ClassPrior(10, temperature=config["temperature"])
    prior.prior = prior_matrix.clone()
    awp = AdversarialWeightPerturbation(ours, copy.deepcopy(base), config["lr"], config["awp"]["gamma"])
    step = IKLATStep(config, ours, our_opt, prior, awp)
    torch.manual_seed(1)
    step(x, y, epoch)

    for (name, a), (_, b) in zip(theirs.state_dict().items(), ours.state_dict().items()):
        assert torch.allclose(a.double(), b.double(), rtol=0, atol=1e-6), name
    assert any(not torch.equal(a, b) for a, b in zip(base.parameters(), ours.parameters()))
    torch.testing.assert_close(prior._sums, accumulated)


def test_attack_budget_as_released_and_staged():
    config = load_config(CONFIGS / "ikl-at-cifar10-wrn34.yaml")
    for epoch in (1, 50, 51, 120, 200):
        budget = attack_budget(config, epoch)
        assert (budget.steps, budget.step_size) == (5, pytest.approx(8 / 255 * epoch / 200 / 2))
    staged = {**config, "attack_schedule": "staged"}
    assert [attack_budget(staged, e).steps for e in (1, 50, 51, 100, 101, 150, 151, 200)] == [2, 2, 3, 3, 4, 4, 5, 5]
    assert cosine_lr(config, 1) == pytest.approx(0.2 * 0.5 * (1 + torch.cos(torch.tensor(torch.pi / 201)).item()))


def test_smoke_config_trains_on_cpu(tmp_path, capsys):
    out = tmp_path / "run"
    assert train_main(["--config", str(CONFIGS / "smoke.yaml"), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 6 and summary["epochs"] == 2
    assert set(summary["released_weights"]) == {"clean_acc", "pgd3_acc", "n_examples"}
    rows = (out / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,step,global_step,lr,loss") and len(rows) == 7
    # Recorded on this config's fixed seed (CPU; thread counts move the 5th digit): the loss is computed,
    # not just logged, and falls over the six steps.
    losses = [float(r.split(",")[4]) for r in rows[1:]]
    assert losses == pytest.approx([9.0790, 9.1130, 9.2143, 9.0503, 9.0287, 8.9009], rel=1e-3)
    assert losses[-1] < losses[0]
    final = torch.load(out / "final.pt", weights_only=True)
    assert set(final) == set(WideResNet(depth=10, widen_factor=1).state_dict())
    assert '"steps": 6' in capsys.readouterr().out


def _final(out: Path) -> dict:
    return torch.load(out / "final.pt", weights_only=True)


def test_killed_and_resumed_run_is_bit_identical(tmp_path):
    straight = tmp_path / "straight"
    assert (
        train_main(
            ["--config", str(CONFIGS / "smoke.yaml"), "--out", str(straight), "max_steps_per_epoch=4", "awp.warmup=1"]
        )
        == 0
    )
    killed = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "training.train",
        "--config",
        str(CONFIGS / "smoke.yaml"),
        "--out",
        str(killed),
        "max_steps_per_epoch=4",
        "awp.warmup=1",
    ]
    env = python_env()
    process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not (killed / "checkpoint.pt").exists():
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / "summary.json").exists(), "the run finished before it could be killed"
    state = torch.load(killed / "checkpoint.pt", weights_only=True)
    assert state["global_step"] < 8
    assert (
        train_main(
            [
                "--config",
                str(CONFIGS / "smoke.yaml"),
                "--out",
                str(killed),
                "--resume",
                "max_steps_per_epoch=4",
                "awp.warmup=1",
            ]
        )
        == 0
    )
    a, b = _final(straight), _final(killed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    rows = (killed / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[2] for r in rows[1:]] == [str(i) for i in range(1, 9)]  # no duplicated steps


def test_resume_refuses_another_config_and_fresh_run_refuses_an_existing_one(tmp_path, capsys):
    out = tmp_path / "run"
    assert train_main(["--config", str(CONFIGS / "smoke.yaml"), "--out", str(out), "epochs=1"]) == 0
    assert train_main(["--config", str(CONFIGS / "smoke.yaml"), "--out", str(out), "epochs=1"]) == 2
    assert "pass --resume" in capsys.readouterr().err
    assert (
        train_main(["--config", str(CONFIGS / "smoke.yaml"), "--out", str(out), "--resume", "epochs=1", "lr=0.1"]) == 2
    )
    assert "(changed: lr)" in capsys.readouterr().err


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["epohcs=3"], "unknown config key 'epohcs' \\(did you mean 'epochs'\\?\\)"),
        (["awp.gama=0"], "unknown config key 'awp.gama' \\(did you mean 'awp.gamma'\\?\\)"),
        (["eps=8"], "give it as a fraction .*8/255"),
        (["attack_schedule=high"], "attack_schedule must be one of"),
        (["batch_size"], "must look like key=value"),
        (["method=standard", "awp.gamma=0.005"], "method standard trains without attacks.*set awp.gamma: 0"),
    ],
)
def test_bad_config_is_a_clear_error(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(CONFIGS / "smoke.yaml", overrides)


def test_typo_in_a_yaml_file_is_an_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("lr: 0.1\nweigth_decay: 0.0005\n")
    with pytest.raises(ConfigError, match="did you mean 'weight_decay'"):
        load_config(path)


def test_missing_data_names_the_path(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("torchvision.datasets.CIFAR10.url", "http://127.0.0.1:9/cifar-10-python.tar.gz")
    code = train_main(
        [
            "--config",
            str(CONFIGS / "smoke.yaml"),
            "--out",
            str(tmp_path / "r"),
            "dataset=cifar10",
            f"data_dir={tmp_path / 'nodata'}",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "nodata" in err and "cifar-10-python.tar.gz" in err


# What the release's WRN-34-10 runs share (jiequancui/DKL@c5e8ad2 DKLv1/Adv-training-dkl: sh/train_dkl_*.sh and
# train_dkl_*.py defaults; the epoch EMA of swa.py), as each config's comments cite it line by line.
RELEASED_COMMON = {
    "lr": 0.2,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "batch_size": 128,
    "epochs": 200,
    "awp": {"gamma": 5e-3, "warmup": 10},
    "attack_schedule": "as-released",
    "eps_ramp": "linear",
    "lr_schedule": "cosine-epoch",
    "epoch_ema": {"enabled": True, "decay": 0.9},
}


@pytest.mark.parametrize("name", sorted(RELEASED))
def test_every_registry_entry_has_a_config_with_the_released_values(name):
    entry = REGISTRY[name]
    path = CONFIGS / entry.provenance.training_config
    assert path.exists()
    text = path.read_text()
    for key in ("lr", "momentum", "weight_decay", "batch_size", "epochs", "alpha", "beta", "temperature", "awp", "eps"):
        assert f"\n{key}:" in text, f"{path.name} lacks {key}"
    recipe = entry.provenance.recipe
    if recipe.alpha is None:
        with pytest.raises(ConfigError, match="does not publish it"):
            load_config(path)
        chosen = ["alpha=4", "beta=20", "temperature=2"]
        if entry.arch.name == "dm_wide_resnet":
            chosen += ["epochs=1", "batch_size=2", "gamma=1"]
        config = load_config(path, chosen)
    elif entry.arch.name == "dm_wide_resnet":
        with pytest.raises(ConfigError, match="epochs is not set"):
            load_config(path)
        config = load_config(path, ["epochs=1", "batch_size=2"])
    else:
        config = load_config(path)
    assert config["name"] == name and config["eps"] == pytest.approx(8 / 255)
    if recipe.alpha is not None:
        assert (config["alpha"], config["beta"], config["temperature"]) == (
            recipe.alpha,
            recipe.beta,
            recipe.temperature,
        )
    if recipe.gamma_aug is not None:
        assert config["aug"] == "autoaug" and config["gamma_aug"] == recipe.gamma_aug
    assert config["attack_loss"] == ("soft-ce" if entry.dataset == "cifar10" else "dkl")
    if entry.arch.name == "wide_resnet":
        for key, value in RELEASED_COMMON.items():
            assert config[key] == (pytest.approx(value) if isinstance(value, float) else value), key
    else:
        assert config["nesterov"] and not config["weight_decay_on_bn"] and config["lr_schedule"] == "onecycle"
        assert config["generated"]["fraction"] == 0.7 and config["step_ema"]["tau"] == 0.995
        assert dkl_zoo.build_model(name, meta=True).__class__.__name__ == "DMWideResNet"


def test_epoch_ema_is_the_released_average_of_epoch_checkpoints():
    from training.ikl_at import EpochEMA

    torch.manual_seed(0)
    model = WideResNet(depth=10, widen_factor=1)
    ema = EpochEMA(0.9)
    snapshots = []
    for _ in range(3):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
            model.bn1.running_mean.add_(1.0)
            model.bn1.num_batches_tracked.add_(5)
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        ema.update(model)
    expected = snapshots[0]
    for snap in snapshots[1:]:  # swa.py of the release: θ̄ₑ = 0.1 θₑ + 0.9 θ̄ₑ₋₁
        expected = {k: (0.1 * snap[k] + 0.9 * expected[k]) if snap[k].is_floating_point() else snap[k] for k in snap}
    for key in expected:
        torch.testing.assert_close(ema.state[key], expected[key])
    assert int(ema.state["bn1.num_batches_tracked"]) == 15


def test_fashion_mnist_configs_share_budget_and_differ_in_the_loss():
    ikl = load_config(CONFIGS / "ikl-at-fmnist-wrn10-1.yaml")
    trades = load_config(CONFIGS / "trades-fmnist-wrn10-1.yaml")
    assert REGISTRY["ikl-at-fmnist-wrn10-1"].provenance.training_config == "ikl-at-fmnist-wrn10-1.yaml"
    assert (ikl["method"], trades["method"]) == ("ikl", "trades") and trades["attack_loss"] == "kl"
    same = (
        "dataset",
        "arch",
        "epochs",
        "max_steps_per_epoch",
        "batch_size",
        "lr",
        "momentum",
        "weight_decay",
        "eps",
        "eps_ramp",
        "attack_schedule",
        "awp",
        "seed",
        "aug",
    )
    assert {k: ikl[k] for k in same} == {k: trades[k] for k in same}
    assert ikl["eps"] == 0.1 and ikl["dataset"] == "fashion-mnist"


def test_the_contrast_config_is_the_ikl_at_budget_without_attacks():
    ikl = load_config(CONFIGS / "ikl-at-fmnist-wrn10-1.yaml")
    standard = load_config(CONFIGS / "standard-fmnist-wrn10-1.yaml")
    assert REGISTRY["standard-fmnist-wrn10-1"].provenance.training_config == "standard-fmnist-wrn10-1.yaml"
    assert standard["method"] == "standard" and standard["awp"]["gamma"] == 0
    same = (
        "dataset",
        "arch",
        "epochs",
        "max_steps_per_epoch",
        "batch_size",
        "lr",
        "momentum",
        "weight_decay",
        "lr_schedule",
        "seed",
        "aug",
        "epoch_ema",
        "eps",
    )
    assert {k: ikl[k] for k in same} == {k: standard[k] for k in same}


def test_a_standard_step_is_one_sgd_step_on_the_clean_cross_entropy():
    config = load_config(CONFIGS / "smoke.yaml", ["method=standard", "awp.gamma=0"])
    torch.manual_seed(0)
    model = WideResNet(depth=10, widen_factor=1, num_classes=10)
    reference = copy.deepcopy(model)
    x, y = torch.rand(8, 3, 32, 32), torch.randint(0, 10, (8,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    metrics = IKLATStep(config, model, optimizer, ClassPrior(10, 4.0), None)(x, y, epoch=1)
    reference.train()
    loss = torch.nn.functional.cross_entropy(reference(x), y)
    loss.backward()
    with torch.no_grad():
        for param in reference.parameters():
            param -= 0.1 * param.grad
    for got, expected in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(got, expected)
    assert float(metrics["loss"]) == pytest.approx(float(loss)) and float(metrics["loss_robust"]) == 0
    assert torch.isnan(metrics["adv_acc"]) and metrics["eps"] == 0.0


def test_bn_replicas_equal_a_dataparallel_split_on_cpu():
    """nn.DataParallel over 4 GPUs, written out: 4 replicas (copies) each run their chunk in train mode,
    outputs are concatenated, gradients summed into the one model, running stats kept from replica 0."""
    from training.ikl_at import replica_forward

    torch.manual_seed(0)
    model = WideResNet(depth=10, widen_factor=1, num_classes=10).double().train()
    x = torch.rand(10, 3, 32, 32, dtype=torch.float64)  # 10 = 3 + 3 + 3 + 1: uneven chunks, as torch.chunk
    replicas = [copy.deepcopy(model) for _ in range(4)]
    outputs = [r(chunk) for r, chunk in zip(replicas, x.chunk(4))]
    expected = torch.cat(outputs)
    expected.square().sum().backward()
    ours = replica_forward(model, x, 4)
    ours.square().sum().backward()
    assert torch.allclose(ours, expected, rtol=0, atol=1e-12)
    for (name, p), *copies in zip(model.named_parameters(), *(r.parameters() for r in replicas)):
        assert torch.allclose(p.grad, sum(c.grad for c in copies), rtol=0, atol=1e-10), name
    for (name, buffer), kept in zip(model.named_buffers(), replicas[0].buffers()):
        assert torch.equal(buffer, kept), name
    whole = copy.deepcopy(replicas[0])  # one chunk of the whole batch normalises differently
    assert not torch.allclose(whole.train()(x), expected)
    model.eval()
    assert torch.equal(replica_forward(model, x, 4), model(x))  # eval mode: a plain forward


def test_wrn34_configs_run_batch_norm_as_released():
    for path in sorted(CONFIGS.glob("*wrn34*.yaml")):
        config = load_config(path, ["alpha=4", "beta=20", "temperature=4"] if "v2.yaml" in path.name else [])
        assert config["bn_replicas"] == 4, path.name


def test_the_training_step_uses_the_bn_replicas_of_its_config():
    """Every train-mode forward of the step (adversarial and natural, AWP's proxy too) normalises chunks."""
    config = load_config(CONFIGS / "smoke.yaml", ["bn_replicas=4", "awp.warmup=1"])
    torch.manual_seed(0)
    model = WideResNet(depth=10, widen_factor=1, num_classes=10)
    proxy = copy.deepcopy(model)
    sizes: list[int] = []
    for net in (model, proxy):
        net.bn1.register_forward_hook(lambda m, inputs, out: sizes.append(inputs[0].shape[0]) if m.training else None)
    optimizer = torch.optim.SGD(model.parameters(), lr=config["lr"])
    awp = AdversarialWeightPerturbation(model, proxy, config["lr"], 0.005)
    step = IKLATStep(config, model, optimizer, ClassPrior(10, temperature=4.0), awp)
    generator = torch.Generator().manual_seed(1)
    x, y = torch.rand(8, 3, 32, 32, generator=generator), torch.randint(0, 10, (8,), generator=generator)
    step(x, y, 1)
    assert sizes == [2] * 16  # 2 proxy forwards + 2 model forwards, 4 chunks of 2 images each


class _HostReads:
    """Counts the operations that read a tensor's value on the host (``.item()``, ``float(t)``, ``if t:``,
    ``torch.equal``): each is a device synchronisation on a GPU. Works on the CPU, where there is no sync."""

    _READS = ("_local_scalar_dense", "is_nonzero", "equal")

    def __init__(self) -> None:
        from torch.utils._python_dispatch import TorchDispatchMode

        reads: list[str] = []

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                name = func.__name__.split(".")[0]
                if name in _HostReads._READS:
                    reads.append(name)
                return func(*args, **(kwargs or {}))

        self.reads, self.mode = reads, Mode()

    def __enter__(self) -> list[str]:
        self.mode.__enter__()
        return self.reads

    def __exit__(self, *exc: object) -> None:
        self.mode.__exit__(*exc)


@pytest.mark.parametrize("method, attack_loss", [("ikl", "soft-ce"), ("ikl", "dkl"), ("trades", "soft-ce")])
def test_the_training_step_reads_nothing_on_the_host(method, attack_loss):
    """No device sync inside a step (IKL-AT with either attack loss, TRADES): metrics stay on the device."""
    config = load_config(CONFIGS / "smoke.yaml", ["awp.warmup=1", f"method={method}", f"attack_loss={attack_loss}"])
    torch.manual_seed(0)
    model = WideResNet(depth=10, widen_factor=1, num_classes=10)
    optimizer = torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=0.9)
    awp = AdversarialWeightPerturbation(model, copy.deepcopy(model), config["lr"], 0.005)
    step = IKLATStep(config, model, optimizer, ClassPrior(10, temperature=4.0), awp)
    x, y = torch.rand(8, 3, 32, 32), torch.arange(8) % 10
    step(x, y, 2)  # the first call may set things up
    with _HostReads() as reads:
        metrics = step(x, y, 2)
    assert reads == []
    assert all(
        isinstance(metrics[k], torch.Tensor) and metrics[k].dim() == 0
        for k in ("loss", "loss_natural", "loss_robust", "adv_acc")
    )
    with _HostReads() as reads:  # the counter does see a read: the check above can fail
        float(metrics["loss"])
    assert reads == ["_local_scalar_dense"]


@pytest.mark.heavy
def test_compile_true_compiles_the_attack_and_training_passes_of_the_same_network(tmp_path):
    from training.train import Trainer

    config = load_config(CONFIGS / "smoke.yaml", ["compile=true"])
    trainer = Trainer(config, tmp_path / "run")
    assert isinstance(trainer.step_fn.attack_model, torch._dynamo.eval_frame.OptimizedModule)
    assert trainer.step_fn.model is trainer.step_fn.attack_model
    assert trainer.step_fn.attack_model._orig_mod is trainer.net  # same parameters; checkpoints from trainer.net
    replicas = Trainer(load_config(CONFIGS / "smoke.yaml", ["compile=true", "bn_replicas=4"]), tmp_path / "r4")
    assert replicas.step_fn.model is replicas.net  # the batch-norm replica emulation stays eager
    assert replicas.step_fn.attack_model is not replicas.net
    eager = Trainer(config | {"compile": False}, tmp_path / "eager")
    assert eager.step_fn.attack_model is eager.net and eager.step_fn.model is eager.net


@pytest.mark.heavy
def test_compiled_network_computes_what_the_eager_one_does():
    """Each pass of the step, compiled (inductor, CPU) and eager: logits, input gradient (the attack's) and
    parameter gradients (training's) agree to float tolerance, in eval and in train mode."""
    torch.manual_seed(0)
    eager = WideResNet(depth=10, widen_factor=1, num_classes=10)
    twin = copy.deepcopy(eager)
    compiled = torch.compile(twin)
    x, y = torch.rand(8, 3, 32, 32), torch.arange(8) % 10
    for mode in ("eval", "train"):
        outputs = []
        for net, module in ((eager, eager), (compiled, twin)):
            getattr(module, mode)()
            module.zero_grad(set_to_none=True)
            xi = x.clone().requires_grad_(True)
            logits = net(xi)
            torch.nn.functional.cross_entropy(logits, y).backward()
            outputs.append((logits.detach(), xi.grad, [p.grad for p in module.parameters()]))
        (l1, g1, p1), (l2, g2, p2) = outputs
        torch.testing.assert_close(l2, l1, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(g2, g1, rtol=1e-4, atol=1e-6)
        for a, b in zip(p1, p2):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
    for a, b in zip(eager.state_dict().values(), twin.state_dict().values()):  # batch-norm statistics too
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)


@pytest.mark.heavy
def test_torchrun_with_two_cpu_ranks_trains_and_rank_0_writes(tmp_path):
    """DistributedDataParallel over gloo on the CPU, as `torchrun --nproc_per_node N` runs it on N GPUs:
    each rank takes its share of every batch, only rank 0 writes the run's files."""
    out = tmp_path / "ddp"
    cmd = [
        str(Path(sys.executable).parent / "torchrun"),
        "--standalone",  # torchrun binds a free port itself: none is probed and released before use
        "--nproc_per_node",
        "2",
        "-m",
        "training.train",
        "--config",
        str(CONFIGS / "smoke.yaml"),
        "--out",
        str(out),
        "epochs=1",
        "final_eval.n_examples=0",
    ]
    env = python_env({"OMP_NUM_THREADS": "1"})
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 3 and summary["epochs"] == 1
    rows = (out / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + 3  # one writer: no duplicated rows from the second rank
    final = torch.load(out / "final.pt", weights_only=True)
    assert all(torch.isfinite(v).all() for v in final.values() if v.is_floating_point())


def test_two_trainings_on_one_folder_the_second_is_refused_naming_the_first(tmp_path, capsys):
    from dkl_zoo.errors import RunInUseError
    from training.run_lock import RunLock

    first = RunLock(tmp_path)
    try:
        assert train_main(["--config", str(CONFIGS / "smoke.yaml"), "--out", str(tmp_path)]) == 2
        message = capsys.readouterr().err
        assert f"{tmp_path} is in use by another training (pid {os.getpid()} on " in message
        assert not (tmp_path / "metrics.csv").exists() and not (tmp_path / "config.json").exists()
        with pytest.raises(RunInUseError):
            RunLock(tmp_path)
    finally:
        first.release()
    second = RunLock(tmp_path)  # free again; a killed holder frees it too (the OS drops the lock)
    second.release()
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sys; from training.run_lock import RunLock; "
            f"RunLock({str(tmp_path)!r}); os.kill(os.getpid(), 9)",
        ],
        cwd=ROOT,
        env=python_env(),
        timeout=60,
    )
    assert done.returncode == -9
    RunLock(tmp_path).release()


def test_a_folder_given_as_config_is_named_as_a_folder(tmp_path):
    with pytest.raises(ConfigError, match="is a folder; give one of its .yaml files"):
        load_config(CONFIGS)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nothing.yaml")


# ---- resume reads no code; configs refuse bad values in one line -----------------------------------------


class _Planted:
    def __reduce__(self):
        return (Path.touch, (Path(os.environ["DKL_ZOO_TEST_MARKER"]),))


def _smoke_run(tmp_path) -> Path:
    out = tmp_path / "run"
    assert (
        train_main(["--config", str(CONFIGS / "smoke.yaml"), "--out", str(out), "epochs=1", "final_eval.n_examples=0"])
        == 0
    )
    return out


def test_resume_never_runs_code_from_a_planted_checkpoint(tmp_path, monkeypatch, capsys):
    out = _smoke_run(tmp_path)
    marker = tmp_path / "marker"
    monkeypatch.setenv("DKL_ZOO_TEST_MARKER", str(marker))
    state = torch.load(out / "checkpoint.pt", weights_only=True)  # our own checkpoints need no code
    state["payload"] = _Planted()
    torch.save(state, out / "checkpoint.pt")
    code = train_main(
        ["--config", str(CONFIGS / "smoke.yaml"), "--out", str(out), "--resume", "epochs=1", "final_eval.n_examples=0"]
    )
    assert not marker.exists(), "the planted payload ran"
    err = capsys.readouterr().err
    assert code == 2 and "need code to unpickle" in err and "checkpoint.pt" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("damage", ["truncated", "empty", "foreign", "garbage"])
def test_damaged_checkpoint_is_one_line_naming_the_file(tmp_path, capsys, damage):
    out = _smoke_run(tmp_path)
    path = out / "checkpoint.pt"
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "foreign":
        torch.save({"weights": torch.zeros(3)}, path)
    else:
        path.write_bytes(os.urandom(4096))
    capsys.readouterr()
    code = train_main(
        ["--config", str(CONFIGS / "smoke.yaml"), "--out", str(out), "--resume", "epochs=1", "final_eval.n_examples=0"]
    )
    err = capsys.readouterr().err
    assert code == 2 and str(path) in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "override, message",
    [
        ("eps=.nan", "eps must be a positive"),
        ("lr=.inf", "lr must be"),
        ("momentum=5", "momentum must be"),
        ("epochs=true", "epochs must be a positive integer"),
        ("awp.gamma=-0.1", "awp.gamma must be"),
        ("final_eval.n_examples=-5", "final_eval.n_examples must be"),
        ("max_steps_per_epoch=-1", "max_steps_per_epoch must be"),
        ("seed=abc", "seed must be an integer"),
        ("arch={name: resnet50}", "Unknown architecture 'resnet50'"),
        ("arch={name: wide_resnet, depth: 11, widen_factor: 1}", "depth must be 6n \\+ 4"),
        ("device=tpu", "device .tpu. is not a device name \\(auto, cpu, cuda"),
    ],
)
def test_bad_config_values_are_one_line_errors(override, message, tmp_path, capsys):
    with pytest.raises(ConfigError, match=message):
        load_config(CONFIGS / "smoke.yaml", [override])
    assert train_main(["--config", str(CONFIGS / "smoke.yaml"), "--out", str(tmp_path / "r"), override]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_yaml_syntax_error_names_the_line(tmp_path, capsys):
    path = tmp_path / "broken.yaml"
    path.write_text("lr: 0.1\narch: {name: wide_resnet\nepochs: 3\n")
    assert train_main(["--config", str(path), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "not valid YAML at line" in err and len(err.strip().splitlines()) == 1


def test_cuda_device_without_cuda_is_refused(tmp_path):
    """On a machine without CUDA (hidden from the run, so the test runs on GPU machines too)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "training.train",
            "--config",
            str(CONFIGS / "smoke.yaml"),
            "--out",
            str(tmp_path / "r"),
            "device=cuda",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=python_env({"CUDA_VISIBLE_DEVICES": ""}),
    )
    assert done.returncode == 2 and "no CUDA device" in done.stderr, done.stderr
    assert not (tmp_path / "r").exists()


# ---- AWP switches on at exactly epoch == warmup ----------------------------------------------------------


def _step_result(epoch: int, with_awp: bool) -> dict[str, torch.Tensor]:
    config = load_config(CONFIGS / "smoke.yaml", ["awp.warmup=4", "epochs=10"])
    torch.manual_seed(0)
    model = WideResNet(depth=10, widen_factor=1, num_classes=10)
    optimizer = torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=0.9)
    awp = AdversarialWeightPerturbation(model, copy.deepcopy(model), config["lr"], 0.05) if with_awp else None
    step = IKLATStep(config, model, optimizer, ClassPrior(10, temperature=4.0), awp)
    generator = torch.Generator().manual_seed(1)
    x, y = torch.rand(8, 3, 32, 32, generator=generator), torch.randint(0, 10, (8,), generator=generator)
    torch.manual_seed(2)
    step(x, y, epoch)
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_awp_is_on_at_exactly_the_warmup_epoch_and_off_one_epoch_before():
    def differs(epoch: int) -> bool:
        a, b = _step_result(epoch, True), _step_result(epoch, False)
        return any(not torch.equal(a[k], b[k]) for k in a)

    assert not differs(3), "AWP changed the step one epoch before its warm-up ended"
    assert differs(4), "AWP was off at epoch == warmup"
