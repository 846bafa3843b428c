"""Test sets as RobustBench reads them: the first ``n`` images in order, float in [0, 1], NCHW.

CIFAR-10/100 come from torchvision's files under ``data_dir`` (downloaded when online); Fashion-MNIST from
IDX files (the Debian package ``dataset-fashion-mnist`` puts them in /usr/share/datasets/fashion-mnist),
``data_dir``, or torchvision's download.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch

from ._choices import DATASETS, TEST_SIZES
from .errors import DataFormatError, DatasetNotFoundError, InvalidArgumentError

__all__ = ["DATASETS", "TEST_SIZES", "load_test_set", "load_cifar", "load_fashion_mnist", "FASHION_MNIST_DIRS"]

FASHION_MNIST_DIRS = (Path("/usr/share/datasets/fashion-mnist"),)


def _check_n(dataset: str, n_examples: int | None, available: int) -> int:
    if n_examples is None:
        return available
    if n_examples < 1:
        raise InvalidArgumentError(f"n_examples must be >= 1, got {n_examples}")
    if n_examples > available:
        raise InvalidArgumentError(
            f"n_examples={n_examples} is larger than the {dataset} test set ({available} images)"
        )
    return n_examples


def load_test_set(
    dataset: str, n_examples: int | None = None, data_dir: str | os.PathLike[str] = "./data", *, download: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n_examples`` test images (float32, [0, 1], NCHW) and labels (int64), in order."""
    if dataset not in DATASETS:
        raise InvalidArgumentError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")
    if dataset == "fashion-mnist":
        x, y = load_fashion_mnist(data_dir, train=False, download=download)
    else:
        images, y = load_cifar(dataset, data_dir, download=download)
        x = images.float().div_(255.0)
    n = _check_n(dataset, n_examples, len(y))
    return x[:n], y[:n]


def load_cifar(
    dataset: str, data_dir: str | os.PathLike[str], *, train: bool = False, download: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10/100 in torchvision's layout under ``data_dir`` as uint8 N×3×32×32 images and int64 labels, in the
    files' order; downloaded when missing and ``download`` (torchvision checks the official checksums). The one
    CIFAR reader: the test sets of ``evaluate`` and the training sets of ``training/``.

    Raises:
        DatasetNotFoundError: not there and not downloadable; names the files and where they go.
    """
    from torchvision import datasets

    cls = datasets.CIFAR10 if dataset == "cifar10" else datasets.CIFAR100
    root = Path(data_dir)
    try:
        data = cls(root=str(root), train=train, download=False)
    except RuntimeError:
        if not download:
            raise DatasetNotFoundError(_cifar_hint(cls, root, train)) from None
        try:
            data = cls(root=str(root), train=train, download=True)
        except Exception as error:  # offline, proxy, checksum
            raise DatasetNotFoundError(f"{_cifar_hint(cls, root, train)} Download failed: {error}") from None
    x = torch.from_numpy(np.ascontiguousarray(data.data)).permute(0, 3, 1, 2).contiguous()
    return x, torch.tensor(data.targets, dtype=torch.long)


def _cifar_hint(cls: type, root: Path, train: bool) -> str:
    files = ", ".join(name for name, _ in (cls.train_list if train else cls.test_list))
    return (
        f"{cls.__name__} {'training' if train else 'test'} set not found under {root / cls.base_folder} (needs "
        f"{files} with the official checksums). Run once while online, or unpack {cls.filename} from {cls.url} "
        f"into {root}."
    )


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataFormatError(
            f"{path} is not an IDX file (it does not start with two zero bytes); replace it with "
            "the data set's own file"
        )
    dtype_code, ndim = raw[2], raw[3]
    if dtype_code != 0x08:
        raise DataFormatError(f"{path}: only unsigned-byte IDX files are supported, got type 0x{dtype_code:02x}")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise DataFormatError(
            f"{path}: expected {int(np.prod(shape))} values for shape {shape}, found {data.size} "
            "(a truncated download?); replace it with the data set's own file"
        )
    return data.reshape(shape)


def _find_idx(directory: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        for candidate in (directory / name, directory / "FashionMNIST" / "raw" / name):
            if candidate.exists():
                return candidate
    return None


def load_fashion_mnist(
    data_dir: str | os.PathLike[str] | None = None, *, train: bool = False, download: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST as float [0, 1] N×1×28×28 images and int64 labels.

    Looks in ``data_dir`` (also its torchvision layout ``FashionMNIST/raw``), then the Debian package's
    folder; downloads through torchvision when neither has the files and ``download`` is true.
    """
    prefix = "train" if train else "t10k"
    candidates = ([Path(data_dir)] if data_dir is not None else []) + list(FASHION_MNIST_DIRS)
    for directory in candidates:
        images = _find_idx(directory, f"{prefix}-images-idx3-ubyte")
        labels = _find_idx(directory, f"{prefix}-labels-idx1-ubyte")
        if images is not None and labels is not None:
            x = torch.from_numpy(_read_idx(images).copy()).unsqueeze(1).float().div_(255.0)
            y = torch.from_numpy(_read_idx(labels).astype(np.int64))
            if len(x) != len(y):
                raise DataFormatError(
                    f"{images} and {labels} hold different numbers of items; they are not one data set's files"
                )
            return x, y
    if download and data_dir is not None:
        try:
            from torchvision import datasets

            datasets.FashionMNIST(root=str(data_dir), train=train, download=True)
            return load_fashion_mnist(data_dir, train=train, download=False)
        except Exception as error:
            reason = f" Download failed: {error}"
    else:
        reason = ""
    looked = ", ".join(str(d) for d in candidates)
    raise DatasetNotFoundError(
        f"Fashion-MNIST {prefix} files ({prefix}-images-idx3-ubyte[.gz], {prefix}-labels-idx1-ubyte[.gz]) not "
        f"found in {looked}. Install them with `apt-get install dataset-fashion-mnist`, or pass data_dir to "
        f"a folder that has them (or where they may be downloaded).{reason}"
    )
