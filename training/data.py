"""Training data held in memory as uint8, batched and augmented on tensors with an explicit generator.

Everything random in the data pipeline (order, crops, flips) draws from one ``torch.Generator`` whose
state is checkpointed, so a resumed run sees exactly the batches an uninterrupted run would have seen.
AutoAugment (the autoaug configs) draws from torch's global generator, also checkpointed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dkl_zoo._choices import DATASETS
from dkl_zoo.errors import DataFormatError, DatasetNotFoundError, InvalidArgumentError

__all__ = ["ImageSet", "load_split", "load_generated", "BatchStream", "synthetic_set", "held_out_set"]


@dataclass
class ImageSet:
    images: torch.Tensor  # uint8 N×C×H×W
    labels: torch.Tensor  # int64 N
    num_classes: int

    def __len__(self) -> int:
        return len(self.labels)


def synthetic_set(n: int, seed: int = 0, num_classes: int = 10, channels: int = 3, size: int = 32) -> ImageSet:
    """Images whose class sets a colour and a stripe pattern: learnable in a few steps (smoke runs)."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, num_classes, (n,), generator=gen)
    palette = torch.rand(num_classes, channels, 1, 1, generator=torch.Generator().manual_seed(12345))
    stripes = (torch.arange(size).view(1, 1, 1, size) * (labels.view(n, 1, 1, 1) + 1) % 7 < 3).float()
    noise = torch.rand(n, channels, size, size, generator=gen) * 0.3
    images = (palette[labels] * 0.6 + stripes * 0.2 + noise).clamp(0, 1)
    return ImageSet((images * 255).round().to(torch.uint8), labels, num_classes)


def _from_nhwc(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2).contiguous()


def load_split(config: dict, train: bool = True) -> ImageSet:
    """The config's data set as uint8 NCHW: its training split, or with ``train=False`` its test split."""
    dataset = config["dataset"]
    if dataset == "synthetic":
        return synthetic_set(config["synthetic_size"], seed=config["seed"] + (0 if train else 1))
    if dataset == "fashion-mnist":
        from dkl_zoo.data import load_fashion_mnist

        x, y = load_fashion_mnist(config["data_dir"], train=train)
        return ImageSet((x * 255).round().to(torch.uint8), y, DATASETS[dataset])
    from dkl_zoo.data import load_cifar

    images, labels = load_cifar(dataset, config["data_dir"], train=train)
    return ImageSet(images, labels, DATASETS[dataset])


def load_generated(path: str | Path, num_classes: int) -> ImageSet:
    """Generated images (DM-Improves-AT format): an npz with ``image`` (uint8 N×32×32×3) and ``label``."""
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(
            f"generated data {path} not found: download the npz of Wang et al. 2023 (DM-Improves-AT, e.g. "
            "cifar10 20m / cifar100 50m) and set generated.path"
        )
    with np.load(path) as npz:
        missing = {"image", "label"} - set(npz.files)
        if missing:
            raise DataFormatError(f"{path} lacks {sorted(missing)} (has {npz.files}): not a DM-Improves-AT npz file")
        images, labels = npz["image"], npz["label"]
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise DataFormatError(f"{path}: image must be uint8 N×H×W×3, got {images.dtype} {images.shape}")
    labels = torch.from_numpy(labels.astype(np.int64))
    if labels.min() < 0 or labels.max() >= num_classes:
        raise DataFormatError(f"{path}: labels must lie in [0, {num_classes}), got {labels.min()}..{labels.max()}")
    return ImageSet(_from_nhwc(images), labels, num_classes)


def held_out_set(config: dict, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` test images as float [0, 1] for the end-of-training check."""
    test = load_split(config, train=False)
    n = min(n, len(test))
    return test.images[:n].float().div(255), test.labels[:n]


def _crop_flip(images: torch.Tensor, gen: torch.Generator, padding: int = 4) -> torch.Tensor:
    """RandomCrop(size, padding) + RandomHorizontalFlip on a uint8 batch, zero padding as torchvision."""
    n, c, h, w = images.shape
    padded = torch.nn.functional.pad(images, (padding,) * 4)
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=gen)
    flip = torch.rand(n, generator=gen) < 0.5
    rows = dy.view(n, 1) + torch.arange(h).view(1, h)
    cols = dx.view(n, 1) + torch.arange(w).view(1, w)
    cols = torch.where(flip.view(n, 1), cols.flip(1), cols)
    batch_index = torch.arange(n).view(n, 1, 1, 1)
    channel_index = torch.arange(c).view(1, c, 1, 1)
    return padded[batch_index, channel_index, rows.view(n, 1, h, 1), cols.view(n, 1, 1, w)]


class BatchStream:
    """The batches of each epoch: shuffled order, crop+flip (CIFAR) or flip (Fashion-MNIST), optional second
    (AutoAugment) view, optional generated images (each batch: ``1 - fraction`` real, ``fraction`` generated).

    ``new_epoch`` draws the epoch's order; ``batch(step)`` draws that step's augmentation. ``state_dict``
    holds the order and the generator's current state, so a run resumed at step k continues with exactly
    the batch k an uninterrupted run would have drawn. ``rank``/``world`` give each process its share.
    """

    def __init__(
        self,
        data: ImageSet,
        batch_size: int,
        gen: torch.Generator,
        *,
        augment: str = "crop-flip",
        autoaug: bool = False,
        generated: ImageSet | None = None,
        fraction: float = 0.7,
        max_steps: int = 0,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        self.data, self.batch_size, self.gen = data, batch_size, gen
        self.augment, self.autoaug, self.generated, self.fraction = augment, autoaug, generated, fraction
        self.rank, self.world = rank, world
        self.n_real = batch_size if generated is None else max(1, round(batch_size * (1 - fraction)))
        self.n_generated = batch_size - self.n_real
        steps = len(data) // self.n_real
        self.steps = min(steps, max_steps) if max_steps else steps
        if self.steps < 1:
            raise InvalidArgumentError(f"batch_size {batch_size} is larger than the data set ({len(data)} images)")
        self.order: torch.Tensor | None = None
        self.generated_order: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.steps

    def new_epoch(self) -> None:
        self.order = torch.randperm(len(self.data), generator=self.gen)
        if self.generated is not None:
            self.generated_order = torch.randint(
                0, len(self.generated), (self.steps, self.n_generated), generator=self.gen
            )

    def state_dict(self) -> dict:
        return {"order": self.order, "generated_order": self.generated_order, "gen": self.gen.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.order, self.generated_order = state["order"], state["generated_order"]
        self.gen.set_state(state["gen"])

    def _augment(self, images: torch.Tensor) -> torch.Tensor:
        if self.augment == "crop-flip":
            return _crop_flip(images, self.gen)
        if self.augment == "flip":
            flip = torch.rand(len(images), generator=self.gen) < 0.5
            return torch.where(flip.view(-1, 1, 1, 1), images.flip(3), images)
        return images

    @staticmethod
    def _autoaugment(images: torch.Tensor) -> torch.Tensor:
        from torchvision.transforms import AutoAugment, AutoAugmentPolicy

        policy = AutoAugment(AutoAugmentPolicy.CIFAR10)
        return torch.stack([policy(img) for img in images])

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.order is None:
            raise InvalidArgumentError("call new_epoch() before drawing batches")
        index = self.order[step * self.n_real : (step + 1) * self.n_real]
        images, labels = self.data.images[index], self.data.labels[index]
        if self.generated is not None and self.generated_order is not None:
            extra = self.generated_order[step]
            images = torch.cat([images, self.generated.images[extra]])
            labels = torch.cat([labels, self.generated.labels[extra]])
        views = [self._augment(images)]
        if self.autoaug:
            views.append(self._autoaugment(self._augment(images)))
        share = slice(self.rank, None, self.world)
        x = torch.cat([v[share] for v in views]).float().div_(255)
        y = torch.cat([labels[share]] * len(views))
        return x, y
