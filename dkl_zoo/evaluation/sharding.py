"""Shards: contiguous slices of the test set evaluated apart (jobs) or together (the ranks of a process group,
which share every attack's batches and agree on the flags after it), and merging their results."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

from ..errors import InvalidArgumentError
from .result import EvalResult

__all__ = ["RankShare", "shard_range", "rank_share", "merge_results"]


@dataclass(frozen=True)
class RankShare:
    """How one process takes part in an evaluation: alone (the default), or as rank ``rank`` of ``world`` processes
    that all hold every example, count the slice ``own`` and combine flags with ``sync(flags, "sum" | "min")``."""

    rank: int = 0
    world: int = 1
    own: slice | None = None
    sync: Callable[[torch.Tensor, str], torch.Tensor] | None = None


def shard_range(n: int, shard: tuple[int, int] | None) -> tuple[int, int]:
    """The examples [lo, hi) of shard (i, n) of ``n`` examples (the whole range without a shard)."""
    if shard is None:
        return 0, n
    try:
        index, count = shard
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"shard must be (i, n) with 0 <= i < n, got {shard!r}") from None
    if not (isinstance(index, int) and isinstance(count, int) and count >= 1 and 0 <= index < count):
        raise InvalidArgumentError(f"shard must be (i, n) with 0 <= i < n, got {shard!r}")
    if count > n:
        raise InvalidArgumentError(f"cannot split {n} examples into {count} shards")
    return index * n // count, (index + 1) * n // count


def rank_share(shard: tuple[int, int] | None, span: tuple[int, int]) -> RankShare | None:
    """The share of this process when ``shard`` is (its rank, the group's size) in an initialised
    ``torch.distributed`` group; None when it evaluates its slice alone."""
    group = _process_group(shard)
    if group is None:
        return None
    rank, world = group
    return RankShare(rank=rank, world=world, own=slice(*span), sync=_sync)


def _process_group(shard: tuple[int, int] | None) -> tuple[int, int] | None:
    """(rank, world) when running as shard `rank` of a torch.distributed group of `world` processes."""
    if shard is None:
        return None
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and tuple(shard) == (dist.get_rank(), dist.get_world_size()):
        return dist.get_rank(), dist.get_world_size()
    return None


def _sync(flags: torch.Tensor, op: str) -> torch.Tensor:
    import torch.distributed as dist

    reduce_op = dist.ReduceOp.SUM if op == "sum" else dist.ReduceOp.MIN
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    buffer = flags.to(device)
    dist.all_reduce(buffer, op=reduce_op)
    return buffer.cpu()


def merge_results(results: Iterable[EvalResult]) -> EvalResult:
    """Combine shard results into the result of the whole set (counts are summed; seconds too)."""
    parts = sorted(results, key=lambda r: r.example_range)
    if not parts:
        raise InvalidArgumentError("merge_results needs at least one result")
    first = parts[0]
    keys = ("eps", "threat_model", "version", "attacks", "dataset", "seed")
    for part in parts[1:]:
        differing = [k for k in keys if getattr(part, k) != getattr(first, k)]
        if differing:
            raise InvalidArgumentError(
                f"cannot merge results of different evaluations (differ in {', '.join(differing)})"
            )
    for before, after in zip(parts, parts[1:]):
        if before.example_range[1] != after.example_range[0]:
            raise InvalidArgumentError(
                f"shard ranges must be contiguous and non-overlapping: {before.example_range} then "
                f"{after.example_range}"
            )
    n = sum(p.n_examples for p in parts)
    n_clean = sum(p.n_clean_correct for p in parts)
    n_robust = sum(p.n_robust for p in parts)
    counts = {a: sum(p.robust_after_counts.get(a, 0) for p in parts) for a in first.robust_after_counts}
    return EvalResult(
        clean_acc=n_clean / n,
        robust_acc=n_robust / n,
        n_examples=n,
        robust_acc_after={a: c / n for a, c in counts.items()},
        eps=first.eps,
        threat_model=first.threat_model,
        version=first.version,
        attacks=list(first.attacks),
        dataset=first.dataset,
        seed=first.seed,
        batch_size=first.batch_size,
        seconds=sum(p.seconds for p in parts),
        library_versions=first.library_versions,
        n_clean_correct=n_clean,
        n_robust=n_robust,
        robust_after_counts=counts,
        example_range=(parts[0].example_range[0], parts[-1].example_range[1]),
        max_perturbation=max(p.max_perturbation for p in parts),
        model_name=first.model_name,
        shard=None,
        extra={"merged_shards": len(parts)},
    )
