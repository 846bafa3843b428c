"""Training-step throughput: our IKL-AT step vs a line-by-line port of the released step, same math and batch.

The port (tests/helpers/released_port.py) builds B×C×C tensors, recomputes the natural logits at every attack
step, reloads the AWP proxy with ``load_state_dict`` every step and averages weights over state dicts
(the release's per-step 'wa', active from epoch 150). Ours runs the same step with the same inputs; the
per-step average is kept only when enabled (the release never saved it), so it is timed both ways.

    python benchmarks/train_step.py [--classes 100] [--batch 64] [--steps 6] [--device cpu]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from dkl_zoo.losses import ClassPrior  # noqa: E402
from dkl_zoo.models import WideResNet  # noqa: E402
from helpers.released_port import released_step, released_weight_average  # noqa: E402
from training.config import load_config  # noqa: E402
from training.ikl_at import AdversarialWeightPerturbation, IKLATStep, StepEMA  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--width", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--epoch", type=int, default=160, help="160: AWP and the release's weight average on")
    parser.add_argument("--compile", action="store_true", help="also time the step with torch.compile (compile: true)")
    args = parser.parse_args()
    device = torch.device(args.device)
    dataset = "cifar10" if args.classes == 10 else "cifar100"
    config = load_config(ROOT / "training/configs" / f"ikl-at-{dataset}-wrn34.yaml")
    torch.manual_seed(0)
    base = WideResNet(depth=args.depth, widen_factor=args.width, num_classes=args.classes).to(device)
    x = torch.rand(args.batch, 3, 32, 32, device=device)
    y = torch.randint(0, args.classes, (args.batch,), device=device)
    prior_matrix = torch.softmax(torch.randn(args.classes, args.classes), dim=1).to(device)

    theirs, their_proxy = copy.deepcopy(base), copy.deepcopy(base)
    their_opt = torch.optim.SGD(theirs.parameters(), lr=0.2, momentum=0.9, weight_decay=5e-4)
    their_proxy_opt = torch.optim.SGD(their_proxy.parameters(), lr=0.2)
    wa_state = copy.deepcopy(theirs.state_dict())

    def released() -> None:
        released_step(theirs, their_proxy, their_proxy_opt, their_opt, x, y, prior_matrix, args.epoch, config)
        released_weight_average(theirs, wa_state, args.epoch)

    def make_ours(with_ema: bool, method: str = "ikl", compiled: bool = False):
        model = copy.deepcopy(base)
        net = torch.compile(model) if compiled else model
        opt = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9, weight_decay=5e-4)
        prior = ClassPrior(args.classes, temperature=4.0)
        prior.prior = prior_matrix.double()  # on the model's device, as the trainer keeps it
        step = IKLATStep(
            {**config, "method": method},
            net,
            opt,
            prior,
            AdversarialWeightPerturbation(model, copy.deepcopy(base), 0.2, 5e-3),
            attack_model=net,
        )
        ema = StepEMA(0.9996, warmup=False) if with_ema else None

        def run() -> None:
            step(x, y, args.epoch)
            if ema is not None:
                ema.update(model)

        return run

    def rate(fn) -> float:
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times = []
        for _ in range(args.steps):
            started = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - started)
        return args.batch / statistics.median(times)

    ours, ours_ema, trades = make_ours(False), make_ours(True), make_ours(False, "trades")
    r_released, r_ours, r_ours_ema, r_trades = rate(released), rate(ours), rate(ours_ema), rate(trades)
    print(
        f"WRN-{args.depth}-{args.width}, C={args.classes}, batch {args.batch}, epoch {args.epoch} "
        f"(5-step attack, AWP on), {device}, {torch.get_num_threads()} threads, median of {args.steps} steps"
    )
    print(f"released step (port):          {r_released:8.1f} images/s")
    print(f"ours:                          {r_ours:8.1f} images/s   ratio {r_ours / r_released:.2f}x (target >= 1.3x)")
    print(f"ours + per-step weight average:{r_ours_ema:8.1f} images/s   ratio {r_ours_ema / r_released:.2f}x")
    if args.compile:
        warm = time.perf_counter()
        compiled = make_ours(False, compiled=True)
        compiled()  # compiles the eval (attack) and train graphs
        compiled()
        warm = time.perf_counter() - warm
        r_compiled = rate(compiled)
        print(
            f"ours compiled (compile: true):  {r_compiled:8.1f} images/s   vs eager ours {r_compiled / r_ours:.2f}x "
            f"({warm:.0f} s to compile and warm up)"
        )
    print(
        f"TRADES step, same model/budget:{r_trades:8.1f} images/s   IKL-AT step time / TRADES step time "
        f"{r_trades / r_ours:.2f}x (target <= 1.2x)"
    )


if __name__ == "__main__":
    main()
