"""Small models and CIFAR-format data sets written by the tests (CIFAR itself is not available offline)."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import torch
from torch import nn


class ColourClassifier(nn.Module):
    """Classifies an image by its mean colour: robust far from the decision boundaries, not near them."""

    def __init__(self, num_classes: int = 10, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.head = nn.Linear(8, num_classes)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=gen) * 0.3)
            self.conv.bias.zero_()
            self.head.weight.copy_(torch.randn(self.head.weight.shape, generator=gen) * 4)
            self.head.bias.copy_(torch.randn(num_classes, generator=gen))
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(x)).mean(dim=(2, 3)))


def colour_images(n: int, seed: int = 0) -> np.ndarray:
    """n×32×32×3 uint8 images of one random colour each, with a little noise."""
    rng = np.random.default_rng(seed)
    colours = rng.uniform(30, 225, size=(n, 1, 1, 3))
    noise = rng.normal(0, 6, size=(n, 32, 32, 3))
    return np.clip(colours + noise, 0, 255).astype(np.uint8)


def as_tensor(images: np.ndarray) -> torch.Tensor:
    """N×H×W×3 uint8 images as the N×3×H×W float batch in [0, 1] that models and `evaluate` take."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous().float() / 255


def colour_set(n: int, seed: int) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A ColourClassifier with n of its images and labels (clean accuracy < 100 %): the evaluation tests' data."""
    model = ColourClassifier()
    images = colour_images(n, seed=seed)
    return model, as_tensor(images), torch.tensor(labels_for(model, images))


def labels_for(model: nn.Module, images: np.ndarray, wrong_every: int = 7) -> list[int]:
    """The model's own predictions, with every `wrong_every`-th label changed (clean accuracy < 100 %)."""
    x = as_tensor(images)
    with torch.no_grad():
        labels = model(x).argmax(1).tolist()
    classes = model.head.out_features
    return [(label + 1) % classes if i % wrong_every == 0 else label for i, label in enumerate(labels)]


def write_cifar(root: Path, images: np.ndarray, labels: list[int], dataset: str = "cifar10") -> dict:
    """Write torchvision's CIFAR test-set layout; returns the md5s to point torchvision's lists at."""
    from torchvision import datasets

    cls = datasets.CIFAR10 if dataset == "cifar10" else datasets.CIFAR100
    folder = root / cls.base_folder
    folder.mkdir(parents=True, exist_ok=True)
    label_key = "labels" if dataset == "cifar10" else "fine_labels"
    test_name = cls.test_list[0][0]
    data = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    (folder / test_name).write_bytes(pickle.dumps({"data": data, label_key: list(labels)}))
    meta_key = cls.meta["key"]
    classes = 10 if dataset == "cifar10" else 100
    (folder / cls.meta["filename"]).write_bytes(pickle.dumps({meta_key: [f"c{i}" for i in range(classes)]}))
    md5 = lambda p: hashlib.md5(p.read_bytes()).hexdigest()  # noqa: E731
    return {
        "cls": cls,
        "test": [[test_name, md5(folder / test_name)]],
        "meta": {**cls.meta, "md5": md5(folder / cls.meta["filename"])},
    }


def point_torchvision_at(monkeypatch, written: dict) -> None:
    """torchvision checks the official md5s; make it accept the files this test wrote."""
    cls = written["cls"]
    monkeypatch.setattr(cls, "train_list", [])
    monkeypatch.setattr(cls, "test_list", written["test"])
    monkeypatch.setattr(cls, "meta", written["meta"])
