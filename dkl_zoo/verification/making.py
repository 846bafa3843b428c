"""Making a reference record from a finished ``dkl-zoo eval --state`` run: the attacks are not run again. The run's
state file holds its protocol and per-example flags, and names the weights and the images it ran on (their
sha256). A forward pass adds the fingerprint logits and the clean flags of the whole test set.

The maintainers run, per entry (hours on a GPU for a CIFAR model, once)::

    dkl-zoo eval NAME --n-examples 1000 --state NAME.state.json
    dkl-zoo reference NAME --state NAME.state.json --out reference.safetensors

and ``dkl-zoo release NAME --reference reference.safetensors`` publishes it beside the weights and pins its sha256.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import torch
from torch import nn

from ..errors import EvaluationStateError, InvalidArgumentError
from ..registry import ModelEntry
from .reference import Protocol, Reference

__all__ = ["FINGERPRINT_IMAGES", "make_reference"]

FINGERPRINT_IMAGES = 256
"""K: the test images whose logits are the behaviour fingerprint."""


def make_reference(
    model_or_name: nn.Module | str | ModelEntry,
    state_path: str | os.PathLike[str],
    *,
    entry: str | ModelEntry | None = None,
    data_dir: str | os.PathLike[str] = "./data",
    n_clean: int | None = None,
    n_fingerprint: int = FINGERPRINT_IMAGES,
    device: str | torch.device | None = None,
    command: str = "",
) -> Reference:
    """The reference record of a model from its finished evaluation state (``state_path``), its fingerprint logits
    on the first ``n_fingerprint`` test images and its clean flags on the first ``n_clean`` (default: all).

    Raises:
        EvaluationStateError: the state is not finished, not of this model's weights or not of these images, or
            its clean flags differ from the model's (it is not deterministic here).
        InvalidArgumentError: a bad argument; a model without verified weights (no sha256 to record).
    """
    from .._arguments import checked_count
    from .._classes import predicted_classes
    from .._resolve import resolve_model
    from ..data import load_test_set
    from ..evaluation.result import library_versions
    from ..evaluation.state import RunState, fingerprint, model_fingerprint
    from ..loading import weights_sha256_of

    n_fingerprint = checked_count(n_fingerprint, "n_fingerprint", 1)
    path = Path(state_path)
    if not path.is_file():
        raise InvalidArgumentError(
            f"{path}: no such state file (evaluate the model with state_path={str(path)!r} first)"
        )
    state = RunState.load(path)
    config = state.config
    if not state.finished or state.flags is None or state.clean_flags is None:
        raise EvaluationStateError(
            f"{path} is an evaluation that has not finished: run the same `dkl-zoo eval` again to complete it"
        )
    if list(config.get("range", [0, 0]))[0] != 0 or int(config.get("world", 1)) != 1:
        raise EvaluationStateError(
            f"{path} is one shard of an evaluation; a reference needs the first n images evaluated by one process"
        )
    model, known, target = resolve_model(model_or_name, entry=entry, device=device)
    sha256 = weights_sha256_of(model)
    if sha256 is None:
        raise InvalidArgumentError(
            "the model's weights are not from a verified file (no sha256 to record): load it "
            "with dkl_zoo.load, or with weights_file= for a checkpoint of yours"
        )
    if model_fingerprint(model) != config.get("model_sha256"):
        raise EvaluationStateError(f"{path} was evaluated with other weights than {known.name}'s")
    n = int(config["n"])
    total = n_clean if n_clean is not None else None
    x, y = load_test_set(str(config["dataset"]), total, data_dir)
    if len(y) < max(n, n_fingerprint):
        raise InvalidArgumentError(
            f"n_clean={n_clean} is fewer than the {max(n, n_fingerprint)} images the record needs"
        )
    if fingerprint(x[:n], y[:n]) != config.get("data_sha256"):
        raise EvaluationStateError(
            f"{path} was evaluated on other images than the first {n} of {config['dataset']} under {data_dir}"
        )
    if model.training:
        raise InvalidArgumentError(
            "the model is in training mode: a reference is made from the eval-mode model (model.eval())"
        )
    classes = predicted_classes(model, x, batch_size=250, device=target)
    clean = classes == y
    stored = torch.tensor(state.clean_flags, dtype=torch.bool)
    if not torch.equal(clean[:n], stored):
        raise EvaluationStateError(
            f"{known.name}'s clean answers here differ from those in {path} on "
            f"{int((clean[:n] != stored).sum())} images: not the same model or pipeline"
        )
    with torch.no_grad():
        logits = torch.cat([model(x[s : s + 250].to(target)).float().cpu() for s in range(0, n_fingerprint, 250)])
    protocol = Protocol(
        eps=float(config["eps"]),
        norm=str(config["norm"]),
        version=str(config["version"]),
        attacks=tuple(config["attacks"]),
        seed=int(config["seed"]),
        n_examples=n,
        batch_size=int(config["batch_size"]),
        dataset=str(config["dataset"]),
    )
    environment = {
        **library_versions(),
        "device": str(target),
        "threads": str(torch.get_num_threads()),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "attack_run_seconds": f"{state.seconds:.0f}",
    }
    attacks = f" --attacks {' '.join(protocol.attacks)}" if protocol.version == "custom" else ""
    evaluation = (
        f"dkl-zoo eval {known.name} --n-examples {n} --batch-size {protocol.batch_size} --seed "
        f"{protocol.seed} --eps {protocol.eps:.10g} --threat-model {protocol.norm} --version "
        f"{protocol.version}{attacks} --state {path.name}"
    )
    return Reference(
        entry=known.name,
        weights_sha256=sha256,
        dataset=protocol.dataset,
        protocol=protocol,
        fingerprint_logits=logits[:n_fingerprint],
        clean_correct=clean,
        robust_correct=torch.tensor(state.flags, dtype=torch.bool),
        environment=environment,
        command=f"{evaluation}; then {command or ' '.join(sys.argv)}",
        made_by="dkl-zoo reference",
        data_sha256=str(config.get("data_sha256", "")),
    )
