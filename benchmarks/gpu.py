"""The accelerator benchmark: one prepared script, one process on the GPU, one JSON.

    python benchmarks/gpu.py --out gpu.json [--data-dir DIR] [--sections step,eval,predict,fmnist,trades] [--smoke]

Sections (each written to the JSON as soon as it is done, so a run stopped by its time limit keeps what it
measured):

- ``step``: the IKL-AT training step of WRN-34-10 on CIFAR-100-shaped data, batch 128, 5-step attack, AWP on,
  epoch 160, median of 5 steps after warm-up: the line-by-line port of the released step (fp32) against ours
  in fp32, fp32 + channels_last, bf16 autocast + channels_last, and the same compiled (``compile: true``);
  then the IKL-AT step against the TRADES step on WRN-10-1 (same budget).
- ``eval``: WRN-34-10 fp32, batch 500: clean forward and APGD-CE (AutoAttack's, 100 iterations) images/s.
- ``predict``: ``dkl_zoo.predict`` on a batch of WRN-34-10 (random weights) against a plain fp32
  ``inference_mode`` loop over the same model, at batch 1 and 256, and the plain loop on a channels-last copy:
  whether predict's PyTorch path on an accelerator should run a channels-last copy (it does not today).
- ``fmnist``: the shipped model on the whole Fashion-MNIST test set, AutoAttack standard, eps 0.1, batch 2500
  (``dkl_zoo.evaluate``), with the time it took.
- ``trades``: IKL-AT and TRADES trained on Fashion-MNIST for 3600 steps each (the shipped model's recipe and
  its TRADES baseline), then AutoAttack on the first 1000 test images.

``--smoke`` runs every section at toy sizes on whatever device is there (the test suite runs it on the CPU),
so the script is known to work before accelerator time is spent on it. Fashion-MNIST comes from
``--data-dir`` (the IDX files: ``t10k-*`` for ``fmnist``, ``train-*`` too for ``trades``).
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
import dkl_zoo  # noqa: E402
from dkl_zoo._autoattack import make_adversary  # noqa: E402
from dkl_zoo.losses import ClassPrior  # noqa: E402
from dkl_zoo.models import WideResNet  # noqa: E402
from helpers.released_port import released_step  # noqa: E402
from training.config import load_config  # noqa: E402
from training.ikl_at import AdversarialWeightPerturbation, IKLATStep  # noqa: E402

SECTIONS = ("step", "eval", "predict", "fmnist", "trades")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _images_per_second(fn: Callable[[], Any], images: int, device: torch.device, steps: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - started)
    return images / statistics.median(times)


def _step_runner(
    config: dict,
    base: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    prior: torch.Tensor,
    *,
    epoch: int,
    method: str = "ikl",
    channels_last: bool = False,
    bf16: bool = False,
    compiled: bool = False,
) -> Callable[[], Any]:
    model = copy.deepcopy(base)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    net = torch.compile(model) if compiled else model
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9, weight_decay=5e-4)
    class_prior = ClassPrior(prior.shape[0], temperature=4.0).to(x.device)
    class_prior.prior = prior.double()
    awp = AdversarialWeightPerturbation(model, copy.deepcopy(model), 0.2, 5e-3)
    autocast = torch.autocast(x.device.type, dtype=torch.bfloat16) if bf16 else None
    step = IKLATStep({**config, "method": method}, net, optimizer, class_prior, awp, autocast, attack_model=net)
    return lambda: step(x, y, epoch)


def section_step(device: torch.device, smoke: bool) -> dict:
    depth, width, batch, classes, steps = (10, 1, 16, 100, 2) if smoke else (34, 10, 128, 100, 5)
    config = load_config(ROOT / "training/configs/ikl-at-cifar100-wrn34.yaml", ["bn_replicas=1"])
    epoch = 160
    torch.manual_seed(0)
    base = WideResNet(depth=depth, widen_factor=width, num_classes=classes).to(device)
    x = torch.rand(batch, 3, 32, 32, device=device)
    y = torch.randint(0, classes, (batch,), device=device)
    prior = torch.softmax(torch.randn(classes, classes, device=device), dim=1)
    theirs, their_proxy = copy.deepcopy(base), copy.deepcopy(base)
    their_opt = torch.optim.SGD(theirs.parameters(), lr=0.2, momentum=0.9, weight_decay=5e-4)
    their_proxy_opt = torch.optim.SGD(their_proxy.parameters(), lr=0.2)
    rows: dict[str, float] = {}
    rows["port of the released step, fp32"] = _images_per_second(
        lambda: released_step(theirs, their_proxy, their_proxy_opt, their_opt, x, y, prior, epoch, config),
        batch,
        device,
        steps,
    )
    variants = {"ours, fp32": {}, "ours, fp32 + channels_last": {"channels_last": True}}
    if device.type == "cuda":
        variants["ours, bf16 + channels_last"] = {"channels_last": True, "bf16": True}
        variants["ours, bf16 + channels_last + compile"] = {"channels_last": True, "bf16": True, "compiled": True}
    elif not smoke:  # a smoke run checks the script; compiling (tens of seconds on a CPU) is checked by the tests
        variants["ours, fp32 + compile"] = {"compiled": True}
    compile_seconds = None
    for label, options in variants.items():
        run = _step_runner(config, base, x, y, prior, epoch=epoch, **options)
        if options.get("compiled"):
            started = time.perf_counter()
            run()
            run()
            _sync(device)
            compile_seconds = round(time.perf_counter() - started, 1)
        rows[label] = _images_per_second(run, batch, device, steps)
    port = rows["port of the released step, fp32"]
    table = [{"step": k, "images_per_s": round(v, 1), "vs_port": round(v / port, 2)} for k, v in rows.items()]

    small = WideResNet(depth=10, widen_factor=1, num_classes=classes).to(device)
    small_x, small_y = x[: min(batch, 128)], y[: min(batch, 128)]
    ikl = _images_per_second(
        _step_runner(config, small, small_x, small_y, prior, epoch=epoch), len(small_y), device, steps
    )
    trades = _images_per_second(
        _step_runner(config, small, small_x, small_y, prior, epoch=epoch, method="trades"), len(small_y), device, steps
    )
    return {
        "model": f"WRN-{depth}-{width}",
        "batch": batch,
        "classes": classes,
        "epoch": epoch,
        "attack_steps": 5,
        "awp": True,
        "median_of": steps,
        "table": table,
        "compile_and_warmup_s": compile_seconds,
        "ikl_vs_trades_wrn10_1": {
            "ikl_images_per_s": round(ikl, 1),
            "trades_images_per_s": round(trades, 1),
            "ikl_step_time_over_trades": round(trades / ikl, 3),
        },
    }


def section_eval(device: torch.device, smoke: bool) -> dict:
    depth, width, batch = (10, 1, 32) if smoke else (34, 10, 500)
    torch.manual_seed(0)
    model = WideResNet(depth=depth, widen_factor=width, num_classes=10).to(device).eval()
    x = torch.rand(batch, 3, 32, 32, device=device)
    with torch.no_grad():
        y = model(x).argmax(1)  # every image correct: APGD-CE attacks all of them

    def clean() -> None:
        with torch.no_grad():
            model(x)

    adversary = make_adversary(model, eps=8 / 255, version="custom", attacks=["apgd-ce"], device=device)
    adversary.apgd.n_restarts = 1

    def apgd() -> None:
        adversary.apgd.loss = "ce"
        adversary.apgd.perturb(x, y)

    return {
        "model": f"WRN-{depth}-{width}",
        "batch": batch,
        "dtype": "float32",
        "clean_images_per_s": round(_images_per_second(clean, batch, device, 5), 1),
        "apgd_ce_images_per_s": round(_images_per_second(apgd, batch, device, 1 if smoke else 2, warmup=1), 1),
        "apgd_ce_iterations": adversary.apgd.n_iter,
    }


def section_predict(device: torch.device, smoke: bool) -> dict:
    depth, width = (10, 1) if smoke else (34, 10)
    torch.manual_seed(0)
    model = WideResNet(depth=depth, widen_factor=width, num_classes=10).to(device).eval()
    entry = dkl_zoo.model_info("ikl-at-cifar10-wrn34")
    laid_out = copy.deepcopy(model).to(memory_format=torch.channels_last)
    rows = []
    for batch in (1, 8 if smoke else 256):
        x = torch.rand(batch, 3, 32, 32, device=device)

        def plain(module: torch.nn.Module = model, x: torch.Tensor = x) -> None:
            with torch.inference_mode():
                torch.softmax(module(x), dim=1).topk(5, dim=1)

        def ours(x: torch.Tensor = x, batch: int = batch) -> None:
            dkl_zoo.predict(model, x, entry=entry, batch_size=batch, backend="torch", progress=False)

        steps = 3 if smoke else (50 if batch == 1 else 10)
        rates = {
            "plain_fp32": _images_per_second(plain, batch, device, steps),
            "plain_fp32_channels_last": _images_per_second(lambda: plain(laid_out), batch, device, steps),
            "predict_torch": _images_per_second(ours, batch, device, steps),
        }
        rows.append(
            {
                "batch": batch,
                **{k: round(v, 1) for k, v in rates.items()},
                "predict_vs_plain": round(rates["predict_torch"] / rates["plain_fp32"], 3),
                "channels_last_vs_plain": round(rates["plain_fp32_channels_last"] / rates["plain_fp32"], 3),
            }
        )
    return {"model": f"WRN-{depth}-{width}", "dtype": "float32", "table": rows}


def section_fmnist(device: torch.device, smoke: bool, data_dir: str) -> dict:
    n, batch = (20, 20) if smoke else (10_000, 2500)
    version = "custom" if smoke else "standard"
    attacks = ["apgd-ce"] if smoke else None
    started = time.perf_counter()
    result = dkl_zoo.evaluate(
        "ikl-at-fmnist-wrn10-1",
        n_examples=n,
        batch_size=batch,
        device=device,
        data_dir=data_dir,
        version=version,
        attacks=attacks,
        progress=False,
    )
    return {
        "n_examples": n,
        "batch": batch,
        "version": version,
        "clean_acc": result.clean_acc,
        "robust_acc": result.robust_acc,
        "robust_acc_after": result.robust_acc_after,
        "seconds": round(time.perf_counter() - started, 1),
    }


def section_trades(device: torch.device, smoke: bool, data_dir: str) -> dict:
    from training.train import Trainer

    steps, n_eval = (2, 8) if smoke else (3600, 1000)
    out: dict[str, Any] = {"steps": steps, "n_eval": n_eval}
    for name in ("ikl-at-fmnist-wrn10-1", "trades-fmnist-wrn10-1"):
        overrides = [
            f"data_dir={data_dir}",
            f"device={device}",
            "progress=false",
            "export=false",
            "final_eval.n_examples=0",
            "epochs=1",
            f"max_steps_per_epoch={steps}",
        ]
        config = load_config(ROOT / "training/configs" / f"{name}.yaml", overrides)
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            trainer = Trainer(config, Path(tmp) / "run")
            trainer.train()
            seconds = time.perf_counter() - started
            model = copy.deepcopy(trainer.net)
            model.load_state_dict(trainer.final_weights())
        model.eval()
        result = dkl_zoo.evaluate(
            model,
            dataset="fashion-mnist",
            eps=0.1,
            n_examples=n_eval,
            device=device,
            data_dir=data_dir,
            batch_size=250 if not smoke else 8,
            progress=False,
            version="custom" if smoke else "standard",
            attacks=["apgd-ce"] if smoke else None,
        )
        out[name] = {
            "train_seconds": round(seconds, 1),
            "clean_acc": result.clean_acc,
            "robust_acc": result.robust_acc,
            "robust_acc_after": result.robust_acc_after,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="gpu.json")
    parser.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--smoke", action="store_true", help="toy sizes: checks the script, measures nothing")
    args = parser.parse_args()
    sections = [s for s in args.sections.split(",") if s]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown sections {unknown}; known: {', '.join(SECTIONS)}")
    device = torch.device(args.device)
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__,
        "dkl_zoo": dkl_zoo.__version__,
        "smoke": args.smoke,
        "sections": {},
    }
    out = Path(args.out)
    for name in sections:
        started = time.perf_counter()
        print(f"[gpu.py] {name} ...", flush=True)
        if name == "step":
            result = section_step(device, args.smoke)
        elif name == "eval":
            result = section_eval(device, args.smoke)
        elif name == "predict":
            result = section_predict(device, args.smoke)
        elif name == "fmnist":
            result = section_fmnist(device, args.smoke, args.data_dir)
        else:
            result = section_trades(device, args.smoke, args.data_dir)
        result["section_seconds"] = round(time.perf_counter() - started, 1)
        report["sections"][name] = result
        out.write_text(json.dumps(report, indent=2) + "\n")  # kept even if a later section is cut off
        print(json.dumps({name: result}, indent=2), flush=True)


if __name__ == "__main__":
    main()
