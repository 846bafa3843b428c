"""Reference records: what the reference model does under its entry's protocol, stored as safetensors tensors
with a JSON header (no pickle), so a user's model can be checked against it in minutes instead of hours.

A record holds
- ``fingerprint_logits``: the logits of the first K test images (K×C float32), the behaviour fingerprint;
- ``clean_correct``: per-example clean-correct flags on the first N test images (uint8);
- ``robust_correct``: per-example flags of the reference AutoAttack run on the first M test images (uint8),
  with its exact protocol (eps as a fraction, norm, version, attacks, seed, n, batch size), the environment it
  ran in and the command that made it, in the header (``__metadata__["dkl_zoo.reference"]``).

A record is made from a finished ``dkl-zoo eval --state`` run (the attacks are not run again) plus one forward pass
over the clean images; see ``make_reference`` and ``dkl-zoo reference``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import InvalidArgumentError

__all__ = ["FORMAT", "Protocol", "Reference", "read_reference", "write_reference"]

FORMAT = 1
_KEY = "dkl_zoo.reference"
_TENSORS = ("fingerprint_logits", "clean_correct", "robust_correct")


@dataclass(frozen=True)
class Protocol:
    """The reference AutoAttack run: what ``dkl-zoo eval`` was asked, exactly."""

    eps: float
    norm: str
    version: str
    attacks: tuple[str, ...]
    seed: int
    n_examples: int
    batch_size: int
    dataset: str

    def describe(self) -> str:
        return (
            f"AutoAttack {self.version} ({', '.join(self.attacks)}), {self.norm} eps {self.eps:.6g} "
            f"({self.eps * 255:.4g}/255), seed {self.seed}, first {self.n_examples} {self.dataset} test images, "
            f"batch {self.batch_size}"
        )


@dataclass(frozen=True)
class Reference:
    """One entry's reference record (see the module's docstring)."""

    entry: str
    weights_sha256: str
    dataset: str
    protocol: Protocol
    fingerprint_logits: torch.Tensor = field(repr=False)
    clean_correct: torch.Tensor = field(repr=False)
    robust_correct: torch.Tensor = field(repr=False)
    environment: dict[str, str] = field(default_factory=dict)
    command: str = ""
    made_by: str = ""
    data_sha256: str = ""
    """sha256 of the first ``protocol.n_examples`` test images and labels as ``dkl_zoo.evaluation`` hashes them."""

    @property
    def clean_accuracy(self) -> float:
        return float(self.clean_correct.float().mean())

    @property
    def robust_accuracy(self) -> float:
        return float(self.robust_correct.float().mean())

    def header(self) -> dict[str, Any]:
        """The JSON header (everything but the tensors)."""
        return {
            "format": FORMAT,
            "entry": self.entry,
            "weights_sha256": self.weights_sha256,
            "dataset": self.dataset,
            "protocol": {**asdict(self.protocol), "attacks": list(self.protocol.attacks)},
            "environment": self.environment,
            "command": self.command,
            "made_by": self.made_by,
            "data_sha256": self.data_sha256,
            "counts": {
                "fingerprint": int(self.fingerprint_logits.shape[0]),
                "clean": int(self.clean_correct.numel()),
                "robust": int(self.robust_correct.numel()),
            },
            "accuracy": {"clean": self.clean_accuracy, "robust": self.robust_accuracy},
        }


def write_reference(reference: Reference, path: str | os.PathLike[str]) -> Path:
    """``reference`` as a safetensors file at ``path``, written whole."""
    from safetensors.torch import save

    from .._atomic import atomic_write

    tensors = {
        "fingerprint_logits": reference.fingerprint_logits.detach().cpu().float().contiguous(),
        "clean_correct": reference.clean_correct.detach().cpu().to(torch.uint8).contiguous(),
        "robust_correct": reference.robust_correct.detach().cpu().to(torch.uint8).contiguous(),
    }
    data = save(tensors, metadata={_KEY: json.dumps(reference.header(), sort_keys=True)})
    atomic_write(path, lambda out: out.write(data))
    return Path(path)


def read_reference(path: str | os.PathLike[str]) -> Reference:
    """The record in ``path`` (a safetensors file, never unpickled), its shape and header checked.

    Raises:
        InvalidArgumentError: the file is not a dkl_zoo reference record (named, with what is wrong).
    """
    from safetensors import SafetensorError, safe_open

    where = str(path)
    try:
        with safe_open(where, framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError) as error:
        raise InvalidArgumentError(f"{where} is not a reference record (not safetensors: {error})") from None
    try:
        header = json.loads(metadata[_KEY])
        protocol = header["protocol"]
        reference = Reference(
            entry=str(header["entry"]),
            weights_sha256=str(header["weights_sha256"]),
            dataset=str(header["dataset"]),
            protocol=Protocol(
                eps=float(protocol["eps"]),
                norm=str(protocol["norm"]),
                version=str(protocol["version"]),
                attacks=tuple(map(str, protocol["attacks"])),
                seed=int(protocol["seed"]),
                n_examples=int(protocol["n_examples"]),
                batch_size=int(protocol["batch_size"]),
                dataset=str(protocol["dataset"]),
            ),
            fingerprint_logits=tensors["fingerprint_logits"],
            clean_correct=tensors["clean_correct"].bool(),
            robust_correct=tensors["robust_correct"].bool(),
            environment=dict(header.get("environment", {})),
            command=str(header.get("command", "")),
            made_by=str(header.get("made_by", "")),
            data_sha256=str(header.get("data_sha256", "")),
        )
        format_ok = header.get("format") == FORMAT
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidArgumentError(f"{where} is not a dkl_zoo reference record (its header lacks {error})") from None
    problems = [] if format_ok else [f"format {header.get('format')!r}, this dkl_zoo reads {FORMAT}"]
    logits = reference.fingerprint_logits
    if logits.dim() != 2 or logits.dtype != torch.float32 or not bool(torch.isfinite(logits).all()):
        problems.append("fingerprint_logits must be finite K×C float32")
    if reference.robust_correct.numel() != reference.protocol.n_examples:
        problems.append("robust_correct must hold one flag per attacked image")
    if reference.clean_correct.numel() < reference.robust_correct.numel():
        problems.append("clean_correct must cover at least the attacked images")
    if bool((reference.robust_correct & ~reference.clean_correct[: reference.robust_correct.numel()]).any()):
        problems.append("an image is robust but not clean-correct")
    if problems:
        raise InvalidArgumentError(f"{where} is not a consistent reference record: {'; '.join(problems)}")
    return reference
