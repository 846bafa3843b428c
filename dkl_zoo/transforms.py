"""An entry's preprocessing (torchvision's ``weights.transforms()``): whatever image a user holds → the float
C×H×W tensor in [0, 1] at the entry's size and channel count that its model takes.

The policy, one rule per question (also ``ImageTransform.describe()``):
- Inputs: a PIL image, a path, a uint8 H×W(×C) array, a uint8 or float C×H×W tensor (float in [0, 1]), also
  uint16 arrays and 16-bit images (scaled by 1/65535, not clipped to 8 bits). Arrays are H×W×C (as PIL,
  imageio and matplotlib give them), tensors C×H×W (as torchvision gives them); colour is RGB. A file of
  several frames (an animated GIF, a multi-page TIFF) gives its first frame.
- Orientation: EXIF orientation is applied (a phone photo comes out upright).
- Palette images are expanded to RGB(A); an alpha channel is composited onto the data set's background
  (black for Fashion-MNIST, whose items lie on black; white otherwise), not dropped.
- Channels: RGB → grayscale by ITU-R 601 luma (0.299 R + 0.587 G + 0.114 B, PIL's ``convert("L")``
  weights, without its rounding); grayscale → RGB by repeating the channel.
- Size: scaled so that the image covers the input size with its aspect ratio kept (bilinear, antialiased),
  then centre-cropped; timm's data config of the entries says the same (bilinear, crop_pct 1.0, centre).
  An image already at the input size is not resampled: it comes out as exactly its pixels / 255.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .errors import InvalidArgumentError

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["ImageTransform", "to_tensor_image"]

_LUMA = (0.299, 0.587, 0.114)


def _from_pil(image: Image.Image) -> torch.Tensor:
    """C×H×W float in [0, 1], alpha kept as a last channel; 8-bit exact (k / 255), 16-bit by 1/65535."""
    from PIL import ImageOps

    if image.getexif().get(0x0112, 1) != 1:
        image = ImageOps.exif_transpose(image)
    mode = image.mode
    if mode == "P" or mode == "PA":
        image = image.convert("RGBA" if mode == "PA" or "transparency" in image.info else "RGB")
    elif mode == "1":
        image = image.convert("L")
    elif mode.startswith("I;16") or mode == "I":
        array = np.asarray(image).astype(np.int64)
        if array.size and (array.min() < 0 or array.max() > 65535):
            raise InvalidArgumentError(f"a {mode} image with values outside 0..65535 is not a 16-bit image")
        return torch.from_numpy((array.astype(np.float32) / 65535.0)[None])
    elif mode == "F":
        return _from_float(np.array(image, dtype=np.float32)[None], "the pixels of a floating-point (mode F) image")
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        image = image.convert("RGB")  # CMYK, YCbCr, LAB, HSV
    array = np.array(image)  # a writable copy: torch refuses to wrap read-only memory
    if array.ndim == 2:
        array = array[:, :, None]
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).float().div_(255.0)


def _from_float(values: np.ndarray | torch.Tensor, what: str) -> torch.Tensor:
    tensor = torch.as_tensor(values, dtype=torch.float32)
    from ._inputs import check_value_range

    check_value_range(tensor, what)
    return tensor


def _from_array(array: np.ndarray) -> torch.Tensor:
    """An H×W or H×W×C array (C in 1..4) as C×H×W float in [0, 1]."""
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        hint = (
            " (it looks channels-first: arrays are H×W×C; pass array.transpose(1, 2, 0))"
            if array.ndim == 3 and array.shape[0] in (1, 3, 4)
            else ""
        )
        raise InvalidArgumentError(
            f"an image array must be H×W or H×W×C with 1-4 channels, got shape {array.shape}{hint}"
        )
    chw = np.ascontiguousarray(array.transpose(2, 0, 1))
    if array.dtype == np.uint8:
        return torch.from_numpy(chw).float().div_(255.0)
    if array.dtype == np.uint16:
        return torch.from_numpy(chw.astype(np.float32) / 65535.0)
    if np.issubdtype(array.dtype, np.floating):
        return _from_float(chw, "the pixels of the image array")
    raise InvalidArgumentError(f"an image array must be uint8 (0-255), uint16 or float in [0, 1], got {array.dtype}")


def _from_tensor(tensor: torch.Tensor) -> torch.Tensor:
    """A C×H×W (or H×W) tensor, uint8 or float in [0, 1], as C×H×W float."""
    if tensor.device.type == "meta":
        raise InvalidArgumentError(
            "the image tensor is on the meta device (a shape without values): pass an image with pixels"
        )
    tensor = tensor.detach().cpu()
    if tensor.dim() == 2:
        tensor = tensor[None]
    if tensor.dim() != 3 or tensor.shape[0] not in (1, 2, 3, 4):
        hint = ""
        if tensor.dim() == 3 and tensor.shape[-1] in (1, 3, 4):
            hint = " (it looks channels-last: tensors are C×H×W; pass tensor.permute(2, 0, 1))"
        elif tensor.dim() == 4:
            hint = " (a batch: transform its images one by one, or give the batch to predict)"
        raise InvalidArgumentError(
            f"an image tensor must be C×H×W with 1-4 channels, got shape {tuple(tensor.shape)}{hint}"
        )
    if tensor.dtype == torch.uint8:
        return tensor.float().div_(255.0)
    if tensor.is_floating_point():
        return _from_float(tensor, "the pixels of the image tensor")
    raise InvalidArgumentError(f"an image tensor must be uint8 (0-255) or float in [0, 1], got {tensor.dtype}")


def to_tensor_image(image: Any) -> torch.Tensor:
    """Any supported image as C×H×W float in [0, 1], at its own size and channels (alpha kept last)."""
    from PIL import Image

    if isinstance(image, (str, os.PathLike)):
        from ._images import read_image

        if os.fspath(image) in ("", b""):
            raise InvalidArgumentError("the image path is empty: pass the path of an image file")
        image = read_image(image)  # a 16-bit colour PNG comes back as a tensor at full depth
        if isinstance(image, torch.Tensor):
            return image
    if isinstance(image, Image.Image):
        return _from_pil(image)
    if isinstance(image, np.ndarray):
        return _from_array(image)
    if isinstance(image, torch.Tensor):
        return _from_tensor(image)
    raise InvalidArgumentError(
        f"cannot use a {type(image).__name__} as an image: pass a PIL image, a path, a "
        "uint8 H×W×C array or a C×H×W tensor"
    )


def _composite(x: torch.Tensor, background: float) -> torch.Tensor:
    """Drop the alpha channel (grayscale+alpha or RGBA) by laying the image over ``background``."""
    if x.shape[0] not in (2, 4):
        return x
    colour, alpha = x[:-1], x[-1:]
    return colour * alpha + background * (1.0 - alpha)


def _to_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    if x.shape[0] == channels:
        return x
    if channels == 1:
        weights = torch.tensor(_LUMA, dtype=x.dtype).view(3, 1, 1)
        return (x * weights).sum(dim=0, keepdim=True).clamp_(0.0, 1.0)
    return x.expand(channels, -1, -1).clone()


def _axis_weights(in_size: int, out_size: int, start: int, count: int) -> tuple[int, torch.Tensor]:
    """Rows ``start .. start + count`` of the antialiased bilinear resampling matrix from ``in_size`` to
    ``out_size`` samples, over only the input samples they read: (first input sample, count × span weights).

    The weights are PyTorch's (``interpolate(mode="bilinear", antialias=True, align_corners=False)``, which
    follows Pillow's): a triangle filter widened by the scale when shrinking, normalised per output sample.
    """
    scale = in_size / out_size
    support = scale if scale >= 1.0 else 1.0
    invscale = 1.0 / scale if scale >= 1.0 else 1.0
    centre = scale * (torch.arange(start, start + count, dtype=torch.float64) + 0.5)
    low = (centre - support + 0.5).trunc().clamp(min=0).long()
    high = (centre + support + 0.5).trunc().clamp(max=in_size).long()
    first, last = int(low.min()), int(high.max())
    samples = torch.arange(first, last, dtype=torch.float64)
    weights = (1.0 - ((samples[None] - centre[:, None] + 0.5) * invscale).abs()).clamp(min=0.0)
    inside = (samples[None] >= low[:, None]) & (samples[None] < high[:, None])
    weights = weights * inside
    weights = weights / weights.sum(dim=1, keepdim=True).clamp(min=1e-300)
    return first, weights


def _resize_cover(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Scale (aspect ratio kept, bilinear, antialiased) to cover height×width, then crop the centre.

    When the scaled image would be larger than the input (an image enlarged to cover the size, such as a 1×200000
    strip), only the kept centre is computed, from the input pixels it reads, so memory stays bounded by the input
    and the output; the values are PyTorch's resize-then-crop to within float rounding.
    """
    _, h, w = x.shape
    if (h, w) == (height, width):
        return x
    scale = max(height / h, width / w)
    new_h, new_w = max(height, round(h * scale)), max(width, round(w * scale))
    top, left = (new_h - height) // 2, (new_w - width) // 2
    if new_h * new_w <= h * w:
        resized = torch.nn.functional.interpolate(
            x[None], size=(new_h, new_w), mode="bilinear", align_corners=False, antialias=True
        )[0].clamp_(0.0, 1.0)
        return resized[:, top : top + height, left : left + width].contiguous()
    row0, rows = _axis_weights(h, new_h, top, height)
    col0, cols = _axis_weights(w, new_w, left, width)
    region = x[:, row0 : row0 + rows.shape[1], col0 : col0 + cols.shape[1]].to(torch.float64)
    out = torch.einsum("hi,cij,wj->chw", rows, region, cols)
    return out.to(x.dtype).clamp_(0.0, 1.0).contiguous()


class ImageTransform:
    """Callable: image → float32 C×H×W tensor in [0, 1] of ``input_size`` (channels, height, width).

    ``background`` (0 black … 1 white) is what transparent pixels become.
    """

    def __init__(self, input_size: Sequence[int], *, background: float = 1.0) -> None:
        channels, height, width = (int(v) for v in input_size)
        if channels not in (1, 3):
            raise InvalidArgumentError(f"input_size must have 1 or 3 channels, got {channels}")
        if not 0.0 <= float(background) <= 1.0:
            raise InvalidArgumentError(f"background must be in [0, 1] (0 black, 1 white), got {background!r}")
        self.input_size = (channels, height, width)
        self.background = float(background)

    def __call__(self, image: Any) -> torch.Tensor:
        x = to_tensor_image(image)
        if x.shape[1] == 0 or x.shape[2] == 0:
            raise InvalidArgumentError(
                f"the image has no pixels ({x.shape[1]}×{x.shape[2]}): pass an image of at least 1×1 pixels"
            )
        x = _composite(x, self.background)
        x = _to_channels(x, self.input_size[0])
        return _resize_cover(x, self.input_size[1], self.input_size[2]).to(torch.float32).contiguous()

    def describe(self) -> str:
        """The policy in words, as torchvision's transforms describe themselves."""
        channels, height, width = self.input_size
        colour = "grayscale (RGB by ITU-R 601 luma)" if channels == 1 else "RGB (grayscale repeated)"
        shade = "black" if self.background == 0 else "white" if self.background == 1 else f"grey {self.background:g}"
        return (
            f"Accepts PIL images, paths, uint8 H×W×C arrays and uint8/float C×H×W tensors. A file of several "
            f"frames (animated GIF, multi-page TIFF) gives its first. EXIF orientation is applied; alpha is "
            f"composited onto {shade}; converted to {colour}; scaled to cover {height}×{width} "
            f"with the aspect ratio kept (bilinear, antialiased) and centre-cropped; returns float32 "
            f"{channels}×{height}×{width} in [0, 1]. An image already {height}×{width} is not resampled."
        )

    def __repr__(self) -> str:
        return f"ImageTransform(input_size={self.input_size}, background={self.background:g})"
