"""``ikl_loss`` (O(B·C)) vs the released direct form (O(B·C²)): forward+backward time and peak memory.

Everything runs in this process. Time: median of repeated runs (the direct form runs once at C = 1000).
Peak memory: the highest total of tensor memory allocated during one forward+backward beyond the
inputs, replayed from the allocation and free events of ``torch.profiler`` (exact, allocator-independent).

    python benchmarks/losses.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from dkl_zoo.losses import ikl_loss  # noqa: E402

CONFIGS = [(128, 10), (512, 100), (256, 1000)]
KW = dict(alpha=3.0, beta=20.0, temperature=4.0)


def direct(s, t, w, alpha, beta, temperature):
    """The released code's loss: B×C×C pairwise differences and outer-product weights."""
    c = t.shape[1]
    delta_n = t.view(-1, c, 1) - t.view(-1, 1, c)
    delta_a = s.view(-1, c, 1) - s.view(-1, 1, c)
    with torch.no_grad():
        pair = w.view(-1, c, 1) @ w.view(-1, 1, c)
    mse = 0.25 * ((delta_n - delta_a).pow(2) * pair).sum() / t.shape[0]
    sce = -(F.softmax(t / temperature, dim=1).detach() * F.log_softmax(s / temperature, dim=-1)).sum(1).mean()
    return beta * mse + alpha * sce


def ours(s, t, w, alpha, beta, temperature):
    return ikl_loss(s, t, w, alpha=alpha, beta=beta, temperature=temperature)


IMPLS = {"ours": ours, "direct": direct}


def inputs(b: int, c: int):
    gen = torch.Generator().manual_seed(0)
    s = torch.randn(b, c, generator=gen).requires_grad_()
    t = torch.randn(b, c, generator=gen).requires_grad_()
    w = F.softmax(torch.randn(b, c, generator=gen), dim=1)
    return s, t, w


def step(fn, s, t, w) -> float:
    s.grad = t.grad = None
    started = time.perf_counter()
    fn(s, t, w, **KW).backward()
    return time.perf_counter() - started


def time_it(fn, b: int, c: int, runs: int) -> float:
    s, t, w = inputs(b, c)
    step(fn, s, t, w)
    return statistics.median(step(fn, s, t, w) for _ in range(runs))


def peak(impl: str, b: int, c: int) -> int:
    """Peak bytes of tensors alive at once during one forward+backward, inputs excluded."""
    from torch.profiler import ProfilerActivity, profile

    s, t, w = inputs(b, c)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        IMPLS[impl](s, t, w, **KW).backward()
    events = sorted(
        (e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"), key=lambda e: e.start_ns()
    )
    current = highest = 0
    for event in events:
        current += event.nbytes()
        highest = max(highest, current)
    return highest


def main() -> None:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, forward+backward")
    print(
        f"{'B':>5} {'C':>5} | {'ours ms':>9} {'direct ms':>10} {'speed-up':>9} | "
        f"{'ours MB':>8} {'direct MB':>10} {'memory ratio':>13}"
    )
    for b, c in CONFIGS:
        direct_runs = 1 if c >= 1000 else 9
        m_ours, m_direct = peak("ours", b, c), peak("direct", b, c)
        t_ours = time_it(ours, b, c, 30)
        t_direct = time_it(direct, b, c, direct_runs)
        print(
            f"{b:>5} {c:>5} | {t_ours * 1e3:>9.3f} {t_direct * 1e3:>10.1f} {t_direct / t_ours:>8.0f}x | "
            f"{m_ours / 1e6:>8.2f} {m_direct / 1e6:>10.1f} {m_direct / m_ours:>12.0f}x"
        )
    print("targets: >= 30x faster at (512, 100); >= 1000x faster and >= 100x less peak memory at (256, 1000)")


if __name__ == "__main__":
    main()
