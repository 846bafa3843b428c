"""``dkl_zoo.predict``: from a user's images to class names, equal to the model's own forward; bad input refused."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from test_images import broken_files

import dkl_zoo
from dkl_zoo.errors import ImageReadError, InvalidArgumentError, ModelOutputError
from dkl_zoo.examples import example_images
from dkl_zoo.prediction import Prediction, predict, predict_iter
from helpers import tiny_entry

NAME = "ikl-at-fmnist-wrn10-1"
ENTRY = dkl_zoo.model_info(NAME)


@pytest.fixture(scope="module")
def model():
    return dkl_zoo.load(NAME)


def forward(model, x):
    with torch.no_grad():
        return torch.softmax(model(x), dim=1)


def test_the_shipped_examples_are_predicted_as_the_model_computes_them(model):
    examples = example_images()
    assert sorted(e.label for e in examples) == list(range(10))  # one shipped image of each class
    x = torch.stack([ENTRY.transforms()(e.path) for e in examples])
    probabilities = forward(model, x)
    answers = predict(model, [e.path for e in examples], top_k=3, progress=False)
    assert len(answers) == len(examples)
    for answer, example, row in zip(answers, examples, probabilities):
        assert isinstance(answer, Prediction) and answer.source == str(example.path)
        assert answer.index == int(row.argmax()) and answer.label == ENTRY.categories[answer.index]
        assert answer.probability == pytest.approx(float(row.max()), abs=1e-6)
        values, indices = row.topk(3)
        assert answer.top_k_indices == tuple(indices.tolist())
        assert [label for label, _ in answer.top_k] == [ENTRY.categories[i] for i in indices.tolist()]
        assert [p for _, p in answer.top_k] == pytest.approx(values.tolist(), abs=1e-6)
    assert sum(a.index == e.label for a, e in zip(answers, examples)) >= 7  # a real model on real images


def test_a_name_a_model_a_tensor_batch_and_a_folder_give_the_same_answers(model):
    folder = example_images()[0].path.parent
    by_folder = predict(NAME, folder, progress=False)
    x = torch.stack([ENTRY.transforms()(e.path) for e in example_images()])
    by_batch = predict(model, x, progress=False)
    by_uint8 = predict(model, (x * 255).round().to(torch.uint8), progress=False)
    by_arrays = predict(model, [np.array(Image.open(e.path)) for e in example_images()], progress=False)
    for group in (by_batch, by_uint8, by_arrays):
        assert [(p.index, round(p.probability, 5)) for p in group] == [
            (p.index, round(p.probability, 5)) for p in by_folder
        ]
    assert by_batch[0].source is None and by_folder[0].source.endswith(".png")
    assert str(by_folder[0]) == f"{by_folder[0].label} ({100 * by_folder[0].probability:.1f} %)"


def test_a_model_without_an_entry_needs_one(model):
    bare = dkl_zoo.build_model(NAME)
    bare.load_state_dict(model.state_dict())
    bare.eval()
    with pytest.raises(InvalidArgumentError, match="does not know which entry it is"):
        predict(bare, example_images()[0].path)
    assert (
        predict(bare, example_images()[0].path, entry=NAME)[0].index
        == predict(model, example_images()[0].path)[0].index
    )
    with pytest.raises(InvalidArgumentError, match="entry=... is for a model object"):
        predict(NAME, example_images()[0].path, entry=NAME)


@pytest.mark.parametrize(
    "bad, message",
    [
        (torch.rand(4, 1, 28, 28) * 255, r"values up to 255: pass uint8 images or divide by 255"),
        (torch.rand(4, 1, 28, 28) * 2 - 1, r"values from -.*normalised images"),
        ((torch.rand(4, 1, 28, 28) - 0.286) / 0.353, r"normalised images"),
        (torch.rand(4, 3, 28, 28), r"3 channel\(s\), the model takes 1"),
        (torch.rand(4, 28, 28, 1), r"look channels-last .*permute\(0, 3, 1, 2\)"),
        (torch.rand(4, 1, 32, 32), r"32×32 pixels, the model takes 28×28"),
        (torch.full((2, 1, 28, 28), float("nan")), r"NaN"),
        (torch.zeros(2, 1, 28, 28, dtype=torch.int64), r"dtype torch.int64"),
        (torch.rand(5), r"N×C×H×W batch or one C×H×W image"),
        ([], r"no inputs given"),
        ([torch.rand(2, 1, 28, 28)], r"single images, not N×C×H×W batches"),
    ],
)
def test_inputs_that_would_be_silently_wrong_are_refused(model, bad, message):
    with pytest.raises(InvalidArgumentError, match=message):
        predict(model, bad, progress=False)


def test_arguments_are_checked_before_the_model_is_loaded(tmp_path, monkeypatch):
    from dkl_zoo import loading

    def fail(*args, **kwargs):
        raise AssertionError("loaded")

    monkeypatch.setattr(loading, "load", fail)
    for kwargs, message in (
        ({"top_k": 0}, "top_k must be a positive integer"),
        ({"batch_size": True}, "batch_size must be a positive integer"),
        ({"workers": -1}, "workers must be a non-negative integer"),
    ):
        with pytest.raises(InvalidArgumentError, match=message):
            predict(NAME, example_images()[0].path, **kwargs)
    with pytest.raises(InvalidArgumentError, match="no such file or folder"):
        predict(NAME, tmp_path / "missing.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidArgumentError, match="holds no image files"):
        predict(NAME, tmp_path / "empty")


def test_top_k_is_at_most_the_number_of_classes(model):
    answer = predict(model, example_images()[0].path, top_k=50, progress=False)[0]
    assert len(answer.top_k) == 10 and sum(p for _, p in answer.top_k) == pytest.approx(1.0, abs=1e-5)


def test_unreadable_files_are_reported_in_order_and_the_others_still_predicted(model, tmp_path):
    reasons = broken_files(tmp_path)
    for example in example_images()[:3]:
        (tmp_path / example.path.name).write_bytes(example.path.read_bytes())
    results = list(predict_iter(model, tmp_path, progress=False, batch_size=2))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert [r.source if isinstance(r, Prediction) else r.path for r in results] == [str(tmp_path / n) for n in names]
    errors = {r.path.rsplit("/", 1)[-1]: r.reason for r in results if isinstance(r, ImageReadError)}
    assert set(errors) == set(reasons) and all(reasons[n] in errors[n] for n in reasons)
    with pytest.raises(ImageReadError):
        predict(model, tmp_path, progress=False)


def test_workers_read_files_in_other_processes_with_the_same_answers(model):
    folder = example_images()[0].path.parent
    alone = predict(model, folder, progress=False, batch_size=3)
    with_workers = predict(model, folder, progress=False, batch_size=3, workers=2)
    assert [(p.source, p.index, p.probability) for p in alone] == [
        (p.source, p.index, p.probability) for p in with_workers
    ]


def test_a_model_with_the_wrong_output_or_nan_logits_is_refused():
    entry = tiny_entry("ikl-at-fmnist-wrn10-1")
    model = dkl_zoo.load(entry, pretrained=False)
    with torch.no_grad():
        model.fc.bias.fill_(float("nan"))
    with pytest.raises(ModelOutputError, match="NaN or infinite logits"):
        predict(model, example_images()[0].path, progress=False)
    other = dkl_zoo.load(
        dkl_zoo.model_info("ikl-at-cifar100-wrn34").with_arch(
            input_size=(1, 28, 28), kwargs={"depth": 10, "widen_factor": 1, "num_classes": 100, "in_channels": 1}
        ),
        pretrained=False,
    )
    with pytest.raises(ModelOutputError, match="not B×10 logits"):
        predict(other, example_images()[0].path, entry=NAME, progress=False)


def test_a_training_mode_model_is_warned_about(model):
    model.train()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            predict(model, example_images()[0].path, progress=False)
        assert any("training mode" in str(w.message) for w in caught)
    finally:
        model.eval()


def test_rgb_images_of_other_sizes_and_jpegs(model, tmp_path):
    example = example_images()[2]
    big = Image.open(example.path).convert("RGB").resize((140, 140), Image.NEAREST)
    big.save(tmp_path / "big.jpg", quality=95)
    big.save(tmp_path / "big.png")
    answers = predict(model, [tmp_path / "big.png", tmp_path / "big.jpg", big], progress=False)
    assert answers[0].index == answers[1].index == answers[2].index == example.label
