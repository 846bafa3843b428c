"""The parts of the IKL-AT step that the released-step comparison does not reach: the learning-rate warm-up,
the TRADES baseline, the dual-view (AutoAugment) loss, the config's attack settings, the metrics, AWP's
switch and mixed precision."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from dkl_zoo.losses import ClassPrior, ikl_loss
from dkl_zoo.models import WideResNet
from helpers import ROOT
from helpers.released_port import released_trades_step
from training.config import load_config
from training.ikl_at import (
    AdversarialWeightPerturbation,
    AttackBudget,
    IKLATStep,
    attack_budget,
    cosine_lr,
    perturb,
    replica_forward,
    robust_loss,
)

SMOKE = ROOT / "training" / "configs" / "smoke.yaml"


def _config(**changes) -> dict:
    return {**load_config(SMOKE), **changes}


def _batch(n: int = 8, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 32, 32, generator=generator), torch.randint(0, 10, (n,), generator=generator)


def _network(seed: int = 0) -> WideResNet:
    torch.manual_seed(seed)
    return WideResNet(depth=10, widen_factor=1, num_classes=10)


def test_cosine_lr_warms_up_linearly_then_follows_the_released_cosine():
    config = _config(lr=0.2, lr_warmup=5, epochs=200)
    assert [cosine_lr(config, e) for e in range(5)] == pytest.approx([0.0, 0.04, 0.08, 0.12, 0.16])
    assert cosine_lr(config, 5) == pytest.approx(0.2)
    assert cosine_lr(config, 100) == pytest.approx(0.1 * (1 + math.cos(math.pi * 95 / 196)))
    assert cosine_lr(config, 200) == pytest.approx(0.1 * (1 + math.cos(math.pi * 195 / 196)))


def test_robust_loss_of_trades_is_beta_times_the_batch_mean_kl():
    generator = torch.Generator().manual_seed(0)
    adv, nat = torch.randn(6, 10, generator=generator), torch.randn(6, 10, generator=generator)
    p_nat = F.softmax(nat, dim=1)
    kl = (p_nat * (p_nat.log() - F.log_softmax(adv, dim=1))).sum() / 6
    loss = robust_loss(_config(method="trades", trades_beta=6.0), adv, nat, torch.rand(6, 10), dual_view=False)
    torch.testing.assert_close(loss, 6.0 * kl)


def test_robust_loss_passes_every_ikl_setting_of_the_config():
    config = _config(alpha=2.0, beta=3.0, gamma=0.5, softce_temperature=2.0, normalize="weights")
    generator = torch.Generator().manual_seed(0)
    adv, nat, w = torch.randn(6, 10, generator=generator), torch.randn(6, 10, generator=generator), torch.rand(6, 10)
    expected = ikl_loss(adv, nat, w, alpha=2.0, beta=3.0, gamma=0.5, temperature=2.0, normalize="weights")
    torch.testing.assert_close(robust_loss(config, adv, nat, w, dual_view=False), expected)


def test_dual_view_robust_loss_weighs_the_second_view_by_gamma_aug():
    """Released autoaug runs: the batch is [basic view; AutoAugment view], IKL(first) + γ_aug · IKL(second)."""
    config = _config(gamma_aug=0.3)
    generator = torch.Generator().manual_seed(0)
    adv, nat, w = torch.randn(8, 10, generator=generator), torch.randn(8, 10, generator=generator), torch.rand(8, 10)

    def ikl(a, n, weights):
        return ikl_loss(
            a,
            n,
            weights,
            alpha=config["alpha"],
            beta=config["beta"],
            gamma=config["gamma"],
            temperature=config["softce_temperature"],
            normalize=config["normalize"],
        )

    dual = robust_loss(config, adv, nat, w, dual_view=True)
    torch.testing.assert_close(dual, ikl(adv[:4], nat[:4], w[:4]) + 0.3 * ikl(adv[4:], nat[4:], w[4:]))
    torch.testing.assert_close(robust_loss(config, adv, nat, w, dual_view=False), ikl(adv, nat, w))


def test_trades_step_equals_the_released_trades_step():
    # TRADES attacks with its KL whatever this says (soft-ce would give the same signs: dkl does not)
    config = _config(method="trades", trades_beta=6.0, attack_loss="dkl", awp={"gamma": 0.0, "warmup": 0})
    base = _network().double()
    x, y = _batch()
    x = x.double()
    budget = attack_budget(config, 2)

    theirs = copy.deepcopy(base)
    their_opt = torch.optim.SGD(theirs.parameters(), lr=0.05, momentum=0.9)
    torch.manual_seed(3)
    released_trades_step(theirs, their_opt, x, y, budget.step_size, budget.eps, budget.steps, 6.0)

    ours = copy.deepcopy(base)
    our_opt = torch.optim.SGD(ours.parameters(), lr=0.05, momentum=0.9)
    torch.manual_seed(3)
    IKLATStep(config, ours, our_opt, ClassPrior(10), None)(x, y, 2)

    for (name, a), (_, b) in zip(theirs.named_parameters(), ours.named_parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6, msg=name)


@pytest.mark.parametrize(
    "changes",
    [
        {"normalize": "weights", "attack_init_std": 0.01, "attack_loss": "dkl"},
        {"aug": "autoaug", "gamma_aug": 0.3},
        {"method": "trades", "attack_loss": "dkl"},
    ],
)
def test_the_step_hands_the_config_settings_to_the_attack_and_the_loss(changes):
    """The step is the attack, then CE + robust loss on the attacked batch, with this config's settings
    (loss, normalisation, starting noise, dual view) and weights in the batch's dtype: composed by hand
    from the parts, it is the same to the bit."""
    config = _config(awp={"gamma": 0.0, "warmup": 0}, **changes)
    x, y = _batch()
    prior = ClassPrior(10)  # rows not summing to 1: the attack's "weights" normalisation then differs from "batch"
    prior.prior = torch.rand(10, 10, generator=torch.Generator().manual_seed(2), dtype=torch.float64)

    ours = _network()
    our_opt = torch.optim.SGD(ours.parameters(), lr=0.05)
    torch.manual_seed(3)
    IKLATStep(config, ours, our_opt, prior, None)(x, y, 2)

    by_hand = _network()
    hand_opt = torch.optim.SGD(by_hand.parameters(), lr=0.05)
    weights = prior.prior[y].to(x.dtype)
    kind = "kl" if config["method"] == "trades" else config["attack_loss"]
    torch.manual_seed(3)
    x_adv = perturb(
        by_hand,
        x,
        weights,
        attack_budget(config, 2),
        kind=kind,
        normalize=config["normalize"],
        init_std=config["attack_init_std"],
    )
    by_hand.train()
    adv_logits, nat_logits = by_hand(x_adv), by_hand(x)
    loss = F.cross_entropy(nat_logits, y) + robust_loss(
        config, adv_logits, nat_logits, weights, dual_view=config["aug"] == "autoaug"
    )
    hand_opt.zero_grad()
    loss.backward()
    hand_opt.step()

    for (name, a), (_, b) in zip(by_hand.named_parameters(), ours.named_parameters()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("method, aug", [("ikl", "basic"), ("ikl", "autoaug"), ("trades", "basic")])
def test_the_step_reports_the_losses_and_accuracy_it_trained_on(method, aug):
    """At eps = 0 the attacked batch is the batch, so every metric can be recomputed from a copy of the
    network; the prior accumulates the first view only (the release's dual-view runs)."""
    config = _config(method=method, aug=aug, eps=0.0, awp={"gamma": 0.0, "warmup": 0})
    model = _network()
    x, _ = _batch()
    before = copy.deepcopy(model).train()
    logits = before(x)
    y = (logits.argmax(1) + torch.tensor([0, 0, 0, 1, 2, 3, 4, 5])) % 10  # 3 of 8 right
    weights = ClassPrior(10).weights_for(y)
    prior = ClassPrior(10)

    metrics = IKLATStep(config, model, torch.optim.SGD(model.parameters(), lr=0.05), prior, None)(x, y, 1)

    assert metrics["eps"] == 0.0
    assert float(metrics["adv_acc"]) == pytest.approx(3 / 8)
    torch.testing.assert_close(metrics["loss_natural"], F.cross_entropy(logits, y).detach())
    expected_robust = robust_loss(config, logits, logits, weights, dual_view=aug == "autoaug").detach()
    torch.testing.assert_close(metrics["loss_robust"], expected_robust)
    torch.testing.assert_close(metrics["loss"], metrics["loss_natural"] + metrics["loss_robust"])
    assert float(prior._sums.sum()) == pytest.approx(4.0 if aug == "autoaug" else 8.0)


@pytest.mark.parametrize("gamma, epoch, forwards", [(0.0, 5, 0), (0.005, 1, 0), (0.005, 2, 2)])
def test_awp_runs_its_proxy_only_when_switched_on(gamma, epoch, forwards):
    """AWP costs two forwards and a backward of the proxy: not spent at γ = 0 or before its warm-up."""
    config = _config(awp={"gamma": gamma, "warmup": 2})
    model = _network()
    proxy = copy.deepcopy(model)
    calls: list[int] = []
    proxy.register_forward_hook(lambda module, inputs, output: calls.append(1))
    awp = AdversarialWeightPerturbation(model, proxy, 0.05, gamma)
    x, y = _batch()
    IKLATStep(config, model, torch.optim.SGD(model.parameters(), lr=0.05), ClassPrior(10), awp)(x, y, epoch)
    assert len(calls) == forwards


def test_the_step_runs_attack_and_training_under_its_autocast():
    """Mixed precision: every forward of the step (attack and training) runs in the autocast's dtype."""
    model = _network()
    dtypes: list[torch.dtype] = []
    model.conv1.register_forward_hook(lambda module, inputs, output: dtypes.append(output.dtype))
    x, y = _batch()
    step = IKLATStep(
        _config(awp={"gamma": 0.0, "warmup": 0}),
        model,
        torch.optim.SGD(model.parameters(), lr=0.05),
        ClassPrior(10),
        None,
        autocast=torch.autocast("cpu", dtype=torch.bfloat16),
    )
    metrics = step(x, y, 2)
    assert dtypes and set(dtypes) == {torch.bfloat16}
    assert torch.isfinite(metrics["loss"])


def test_an_unknown_attack_loss_is_an_error_not_a_silent_kl():
    model = _network()
    x, y = _batch(2)
    with pytest.raises(ValueError, match="attack loss must be"):
        perturb(model, x, torch.rand(2, 10), attack_budget(_config(), 1), kind="ce")


def test_the_attack_runs_through_the_bare_network_and_training_through_the_wrapper():
    """Under torchrun the trained model is a DDP wrapper: the attack's eval-mode forwards go to the bare
    network (no gradient hooks, no buffer broadcasts), only the two training forwards to the wrapper."""
    network = _network()
    wrapper = torch.nn.Sequential(network)  # stands in for DDP: same parameters, another module
    calls = {"wrapper": 0, "network": 0}
    wrapper.register_forward_hook(lambda *_: calls.__setitem__("wrapper", calls["wrapper"] + 1))
    network.register_forward_hook(lambda *_: calls.__setitem__("network", calls["network"] + 1))
    config = _config(awp={"gamma": 0.0, "warmup": 0})
    step = IKLATStep(
        config, wrapper, torch.optim.SGD(wrapper.parameters(), lr=0.05), ClassPrior(10), None, attack_model=network
    )
    step(*_batch(), 2)
    steps = attack_budget(config, 2).steps
    assert calls == {"wrapper": 2, "network": 2 + 1 + steps}  # inside the wrapper's 2, plus the attack's


@pytest.mark.parametrize("replicas, n, channels", [(2, 8, 3), (2, 2, 3), (4, 3, 1)])
def test_batch_norm_replicas_split_every_batch_of_two_or_more(replicas, n, channels):
    """Two replicas already split (a batch of two: one image each); grey-scale inputs split the same."""
    torch.manual_seed(0)
    model = WideResNet(depth=10, widen_factor=1, num_classes=10, in_channels=channels).double().train()
    x = torch.rand(n, channels, 32, 32, dtype=torch.float64)
    expected = torch.cat([copy.deepcopy(model)(chunk) for chunk in x.chunk(replicas)])
    torch.testing.assert_close(replica_forward(model, x, replicas), expected, rtol=0, atol=1e-12)
    assert not torch.allclose(copy.deepcopy(model)(x), expected)  # the split does change the output
    torch.testing.assert_close(replica_forward(model, x, 1), copy.deepcopy(model)(x), rtol=0, atol=0)


def test_attack_budget_of_every_schedule_and_ramp():
    eps = 8 / 255
    low = _config(attack_schedule="low", eps=eps, epochs=100, eps_ramp="linear")
    assert attack_budget(low, 25) == AttackBudget(eps / 4, eps / 4, 2)
    assert attack_budget(low, 80) == AttackBudget(eps * 0.8, eps * 0.8, 2)
    constant = _config(attack_schedule="as-released", eps=eps, epochs=100, eps_ramp="constant")
    assert attack_budget(constant, 1) == AttackBudget(eps, eps / 2, 5)
    # staged over 100 epochs: the quarters end at 25, 50, 75 (the release staged 50/100/150 of 200)
    staged = _config(attack_schedule="staged", eps=eps, epochs=100, eps_ramp="constant")
    expected = {
        1: (eps, 2),
        25: (eps, 2),
        26: (2 * eps / 3, 3),
        50: (2 * eps / 3, 3),
        51: (eps / 2, 4),
        75: (eps / 2, 4),
        76: (eps / 2, 5),
        100: (eps / 2, 5),
    }
    for epoch, (step_size, steps) in expected.items():
        budget = attack_budget(staged, epoch)
        assert (budget.eps, budget.step_size, budget.steps) == pytest.approx((eps, step_size, steps)), epoch


def test_the_attack_freezes_the_weights_and_leaves_pixels_the_loss_ignores():
    """Only the input gradient is taken (no activations kept for weight gradients), the weights are
    trainable again afterwards, and a pixel with zero gradient is not moved (its sign is 0)."""

    class LeftHalf(torch.nn.Module):  # looks at the left half of the image only
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(3 * 32 * 16, 10)

        def forward(self, x):
            return self.fc(x[..., :16].flatten(1))

    torch.manual_seed(0)
    model = LeftHalf()
    trainable: list[bool] = []
    model.fc.register_forward_hook(
        lambda m, i, o: trainable.append(m.weight.requires_grad) if i[0].requires_grad else None
    )
    x = torch.rand(4, 3, 32, 32) * 0.5 + 0.25
    budget = AttackBudget(eps=0.1, step_size=0.05, steps=3)
    x_adv = perturb(model, x, torch.full((4, 10), 0.1), budget, kind="dkl", init_std=0.0)
    assert trainable == [False] * 3
    assert all(p.requires_grad for p in model.parameters())
    assert torch.equal(x_adv[..., 16:], x[..., 16:])
    assert (x_adv[..., :16] - x[..., :16]).abs().amax() == pytest.approx(0.1)


def test_a_trades_step_uses_explicit_class_dimensions():
    """No implicit softmax axis in the TRADES attack or loss (torch warns and may pick another axis)."""
    import warnings

    config = _config(method="trades", awp={"gamma": 0.0, "warmup": 0})
    model = _network()
    step = IKLATStep(config, model, torch.optim.SGD(model.parameters(), lr=0.05), ClassPrior(10), None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        step(*_batch(), 2)


def test_step_ema_warms_up_its_decay_and_resumes_where_it_stopped():
    """DM-Improves-AT's EMA: τ_t = min(τ, (1 + t)/(10 + t)) at update t; the first update copies the weights."""
    from training.ikl_at import StepEMA

    model = torch.nn.Linear(2, 1, bias=False)
    ema = StepEMA(tau=0.995, warmup=True)
    values = [1.0, 3.0, 7.0]
    expected = None
    for t, value in enumerate(values, start=1):
        with torch.no_grad():
            model.weight.fill_(value)
        ema.update(model)
        tau = min(0.995, (1 + t) / (10 + t))
        expected = value if expected is None else tau * expected + (1 - tau) * value
        assert ema.state["weight"][0, 0].item() == pytest.approx(expected)
    plain = StepEMA(tau=0.5, warmup=False)  # without warm-up: τ from the second update on
    for value in values:
        with torch.no_grad():
            model.weight.fill_(value)
        plain.update(model)
    assert plain.state["weight"][0, 0].item() == pytest.approx(0.5 * (0.5 * 1.0 + 0.5 * 3.0) + 0.5 * 7.0)

    resumed = StepEMA(tau=0.1, warmup=False)
    resumed.load_state_dict(ema.state_dict())
    assert (resumed.decay, resumed.steps, resumed.warmup) == (0.995, 3, False)  # warm-up is the config's
    with torch.no_grad():
        model.weight.fill_(5.0)
    resumed.update(model)
    assert resumed.state["weight"][0, 0].item() == pytest.approx(0.995 * expected + 0.005 * 5.0)
