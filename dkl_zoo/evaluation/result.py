"""The result of an evaluation: accuracies as fractions, and the counts, settings and library versions that make
it exact to merge and honest to publish."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["EvalResult", "library_versions"]


@dataclass
class EvalResult:
    """Accuracies are fractions in [0, 1]; counts make shard results exactly mergeable."""

    clean_acc: float
    robust_acc: float
    n_examples: int
    robust_acc_after: dict[str, float]
    eps: float
    threat_model: str
    version: str
    attacks: list[str]
    dataset: str
    seed: int
    batch_size: int
    seconds: float
    library_versions: dict[str, str]
    n_clean_correct: int
    n_robust: int
    robust_after_counts: dict[str, int]
    example_range: tuple[int, int]
    max_perturbation: float = 0.0
    model_name: str | None = None
    shard: tuple[int, int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """The result as JSON text; also written to ``path`` when given."""
        text = json.dumps(asdict(self), indent=2)
        if path is not None:
            from .._atomic import atomic_write_text

            atomic_write_text(path, text + "\n")
        return text

    @classmethod
    def from_json(cls, text_or_path: str | os.PathLike[str]) -> EvalResult:
        """A result written by ``to_json``, from its text or its file."""
        text = str(text_or_path)
        if not text.lstrip().startswith("{"):
            text = Path(text_or_path).read_text()
        data = json.loads(text)
        data["example_range"] = tuple(data["example_range"])
        data["shard"] = tuple(data["shard"]) if data.get("shard") else None
        return cls(**data)

    def summary(self) -> str:
        """Clean and robust accuracy, and robust accuracy after each attack, as printed by ``dkl-zoo eval``."""
        lines = [
            f"{self.model_name or 'model'} on {self.dataset}, first {self.n_examples} test images"
            + (f" (shard {self.shard[0]} of {self.shard[1]})" if self.shard else "")
            + f", {self.threat_model} eps {self.eps:.5f}, AutoAttack {self.version}"
        ]
        lines.append(f"  clean accuracy:  {100 * self.clean_acc:.2f}%")
        for attack, acc in self.robust_acc_after.items():
            lines.append(f"  after {attack:<8} {100 * acc:.2f}%")
        lines.append(f"  robust accuracy: {100 * self.robust_acc:.2f}%   ({self.seconds:.1f} s)")
        return "\n".join(lines)


def library_versions() -> dict[str, str]:
    """The releases that decided the numbers (torch, dkl-zoo, AutoAttack, robustbench), as a result records them."""
    import torch

    versions = {"torch": torch.__version__}
    for dist_name in ("dkl-zoo", "pyautoattack", "autoattack", "robustbench"):
        try:
            versions[dist_name] = metadata.version(dist_name)
        except metadata.PackageNotFoundError:
            pass
    return versions
