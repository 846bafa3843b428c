"""What a type checker must see of the public API (``dkl_zoo`` ships ``py.typed``): checked by mypy in CI.

Not run by pytest: every line is about types. ``assert_type`` fails the check when a signature degrades to
``Any`` or changes; the calls that must not type-check carry ``# type: ignore[...]`` with the error mypy must
report (``warn_unused_ignores`` turns a missing error into a failure).
"""

from __future__ import annotations

from pathlib import Path
from typing import assert_type

import torch
from torch import nn

import dkl_zoo
from dkl_zoo.registry import ModelEntry


def usage() -> None:
    model = dkl_zoo.load("ikl-at-fmnist-wrn10-1", device="cpu", dtype=torch.float32, verified_only=True)
    assert_type(model, nn.Module)
    assert_type(dkl_zoo.model_info("ikl-at-cifar10-wrn34"), ModelEntry)
    assert_type(dkl_zoo.list_models("*cifar100*"), list[str])
    result = dkl_zoo.evaluate(model, n_examples=10, version="custom", attacks=["apgd-ce"], seed=0)
    assert_type(result, dkl_zoo.EvalResult)
    assert_type(result.robust_acc, float)
    predictions = dkl_zoo.predict(model, Path("image.png"), top_k=3)
    assert_type(predictions, list[dkl_zoo.Prediction])
    assert_type(predictions[0].label, str)
    attacked = dkl_zoo.attack_image("ikl-at-fmnist-wrn10-1", Path("image.png"), eps=0.1, attack="pgd")
    assert_type(attacked, dkl_zoo.AttackResult)
    exported = dkl_zoo.export(model, "model.onnx", format="onnx")
    assert_type(exported.sha256, str)
    verification = dkl_zoo.verify(model, entry="ikl-at-fmnist-wrn10-1", time_limit=60.0, n_robust=0)
    assert_type(verification, dkl_zoo.Verification)
    assert_type(verification.verdict, str)
    assert_type(verification.to_json(), str)
    dkl_zoo.load("x", device="cpu", dtype=3.5)  # type: ignore[arg-type]
    dkl_zoo.evaluate(model, n_examples="all")  # type: ignore[arg-type]
