"""A line-by-line port of the released IKL-AT step (DKLv1 ``train_dkl_cifar{10,100}.py``, ``utils_awp.py``),
and of the TRADES step the baseline reproduces (Zhang et al. 2019, github.com/yaodongyu/TRADES ``trades.py``).

The reference our trainer is tested and benchmarked against: B×C×C pairwise loss, the natural forward
repeated at every attack step, the AWP proxy reloaded with ``load_state_dict`` every step, and the
per-step weight average over state dicts (``wa`` in the release, from epoch 150).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def released_dkl_loss(logits_nat, logits_adv, weight, alpha, beta):
    num_classes = logits_nat.size(1)
    delta_n = logits_nat.view(-1, num_classes, 1) - logits_nat.view(-1, 1, num_classes)
    delta_a = logits_adv.view(-1, num_classes, 1) - logits_adv.view(-1, 1, num_classes)
    loss_mse = 0.25 * (torch.pow(delta_n - delta_a, 2) * weight).sum() / logits_nat.size(0)
    loss_sce = -(F.softmax(logits_nat, dim=1).detach() * F.log_softmax(logits_adv, dim=-1)).sum(1).mean()
    return beta * loss_mse + alpha * loss_sce


def released_perturb(model, x_natural, step_size, epsilon, perturb_steps, weight, attack_beta):
    model.eval()
    # drawn on the CPU (the CPU tests compare against its stream), then put where the model is (the release: .cuda())
    noise = torch.randn(x_natural.shape, dtype=x_natural.dtype).to(x_natural.device)
    x_adv = x_natural.detach() + 0.001 * noise.detach()
    for _ in range(perturb_steps):
        x_adv.requires_grad_()
        with torch.enable_grad():
            loss_kl = released_dkl_loss(model(x_natural), model(x_adv), weight, 1.0, attack_beta)
        grad = torch.autograd.grad(loss_kl, [x_adv])[0]
        x_adv = x_adv.detach() + step_size * torch.sign(grad.detach())
        x_adv = torch.min(torch.max(x_adv, x_natural - epsilon), x_natural + epsilon)
        x_adv = torch.clamp(x_adv, 0.0, 1.0)
    return x_adv


def released_step(model, proxy, proxy_optim, optimizer, x_natural, target, weight, epoch, args):
    num_classes = weight.shape[0]
    varepsilon = args["eps"] * (epoch / args["epochs"])
    step_size, iters_attack = varepsilon / 2, 5  # 'high' budget: the if-chain leaves the last branch
    with torch.no_grad():
        onehot = F.one_hot(target, num_classes).to(weight.dtype)
        s_n = onehot @ weight
        sample_weight = s_n.view(-1, num_classes, 1) @ s_n.view(-1, 1, num_classes)
    x_adv = released_perturb(
        model,
        x_natural,
        step_size,
        varepsilon,
        iters_attack,
        sample_weight,
        0.0 if args["attack_loss"] == "soft-ce" else 1.0,
    )
    model.train()
    diff = None
    if epoch >= args["awp"]["warmup"]:
        proxy.load_state_dict(model.state_dict())
        proxy.train()
        logits_nat = proxy(x_natural)
        logits_adv = proxy(x_adv)
        loss = -1.0 * (
            F.cross_entropy(logits_nat, target)
            + released_dkl_loss(logits_nat, logits_adv, sample_weight, args["alpha"], args["beta"])
        )
        proxy_optim.zero_grad()
        loss.backward()
        proxy_optim.step()
        diff = {}
        for (old_k, old_w), (_, new_w) in zip(model.state_dict().items(), proxy.state_dict().items()):
            if len(old_w.size()) <= 1:
                continue
            if "weight" in old_k:
                diff_w = new_w - old_w
                diff[old_k] = old_w.norm() / (diff_w.norm() + 1e-20) * diff_w
        with torch.no_grad():
            for name, param in model.named_parameters():
                if name in diff:
                    param.add_(args["awp"]["gamma"] * diff[name])
    optimizer.zero_grad()
    logits_adv, logits_nat = model(x_adv), model(x_natural)
    with torch.no_grad():
        accumulated = onehot.t() @ F.softmax(logits_nat.detach() / args["temperature"], dim=-1)
    loss = F.cross_entropy(logits_nat, target) + released_dkl_loss(
        logits_nat, logits_adv, sample_weight, args["alpha"], args["beta"]
    )
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if diff is not None:
        with torch.no_grad():
            for name, param in model.named_parameters():
                if name in diff:
                    param.add_(-args["awp"]["gamma"] * diff[name])
    return accumulated


def released_weight_average(model, new_state_dict, epoch, start_ep=150, tau=0.9996):
    """The release's per-step 'wa' over state dicts (computed, never saved)."""
    if epoch == start_ep:
        for key, value in model.state_dict().items():
            new_state_dict[key] = value
    elif epoch > start_ep:
        for key, value in model.state_dict().items():
            new_state_dict[key] = (1 - tau) * value + tau * new_state_dict[key]


def released_trades_step(model, optimizer, x_natural, y, step_size, epsilon, perturb_steps, beta):
    """TRADES' ``trades_loss`` and optimiser step: the attack maximises the summed KL(nat ‖ adv) from
    x + 0.001·N(0, 1) in eval mode; the loss is CE(nat) + β · KL / B, with three train-mode forwards."""
    model.eval()
    noise = torch.randn(x_natural.shape, dtype=x_natural.dtype)
    x_adv = x_natural.detach() + 0.001 * noise.detach()
    for _ in range(perturb_steps):
        x_adv.requires_grad_()
        with torch.enable_grad():
            loss_kl = F.kl_div(F.log_softmax(model(x_adv), dim=1), F.softmax(model(x_natural), dim=1), reduction="sum")
        grad = torch.autograd.grad(loss_kl, [x_adv])[0]
        x_adv = x_adv.detach() + step_size * torch.sign(grad.detach())
        x_adv = torch.min(torch.max(x_adv, x_natural - epsilon), x_natural + epsilon)
        x_adv = torch.clamp(x_adv, 0.0, 1.0)
    model.train()
    x_adv = torch.clamp(x_adv, 0.0, 1.0).detach()
    optimizer.zero_grad()
    logits = model(x_natural)
    loss_natural = F.cross_entropy(logits, y)
    loss_robust = (1.0 / x_natural.shape[0]) * F.kl_div(
        F.log_softmax(model(x_adv), dim=1), F.softmax(model(x_natural), dim=1), reduction="sum"
    )
    loss = loss_natural + beta * loss_robust
    loss.backward()
    optimizer.step()
