"""The IKL-AT step as the released code (jiequancui/DKL, ``train_dkl_cifar{10,100}.py``) ran it, written for speed.

Same mathematics as ``train_dkl_cifar{10,100}.py`` of the release, faster by construction:
- the loss is ``dkl_zoo.losses.ikl_loss`` (O(B·C), not B×C×C tensors);
- the attack's natural logits are computed once per batch (the released loop recomputes the same eval-mode
  forward at every attack step);
- AWP copies parameters and buffers into a persistent proxy in place instead of ``load_state_dict``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dkl_zoo.errors import InvalidArgumentError
from dkl_zoo.losses import ClassPrior, ikl_loss

__all__ = [
    "AttackBudget",
    "attack_budget",
    "cosine_lr",
    "perturb",
    "AdversarialWeightPerturbation",
    "EpochEMA",
    "StepEMA",
    "robust_loss",
    "IKLATStep",
    "replica_forward",
]


def replica_forward(model: nn.Module, x: torch.Tensor, replicas: int) -> torch.Tensor:
    """``model(x)`` as ``nn.DataParallel`` over ``replicas`` GPUs computes it, on one device.

    The released runs used DataParallel on 4 GPUs: the batch is split into ``replicas`` chunks
    (``torch.chunk``, as DataParallel's scatter does), batch norm normalises each chunk with its own
    statistics, and only the first replica's running statistics survive (the others are copies that are
    thrown away). Gradients flow to the one set of parameters, summed over the chunks as DataParallel sums
    them. ``replicas <= 1`` or a model in eval mode is a plain forward.
    """
    if replicas <= 1 or not model.training or x.shape[0] < 2:
        return model(x)
    chunks = x.chunk(replicas)
    first = model(chunks[0])
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    kept = [(m, m.running_mean, m.running_var, m.num_batches_tracked) for m in norms]
    for module in norms:  # the other replicas update throw-away copies (swapped, not copied back: autograd
        module.running_mean = module.running_mean.clone()  # keeps the originals it saved untouched)
        module.running_var = module.running_var.clone()
        module.num_batches_tracked = module.num_batches_tracked.clone()
    try:
        rest = [model(chunk) for chunk in chunks[1:]]
    finally:
        for module, mean, var, count in kept:
            module.running_mean, module.running_var, module.num_batches_tracked = mean, var, count
    return torch.cat([first, *rest])


@dataclass(frozen=True)
class AttackBudget:
    eps: float
    step_size: float
    steps: int


def attack_budget(config: dict, epoch: int) -> AttackBudget:
    """eps, step size and steps of epoch ``epoch`` (1-based).

    The released code ramps eps linearly, eps_e = eps · e / epochs. Its "high" budget was meant to stage
    2/3/4/5 steps over the quarters of training, but an ``if`` chain (no ``elif``) lets the last branch
    win for every epoch: 5 steps of eps_e / 2 all along. "as-released" reproduces what ran, "staged"
    what was meant, "low" the 2-step budget.
    """
    epochs = config["epochs"]
    eps = config["eps"] * (epoch / epochs if config["eps_ramp"] == "linear" else 1.0)
    schedule = config["attack_schedule"]
    if schedule == "low":
        return AttackBudget(eps, eps, 2)
    if schedule == "as-released":
        return AttackBudget(eps, eps / 2, 5)
    scale = epochs / 200.0
    if epoch <= int(50 * scale):
        return AttackBudget(eps, eps, 2)
    if epoch <= int(100 * scale):
        return AttackBudget(eps, 2 * eps / 3, 3)
    if epoch <= int(150 * scale):
        return AttackBudget(eps, eps / 2, 4)
    return AttackBudget(eps, eps / 2, 5)


def cosine_lr(config: dict, epoch: int) -> float:
    """Released schedule, set once per epoch: lr · ½(1 + cos(π (e − w) / (epochs − w + 1))), linear warm-up."""
    lr, warmup, epochs = config["lr"], int(config["lr_warmup"]), config["epochs"]
    if epoch < warmup:
        return lr / warmup * epoch
    return lr * 0.5 * (1.0 + math.cos(math.pi * (epoch - warmup) / (epochs - warmup + 1)))


def _attack_loss(
    kind: str, adv_logits: torch.Tensor, nat_logits: torch.Tensor, weights: torch.Tensor, normalize: str
) -> torch.Tensor:
    if kind == "soft-ce":  # released CIFAR-10: dkl_loss(nat, adv, w, alpha=1, beta=0)
        return ikl_loss(adv_logits, nat_logits, weights, alpha=1.0, beta=0.0, normalize=normalize, check_values=False)
    if kind == "dkl":  # released CIFAR-100: dkl_loss(nat, adv, w, alpha=1, beta=1)
        return ikl_loss(adv_logits, nat_logits, weights, alpha=1.0, beta=1.0, normalize=normalize, check_values=False)
    if kind == "kl":  # TRADES: KL(softmax(nat) || softmax(adv)), summed as in TRADES' attack
        return F.kl_div(F.log_softmax(adv_logits, dim=1), F.softmax(nat_logits, dim=1), reduction="sum")
    raise InvalidArgumentError(f"attack loss must be 'soft-ce', 'dkl' or 'kl', got {kind!r}")


def perturb(
    model: nn.Module,
    x: torch.Tensor,
    weights: torch.Tensor,
    budget: AttackBudget,
    *,
    kind: str,
    normalize: str = "batch",
    init_std: float = 0.001,
) -> torch.Tensor:
    """Linf attack of the release: eval mode, start at x + init_std·N(0, 1), sign-gradient steps, projection."""
    model.eval()
    with torch.no_grad():
        nat_logits = model(x)
    x_adv = x.detach() + init_std * torch.randn_like(x)
    # Only the input gradient is needed: with the weights frozen autograd keeps no activations for them.
    frozen = [p for p in model.parameters() if p.requires_grad]
    for param in frozen:
        param.requires_grad_(False)
    try:
        for _ in range(budget.steps):
            x_adv.requires_grad_(True)
            with torch.enable_grad():
                loss = _attack_loss(kind, model(x_adv), nat_logits, weights, normalize)
            (grad,) = torch.autograd.grad(loss, [x_adv])
            x_adv = x_adv.detach() + budget.step_size * grad.sign()
            x_adv = torch.min(torch.max(x_adv, x - budget.eps), x + budget.eps).clamp_(0.0, 1.0)
    finally:
        for param in frozen:
            param.requires_grad_(True)
    return x_adv.detach()


def robust_loss(
    config: dict, adv_logits: torch.Tensor, nat_logits: torch.Tensor, weights: torch.Tensor, dual_view: bool
) -> torch.Tensor:
    """IKL between adversarial and natural logits (TRADES' KL for the baseline); dual view for autoaug."""
    if config["method"] == "trades":
        kl = F.kl_div(F.log_softmax(adv_logits, dim=1), F.softmax(nat_logits, dim=1), reduction="batchmean")
        return config["trades_beta"] * kl

    def ikl(adv: torch.Tensor, nat: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return ikl_loss(
            adv,
            nat,
            w,
            alpha=config["alpha"],
            beta=config["beta"],
            gamma=config["gamma"],
            temperature=config["softce_temperature"],
            normalize=config["normalize"],
            check_values=False,
        )

    if not dual_view:
        return ikl(adv_logits, nat_logits, weights)
    half = adv_logits.shape[0] // 2
    return ikl(adv_logits[:half], nat_logits[:half], weights[:half]) + config["gamma_aug"] * ikl(
        adv_logits[half:], nat_logits[half:], weights[half:]
    )


class AdversarialWeightPerturbation:
    """AWP as released (``TradesAWP``): one ascent step of a proxy on −(CE + robust loss), then each weight
    tensor with more than one dimension moves by γ · ‖W‖ / ‖ΔW‖ · ΔW; restored after the optimiser step.

    The proxy's optimiser is plain SGD at the initial learning rate (never scheduled), as released.
    """

    def __init__(self, model: nn.Module, proxy: nn.Module, lr: float, gamma: float) -> None:
        self.model, self.proxy, self.gamma = model, proxy, gamma
        self.optimizer = torch.optim.SGD(proxy.parameters(), lr=lr)
        self._targets = [name for name, p in model.named_parameters() if p.dim() > 1 and "weight" in name]

    def _sync_proxy(self) -> None:
        with torch.no_grad():
            for dst, src in zip(self.proxy.parameters(), self.model.parameters()):
                dst.copy_(src)
            for dst, src in zip(self.proxy.buffers(), self.model.buffers()):
                dst.copy_(src)

    def compute(
        self, config: dict, x_adv: torch.Tensor, x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """The released AWP loss takes the whole batch at once, also for the dual-view (autoaug) runs."""
        self._sync_proxy()
        self.proxy.train()
        replicas = int(config["bn_replicas"])
        nat = replica_forward(self.proxy, x, replicas)
        adv = replica_forward(self.proxy, x_adv, replicas)
        loss = -(F.cross_entropy(nat, y) + robust_loss(config, adv, nat, weights, dual_view=False))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        diff = {}
        with torch.no_grad():
            proxy_params = dict(self.proxy.named_parameters())
            for name, param in self.model.named_parameters():
                if name in self._targets:
                    delta = proxy_params[name] - param
                    diff[name] = param.norm() / (delta.norm() + 1e-20) * delta
        return diff

    def apply(self, diff: dict[str, torch.Tensor], sign: float) -> None:
        with torch.no_grad():
            for name, param in self.model.named_parameters():
                if name in diff:
                    param.add_(diff[name], alpha=sign * self.gamma)


class EpochEMA:
    """The released weights: an EMA over per-epoch checkpoints, θ̄₁ = θ₁, θ̄ₑ = (1 − d)·θₑ + d·θ̄ₑ₋₁, d = 0.9,
    over the whole state dict (BatchNorm statistics included; integer counters take the latest value).
    The release computed it afterwards from saved checkpoints; here it is kept online."""

    def __init__(self, decay: float = 0.9) -> None:
        self.decay = decay
        self.state: dict[str, torch.Tensor] | None = None

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self._blend(model, self.decay)

    def _blend(self, model: nn.Module, keep: float) -> None:
        current = model.state_dict()
        if self.state is None:
            self.state = {k: v.detach().clone() for k, v in current.items()}
            return
        floats = [k for k, v in current.items() if v.is_floating_point()]
        averaged = [self.state[k] for k in floats]
        torch._foreach_mul_(averaged, keep)
        torch._foreach_add_(averaged, [current[k].detach() for k in floats], alpha=1.0 - keep)
        for key, value in current.items():
            if not value.is_floating_point():
                self.state[key].copy_(value)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "state": self.state}

    def load_state_dict(self, data: dict) -> None:
        self.decay, self.state = data["decay"], data["state"]


class StepEMA(EpochEMA):
    """Per-step EMA: from ``start_epoch`` (released WA, τ = 0.9996, computed but never saved by the release)
    or from the start with warm-up min(τ, (1 + t)/(10 + t)) (DM-Improves-AT's EMA, τ = 0.995)."""

    def __init__(self, tau: float, warmup: bool) -> None:
        super().__init__(decay=tau)
        self.warmup, self.steps = warmup, 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        tau = self.decay
        self.steps += 1
        if self.warmup:
            tau = min(tau, (1 + self.steps) / (10 + self.steps))
        self._blend(model, tau)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "steps": self.steps}

    def load_state_dict(self, data: dict) -> None:
        super().load_state_dict(data)
        self.steps = data["steps"]


class IKLATStep:
    """One training step: attack, AWP, IKL (or TRADES) loss, optimiser step, prior accumulation; or, for
    ``method: standard``, plain cross-entropy on the clean images (the non-robust contrast model)."""

    def __init__(
        self,
        config: dict,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        prior: ClassPrior,
        awp: AdversarialWeightPerturbation | None,
        autocast: torch.autocast | None = None,
        attack_model: nn.Module | None = None,
    ) -> None:
        """``model`` is what trains (a DDP wrapper under torchrun); ``attack_model`` the bare network the
        attack runs through (default: ``model``)."""
        self.config, self.model, self.optimizer, self.prior, self.awp = config, model, optimizer, prior, awp
        self.autocast = autocast
        self.attack_model = attack_model if attack_model is not None else model

    def _ctx(self):
        import contextlib

        return self.autocast if self.autocast is not None else contextlib.nullcontext()

    def __call__(self, x: torch.Tensor, y: torch.Tensor, epoch: int) -> dict[str, torch.Tensor | float]:
        """One step on (x, y). The metrics are 0-dim tensors on the model's device (reading them is a host
        sync: the trainer does it at its logging interval, not every step) and ``eps``, a number."""
        config = self.config
        if config["method"] == "standard":
            return self._standard(x, y)
        dual_view = config["aug"] == "autoaug"
        budget = attack_budget(config, epoch)
        weights = self.prior.weights_for(y, dtype=x.dtype)
        kind = "kl" if config["method"] == "trades" else config["attack_loss"]
        with self._ctx():
            x_adv = perturb(
                self.attack_model,
                x,
                weights,
                budget,
                kind=kind,
                normalize=config["normalize"],
                init_std=config["attack_init_std"],
            )
        self.model.train()
        use_awp = self.awp is not None and config["awp"]["gamma"] > 0 and epoch >= config["awp"]["warmup"]
        diff = None
        if use_awp:
            with self._ctx():
                diff = self.awp.compute(config, x_adv, x, y, weights)
            self.awp.apply(diff, +1.0)
        with self._ctx():
            replicas = int(config["bn_replicas"])
            adv_logits = replica_forward(self.model, x_adv, replicas)
            nat_logits = replica_forward(self.model, x, replicas)
            loss_natural = F.cross_entropy(nat_logits.float(), y)
            loss_robust = robust_loss(config, adv_logits.float(), nat_logits.float(), weights, dual_view)
            loss = loss_natural + loss_robust
        first = y.shape[0] // 2 if dual_view else y.shape[0]
        self.prior.update(y[:first], nat_logits[:first].detach().float(), check_labels=False)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if diff is not None:
            self.awp.apply(diff, -1.0)
        with torch.no_grad():
            adv_acc = (adv_logits.argmax(1) == y).float().mean()
        return {
            "loss": loss.detach(),
            "loss_natural": loss_natural.detach(),
            "loss_robust": loss_robust.detach(),
            "adv_acc": adv_acc,
            "eps": budget.eps,
        }

    def _standard(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor | float]:
        """Cross-entropy on the clean batch, nothing else: no attack (``adv_acc`` is NaN, ``eps`` 0)."""
        self.model.train()
        with self._ctx():
            logits = replica_forward(self.model, x, int(self.config["bn_replicas"]))
            loss = F.cross_entropy(logits.float(), y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        nan = torch.full((), float("nan"), device=loss.device)
        return {
            "loss": loss.detach(),
            "loss_natural": loss.detach(),
            "loss_robust": torch.zeros_like(nan),
            "adv_acc": nan,
            "eps": 0.0,
        }
