"""What the page and its API endpoints call: the library's ``predict`` and ``attack_image`` over models loaded
once (``DemoModels``), their errors turned into messages the page shows."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import (
    DklZooError,
    MissingDependencyError,
)

if TYPE_CHECKING:
    import torch
    from PIL import Image
    from torch import nn


DISPLAY_SIDE = 224
"""Model-size images are shown enlarged to about this many pixels, by nearest neighbour."""


def _gradio() -> Any:
    try:
        import gradio
    except ImportError:
        raise MissingDependencyError("the web demo needs Gradio: pip install 'dkl-zoo[demo]'") from None
    return gradio


def _message(gradio: Any, text: str) -> Exception:
    """An error the page shows as a message (and the API client receives), without a traceback in the log."""
    return gradio.Error(text, print_exception=False)


class DemoModels:
    """Each model loaded once, on first use, and kept; one lock per entry, so two visitors asking at once load it
    once. A Hub entry's download shows its progress (tqdm, which the page tracks)."""

    def __init__(self) -> None:
        self._models: dict[str, nn.Module] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, name: str) -> nn.Module:
        """The verified model of entry ``name`` (``dkl_zoo.load`` the first time, the same object afterwards)."""
        from ..loading import load

        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            if name not in self._models:
                self._models[name] = load(name, progress=True)
            return self._models[name]


def _enlarged(image_chw: torch.Tensor) -> Image.Image:
    """A C×H×W 8-bit [0, 1] image enlarged by nearest neighbour (what is shown is the image itself)."""
    from PIL import Image as PILImage

    from ..adversarial import to_pil_image

    picture = to_pil_image(image_chw)
    factor = max(1, DISPLAY_SIDE // max(picture.size))
    return picture.resize((picture.width * factor, picture.height * factor), PILImage.Resampling.NEAREST)


def _labels(prediction: Any) -> dict[str, float]:
    return dict(prediction.top_k)


class _Handlers:
    """What the page and the API endpoints call: the library's functions, their errors turned into messages."""

    def __init__(self, models: DemoModels, names: Sequence[str], time_limit: float) -> None:
        self.models, self.names, self.time_limit = models, list(names), time_limit

    def _model_and_image(self, name: str, image: Any) -> tuple[nn.Module, Any]:
        gradio = _gradio()
        if name not in self.names:
            raise _message(gradio, f"unknown model {name!r}; this page serves: {', '.join(self.names)}")
        if image is None:
            raise _message(gradio, "no image: upload, paste or drag one, or pick an example")
        try:
            return self.models.get(name), image
        except DklZooError as error:
            raise _message(gradio, f"{name}: {error}") from None

    def predict(self, name: str, image: Any) -> dict[str, float]:
        """The top-5 classes of ``image`` for the entry ``name``, as ``dkl_zoo.predict`` answers."""
        from ..prediction import predict

        model, picture = self._model_and_image(name, image)
        return _labels(predict(model, picture, top_k=5, progress=False)[0])

    def _attack(self, name: str, image: Any, eps: Any) -> Any:
        from ..adversarial import attack_image

        gradio = _gradio()
        model, picture = self._model_and_image(name, image)
        try:
            return attack_image(model, picture, eps=eps, top_k=5, time_limit=self.time_limit)
        except DklZooError as error:
            raise _message(gradio, f"{name}: {error}") from None

    def attack(self, name: str, image: Any, eps: Any) -> tuple[Image.Image, dict[str, float], dict[str, float]]:
        """The adversarial image (8 bits, the model's size, served as PNG) and the top-5 before and after, as
        ``dkl_zoo.attack_image`` answers (APGD-CE, 100 steps, seed 0)."""
        from ..adversarial import to_pil_image

        result = self._attack(name, image, eps)
        return to_pil_image(result.adversarial), _labels(result.before), _labels(result.after)

    def attack_view(self, name: str, image: Any, eps: Any) -> tuple[Any, Any, dict[str, float], dict[str, float], str]:
        """For the page: the adversarial image and the perturbation (mid-grey is no change, black and white are
        -eps and +eps), both enlarged, the top-5 before and after, and a one-line verdict."""
        result = self._attack(name, image, eps)
        change = result.adversarial - result.original
        magnified = ((change / (2 * result.eps) + 0.5) * 255).round().clamp(0, 255) / 255
        verdict = (
            f"**{name}**: {result.before.label} ({100 * result.before.probability:.1f} %) → "
            f"**{result.after.label}** ({100 * result.after.probability:.1f} %): "
            f"**{'fooled' if result.succeeded else 'held'}**; Linf {255 * result.linf:.0f}/255"
            + (" (rounding to 8 bits undid the attack)" if result.rounding_undid_attack else "")
        )
        return (
            _enlarged(result.adversarial),
            _enlarged(magnified),
            _labels(result.before),
            _labels(result.after),
            verdict,
        )
