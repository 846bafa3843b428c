"""The O(B·C) losses equal the released O(B·C²) form, and the paper's theorem holds."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from dkl_zoo.losses import (
    ClassPrior,
    GKLLoss,
    IKLLoss,
    decoupled_kl,
    gkl_loss,
    ikl_loss,
    teacher_weights,
)
from dkl_zoo.models import WideResNet


def direct_ikl(s, t, w, alpha, beta, gamma, temperature, normalize):
    """The released code's form: B×C×C pairwise differences and outer-product weights."""
    c = t.shape[1]
    delta_t = t.view(-1, c, 1) - t.view(-1, 1, c)
    delta_s = s.view(-1, c, 1) - s.view(-1, 1, c)
    with torch.no_grad():
        wg = w.pow(gamma)
        pair = wg.view(-1, c, 1) @ wg.view(-1, 1, c)
    numerator = 0.25 * ((delta_t - delta_s).pow(2) * pair).sum()
    mse = numerator / (t.shape[0] if normalize == "batch" else pair.sum())
    sce = -(F.softmax(t / temperature, dim=1).detach() * F.log_softmax(s / temperature, dim=-1)).sum(1).mean()
    return beta * mse + alpha * sce


def rel_close(a, b, tol=1e-10):
    scale = max(float(b.abs().max()), 1e-30)
    return float((a - b).abs().max()) <= tol * scale


CASES = list(
    itertools.product(
        [2, 10, 100],  # classes
        [(3.0, 20.0), (0.0, 5.0), (2.0, 0.0)],  # alpha, beta (each zero once)
        [1.0, 0.5, 2.0],  # gamma
        ["batch", "weights"],
    )
)


@pytest.mark.parametrize("classes, ab, gamma, normalize", CASES)
def test_equals_direct_form_value_and_both_gradients(classes, ab, gamma, normalize):
    alpha, beta = ab
    gen = torch.Generator().manual_seed(classes * 7 + int(gamma * 10))
    s = (torch.randn(16, classes, generator=gen, dtype=torch.float64) * 3).requires_grad_()
    t = (torch.randn(16, classes, generator=gen, dtype=torch.float64) * 3).requires_grad_()
    w = torch.rand(16, classes, generator=gen, dtype=torch.float64)
    ours = ikl_loss(s, t, w, alpha=alpha, beta=beta, gamma=gamma, temperature=4.0, normalize=normalize)
    g_s, g_t = torch.autograd.grad(ours, [s, t], allow_unused=True)
    reference = direct_ikl(s, t, w, alpha, beta, gamma, 4.0, normalize)
    r_s, r_t = torch.autograd.grad(reference, [s, t], allow_unused=True)
    assert rel_close(ours.detach(), reference.detach())
    assert rel_close(g_s, r_s)
    if beta == 0.0:
        # The soft target is detached: nothing reaches the teacher (the direct form sends zeros through β·0).
        assert g_t is None and not r_t.any()
    else:
        assert rel_close(g_t, r_t)


def test_gkl_helpers_and_modules_match_the_function():
    gen = torch.Generator().manual_seed(1)
    s, t = torch.randn(8, 10, generator=gen), torch.randn(8, 10, generator=gen)
    w = torch.rand(8, 10, generator=gen)
    kwargs = dict(alpha=4.0, beta=20.0, gamma=0.7, temperature=4.0)
    assert torch.equal(gkl_loss(s, t, w, **kwargs), ikl_loss(s, t, w, normalize="weights", **kwargs))
    assert torch.equal(GKLLoss(**kwargs)(s, t, w), gkl_loss(s, t, w, **kwargs))
    assert torch.equal(IKLLoss(**kwargs)(s, t, w), ikl_loss(s, t, w, **kwargs))
    assert "normalize='weights'" in repr(GKLLoss())


def test_weights_get_no_gradient():
    s, t = torch.randn(4, 5, requires_grad=True), torch.randn(4, 5, requires_grad=True)
    w = torch.rand(4, 5, requires_grad=True)
    ikl_loss(s, t, w, beta=2.0).backward()
    assert w.grad is None


@pytest.mark.parametrize("temperature", [1.0, 4.0])
@pytest.mark.parametrize("classes", [2, 10, 100])
def test_decoupled_kl_theorem_gradients_equal_kl(temperature, classes):
    gen = torch.Generator().manual_seed(classes)
    s = (torch.randn(12, classes, generator=gen, dtype=torch.float64) * 2).requires_grad_()
    t = (torch.randn(12, classes, generator=gen, dtype=torch.float64) * 2).requires_grad_()
    ours = torch.autograd.grad(decoupled_kl(s, t, temperature=temperature), [s, t])
    kl = F.kl_div(F.log_softmax(s / temperature, dim=1), F.softmax(t / temperature, dim=1), reduction="batchmean")
    reference = torch.autograd.grad(kl, [s, t])
    assert rel_close(ours[0], reference[0]) and rel_close(ours[1], reference[1])


def test_no_bxcxc_tensor_at_c_1000():
    """The O(B·C²) form would need B·C² = 256M floats; ours stays a few B×C buffers."""
    s = torch.randn(256, 1000, requires_grad=True)
    t = torch.randn(256, 1000, requires_grad=True)
    w = torch.rand(256, 1000)
    sizes = []

    def pack(tensor):
        sizes.append(tensor.numel())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda x: x):
        loss = ikl_loss(s, t, w, alpha=3, beta=20, temperature=4)
    loss.backward()
    assert max(sizes) <= 256 * 1000
    assert torch.isfinite(s.grad).all() and torch.isfinite(t.grad).all()


@pytest.mark.parametrize("normalize", ["batch", "weights"])
def test_extreme_logits_are_finite(normalize):
    s = (torch.randn(8, 100) * 1e4).requires_grad_()
    t = (torch.randn(8, 100) * 1e4).requires_grad_()
    loss = ikl_loss(s, t, torch.rand(8, 100), alpha=3, beta=20, temperature=4, normalize=normalize)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(s.grad).all() and torch.isfinite(t.grad).all()
    dkl = decoupled_kl(s, t)
    assert torch.isfinite(dkl)


def test_extreme_logits_match_float64_reference():
    gen = torch.Generator().manual_seed(3)
    s64 = torch.randn(8, 10, generator=gen, dtype=torch.float64) * 1e4
    t64 = s64 + torch.randn(8, 10, generator=gen, dtype=torch.float64)  # close, huge logits: cancellation-prone
    w = torch.rand(8, 10, generator=gen, dtype=torch.float64)
    reference = direct_ikl(s64, t64, w, 0.0, 1.0, 1.0, 1.0, "batch")
    ours32 = ikl_loss(s64.float(), t64.float(), w.float(), alpha=0.0, beta=1.0)
    # float32 cannot hold 1e4 + O(1) exactly: compare against float64 to float32 input rounding.
    reference32 = direct_ikl(
        s64.float().double(), t64.float().double(), w.float().double(), 0.0, 1.0, 1.0, 1.0, "batch"
    )
    assert abs(float(ours32) - float(reference32)) <= 1e-4 * float(reference32)
    assert abs(float(reference32) - float(reference)) <= 0.05 * float(reference)


@pytest.mark.parametrize("scale, temperature", [(30.0, 4.0), (3.0, 3.0)])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs_compute_in_float32(dtype, scale, temperature):
    """Both logits are cast before anything is computed (a half-precision log-softmax would round)."""
    gen = torch.Generator().manual_seed(0)
    s = (torch.randn(8, 10, generator=gen) * scale).to(dtype).requires_grad_()
    t = (torch.randn(8, 10, generator=gen) * scale).to(dtype).requires_grad_()
    w = torch.rand(8, 10, generator=gen).to(dtype)
    loss = ikl_loss(s, t, w, alpha=3, beta=20, temperature=temperature)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    reference = ikl_loss(s.float(), t.float(), w.float(), alpha=3, beta=20, temperature=temperature)
    torch.testing.assert_close(loss, reference)
    loss.backward()
    assert s.grad.dtype == dtype and torch.isfinite(s.grad.float()).all()
    soft_ce = ikl_loss(s, t, w, alpha=1, beta=0, temperature=temperature)  # alone: the MSE would hide its rounding
    torch.testing.assert_close(
        soft_ce, ikl_loss(s.float(), t.float(), w.float(), alpha=1, beta=0, temperature=temperature)
    )


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: ikl_loss(torch.randn(4, 10), torch.randn(4, 9), torch.rand(4, 10)), "same shape"),
        (lambda: ikl_loss(torch.randn(4, 10), torch.randn(4, 10), torch.rand(10, 10)), "weights must have the logits"),
        (lambda: ikl_loss(torch.randn(4, 10), torch.randn(4, 10), -torch.rand(4, 10)), "non-negative"),
        (lambda: ikl_loss(torch.randn(4, 1), torch.randn(4, 1), torch.rand(4, 1)), "C >= 2"),
        (lambda: ikl_loss(torch.randn(4, 10), torch.randn(4, 10), torch.rand(4, 10), normalize="sum"), "normalize"),
        (
            lambda: ikl_loss(torch.full((4, 10), float("nan")), torch.randn(4, 10), torch.rand(4, 10)),
            "^student_logits contains NaN or infinite values$",
        ),
        (
            lambda: ikl_loss(torch.randn(4, 10), torch.randn(4, 10).fill_(float("inf")), torch.rand(4, 10)),
            "teacher_logits contains",
        ),
        (lambda: ikl_loss(torch.randn(40), torch.randn(40), torch.rand(40)), "2-D"),
        (lambda: ikl_loss(torch.randn(4, 10), torch.randn(4, 10), torch.rand(4, 10), temperature=0), "temperature"),
        (lambda: teacher_weights(torch.randn(4, 10), T2=0), "T2"),
        (
            lambda: ikl_loss([[0.0] * 10] * 4, torch.randn(4, 10), torch.rand(4, 10)),
            "student_logits must be a torch.Tensor, got list",
        ),
        (
            lambda: ikl_loss(torch.randn(4, 10), torch.zeros(4, 10, dtype=torch.long), torch.rand(4, 10)),
            "teacher_logits must be floating point, got torch.int64",
        ),
        (
            lambda: ikl_loss(torch.randn(4, 10), torch.randn(4, 10), [[0.1] * 10] * 4),
            r"weights must be a torch.Tensor of shape \(4, 10\), got list",
        ),
        (
            lambda: ikl_loss(torch.randn(4, 10), torch.randn(4, 10), torch.full((4, 10), float("nan"))),
            "^weights contain NaN or infinite values$",
        ),
        (
            lambda: ikl_loss(torch.randn(4, 10), torch.randn(4, 10), -torch.rand(4, 10)),
            r"^weights must be non-negative \(they are class probabilities\)$",
        ),
        (lambda: decoupled_kl(torch.randn(4, 10), torch.randn(4, 10), temperature=0), "temperature must be positive"),
        (
            lambda: decoupled_kl(torch.randn(4, 10), torch.full((4, 10), float("nan"))),
            "^teacher_logits contains NaN or infinite values$",
        ),
    ],
)
def test_bad_input_names_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_decoupled_kl_and_teacher_weights_in_half_precision(dtype):
    """decoupled_kl computes in float32 (half-precision softmax loses the small probabilities); the weights
    come back in the logits' dtype, ready to multiply them."""
    gen = torch.Generator().manual_seed(0)
    s, t = (torch.randn(8, 10, generator=gen) * 30).to(dtype), (torch.randn(8, 10, generator=gen) * 30).to(dtype)
    loss = decoupled_kl(s, t, temperature=4.0)
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, decoupled_kl(s.float(), t.float(), temperature=4.0))
    weights = teacher_weights(t, T2=100.0)
    assert weights.dtype == dtype
    torch.testing.assert_close(weights, F.softmax(t.float() / 100.0, dim=1).to(dtype))


def test_every_loss_names_its_class_dimension():
    """No implicit softmax dimension (torch warns and may pick another axis): every call is warning-free."""
    s, t = torch.randn(4, 10, requires_grad=True), torch.randn(4, 10, requires_grad=True)
    w = torch.rand(4, 10)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        decoupled_kl(s, t, temperature=2.0).backward()
        ikl_loss(s, t, w, alpha=1.0, beta=1.0).backward()
        gkl_loss(s, t, w).backward()
        teacher_weights(t, T2=1.0)


def test_one_hot_weights_are_allowed_and_mixed_precisions_compute_in_the_wider():
    s, t = torch.randn(4, 10, dtype=torch.float64), torch.randn(4, 10)
    one_hot = F.one_hot(torch.arange(4), 10).float()  # zeros are valid weights
    assert ikl_loss(s, t, one_hot).dtype == torch.float64
    assert ikl_loss(t, s, one_hot).dtype == torch.float64


def test_teacher_weights_at_t2_of_one_are_the_plain_softmax():
    t = torch.randn(4, 10)
    torch.testing.assert_close(teacher_weights(t, T2=1.0), F.softmax(t, dim=1))


def test_prior_stays_on_its_device_and_in_float64_through_a_resume():
    """``to`` moves the prior and its accumulators; a loaded state lands there, in float64, whatever it was
    saved as (the meta device stands in for a GPU: placement is checked without one)."""
    prior = ClassPrior(3).to("meta")
    assert prior.prior.device.type == "meta" and prior._sums.device.type == "meta"
    assert ClassPrior(3).weights_for(torch.tensor([0, 2], device="meta")).device.type == "meta"  # labels' device
    saved = ClassPrior(3).state_dict()
    prior.load_state_dict({**saved, "prior": saved["prior"].float(), "sums": saved["sums"].float()})
    assert prior.prior.device.type == "meta" and prior._sums.device.type == "meta"
    on_cpu = ClassPrior(3)
    on_cpu.load_state_dict({**saved, "prior": saved["prior"].float(), "sums": saved["sums"].float()})
    assert on_cpu.prior.dtype == torch.float64 and on_cpu._sums.dtype == torch.float64


def test_teacher_weights_are_detached_softmax_at_t2():
    t = torch.randn(4, 10, requires_grad=True)
    w = teacher_weights(t, T2=100.0)
    assert not w.requires_grad
    torch.testing.assert_close(w, F.softmax(t.detach() / 100.0, dim=1))


class TestClassPrior:
    def test_uniform_before_the_first_epoch(self):
        prior = ClassPrior(4, temperature=4.0)
        weights = prior.weights_for(torch.tensor([0, 3, 3]))
        assert weights.shape == (3, 4) and torch.allclose(weights, torch.full((3, 4), 0.25))

    def test_update_and_normalise_equal_the_released_accumulation(self):
        gen = torch.Generator().manual_seed(0)
        prior = ClassPrior(5, temperature=4.0)
        released = torch.zeros(5, 5, dtype=torch.float64)
        for _ in range(3):
            labels = torch.arange(5).repeat(4)[torch.randperm(20, generator=gen)]
            logits = torch.randn(20, 5, generator=gen)
            prior.update(labels, logits)
            released += F.one_hot(labels, 5).double().t() @ F.softmax(logits.double() / 4.0, dim=-1)
        result = prior.step_epoch()
        torch.testing.assert_close(result, released / released.sum(dim=1, keepdim=True))
        torch.testing.assert_close(result.sum(dim=1), torch.ones(5, dtype=torch.float64))
        torch.testing.assert_close(prior.weights_for(torch.tensor([2]), torch.float64)[0], result[2])

    def test_momentum_mixes_and_unseen_classes_keep_their_row(self):
        prior = ClassPrior(3, temperature=1.0, momentum=0.25)
        logits = torch.tensor([[10.0, 0.0, 0.0], [0.0, 10.0, 0.0]])
        prior.update(torch.tensor([0, 1]), logits)
        result = prior.step_epoch()
        fresh = F.softmax(logits.double(), dim=1)
        uniform = torch.full((3,), 1 / 3, dtype=torch.float64)
        torch.testing.assert_close(result[0], 0.25 * fresh[0] + 0.75 * uniform)
        torch.testing.assert_close(result[1], 0.25 * fresh[1] + 0.75 * uniform)
        torch.testing.assert_close(result[2], uniform)  # class 2 never seen: no NaN, previous row kept
        assert prior.epochs == 1

    def test_accumulators_reset_each_epoch(self):
        prior = ClassPrior(2, temperature=1.0)
        prior.update(torch.tensor([0, 1]), torch.tensor([[5.0, 0.0], [0.0, 5.0]]))
        first = prior.step_epoch().clone()
        prior.update(torch.tensor([0, 1]), torch.tensor([[0.0, 5.0], [5.0, 0.0]]))
        second = prior.step_epoch()
        torch.testing.assert_close(second, first.flip(1))

    def test_resume_gives_identical_results(self):
        gen = torch.Generator().manual_seed(1)
        batches = [(torch.randint(0, 6, (16,), generator=gen), torch.randn(16, 6, generator=gen)) for _ in range(6)]
        straight = ClassPrior(6, temperature=2.0, momentum=0.5)
        for i, batch in enumerate(batches):
            straight.update(*batch)
            if i % 2 == 1:
                straight.step_epoch()
        resumed = ClassPrior(6, temperature=2.0, momentum=0.5)
        for i, batch in enumerate(batches[:3]):
            resumed.update(*batch)
            if i % 2 == 1:
                resumed.step_epoch()
        state = resumed.state_dict()
        fresh = ClassPrior(6)
        fresh.load_state_dict(state)  # mid-epoch: the accumulator travels too
        for i, batch in enumerate(batches[3:], start=3):
            fresh.update(*batch)
            if i % 2 == 1:
                fresh.step_epoch()
        assert torch.equal(fresh.prior, straight.prior) and fresh.epochs == straight.epochs == 3
        assert fresh.temperature == 2.0 and fresh.momentum == 0.5

    def test_bad_input(self):
        with pytest.raises(ValueError, match="num_classes"):
            ClassPrior(1)
        with pytest.raises(ValueError, match="momentum"):
            ClassPrior(3, momentum=0.0)
        with pytest.raises(ValueError, match=r"momentum must be in \(0, 1\], got 1.5"):
            ClassPrior(3, momentum=1.5)
        with pytest.raises(ValueError, match="^temperature must be positive, got 0$"):
            ClassPrior(3, temperature=0)
        prior = ClassPrior(3)
        with pytest.raises(ValueError, match="labels must be in"):
            prior.update(torch.tensor([3]), torch.randn(1, 3))
        with pytest.raises(ValueError, match=r"logits must be B×3"):
            prior.update(torch.tensor([0]), torch.randn(1, 4))
        with pytest.raises(ValueError, match="state is for 4 classes"):
            prior.load_state_dict(ClassPrior(4).state_dict())


def test_prior_weights_follow_every_change_of_the_prior():
    """weights_for keeps a cast copy of the prior between epochs; any change of the prior refreshes it."""
    prior = ClassPrior(3, temperature=1.0)
    labels = torch.tensor([0, 2])
    assert torch.equal(prior.weights_for(labels), torch.full((2, 3), 1 / 3))
    cast = prior._cast[2]
    prior.weights_for(labels[:1])
    assert prior._cast[2] is cast  # the cast prior is reused from batch to batch, not made again
    prior.update(torch.tensor([0, 1, 2]), torch.eye(3) * 5)
    fresh = prior.step_epoch()
    torch.testing.assert_close(prior.weights_for(labels), fresh[labels].float())
    prior.prior = torch.eye(3, dtype=torch.float64)  # replaced
    assert torch.equal(prior.weights_for(labels), torch.eye(3)[labels])
    prior.prior.mul_(0.5)  # edited in place
    assert torch.equal(prior.weights_for(labels), 0.5 * torch.eye(3)[labels])
    assert prior.weights_for(labels, torch.float64).dtype == torch.float64
    saved = prior.state_dict()
    prior.load_state_dict({**saved, "prior": torch.full((3, 3), 0.25, dtype=torch.float64)})
    assert torch.equal(prior.weights_for(labels), torch.full((2, 3), 0.25))
    assert prior.to("cpu") is prior and prior.prior.device.type == "cpu"


def test_label_check_can_be_skipped_where_it_would_sync_the_device():
    prior = ClassPrior(3)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        prior.update(torch.tensor([3]), torch.zeros(1, 3))
    prior.update(torch.tensor([1]), torch.zeros(1, 3), check_labels=False)
    assert prior._sums[1].sum() == pytest.approx(1.0)


def test_value_checks_of_the_loss_are_on_by_default_and_can_be_skipped():
    s, t, w = torch.randn(4, 5), torch.randn(4, 5), torch.full((4, 5), 0.2)
    t[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        ikl_loss(s, t, w)
    assert torch.isnan(ikl_loss(s, t, w, check_values=False))
    with pytest.raises(ValueError, match="shape"):  # shapes are always checked (free)
        ikl_loss(s, t, w[:2], check_values=False)


# ---- documented defaults of the losses and training helpers ----------------------------------------------

# ---- documented defaults and the evaluation log (joints found by mutation testing) ---------------------------


def test_documented_defaults_of_the_losses_and_training_helpers():
    from dkl_zoo.losses import IKLLoss, decoupled_kl, ikl_loss, teacher_weights
    from training.ikl_at import AttackBudget, EpochEMA, perturb

    generator = torch.Generator().manual_seed(0)
    t, s = torch.randn(6, 10, generator=generator), torch.randn(6, 10, generator=generator)
    w = torch.softmax(torch.randn(6, 10, generator=generator), dim=1)
    explicit = ikl_loss(s, t, w, alpha=1.0, beta=1.0, gamma=1.0, temperature=1.0, normalize="batch")
    assert torch.equal(ikl_loss(s, t, w), explicit) and torch.equal(IKLLoss()(s, t, w), explicit)
    assert torch.equal(decoupled_kl(s, t), decoupled_kl(s, t, temperature=1.0))
    assert torch.allclose(teacher_weights(t), torch.softmax(t / 100.0, dim=1))
    prior = ClassPrior(10)
    assert (prior.temperature, prior.momentum) == (4.0, 1.0)
    assert EpochEMA().decay == 0.9
    model = WideResNet(depth=10, widen_factor=1).eval()
    x = torch.rand(2, 3, 32, 32, generator=generator)
    budget = AttackBudget(8 / 255, 2 / 255, 2)
    torch.manual_seed(3)
    default = perturb(model, x, w[:2], budget, kind="dkl")
    torch.manual_seed(3)
    assert torch.equal(default, perturb(model, x, w[:2], budget, kind="dkl", normalize="batch", init_std=0.001))
