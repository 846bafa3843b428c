"""Class names and transforms per entry: what a user's image becomes before the model sees it."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

import dkl_zoo
from dkl_zoo.categories import CATEGORIES, SOURCES
from dkl_zoo.errors import InvalidArgumentError
from dkl_zoo.models import pretrained_cfg
from dkl_zoo.registry import REGISTRY

FMNIST = dkl_zoo.model_info("ikl-at-fmnist-wrn10-1")
CIFAR = dkl_zoo.model_info("ikl-at-cifar10-wrn34")


def test_class_names_in_dataset_order_with_their_sources():
    assert CATEGORIES["cifar10"] == (
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    )
    fine = CATEGORIES["cifar100"]
    assert len(fine) == len(set(fine)) == 100 and list(fine) == sorted(fine)  # the meta file lists them sorted
    assert fine[:3] == ("apple", "aquarium_fish", "baby") and fine[-1] == "worm" and fine[39] == "keyboard"
    assert CATEGORIES["fashion-mnist"] == (
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
    assert set(SOURCES) == set(CATEGORIES) and all("http" in source for source in SOURCES.values())


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_entry_has_as_many_names_as_classes_and_timm_sees_them(name):
    entry = REGISTRY[name]
    assert len(entry.categories) == entry.num_classes
    cfg = pretrained_cfg(entry)
    assert cfg["label_names"] == entry.categories
    assert cfg["paper_ids"] == "arXiv:2305.13948"
    assert cfg["origin_url"] == ("https://github.com/jiequancui/DKL" if entry.weights.original_sources else None)
    assert cfg["license"] == entry.provenance.license


def test_the_fashion_mnist_names_are_torchvisions():
    from torchvision.datasets import FashionMNIST

    assert tuple(FashionMNIST.classes) == FMNIST.categories


def test_an_image_at_the_input_size_comes_out_as_exactly_its_pixels_over_255():
    pixels = np.random.default_rng(0).integers(0, 256, size=(28, 28), dtype=np.uint8)
    expected = torch.from_numpy(pixels).float()[None] / 255
    transform = FMNIST.transforms()
    for given in (Image.fromarray(pixels), pixels, torch.from_numpy(pixels)[None], expected.clone()):
        out = transform(given)
        assert out.dtype == torch.float32 and out.shape == (1, 28, 28)
        assert torch.equal(out, expected)
    rgb = np.random.default_rng(1).integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    assert torch.equal(CIFAR.transforms()(Image.fromarray(rgb)), torch.from_numpy(rgb).permute(2, 0, 1).float() / 255)


def test_a_path_and_a_png_read_the_same_pixels(tmp_path):
    pixels = np.random.default_rng(2).integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "x.png")
    assert torch.equal(CIFAR.transforms()(tmp_path / "x.png"), CIFAR.transforms()(str(tmp_path / "x.png")))
    assert torch.equal(CIFAR.transforms()(tmp_path / "x.png"), torch.from_numpy(pixels).permute(2, 0, 1).float() / 255)


def test_colour_to_grayscale_by_luma_and_grayscale_to_colour_by_repetition():
    rgb = np.zeros((28, 28, 3), dtype=np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 100, 50
    gray = FMNIST.transforms()(rgb)
    assert gray.shape == (1, 28, 28)
    assert torch.allclose(gray, torch.full((1, 28, 28), (0.299 * 200 + 0.587 * 100 + 0.114 * 50) / 255))
    ours = FMNIST.transforms()(Image.fromarray(rgb))
    pil = torch.from_numpy(np.array(Image.fromarray(rgb).convert("L"))).float()[None] / 255
    assert (ours - pil).abs().max() <= 1 / 255  # PIL's own conversion rounds to 8 bits
    grey = np.full((32, 32), 77, dtype=np.uint8)
    colour = CIFAR.transforms()(grey)
    assert colour.shape == (3, 32, 32) and torch.equal(colour, torch.full((3, 32, 32), 77.0) / 255)


def test_alpha_is_composited_onto_the_data_sets_background():
    rgba = np.zeros((28, 28, 4), dtype=np.uint8)
    rgba[..., :3] = 255
    rgba[:14, :, 3] = 255  # top half opaque white, bottom half transparent
    out = FMNIST.transforms()(Image.fromarray(rgba, "RGBA"))
    assert float(out[0, 0, 0]) == 1.0 and float(out[0, 27, 0]) == 0.0  # Fashion-MNIST: black background
    rgba32 = np.zeros((32, 32, 4), dtype=np.uint8)
    rgba32[..., 3] = 0
    assert torch.equal(CIFAR.transforms()(rgba32), torch.ones(3, 32, 32))  # elsewhere: white
    half = np.zeros((32, 32, 4), dtype=np.uint8)
    half[..., 3] = 255 // 3
    assert torch.allclose(CIFAR.transforms()(half), torch.full((3, 32, 32), 1 - 85 / 255))


def test_palette_images_keep_their_colours_and_transparency():
    palette = Image.new("P", (32, 32))
    palette.putpalette([10, 20, 30, 200, 100, 0] + [0] * 762)
    palette.paste(1, (0, 0, 16, 32))
    out = CIFAR.transforms()(palette)
    assert torch.allclose(out[:, 0, 0], torch.tensor([200, 100, 0]) / 255)
    assert torch.allclose(out[:, 0, 31], torch.tensor([10, 20, 30]) / 255)
    palette.info["transparency"] = 0  # index 0 transparent: white there
    out = CIFAR.transforms()(palette)
    assert torch.equal(out[:, 0, 31], torch.ones(3)) and torch.allclose(out[:, 0, 0], torch.tensor([200, 100, 0]) / 255)


def test_sixteen_bit_images_keep_their_precision(tmp_path):
    values = (np.arange(28 * 28, dtype=np.uint16) * 83).reshape(28, 28)
    Image.fromarray(values).save(tmp_path / "deep.png")
    out = FMNIST.transforms()(tmp_path / "deep.png")
    assert torch.allclose(out[0], torch.from_numpy(values.astype(np.float32) / 65535), atol=1e-7)
    assert torch.allclose(FMNIST.transforms()(values)[0], out[0])


def test_a_file_of_several_frames_gives_its_first(tmp_path):
    black, white = Image.new("L", (28, 28), 0), Image.new("L", (28, 28), 255)
    white.save(tmp_path / "animated.gif", save_all=True, append_images=[black, black])
    black.save(tmp_path / "pages.tif", save_all=True, append_images=[white])
    assert torch.equal(FMNIST.transforms()(tmp_path / "animated.gif"), torch.ones(1, 28, 28))
    assert torch.equal(FMNIST.transforms()(tmp_path / "pages.tif"), torch.zeros(1, 28, 28))


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((28, 28), dtype=np.uint8)
    pixels[0, :] = 255  # a white top row
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display": the top row becomes the right column
    image.save(tmp_path / "rotated.jpg", exif=exif, quality=100)
    out = FMNIST.transforms()(tmp_path / "rotated.jpg")
    assert out[0, :, -1].mean() > 0.9 and out[0, 0, :-2].mean() < 0.1
    assert torch.equal(FMNIST.transforms()(Image.open(tmp_path / "rotated.jpg")), out)


def test_other_sizes_are_scaled_to_cover_and_centre_cropped_with_antialiasing():
    wide = np.zeros((56, 112), dtype=np.uint8)
    wide[:, 20:92] = 255  # white around the centre half: after covering 28x28 it fills the whole crop
    out = FMNIST.transforms()(wide)
    assert out.shape == (1, 28, 28) and float(out.min()) > 0.99
    stripes = np.zeros((280, 280), dtype=np.uint8)
    stripes[:, ::2] = 255  # one-pixel stripes: antialiased, they average to grey; sampled, they would alias
    grey = FMNIST.transforms()(stripes)
    assert abs(float(grey.mean()) - 0.5) < 0.02 and float(grey.std()) < 0.05
    small = CIFAR.transforms()(np.full((8, 8, 3), 128, dtype=np.uint8))
    assert small.shape == (3, 32, 32) and torch.allclose(small, torch.full((3, 32, 32), 128 / 255), atol=1e-6)


def test_floating_point_images_are_read_as_they_are_and_refused_outside_0_1(tmp_path, recwarn):
    values = np.linspace(0, 1, 28 * 28, dtype=np.float32).reshape(28, 28)
    Image.fromarray(values, mode="F").save(tmp_path / "float.tif")
    assert torch.equal(FMNIST.transforms()(tmp_path / "float.tif")[0], torch.from_numpy(values))
    assert [str(w.message) for w in recwarn] == []  # the file's pixels are copied, not wrapped read-only
    Image.fromarray(values * 255, mode="F").save(tmp_path / "scaled.tif")
    with pytest.raises(
        InvalidArgumentError,
        match=r"^the pixels of a floating-point \(mode F\) image have values up "
        r"to 255, .*divide by 255",
    ):
        FMNIST.transforms()(tmp_path / "scaled.tif")


@pytest.mark.parametrize(
    "bad, message",
    [
        (torch.rand(1, 28, 28) * 255, "the pixels of the image tensor have values up to 2"),
        (torch.rand(1, 28, 28) * 255, "values up to 255: pass uint8 images or divide by 255"),
        (torch.full((1, 28, 28), float("nan")), "the pixels of the image tensor hold NaN or infinite values"),
        (torch.rand(1, 28, 28) * 2 - 1, "normalised images"),
        (np.random.rand(28, 28, 3) * 255, "the pixels of the image array have values up to 2"),
        (np.zeros((3, 28, 28), dtype=np.uint8), "looks channels-first"),
        (torch.zeros(28, 28, 3, dtype=torch.uint8), "looks channels-last"),
        (torch.zeros(2, 1, 28, 28), "a batch"),
        (torch.zeros(1, 28, 28, dtype=torch.int64), "uint8 (0-255) or float"),
        (np.zeros((28, 28), dtype=np.int32), "uint8 (0-255), uint16 or float"),
        ([1, 2, 3], "cannot use a list as an image"),
    ],
)
def test_inputs_that_would_give_wrong_answers_are_refused_with_the_fix(bad, message):
    with pytest.raises(InvalidArgumentError, match=message.replace("(", r"\(").replace(")", r"\)")):
        FMNIST.transforms()(bad)


def test_transforms_describe_their_policy_and_config_json_carries_the_names():
    text = FMNIST.transforms().describe()
    for part in ("first", "EXIF", "black", "luma", "aspect ratio kept", "1×28×28", "not resampled"):
        assert part in text
    assert "white" in CIFAR.transforms().describe() and "RGB" in CIFAR.transforms().describe()
    from dkl_zoo.original.convert import config_for

    config = json.loads(json.dumps(config_for(CIFAR)))
    assert config["label_names"] == list(CIFAR.categories)
    assert config["pretrained_cfg"]["label_names"] == list(CIFAR.categories)
    assert config["pretrained_cfg"]["paper_ids"] == "arXiv:2305.13948"


def test_a_jpeg_of_another_size_is_read(tmp_path):
    rgb = np.random.default_rng(3).integers(0, 256, size=(45, 60, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG")
    (tmp_path / "photo.JPG").write_bytes(buffer.getvalue())
    out = CIFAR.transforms()(tmp_path / "photo.JPG")
    assert out.shape == (3, 32, 32) and 0 <= float(out.min()) and float(out.max()) <= 1
