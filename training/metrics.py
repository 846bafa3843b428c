"""The training log: ``metrics.csv`` (and TensorBoard when it is installed), kept consistent across resumes."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

__all__ = ["METRICS", "COLUMNS", "MetricsLog"]

METRICS = "metrics.csv"
COLUMNS = ["epoch", "step", "global_step", "lr", "loss", "loss_natural", "loss_robust", "adv_acc", "eps", "seconds"]
_SCALARS = ("loss", "loss_natural", "loss_robust", "adv_acc", "lr", "eps")


class MetricsLog:
    """Rows of ``COLUMNS`` appended to ``out/metrics.csv``; only the main process writes."""

    def __init__(self, out: Path, *, enabled: bool) -> None:
        self.path = out / METRICS
        self.enabled = enabled
        self.tensorboard = self._tensorboard(out) if enabled else None

    @staticmethod
    def _tensorboard(out: Path) -> Any:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            return None
        return SummaryWriter(str(out / "tensorboard"))

    def trim(self, global_step: int) -> None:
        """Drop rows written after the checkpoint a resumed run starts from."""
        if not self.enabled or not self.path.exists():
            return
        with open(self.path) as handle:
            rows = [r for r in csv.DictReader(handle) if int(r["global_step"]) <= global_step]
        with open(self.path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)

    def append(self, row: dict) -> None:
        """One row (keys of ``COLUMNS``; others ignored), and its scalars to TensorBoard."""
        if not self.enabled:
            return
        new = not self.path.exists()
        with open(self.path, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            if new:
                writer.writeheader()
            writer.writerow({k: row.get(k) for k in COLUMNS})
        if self.tensorboard is not None:
            for key in _SCALARS:
                self.tensorboard.add_scalar(f"train/{key}", row[key], row["global_step"])

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()
