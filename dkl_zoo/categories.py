"""Class names of each data set, in the order of the labels the models were trained on.

A model's output ``i`` is the ``i``-th name here (torchvision's ``Weights.meta["categories"]``, timm's
``label_names``). Each list is copied from its data set's own files, named in ``SOURCES``.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["CATEGORIES", "SOURCES", "categories_of"]

_CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

_CIFAR100 = (
    "apple",
    "aquarium_fish",
    "baby",
    "bear",
    "beaver",
    "bed",
    "bee",
    "beetle",
    "bicycle",
    "bottle",
    "bowl",
    "boy",
    "bridge",
    "bus",
    "butterfly",
    "camel",
    "can",
    "castle",
    "caterpillar",
    "cattle",
    "chair",
    "chimpanzee",
    "clock",
    "cloud",
    "cockroach",
    "couch",
    "crab",
    "crocodile",
    "cup",
    "dinosaur",
    "dolphin",
    "elephant",
    "flatfish",
    "forest",
    "fox",
    "girl",
    "hamster",
    "house",
    "kangaroo",
    "keyboard",
    "lamp",
    "lawn_mower",
    "leopard",
    "lion",
    "lizard",
    "lobster",
    "man",
    "maple_tree",
    "motorcycle",
    "mountain",
    "mouse",
    "mushroom",
    "oak_tree",
    "orange",
    "orchid",
    "otter",
    "palm_tree",
    "pear",
    "pickup_truck",
    "pine_tree",
    "plain",
    "plate",
    "poppy",
    "porcupine",
    "possum",
    "rabbit",
    "raccoon",
    "ray",
    "road",
    "rocket",
    "rose",
    "sea",
    "seal",
    "shark",
    "shrew",
    "skunk",
    "skyscraper",
    "snail",
    "snake",
    "spider",
    "squirrel",
    "streetcar",
    "sunflower",
    "sweet_pepper",
    "table",
    "tank",
    "telephone",
    "television",
    "tiger",
    "tractor",
    "train",
    "trout",
    "tulip",
    "turtle",
    "wardrobe",
    "whale",
    "willow_tree",
    "wolf",
    "woman",
    "worm",
)

_FASHION_MNIST = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

CATEGORIES: Mapping[str, tuple[str, ...]] = {
    "cifar10": _CIFAR10,
    "cifar100": _CIFAR100,
    "fashion-mnist": _FASHION_MNIST,
}
"""Class names per data set, index = label."""

SOURCES: Mapping[str, str] = {
    "cifar10": "label_names of batches.meta in the CIFAR-10 python archive "
    "(https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz)",
    "cifar100": "fine_label_names of meta in the CIFAR-100 python archive "
    "(https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz)",
    "fashion-mnist": "the label table of the Fashion-MNIST README (https://github.com/zalandoresearch/fashion-mnist), "
    "as torchvision's FashionMNIST.classes spells it",
}
"""Where each list comes from."""


def categories_of(dataset: str) -> tuple[str, ...]:
    """The class names of ``dataset`` (a key of ``CATEGORIES``), index = label."""
    try:
        return CATEGORIES[dataset]
    except KeyError:
        from .errors import InvalidArgumentError

        raise InvalidArgumentError(f"no class names for data set {dataset!r}; known: {', '.join(CATEGORIES)}") from None
