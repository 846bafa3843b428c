"""``attack_image``: the adversarial example of a user's image, exact in 8 bits, its figure and its PNG."""

from __future__ import annotations

import math

import pytest
import torch
from PIL import Image

import dkl_zoo
from dkl_zoo.adversarial import AttackResult, attack_image, read_png, save_png
from dkl_zoo.errors import InvalidArgumentError
from dkl_zoo.examples import example_images
from dkl_zoo.figure import attack_figure

NAME = "ikl-at-fmnist-wrn10-1"
ENTRY = dkl_zoo.model_info(NAME)


@pytest.fixture(scope="module")
def model():
    return dkl_zoo.load(NAME)


def image(label: int):
    return next(e for e in example_images() if e.label == label).path


@pytest.mark.parametrize("attack", ["apgd-ce", "pgd"])
def test_the_adversarial_image_is_8_bit_within_eps_and_its_answers_are_the_models(model, attack):
    result = attack_image(model, image(2), attack=attack, steps=20)
    levels_x, levels_adv = result.original * 255, result.adversarial * 255
    assert torch.equal(levels_x, levels_x.round()) and torch.equal(levels_adv, levels_adv.round())
    assert result.linf <= result.eps == ENTRY.provenance.eps
    assert (levels_adv - levels_x).abs().max() == math.floor(0.1 * 255)  # the attack used its whole budget
    assert torch.equal(result.original, ENTRY.transforms()(image(2)))  # an 8-bit PNG at the input size
    with torch.no_grad():
        before = model(result.original[None]).softmax(1)[0]
        after = model(result.adversarial[None]).softmax(1)[0]
    assert result.before.index == int(before.argmax()) and result.after.index == int(after.argmax())
    assert result.after.probability == pytest.approx(float(after.max()), abs=1e-6)
    assert len(result.before.top_k) == 3 and result.succeeded == (result.after.index != result.before.index)


def test_seeded_attacks_repeat_and_leave_the_global_random_state_alone(model):
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    first = attack_image(model, image(4), steps=10, seed=5)
    assert torch.equal(torch.rand(3), expected_next)
    again = attack_image(model, image(4), steps=10, seed=5)
    assert torch.equal(first.adversarial, again.adversarial)


def test_a_standard_model_is_fooled_and_the_robust_one_less_easily():
    """The contrast the zoo ships: the same attack flips the standard model's answers on most images."""
    examples = example_images()
    standard = [attack_image("standard-fmnist-wrn10-1", e.path, steps=20) for e in examples]
    robust = [attack_image(NAME, e.path, steps=20) for e in examples]
    assert sum(r.succeeded for r in standard) >= 8
    assert sum(r.succeeded for r in robust) < sum(r.succeeded for r in standard)


def test_a_target_class_is_aimed_at_by_name_or_index(model):
    standard = dkl_zoo.load("standard-fmnist-wrn10-1")
    for attack in ("apgd-ce", "pgd"):
        result = attack_image(standard, image(0), target="Bag", attack=attack, steps=50)
        assert result.target == 8 and result.succeeded and result.after.label == "Bag"
        assert attack_image(standard, image(0), target=8, attack=attack, steps=5).target == 8
    with pytest.raises(InvalidArgumentError, match="unknown target class 'Hat'; the classes are: T-shirt/top"):
        attack_image(model, image(0), target="Hat")
    already = attack_image(model, image(1), steps=1).before.label
    with pytest.raises(InvalidArgumentError, match="already answers"):
        attack_image(model, image(1), target=already)


def near_the_boundary(model) -> torch.Tensor:
    """An 8-bit image that ``model`` classifies by a hair: the blend of two shipped images, bisected to where
    its answer changes."""
    transform = ENTRY.transforms()
    a, b = (transform(e.path) for e in example_images()[:2])

    def blend(t: float) -> torch.Tensor:
        return ((1 - t) * a + t * b).mul(255).round().div(255)

    def answer(t: float) -> int:
        with torch.no_grad():
            return int(model(blend(t)[None]).argmax())

    low, high = 0.0, 1.0
    assert answer(low) != answer(high)
    for _ in range(30):
        middle = (low + high) / 2
        low, high = (middle, high) if answer(middle) == answer(low) else (low, middle)
    return blend(low)


def test_rounding_that_undoes_the_attack_is_said():
    """Below half a grey level no 8-bit image differs from the original: a float attack that fooled the model
    is undone by rounding, and the result says so instead of claiming success."""
    standard = dkl_zoo.load("standard-fmnist-wrn10-1")
    result = attack_image(standard, near_the_boundary(standard), eps=0.9 / 255, steps=20)
    assert result.after_float.index != result.before.index  # the float attack fooled it
    assert result.linf == 0 and not result.succeeded and result.rounding_undid_attack
    assert "rounding the adversarial image to 8 bits undid the attack" in result.summary()
    fine = attack_image(standard, near_the_boundary(standard), eps=2 / 255, steps=20)
    assert fine.succeeded and not fine.rounding_undid_attack and fine.linf == pytest.approx(2 / 255, abs=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"eps": 8}, r"eps=8 is larger than 1.*eps=8/255"),
        ({"eps": 0}, "eps must be a positive number"),
        ({"attack": "fgsm"}, "unknown attack 'fgsm'; known: apgd-ce, pgd"),
        ({"steps": 0}, "steps must be a positive integer"),
        ({"seed": -1}, r"seed must be an integer in \[0, 2\*\*63\)"),
    ],
)
def test_bad_arguments_are_refused_before_any_work(kwargs, message):
    with pytest.raises(InvalidArgumentError, match=message):
        attack_image(NAME, image(0), **kwargs)


def test_the_figure_shows_both_models_and_the_png_is_lossless_and_within_eps(model, tmp_path):
    robust = attack_image(model, image(7), steps=20)
    standard = attack_image("standard-fmnist-wrn10-1", image(7), steps=20)
    figure = attack_figure([robust, standard])
    axes = figure.axes
    assert len(axes) == 6
    assert axes[0].get_title().startswith(NAME) and axes[3].get_title().startswith("standard-fmnist-wrn10-1")
    assert "Linf" in axes[1].get_title() and f"{255 * robust.linf:.1f}/255" in axes[1].get_title()
    assert axes[2].get_xlabel().startswith(f"1. {robust.after.label}")
    assert axes[0].images[0].get_interpolation() == "nearest"
    figure.savefig(tmp_path / "fig.png")
    width, height = Image.open(tmp_path / "fig.png").size
    assert (width, height) == (825, 726)
    save_png(robust.adversarial, tmp_path / "adv.png")
    pixels = read_png(tmp_path / "adv.png")
    assert pixels.dtype == torch.uint8 and torch.equal(pixels.float() / 255, robust.adversarial)
    assert float((pixels.float() / 255 - robust.original).abs().max()) <= robust.eps
    with pytest.raises(InvalidArgumentError, match="8 bits cannot store exactly"):
        save_png(robust.adversarial + 0.001, tmp_path / "not8bit.png")
    assert not (tmp_path / "not8bit.png").exists()
    assert isinstance(robust, AttackResult) and "the attack" in robust.summary()


def test_a_time_limit_stops_a_slow_attack_with_a_message(model):
    from dkl_zoo.errors import AttackTimeoutError

    for attack in ("apgd-ce", "pgd"):
        with pytest.raises(AttackTimeoutError, match="ran past its time limit of 1e-06 s"):
            attack_image(model, image(2), attack=attack, steps=100, time_limit=1e-6)
    assert attack_image(model, image(2), steps=5, time_limit=60).steps == 5
    with pytest.raises(InvalidArgumentError, match="time_limit must be a positive number"):
        attack_image(model, image(2), time_limit=0)
