"""KL, DKL, IKL and GKL losses in O(B·C) time and memory (Cui et al., arXiv 2305.13948).

Notation: ``t`` teacher / natural logits, ``s`` student / adversarial logits, both B×C; ``w`` per-sample
class weights (B×C, no gradient). The released IKL-AT loss is

    L = β · 1/(4N) Σ_b Σ_jk w_bj w_bk ((t_bj − t_bk) − (s_bj − s_bk))²  +  α · soft-CE(s/T, sg(softmax(t/T)))

with N = B (IKL, released v1) or N = Σ_b (Σ_j w_bj)² (GKL, released v2, after w ← w^γ). The released code
materialises B×C×C tensors; with d = t − s and the weighted mean d̄ = Σ w d / Σ w,

    Σ_jk w_j w_k (d_j − d_k)² = 2 (Σ_j w_j) Σ_j w_j (d_j − d̄)²,

which is exact, costs O(B·C) and, being centred, does not cancel catastrophically for large logits.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from .errors import InvalidArgumentError

__all__ = [
    "ikl_loss",
    "gkl_loss",
    "decoupled_kl",
    "weighted_pairwise_mse",
    "teacher_weights",
    "ClassPrior",
    "IKLLoss",
    "GKLLoss",
]

_NORMALIZATIONS = ("batch", "weights")


def _check_logits(student: Tensor, teacher: Tensor, values: bool = True) -> None:
    """Types and shapes (free); with ``values`` also NaN / inf, which reads the tensors on the host."""
    for name, value in (("student_logits", student), ("teacher_logits", teacher)):
        if not isinstance(value, Tensor):
            raise InvalidArgumentError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
        if value.dim() != 2:
            raise InvalidArgumentError(f"{name} must be B×C (2-D), got shape {tuple(value.shape)}")
        if not value.is_floating_point():
            raise InvalidArgumentError(f"{name} must be floating point, got {value.dtype}")
    if student.shape != teacher.shape:
        raise InvalidArgumentError(
            f"student_logits and teacher_logits must have the same shape, got {tuple(student.shape)} "
            f"and {tuple(teacher.shape)}"
        )
    if student.shape[1] < 2:
        raise InvalidArgumentError(f"need at least 2 classes (C >= 2), got C = {student.shape[1]}")
    for name, value in (("student_logits", student), ("teacher_logits", teacher)):
        if values and not torch.isfinite(value.detach()).all():
            raise InvalidArgumentError(f"{name} contains NaN or infinite values")


def _check_weights(weights: Tensor, shape: torch.Size, values: bool) -> None:
    if not isinstance(weights, Tensor):
        raise InvalidArgumentError(
            f"weights must be a torch.Tensor of shape {tuple(shape)}, got {type(weights).__name__}"
        )
    if weights.shape != shape:
        raise InvalidArgumentError(
            f"weights must have the logits' shape {tuple(shape)} (one row of class weights per sample), "
            f"got {tuple(weights.shape)}; for a class prior P use ClassPrior.weights_for(labels) or P[labels]"
        )
    if not values:
        return
    if not torch.isfinite(weights).all():
        raise InvalidArgumentError("weights contain NaN or infinite values")
    if (weights < 0).any():
        raise InvalidArgumentError("weights must be non-negative (they are class probabilities)")


def _compute_dtype(*tensors: Tensor) -> torch.dtype:
    """float32 for half-precision inputs (the squares overflow float16), else the inputs' dtype."""
    dtype = torch.promote_types(tensors[0].dtype, tensors[1].dtype)
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def weighted_pairwise_mse(student_logits: Tensor, teacher_logits: Tensor, weights: Tensor) -> Tensor:
    """Per-sample Σ_jk w_j w_k (Δt_jk − Δs_jk)², computed as 2 (Σw) Σ w (d − d̄)² in O(C)."""
    d = teacher_logits - student_logits
    total = weights.sum(dim=1, keepdim=True)
    mean = (weights * d).sum(dim=1, keepdim=True) / total.clamp_min(torch.finfo(d.dtype).tiny)
    return 2.0 * total.squeeze(1) * (weights * (d - mean).square()).sum(dim=1)


def ikl_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    weights: Tensor,
    *,
    alpha: float = 1.0,
    beta: float = 1.0,
    gamma: float = 1.0,
    temperature: float = 1.0,
    normalize: str = "batch",
    check_values: bool = True,
) -> Tensor:
    """β · weighted pairwise MSE / 4N + α · soft cross-entropy (the released IKL / GKL loss).

    Gradients reach both logits through the MSE; only the soft target softmax(teacher/T) is detached.
    ``weights`` (B×C) are detached and raised to ``gamma``. ``normalize="batch"`` divides by B (IKL,
    released v1); ``"weights"`` by Σ_b (Σ_j w_bj^γ)² (GKL, released v2). ``check_values=False`` skips the
    NaN / negative-weight checks, which read the tensors on the host (a GPU sync): training loops pass it;
    shapes and arguments are always checked.
    """
    _check_logits(student_logits, teacher_logits, values=check_values)
    if normalize not in _NORMALIZATIONS:
        raise InvalidArgumentError(f"normalize must be one of {_NORMALIZATIONS}, got {normalize!r}")
    if temperature <= 0:
        raise InvalidArgumentError(f"temperature must be positive, got {temperature}")
    _check_weights(weights, student_logits.shape, values=check_values)
    weights = weights.detach()
    dtype = _compute_dtype(student_logits, teacher_logits)
    student = student_logits.to(dtype)
    teacher = teacher_logits.to(dtype)
    w = weights.to(dtype)
    if gamma != 1.0:
        w = w.pow(gamma)
    batch = student.shape[0]
    loss = student.new_zeros(())
    if beta != 0.0:
        per_sample = weighted_pairwise_mse(student, teacher, w)
        if normalize == "batch":
            mse = per_sample.sum() / batch  # a Python number: no tensor made on the host
        else:
            mse = per_sample.sum() / w.sum(dim=1).square().sum().clamp_min(torch.finfo(dtype).tiny)
        loss = loss + beta * 0.25 * mse
    if alpha != 0.0:
        target = F.softmax(teacher.detach() / temperature, dim=1)
        soft_ce = -(target * F.log_softmax(student / temperature, dim=1)).sum(dim=1).mean()
        loss = loss + alpha * soft_ce
    return loss


def gkl_loss(student_logits: Tensor, teacher_logits: Tensor, weights: Tensor, **kwargs: float) -> Tensor:
    """``ikl_loss`` with the GKL normalisation (released v2): the MSE divided by Σ_b (Σ_j w_bj^γ)²."""
    return ikl_loss(student_logits, teacher_logits, weights, normalize="weights", **kwargs)


def decoupled_kl(student_logits: Tensor, teacher_logits: Tensor, *, temperature: float = 1.0) -> Tensor:
    """The paper's theorem form of KL(softmax(t/T) ‖ softmax(s/T)), batch mean.

    wMSE with weights sg(softmax(t/T)) and a stop-gradient on the student's pairwise differences, plus the
    soft cross-entropy: its gradients w.r.t. both inputs equal those of
    ``F.kl_div(log_softmax(s/T), softmax(t/T), reduction="batchmean")`` (its value differs by a term that
    has no gradient).
    """
    _check_logits(student_logits, teacher_logits)
    if temperature <= 0:
        raise InvalidArgumentError(f"temperature must be positive, got {temperature}")
    dtype = _compute_dtype(student_logits, teacher_logits)
    teacher = teacher_logits.to(dtype) / temperature
    student = student_logits.to(dtype) / temperature
    weights = F.softmax(teacher, dim=1).detach()
    mse = weighted_pairwise_mse(student.detach(), teacher, weights).mean()
    soft_ce = -(weights * F.log_softmax(student, dim=1)).sum(dim=1).mean()
    return 0.25 * mse + soft_ce


def teacher_weights(teacher_logits: Tensor, T2: float = 100.0) -> Tensor:
    """Knowledge-distillation weights softmax(t/T2), detached, for when no class prior is used."""
    if T2 <= 0:
        raise InvalidArgumentError(f"T2 must be positive, got {T2}")
    return F.softmax(teacher_logits.detach().float() / T2, dim=1).to(teacher_logits.dtype)


class ClassPrior:
    """Per-class mean prediction P (C×C): row c is the average softmax(natural logits / T) over class c.

    Accumulated over an epoch with ``update``, row-normalised by ``step_epoch`` and mixed with the previous
    prior by ``momentum`` (1 = replace, the released default). Uniform 1/C before the first epoch ends; a
    class that was not seen keeps its previous row. Under ``torch.distributed`` the accumulators are summed
    across processes at ``step_epoch``, so every rank ends with the same prior.
    """

    def __init__(self, num_classes: int, temperature: float = 4.0, momentum: float = 1.0) -> None:
        if num_classes < 2:
            raise InvalidArgumentError(f"num_classes must be >= 2, got {num_classes}")
        if temperature <= 0:
            raise InvalidArgumentError(f"temperature must be positive, got {temperature}")
        if not 0.0 < momentum <= 1.0:
            raise InvalidArgumentError(f"momentum must be in (0, 1], got {momentum}")
        self.num_classes = num_classes
        self.temperature = float(temperature)
        self.momentum = float(momentum)
        self.prior = torch.full((num_classes, num_classes), 1.0 / num_classes, dtype=torch.float64)
        self._sums = torch.zeros(num_classes, num_classes, dtype=torch.float64)
        self.epochs = 0
        self._cast: tuple[Tensor, tuple, Tensor] | None = None

    def to(self, device: torch.device | str) -> ClassPrior:
        """Keep the prior and its accumulators on ``device`` (the model's): no copy per step."""
        self.prior = self.prior.to(device)
        self._sums = self._sums.to(device)
        return self

    @torch.no_grad()
    def update(self, labels: Tensor, logits: Tensor, *, check_labels: bool = True) -> None:
        """Add onehot(labels)ᵀ · softmax(logits / T) of one batch of natural logits.

        ``check_labels=False`` skips the label-range check, which reads the labels on the host (a GPU sync).
        """
        if logits.dim() != 2 or logits.shape[1] != self.num_classes:
            raise InvalidArgumentError(f"logits must be B×{self.num_classes}, got shape {tuple(logits.shape)}")
        if labels.shape != logits.shape[:1]:
            raise InvalidArgumentError(f"labels must have shape ({logits.shape[0]},), got {tuple(labels.shape)}")
        if check_labels and labels.numel() and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise InvalidArgumentError(f"labels must be in [0, {self.num_classes}), got {labels.min()}..{labels.max()}")
        probs = F.softmax(logits.detach().double() / self.temperature, dim=1)
        if self._sums.device != probs.device:
            self._sums = self._sums.to(probs.device)
        self._sums.index_add_(0, labels.to(probs.device), probs)

    @torch.no_grad()
    def step_epoch(self) -> Tensor:
        """End of an epoch: normalise the accumulated rows, mix with the previous prior, reset."""
        sums = self._sums
        if dist.is_available() and dist.is_initialized():
            sums = sums.clone()
            dist.all_reduce(sums)
        sums = sums.to(self.prior.device)
        totals = sums.sum(dim=1, keepdim=True)
        seen = totals.squeeze(1) > 0
        fresh = self.prior.clone()
        fresh[seen] = sums[seen] / totals[seen]
        self.prior = self.momentum * fresh + (1.0 - self.momentum) * self.prior
        self._sums = torch.zeros_like(self._sums)
        self.epochs += 1
        return self.prior

    def weights_for(self, labels: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
        """The B×C per-sample weights P[labels] (rows of the prior, no gradient).

        The prior in ``dtype`` on the labels' device is made once per prior (it changes once an epoch), not
        once per batch.
        """
        source = self.prior
        key = (source._version, labels.device, dtype)
        if self._cast is None or self._cast[0] is not source or self._cast[1] != key:
            self._cast = (source, key, source.to(device=labels.device, dtype=dtype))
        return self._cast[2].index_select(0, labels.long())

    def state_dict(self) -> dict:
        """The running class sums and counts, for checkpoints (a resumed run continues the same prior)."""
        return {
            "num_classes": self.num_classes,
            "temperature": self.temperature,
            "momentum": self.momentum,
            "prior": self.prior.cpu().clone(),
            "sums": self._sums.cpu().clone(),
            "epochs": self.epochs,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` returned."""
        if state["num_classes"] != self.num_classes:
            raise InvalidArgumentError(
                f"state is for {state['num_classes']} classes, this prior has {self.num_classes}"
            )
        self.temperature = float(state["temperature"])
        self.momentum = float(state["momentum"])
        device = self.prior.device  # stays where ``to`` put it
        self.prior = state["prior"].to(device=device, dtype=torch.float64).clone()
        self._sums = state["sums"].to(device=device, dtype=torch.float64).clone()
        self.epochs = int(state["epochs"])


class IKLLoss(nn.Module):
    """``ikl_loss`` as a module; ``forward(student_logits, teacher_logits, weights)``."""

    normalize = "batch"

    def __init__(self, *, alpha: float = 1.0, beta: float = 1.0, gamma: float = 1.0, temperature: float = 1.0) -> None:
        super().__init__()
        self.alpha, self.beta, self.gamma, self.temperature = alpha, beta, gamma, temperature

    def forward(self, student_logits: Tensor, teacher_logits: Tensor, weights: Tensor) -> Tensor:
        """The IKL loss of ``student_logits`` against ``teacher_logits`` with per-sample class weights."""
        return ikl_loss(
            student_logits,
            teacher_logits,
            weights,
            alpha=self.alpha,
            beta=self.beta,
            gamma=self.gamma,
            temperature=self.temperature,
            normalize=self.normalize,
        )

    def extra_repr(self) -> str:
        """The loss's hyperparameters, shown in ``repr``."""
        return (
            f"alpha={self.alpha}, beta={self.beta}, gamma={self.gamma}, temperature={self.temperature}, "
            f"normalize={self.normalize!r}"
        )


class GKLLoss(IKLLoss):
    """``IKLLoss`` with the GKL normalisation (released v2)."""

    normalize = "weights"
