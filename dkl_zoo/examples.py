"""A few real test images shipped with the package: one Fashion-MNIST test image of each class.

For trying ``predict`` and ``attack_image`` without data at hand, for the web demo, and as real inputs
against which ``export`` checks an exported model. The files are the first test image of each class in the
Fashion-MNIST test set (MIT licence, Zalando Research), written losslessly as 28×28 grayscale PNGs; the name
holds the image's index in the test set and its class.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .categories import categories_of

__all__ = ["ExampleImage", "example_images", "EXAMPLES_DIR"]

EXAMPLES_DIR = Path(__file__).resolve().parent / "example_images"


@dataclass(frozen=True)
class ExampleImage:
    """One shipped image: its file, data set, true label and index in that data set's test set."""

    path: Path
    dataset: str
    label: int
    test_index: int


def _slug(name: str) -> str:
    return name.lower().replace("/", "-").replace(" ", "-")


def example_images(dataset: str = "fashion-mnist") -> list[ExampleImage]:
    """The shipped images of ``dataset``, in test-set order (only Fashion-MNIST ships images)."""
    categories = categories_of(dataset)
    labels = {_slug(name): index for index, name in enumerate(categories)}
    found = []
    for path in sorted(EXAMPLES_DIR.glob(f"{dataset}-*.png")):
        index, slug = path.stem[len(dataset) + 1 :].split("-", 1)
        found.append(ExampleImage(path=path, dataset=dataset, label=labels[slug], test_index=int(index)))
    return found
