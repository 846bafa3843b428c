"""IKL-AT training: ``python -m training.train --config training/configs/<name>.yaml --out DIR [--resume] [k=v]``.

Multi-GPU: ``torchrun --nproc_per_node N -m training.train ...`` (DistributedDataParallel, one share of
every batch per process). Checkpoints are atomic and hold everything a bit-identical resume needs.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dkl_zoo._classes import predicted_classes
from dkl_zoo.errors import CheckpointError, DklZooError, InvalidArgumentError
from dkl_zoo.losses import ClassPrior
from dkl_zoo.models import build_architecture

from .checkpoint import CHECKPOINT, read_checkpoint, rng_state, save_checkpoint_file, set_rng_state
from .config import ConfigError, load_config
from .data import BatchStream, held_out_set, load_generated, load_split
from .ikl_at import AdversarialWeightPerturbation, EpochEMA, IKLATStep, StepEMA, cosine_lr
from .metrics import MetricsLog
from .run_lock import RunLock

__all__ = ["Trainer", "main", "pgd_accuracy"]

_DEVICE_METRICS = ("loss", "loss_natural", "loss_robust", "adv_acc")


def pgd_accuracy(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    steps: int,
    batch_size: int = 500,
    device: Any = "cpu",
) -> tuple[float, float]:
    """Clean and PGD-``steps`` (CE, random start, step 2.5·eps/steps) accuracy: a quick check, not AutoAttack."""
    model.eval()
    correct = int((predicted_classes(model, x, batch_size=batch_size, device=device) == y.cpu()).sum())
    robust = 0
    gen = torch.Generator().manual_seed(0)
    for start in range(0, len(y), batch_size):
        xb, yb = x[start : start + batch_size].to(device), y[start : start + batch_size].to(device)
        noise = (torch.rand(xb.shape, generator=gen) * 2 - 1).to(device) * eps
        x_adv = (xb + noise).clamp(0, 1)
        for _ in range(steps):
            x_adv.requires_grad_(True)
            loss = F.cross_entropy(model(x_adv), yb)
            (grad,) = torch.autograd.grad(loss, [x_adv])
            x_adv = torch.min(torch.max(x_adv.detach() + 2.5 * eps / steps * grad.sign(), xb - eps), xb + eps)
            x_adv = x_adv.clamp(0, 1)
        with torch.no_grad():
            robust += int((model(x_adv).argmax(1) == yb).sum())
    return correct / len(y), robust / len(y)


class Trainer:
    """One training run in ``out_dir``: set-up, the epoch loop with checkpoints, and the final export."""

    def __init__(self, config: dict, out_dir: str | Path, *, resume: bool = False) -> None:
        self.config = config
        self.device = self._device()  # a device this machine lacks is refused before the run folder is made
        self.out = Path(out_dir)
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as error:  # under a regular file, a read-only folder, a full disk: one line, no traceback
            reason = error.strerror or str(error)
            if isinstance(error, FileExistsError) or (isinstance(error, NotADirectoryError)):
                reason = "a file of that name is in the way (the run folder must be a folder)"
            raise ConfigError(f"--out {self.out}: cannot create the run folder: {reason}") from None
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.lock = RunLock(self.out) if self.rank == 0 else None  # before anything reads or writes the folder
        saved = self._read_resumable() if resume else None  # refuse a bad checkpoint before any slow work
        if self.world > 1:
            import torch.distributed as dist

            if not dist.is_initialized():
                dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        self._seed(config["seed"])
        self.data = load_split(config, train=True)
        self.generated = (
            load_generated(config["generated"]["path"], self.data.num_classes) if config["generated"]["path"] else None
        )
        self._build_networks()
        self._build_training_parts()
        self.epoch, self.step, self.global_step, self.seconds = 1, 0, 0, 0.0
        self.stream.new_epoch()
        if saved is not None:
            self._load_checkpoint(saved)
        elif (self.out / CHECKPOINT).exists():
            raise ConfigError(f"{self.out} already holds a run; pass --resume to continue it or choose another --out")
        self.metrics = MetricsLog(self.out, enabled=self.is_main)
        if self.is_main:
            (self.out / "config.json").write_text(json.dumps(config, indent=2, default=str) + "\n")
            self.metrics.trim(self.global_step)

    def _build_networks(self) -> None:
        """The network on its device (channels_last on CUDA when asked), AWP's proxy copy, and the DDP wrapper."""
        config = self.config
        in_channels = int(self.data.images.shape[1])
        self.net = self._build(self.data.num_classes, in_channels).to(self.device)
        if config["channels_last"] and self.device.type == "cuda":
            self.net = self.net.to(memory_format=torch.channels_last)
        self.proxy = copy.deepcopy(self.net)
        self.model: nn.Module = self.net
        if self.world > 1:
            if config["sync_bn"]:
                self.net = nn.SyncBatchNorm.convert_sync_batchnorm(self.net)
            self.model = nn.parallel.DistributedDataParallel(
                self.net, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        self.attack_net: nn.Module = self.net
        if config["compile"]:  # the same parameters, compiled; state dicts keep coming from self.net
            self.attack_net = torch.compile(self.net)
            if int(config["bn_replicas"]) <= 1:  # the DataParallel batch-norm emulation swaps buffers: eager
                self.model = self.attack_net if self.model is self.net else torch.compile(self.model)

    def _build_training_parts(self) -> None:
        """Optimiser, batch stream, schedule, class prior, AWP, EMAs and the IKL-AT step, as the config says."""
        config = self.config
        self.optimizer = self._optimizer()
        self.gen = torch.Generator().manual_seed(config["seed"])
        self.stream = BatchStream(
            self.data,
            config["batch_size"],
            self.gen,
            augment="flip" if config["dataset"] == "fashion-mnist" else "crop-flip",
            autoaug=config["aug"] == "autoaug",
            generated=self.generated,
            fraction=config["generated"]["fraction"],
            max_steps=config["max_steps_per_epoch"],
            rank=self.rank,
            world=self.world,
        )
        self.scheduler = self._scheduler()
        self.prior = ClassPrior(self.data.num_classes, config["temperature"], config["prior_momentum"]).to(self.device)
        awp = config["awp"]
        self.awp = (
            AdversarialWeightPerturbation(self.net, self.proxy, config["lr"], awp["gamma"])
            if awp["gamma"] > 0
            else None
        )
        self.epoch_ema = EpochEMA(config["epoch_ema"]["decay"]) if config["epoch_ema"]["enabled"] else None
        step_ema = config["step_ema"]
        self.step_ema = StepEMA(step_ema["tau"], step_ema["warmup"]) if step_ema["enabled"] else None
        autocast = (
            torch.autocast("cuda", dtype=torch.bfloat16)
            if config["amp"] == "bf16" and self.device.type == "cuda"
            else None
        )
        self.step_fn = IKLATStep(
            config, self.model, self.optimizer, self.prior, self.awp, autocast, attack_model=self.attack_net
        )

    # ---- set-up --------------------------------------------------------------------------------------
    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def _device(self) -> torch.device:
        from dkl_zoo._devices import checked_device

        try:
            return checked_device(self.config["device"], local_rank=int(os.environ.get("LOCAL_RANK", "0")))
        except InvalidArgumentError as error:
            raise ConfigError(str(error)) from None

    @staticmethod
    def _seed(seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)

    def _build(self, num_classes: int, in_channels: int) -> nn.Module:
        kwargs = dict(self.config["arch"])
        name = kwargs.pop("name")
        kwargs.setdefault("num_classes", num_classes)
        kwargs.setdefault("in_channels", in_channels)
        return build_architecture(name, **kwargs)

    def _optimizer(self) -> torch.optim.Optimizer:
        config = self.config
        decay, no_decay = [], []
        for module in self.net.modules():
            for param in module.parameters(recurse=False):
                is_norm = isinstance(module, nn.modules.batchnorm._BatchNorm)
                (no_decay if is_norm and not config["weight_decay_on_bn"] else decay).append(param)
        groups = [{"params": decay, "weight_decay": config["weight_decay"]}]
        if no_decay:
            groups.append({"params": no_decay, "weight_decay": 0.0})
        return torch.optim.SGD(groups, lr=config["lr"], momentum=config["momentum"], nesterov=config["nesterov"])

    def _scheduler(self) -> torch.optim.lr_scheduler.LRScheduler | None:
        if self.config["lr_schedule"] != "onecycle":
            return None
        total = self.config["epochs"] * len(self.stream)
        pct = float(self.config["lr_warmup"]) or 0.025
        return torch.optim.lr_scheduler.OneCycleLR(
            self.optimizer, max_lr=self.config["lr"], total_steps=total, pct_start=pct
        )

    # ---- checkpoints ---------------------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "epoch": self.epoch,
            "step": self.step,
            "global_step": self.global_step,
            "seconds": self.seconds,
            "model": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            "proxy_optimizer": self.awp.optimizer.state_dict() if self.awp else None,
            "prior": self.prior.state_dict(),
            "epoch_ema": self.epoch_ema.state_dict() if self.epoch_ema else None,
            "step_ema": self.step_ema.state_dict() if self.step_ema else None,
            "stream": self.stream.state_dict(),
            "rng": rng_state(),
            "config": self.config,
        }

    def save_checkpoint(self) -> None:
        if self.is_main:
            save_checkpoint_file(self.state(), self.out / CHECKPOINT)

    def _read_resumable(self) -> dict:
        state = read_checkpoint(self.out / CHECKPOINT)
        if state["config"] != self.config:
            keys = set(state["config"]) | set(self.config)
            changed = sorted(k for k in keys if state["config"].get(k) != self.config.get(k))
            raise ConfigError(
                f"--resume with a different config (changed: {', '.join(changed)}); use the same "
                "config and overrides as the interrupted run"
            )
        return state

    def _load_checkpoint(self, state: dict) -> None:
        path = self.out / CHECKPOINT
        try:
            self._apply_checkpoint(state)
        except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as error:
            first = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise CheckpointError(f"{path} does not fit this run ({first}); start a new run in another --out") from None

    def _apply_checkpoint(self, state: dict) -> None:
        self.net.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler and state["scheduler"]:
            self.scheduler.load_state_dict(state["scheduler"])
        if self.awp and state["proxy_optimizer"]:
            self.awp.optimizer.load_state_dict(state["proxy_optimizer"])
        self.prior.load_state_dict(state["prior"])
        if self.epoch_ema and state["epoch_ema"]:
            self.epoch_ema.load_state_dict(state["epoch_ema"])
        if self.step_ema and state["step_ema"]:
            self.step_ema.load_state_dict(state["step_ema"])
        self.stream.load_state_dict(state["stream"])
        set_rng_state(state["rng"])
        self.epoch, self.step = state["epoch"], state["step"]
        self.global_step, self.seconds = state["global_step"], state["seconds"]

    # ---- training ------------------------------------------------------------------------------------
    def _set_lr(self) -> float:
        if self.config["lr_schedule"] == "cosine-epoch":
            lr = cosine_lr(self.config, self.epoch)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
        return self.optimizer.param_groups[0]["lr"]

    def train(self) -> dict:
        from tqdm.auto import tqdm

        config = self.config
        every = config["checkpoint_every_steps"]
        while self.epoch <= config["epochs"]:
            started = time.monotonic()
            lr = self._set_lr()
            bar = tqdm(
                total=len(self.stream),
                initial=self.step,
                desc=f"epoch {self.epoch}/{config['epochs']}",
                disable=not (config["progress"] and self.is_main),
                leave=False,
                dynamic_ncols=True,
            )
            pending: list[dict] = []
            while self.step < len(self.stream):
                x, y = self.stream.batch(self.step)
                x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
                if config["channels_last"] and self.device.type == "cuda":
                    x = x.contiguous(memory_format=torch.channels_last)
                metrics = self.step_fn(x, y, self.epoch)
                lr = self.optimizer.param_groups[0]["lr"]
                if self.scheduler is not None:
                    self.scheduler.step()
                if self.step_ema is not None and self.epoch >= config["step_ema"]["start_epoch"]:
                    self.step_ema.update(self.net)
                self.step += 1
                self.global_step += 1
                self.seconds += time.monotonic() - started
                started = time.monotonic()
                pending.append(
                    {
                        **metrics,
                        "epoch": self.epoch,
                        "step": self.step,
                        "global_step": self.global_step,
                        "lr": lr,
                        "seconds": round(self.seconds, 3),
                    }
                )
                checkpoint = every and self.global_step % every == 0 and self.step < len(self.stream)
                if checkpoint or len(pending) >= config["log_every_steps"] or self.step == len(self.stream):
                    self._write_metrics(pending, bar)
                if checkpoint:
                    self.save_checkpoint()
            bar.close()
            self.prior.step_epoch()
            if self.epoch_ema is not None:
                self.epoch_ema.update(self.net)
            self.epoch += 1
            self.step = 0
            self.stream.new_epoch()
            self.save_checkpoint()
        return self.finish()

    def _write_metrics(self, pending: list[dict], bar: Any) -> None:
        """The rows of the steps since the last write: their device values read in one transfer (one sync)."""
        values = torch.stack([torch.stack([row[k].float() for k in _DEVICE_METRICS]) for row in pending]).tolist()
        for row, numbers in zip(pending, values):
            self.metrics.append({**row, **dict(zip(_DEVICE_METRICS, numbers))})
        last = dict(zip(_DEVICE_METRICS, values[-1]))
        bar.set_postfix(loss=f"{last['loss']:.3f}", adv_acc=f"{last['adv_acc']:.2f}")
        bar.update(len(pending))
        pending.clear()

    def final_weights(self) -> dict[str, torch.Tensor]:
        """What the release published: the per-epoch EMA when enabled, else the step EMA, else the raw model."""
        for ema in (self.epoch_ema, self.step_ema):
            if ema is not None and ema.state is not None:
                return ema.state
        return self.net.state_dict()

    def finish(self) -> dict:
        summary: dict[str, Any] = {
            "epochs": self.config["epochs"],
            "steps": self.global_step,
            "train_seconds": round(self.seconds, 1),
        }
        if not self.is_main:
            return summary
        evaluation = self.config["final_eval"]
        if evaluation["n_examples"] > 0:
            x, y = held_out_set(self.config, evaluation["n_examples"])
            for label, weights in (("model", self.net.state_dict()), ("released_weights", self.final_weights())):
                model = copy.deepcopy(self.net)
                model.load_state_dict(weights)
                clean, robust = pgd_accuracy(
                    model, x, y, self.config["eps"], evaluation["pgd_steps"], evaluation["batch_size"], self.device
                )
                summary[label] = {"clean_acc": clean, f"pgd{evaluation['pgd_steps']}_acc": robust, "n_examples": len(y)}
        final = self.out / "final.pt"
        save_checkpoint_file({k: v.detach().cpu() for k, v in self.final_weights().items()}, final)
        summary["final_weights"] = str(final)
        name = self.config["name"]
        if self.config["export"] and name:
            from dkl_zoo.original.convert import write_repo_folder
            from dkl_zoo.registry import REGISTRY

            if name in REGISTRY:
                folder = write_repo_folder(REGISTRY[name], self.final_weights(), self.out / "hub_repo")
                summary["hub_repo"] = str(folder)
        (self.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        self.metrics.close()
        return summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="training/configs/<name>.yaml")
    parser.add_argument("--out", required=True, help="run folder (checkpoint, metrics.csv, final weights)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument("overrides", nargs="*", help="key=value, e.g. epochs=10 awp.gamma=0")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config, args.overrides)
        trainer = Trainer(config, args.out, resume=args.resume)
    except DklZooError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    summary = trainer.train()
    if trainer.lock is not None:
        trainer.lock.release()
    if trainer.is_main:
        print(json.dumps(summary, indent=2))
    _leave_process_group()
    return 0


def _leave_process_group() -> None:
    """Under torchrun: wait until rank 0 has written the run's files, then close the group on every rank
    (a rank that exits while the others still use the group can abort them)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    raise SystemExit(main())
