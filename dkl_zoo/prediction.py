"""``dkl_zoo.predict``: a user's images (files, folders, PIL images, arrays, tensors) → class names with
probabilities. The module is not named after the function, so the two cannot shadow each other.

Files stream through a ``DataLoader`` one batch at a time, so a folder of 100,000 images never sits in memory
whole; every image goes through its entry's ``transforms()`` and every batch through the checks of
``dkl_zoo._inputs`` (a 0–255 or normalised tensor is refused, not predicted wrongly).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import nn

from ._arguments import checked_bool, checked_count
from ._devices import checked_device
from .errors import ImageReadError, InvalidArgumentError, ModelOutputError
from ._inputs import check_logits, checked_images
from .registry import ModelEntry, get_entry

__all__ = ["Prediction", "TopKForward", "predict", "predict_iter", "resolve_model", "predicted_classes"]


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
        return {"path": self.source, "index": self.index, "label": self.label, "probability": self.probability,
                "top_k": [{"index": i, "label": label, "probability": p}
                          for i, (label, p) in zip(self.top_k_indices, self.top_k)]}

    def __str__(self) -> str:
        return f"{self.label} ({100 * self.probability:.1f} %)"


def resolve_model(model_or_name: nn.Module | str | ModelEntry, *, entry: str | ModelEntry | None = None,
                  device: str | torch.device | None = None,
                  warn_training: bool = True) -> tuple[nn.Module, ModelEntry, torch.device]:
    """The model, its entry and the device to run on: a name is loaded (verified); a model from ``load``
    knows its entry; any other model needs ``entry=`` (class names, input size) and is checked to fit it.
    The caller's model is never changed: given another ``device`` than its own, a copy runs there, as does a model
    in training mode (each forward pass would move its batch-norm statistics); otherwise it runs where it is."""
    import copy

    from ._model_fit import check_model_fits, has_training_layers
    from .loading import entry_of, load

    if isinstance(model_or_name, (str, ModelEntry)):
        if entry is not None:
            raise InvalidArgumentError("entry=... is for a model object; a registry name already names its entry")
        target = checked_device(device if device is not None else "cpu")
        model = load(model_or_name, device=target)
        return model, entry_of(model) or (get_entry(model_or_name) if isinstance(model_or_name, str)
                                          else model_or_name), target
    if not isinstance(model_or_name, nn.Module):
        raise InvalidArgumentError(f"model_or_name must be a registry name, a ModelEntry or a torch nn.Module, got "
                                   f"{type(model_or_name).__name__}")
    if entry is not None and not isinstance(entry, (str, ModelEntry)):
        raise InvalidArgumentError(f"entry must be a registry name or a ModelEntry, got {type(entry).__name__}")
    model = model_or_name
    own = entry_of(model)
    known = get_entry(entry) if isinstance(entry, str) else entry if entry is not None else own
    if known is None:
        raise InvalidArgumentError(
            "this model does not know which entry it is (its class names and input size): pass a registry name, "
            "a model from dkl_zoo.load, or entry='<registry name>' for a model with an entry's architecture"
        )
    parameter = next(model.parameters(), None)
    here = parameter.device if parameter is not None else torch.device("cpu")
    if here.type == "meta":
        raise InvalidArgumentError("the model's weights are on the meta device (shapes without values): load "
                                   "them first, e.g. with dkl_zoo.load or model.to_empty() and load_state_dict")
    target = checked_device(device) if device is not None else here
    if model.training and warn_training:
        warnings.warn("the model is in training mode (batch norm then uses batch statistics); call model.eval()",
                      RuntimeWarning, stacklevel=3)
    check_model_fits(model, known, known_entry=own)
    if target != here and not (target.type == here.type == "cuda" and target.index is None):
        model = copy.deepcopy(model).to(target)  # the caller's module stays where it is
    elif has_training_layers(model):
        model = copy.deepcopy(model)  # its batch-norm statistics would move with every forward pass
    return model, known, target


def predicted_classes(model: nn.Module, x: torch.Tensor, *, batch_size: int, device: Any = None,
                      on_batch: Callable[[], None] | None = None) -> torch.Tensor:
    """The model's class for each image of ``x`` (int64, on the CPU), batch by batch without gradients, every
    batch's logits checked: NaN logits would be class 0, a silently wrong answer. The one clean-accuracy loop of
    ``evaluate``, the release check and the training's final check."""
    if device is None:
        parameter = next(model.parameters(), None)
        device = parameter.device if parameter is not None else "cpu"
    classes = torch.empty(len(x), dtype=torch.long)
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            logits = model(x[start:start + batch_size].to(device))
            check_logits(logits, "the model (on clean images)")
            classes[start:start + batch_size] = logits.argmax(dim=1).cpu()
            if on_batch is not None:
                on_batch()
    return classes


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


def _collate(batch: list[tuple[int, torch.Tensor | None, ImageReadError | None]]
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
        raise InvalidArgumentError(f"a tensor input must be an N×C×H×W batch or one C×H×W image, got shape "
                                   f"{tuple(inputs.shape)}")
    singles = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    if not singles:
        raise InvalidArgumentError("no inputs given: pass an image, a path, a folder, a list of them or a tensor batch")
    items: list[Any] = []
    for item in singles:
        if isinstance(item, (str, os.PathLike)):
            found = list(iter_image_files([item]))
            if not found and Path(item).is_dir():
                raise InvalidArgumentError(f"{item} holds no image files (looked for "
                                           "*.png, *.jpg, *.jpeg, *.bmp, *.gif, *.webp, *.tif, *.tiff, ... recursively)")
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
) -> Iterator[Prediction | ImageReadError]:
    """Like ``predict``, one result at a time in input order; a file that cannot be read is yielded as its
    ``ImageReadError`` (not raised), and the others are still predicted: what ``dkl-zoo predict`` streams."""
    top_k = checked_count(top_k, "top_k", 1)
    batch_size = checked_count(batch_size, "batch_size", 1)
    workers = checked_count(workers, "workers", 0)
    progress = checked_bool(progress, "progress")
    items, batch = _expand(inputs)  # paths are checked before any model is loaded
    model, known, target = resolve_model(model_or_name, entry=entry, device=device)
    channels, height, width = known.arch.input_size
    categories = known.categories
    k = min(top_k, len(categories))
    run = TopKForward(model, target, categories, k, known.name)
    if batch is not None:
        x = checked_images(batch, channels=channels, size=(height, width), allow_uint8=True)
        for start in range(0, len(x), batch_size):
            yield from run(x[start:start + batch_size], [None] * len(x[start:start + batch_size]))
        return
    from tqdm.auto import tqdm

    loader = torch.utils.data.DataLoader(_Items(items, known.transforms()), batch_size=batch_size,
                                         num_workers=workers, collate_fn=_collate, shuffle=False)
    with tqdm(total=len(items), unit="img", desc=f"predict {known.name}", disable=not progress, delay=1.0,
              leave=False, dynamic_ncols=True) as bar:
        for positions, xb, errors in loader:
            answers: dict[int, Prediction | ImageReadError] = dict(errors)
            if xb is not None:
                answers.update(zip(positions, run(xb, [_source(items[i]) for i in positions])))
            for i in sorted(answers):
                yield answers[i]
            bar.update(len(answers))


class TopKForward:
    """One batch through the model: logits checked, softmax, top-k with names (``predict``'s and
    ``attack_image``'s answers, computed one way)."""

    def __init__(self, model: nn.Module, device: torch.device, categories: Sequence[str], k: int, name: str) -> None:
        from ._model_fit import model_dtype

        self.model, self.device, self.categories, self.k, self.name = model, device, categories, k, name
        self.dtype = model_dtype(model)

    def __call__(self, x: torch.Tensor, sources: Sequence[str | None]) -> Iterator[Prediction]:
        with torch.inference_mode():
            logits = self.model(x.to(device=self.device, dtype=self.dtype))  # any float batch, in the model's dtype
        if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or logits.shape[1] != len(self.categories):
            shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            raise ModelOutputError(f"the model returned {shape}, not B×{len(self.categories)} logits for "
                                   f"{self.name}'s {len(self.categories)} classes: a model of another entry?")
        check_logits(logits)
        probabilities = torch.softmax(logits.float(), dim=1).cpu()
        values, indices = probabilities.topk(self.k, dim=1)
        for row_values, row_indices, source in zip(values.tolist(), indices.tolist(), sources):
            yield Prediction(
                index=row_indices[0], label=self.categories[row_indices[0]], probability=row_values[0],
                top_k=tuple((self.categories[i], p) for i, p in zip(row_indices, row_values)),
                top_k_indices=tuple(row_indices), source=source,
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
) -> list[Prediction]:
    """Class names and probabilities for a user's images: one ``Prediction`` per input image, in order.

    ``model_or_name``: a registry name (loaded and verified), a model from ``dkl_zoo.load`` (it knows its entry),
    or any model with an entry's architecture together with ``entry=<name>``. ``inputs``: an image (PIL image,
    path, uint8 H×W×C array, C×H×W tensor), a folder (its image files, recursively, in sorted order), a list
    of these, or an N×C×H×W tensor batch (float in [0, 1] or uint8, at the entry's size and channels). Images
    and files go through the entry's ``transforms()``; a batch is used as it is. ``top_k`` classes per image
    (at most the number of classes), ``batch_size`` images per forward pass, ``device`` (default: where the
    model is; a registry name loads on the CPU), ``workers`` DataLoader processes reading files,
    ``progress`` a progress bar on runs longer than a second.

    Raises:
        InvalidArgumentError: a batch outside [0, 1] (e.g. 0–255 floats or normalised images) or of the wrong
            shape or channel count, a path that does not exist, a model without an entry, a bad argument.
        ImageReadError: a file that cannot be read as an image (``predict_iter`` reports it and goes on).
        ModelOutputError: the model returns something that is not finite logits for the entry's classes.
    """
    results = []
    for result in predict_iter(model_or_name, inputs, top_k=top_k, batch_size=batch_size, device=device,
                               workers=workers, progress=progress, entry=entry):
        if isinstance(result, ImageReadError):
            raise result
        results.append(result)
    return results

