"""``dkl_zoo.predict``: a user's images (files, folders, PIL images, arrays, tensors) → class names with
probabilities. The module is not named after the function, so the two cannot shadow each other.

Files stream through a ``DataLoader`` one batch at a time, so a folder of 100,000 images never sits in memory
whole; every image goes through its entry's ``transforms()`` and every batch through the checks of
``dkl_zoo._inputs`` (a 0–255 or normalised tensor is refused, not predicted wrongly).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ._arguments import checked_bool, checked_count
from ._inputs import check_logits, checked_images
from ._resolve import resolve_model
from .errors import ImageReadError, InvalidArgumentError
from .registry import ModelEntry

__all__ = ["Prediction", "TopKForward", "predict", "predict_iter"]


@dataclass(frozen=True)
class Prediction:
    """The model's answer for one image: the top class (``index``, ``label``, ``probability``) and the ``top_k``
    classes as (label, probability) pairs, most probable first. ``source`` is the file, when there was one."""

    index: int
    label: str
    probability: float
    top_k: tuple[tuple[str, float], ...]
    top_k_indices: tuple[int, ...]
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``dkl-zoo predict --format json``."""
        return {
            "path": self.source,
            "index": self.index,
            "label": self.label,
            "probability": self.probability,
            "top_k": [
                {"index": i, "label": label, "probability": p} for i, (label, p) in zip(self.top_k_indices, self.top_k)
            ],
        }

    def __str__(self) -> str:
        return f"{self.label} ({100 * self.probability:.1f} %)"


class _Items(torch.utils.data.Dataset):
    """Images to predict, read and transformed on access (in a DataLoader worker when there are workers)."""

    def __init__(self, items: Sequence[Any], transform: Any) -> None:
        self.items, self.transform = items, transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor | None, ImageReadError | None]:
        item = self.items[index]
        try:
            return index, self.transform(item), None
        except ImageReadError as error:
            return index, None, error
        except InvalidArgumentError as error:
            if not isinstance(item, (str, os.PathLike)):
                raise  # the caller's own object: its mistake is said at once
            return index, None, ImageReadError(str(item), str(error))  # one bad file does not sink a folder


def _collate(
    batch: list[tuple[int, torch.Tensor | None, ImageReadError | None]],
) -> tuple[list[int], torch.Tensor | None, dict[int, ImageReadError]]:
    """The readable images stacked into one tensor where they were read (one transfer from a worker, not one
    per image), with their positions, and the files that could not be read."""
    good = [(i, x) for i, x, error in batch if error is None]
    stacked = torch.stack([x for _, x in good]) if good else None  # type: ignore[misc]
    return [i for i, _ in good], stacked, {i: error for i, _, error in batch if error is not None}


def _source(item: Any) -> str | None:
    return str(item) if isinstance(item, (str, os.PathLike)) else None


def _expand(inputs: Any) -> tuple[list[Any], torch.Tensor | None]:
    """(single images or paths to read one by one, or None) and (a ready N×C×H×W batch, or None)."""
    from ._images import iter_image_files

    if isinstance(inputs, torch.Tensor) and inputs.dim() == 4:
        return [], inputs
    if isinstance(inputs, torch.Tensor) and inputs.dim() not in (2, 3):
        raise InvalidArgumentError(
            f"a tensor input must be an N×C×H×W batch or one C×H×W image, got shape {tuple(inputs.shape)}"
        )
    singles = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    if not singles:
        raise InvalidArgumentError("no inputs given: pass an image, a path, a folder, a list of them or a tensor batch")
    items: list[Any] = []
    for item in singles:
        if isinstance(item, (str, os.PathLike)):
            found = list(iter_image_files([item]))
            if not found and Path(item).is_dir():
                raise InvalidArgumentError(
                    f"{item} holds no image files (looked for "
                    "*.png, *.jpg, *.jpeg, *.bmp, *.gif, *.webp, *.tif, *.tiff, ... recursively)"
                )
            items.extend(found)
        elif isinstance(item, torch.Tensor) and item.dim() == 4:
            raise InvalidArgumentError("a list may hold single images, not N×C×H×W batches: pass the batch by itself")
        else:
            items.append(item)
    return items, None


def predict_iter(
    model_or_name: nn.Module | str | ModelEntry,
    inputs: Any,
    *,
    top_k: int = 5,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    workers: int = 0,
    progress: bool = True,
    entry: str | ModelEntry | None = None,
    backend: str = "auto",
) -> Iterator[Prediction | ImageReadError]:
    """Like ``predict``, one result at a time in input order; a file that cannot be read is yielded as its
    ``ImageReadError`` (not raised), and the others are still predicted: what ``dkl-zoo predict`` streams."""
    top_k = checked_count(top_k, "top_k", 1)
    batch_size = checked_count(batch_size, "batch_size", 1)
    workers = checked_count(workers, "workers", 0)
    progress = checked_bool(progress, "progress")
    _check_backend(backend)
    items, batch = _expand(inputs)  # paths are checked before any model is loaded
    model, known, target = resolve_model(model_or_name, entry=entry, device=device)
    channels, height, width = known.arch.input_size
    categories = known.categories
    k = min(top_k, len(categories))
    from ._model_fit import model_dtype

    dtype = model_dtype(model)
    forward = _forward_of(model, known, target, backend, dtype, share_cores=batch is None and workers > 0)
    run = TopKForward(model, target, categories, k, known.name, forward=forward, dtype=dtype)
    if batch is not None:
        x = checked_images(batch, channels=channels, size=(height, width), allow_uint8=True)
        for start in range(0, len(x), batch_size):
            yield from run(x[start : start + batch_size], [None] * len(x[start : start + batch_size]))
        return
    dataset = _Items(items, known.transforms())
    if workers == 0:  # read here, batch by batch: a DataLoader costs about 1 ms per call for nothing
        loader: Iterable[Any] = (
            _collate([dataset[i] for i in range(start, min(start + batch_size, len(items)))])
            for start in range(0, len(items), batch_size)
        )
    else:  # the workers decode and stack their own batches
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=batch_size, num_workers=workers, collate_fn=_collate, shuffle=False
        )
    bar = _progress_bar(len(items), known.name, progress and len(items) > batch_size)
    try:
        for positions, xb, errors in loader:
            answers: dict[int, Prediction | ImageReadError] = dict(errors)
            if xb is not None:
                answers.update(zip(positions, run(xb, [_source(items[i]) for i in positions])))
            for i in sorted(answers):
                yield answers[i]
            if bar is not None:
                bar.update(len(answers))
    finally:
        if bar is not None:
            bar.close()


def _progress_bar(total: int, name: str, shown: bool) -> Any:
    """A bar for runs of more than one batch (it appears after a second); none for one batch, where making it
    would cost more than onnxruntime's forward pass."""
    if not shown:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="img", desc=f"predict {name}", delay=1.0, leave=False, dynamic_ncols=True)


def _check_backend(backend: Any) -> None:
    from ._choices import PREDICTION_BACKENDS
    from ._onnx_cache import require_runtime

    if not isinstance(backend, str) or backend not in PREDICTION_BACKENDS:
        known = ", ".join(map(repr, PREDICTION_BACKENDS))
        raise InvalidArgumentError(f"backend must be one of {known}, got {backend!r}")
    if backend == "onnxruntime":
        require_runtime()  # said before any model is loaded


def _forward_of(
    model: nn.Module,
    entry: ModelEntry,
    device: torch.device,
    backend: str,
    dtype: torch.dtype,
    *,
    share_cores: bool = False,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """What computes the logits: the model, or onnxruntime over its cached, checked export (the same answers)."""
    from ._model_fit import has_training_layers

    if backend == "torch":
        return model
    explicit = backend == "onnxruntime"
    if device.type != "cpu":
        if explicit:
            raise InvalidArgumentError(
                f"backend='onnxruntime' runs on the CPU, not on {device}: use device='cpu', "
                "or backend='torch' on an accelerator"
            )
        return model
    if dtype != torch.float32 or has_training_layers(model):
        if explicit:
            raise InvalidArgumentError(
                "backend='onnxruntime' runs the float32 eval-mode model: call model.float() "
                "and model.eval(), or use backend='torch'"
            )
        return model
    from ._onnx_cache import onnx_forward

    fast = onnx_forward(model, entry, backend, share_cores=share_cores)
    return fast if fast is not None else model


class TopKForward:
    """One batch through the model: logits checked, softmax, top-k with names (``predict``'s and
    ``attack_image``'s answers, computed one way)."""

    def __init__(
        self,
        model: nn.Module,
        device: torch.device,
        categories: Sequence[str],
        k: int,
        name: str,
        *,
        forward: Callable[[torch.Tensor], torch.Tensor] | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        from ._model_fit import model_dtype

        self.model, self.device, self.categories, self.k, self.name = model, device, categories, k, name
        self.forward = forward if forward is not None else model
        self.dtype = dtype if dtype is not None else model_dtype(model)

    def __call__(self, x: torch.Tensor, sources: Sequence[str | None]) -> Iterator[Prediction]:
        with torch.inference_mode():
            logits = self.forward(x.to(device=self.device, dtype=self.dtype))  # any float batch, in the model's dtype
        check_logits(logits, num_classes=len(self.categories), classes_of=self.name, hint=": a model of another entry?")
        probabilities = torch.softmax(logits.float(), dim=1).cpu()
        values, indices = probabilities.topk(self.k, dim=1)
        for row_values, row_indices, source in zip(values.tolist(), indices.tolist(), sources):
            yield Prediction(
                index=row_indices[0],
                label=self.categories[row_indices[0]],
                probability=row_values[0],
                top_k=tuple((self.categories[i], p) for i, p in zip(row_indices, row_values)),
                top_k_indices=tuple(row_indices),
                source=source,
            )


def predict(
    model_or_name: nn.Module | str | ModelEntry,
    inputs: Any,
    *,
    top_k: int = 5,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    workers: int = 0,
    progress: bool = True,
    entry: str | ModelEntry | None = None,
    backend: str = "auto",
) -> list[Prediction]:
    """Class names and probabilities for a user's images: one ``Prediction`` per input image, in order.

    ``model_or_name``: a registry name (loaded and verified), a model from ``dkl_zoo.load`` (it knows its entry),
    or any model with an entry's architecture together with ``entry=<name>``. ``inputs``: an image (PIL image,
    path, uint8 H×W×C array, C×H×W tensor), a folder (its image files, recursively, in sorted order), a list
    of these, or an N×C×H×W tensor batch (float in [0, 1] or uint8, at the entry's size and channels). Images
    and files go through the entry's ``transforms()``; a batch is used as it is. ``top_k`` classes per image
    (at most the number of classes), ``batch_size`` images per forward pass, ``device`` (default: where the
    model is; a registry name loads on the CPU), ``workers`` DataLoader processes reading files,
    ``progress`` a progress bar on runs longer than a second. ``backend``: "auto" (default) computes on the CPU
    through onnxruntime when the ``export`` extra is installed, over the model's ONNX export (made once per
    verified weights by ``dkl_zoo.export``, checked against PyTorch, cached; the same top-1, probabilities within
    1e-4), and with PyTorch otherwise, on accelerators, and for weights changed after ``load``; "torch" or
    "onnxruntime" choose one. A registry name is loaded again on every call: call ``load`` once for repeated
    calls.

    Raises:
        InvalidArgumentError: a batch outside [0, 1] (e.g. 0–255 floats or normalised images) or of the wrong
            shape or channel count, a path that does not exist, a model without an entry, a bad argument.
        ImageReadError: a file that cannot be read as an image (``predict_iter`` reports it and goes on).
        ModelOutputError: the model returns something that is not finite logits for the entry's classes.
        MissingDependencyError: ``backend="onnxruntime"`` without the ``export`` extra.
        CacheError: ``backend="onnxruntime"`` and the cache cannot hold the export (``auto`` uses PyTorch then).
    """
    results = []
    for result in predict_iter(
        model_or_name,
        inputs,
        top_k=top_k,
        batch_size=batch_size,
        device=device,
        workers=workers,
        progress=progress,
        entry=entry,
        backend=backend,
    ):
        if isinstance(result, ImageReadError):
            raise result
        results.append(result)
    return results
