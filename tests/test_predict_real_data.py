"""All 10,000 Fashion-MNIST test images written as PNG and predicted by `dkl-zoo predict`: the answers are the
model's own on the same tensors, and the accuracy is the clean accuracy `evaluate` recorded on those images."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
import torch
from PIL import Image

import dkl_zoo
from dkl_zoo.cli import main
from dkl_zoo.data import load_fashion_mnist
from helpers import ctrl_c_reaches_it, fashion_mnist_or_skip, python_env

NAME = "ikl-at-fmnist-wrn10-1"
CLEAN_ALL = 8077  # evaluate on all 10,000 test images: 80.77 % clean (README; the entry records 80.40 % on 1000)
CLEAN_FIRST_1000 = 804  # the entry's recorded 80.40 %, evaluate on the first 1000


@pytest.fixture(scope="module")
def test_set(tmp_path_factory):
    fashion_mnist_or_skip()
    x, y = load_fashion_mnist(train=False)
    root = tmp_path_factory.mktemp("fmnist-png")
    pixels = (x[:, 0] * 255).round().to(torch.uint8).numpy()
    for i in range(len(y)):
        Image.fromarray(pixels[i]).save(root / f"{i:05d}.png", compress_level=1)
    return root, x, y


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_ten_thousand_pngs_are_predicted_as_the_model_computes_them(test_set, tmp_path, backend):
    """Both backends: the same top-1 as PyTorch on every image, probabilities within 1e-4 (onnxruntime) or
    1e-5 (PyTorch itself, batched otherwise)."""
    root, x, y = test_set
    out = tmp_path / "predictions.json"
    assert (
        main(
            [
                "predict",
                NAME,
                str(root),
                "--format",
                "json",
                "--out",
                str(out),
                "--quiet",
                "--batch-size",
                "500",
                "--top-k",
                "1",
                "--backend",
                backend,
            ]
        )
        == 0
    )
    rows = json.loads(out.read_text())
    assert [row["path"] for row in rows] == [str(root / f"{i:05d}.png") for i in range(len(y))]
    model = dkl_zoo.load(NAME)
    with torch.no_grad():
        probabilities = torch.cat([torch.softmax(model(x[i : i + 1000]), dim=1) for i in range(0, len(y), 1000)])
    predicted = torch.tensor([row["index"] for row in rows])
    assert torch.equal(predicted, probabilities.argmax(1))
    assert torch.allclose(
        torch.tensor([row["probability"] for row in rows]),
        probabilities.max(1).values,
        atol=1e-4 if backend == "onnxruntime" else 1e-5,
    )
    assert [row["label"] for row in rows[:3]] == [model.dkl_zoo_entry.categories[int(i)] for i in predicted[:3]]
    assert int((predicted == y).sum()) == CLEAN_ALL
    assert (
        int((predicted[:1000] == y[:1000]).sum())
        == CLEAN_FIRST_1000
        == round(10 * dkl_zoo.model_info(NAME).headline.clean_acc)
    )


def test_ctrl_c_leaves_neither_the_output_nor_a_temporary_file(test_set, tmp_path):
    root, _, _ = test_set
    out = tmp_path / "partial.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dkl_zoo",
            "predict",
            NAME,
            str(root),
            "--format",
            "json",
            "--out",
            str(out),
            "--batch-size",
            "1",
        ],
        env=python_env(),
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ctrl_c_reaches_it,
    )
    seen = ""
    deadline = time.monotonic() + 120
    while "predict " + NAME not in seen and time.monotonic() < deadline:  # the progress bar: predicting now
        seen += process.stderr.read(1)
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=60)
    assert process.returncode == 130, seen + rest
    assert "interrupted" in rest
    assert list(tmp_path.iterdir()) == []
