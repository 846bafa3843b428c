"""``dkl-zoo demo``: a local web page (Gradio) where robustness can be seen. Give it a picture, attack it, and
watch the standard model's answer flip while the IKL-AT model's holds.

The page and its API endpoints are thin over the library: ``/predict`` answers what ``dkl_zoo.predict``
answers, ``/attack`` what ``dkl_zoo.attack_image`` answers, the adversarial image as a lossless PNG at the
model's size (Gradio's image output defaults to WebP, which moves pixels by many grey levels: the downloaded
image would no longer be the attack). Images are enlarged for display by nearest neighbour only, and the page
asks the browser not to smooth them.

Safe to leave running: it binds to 127.0.0.1 unless told otherwise and makes a public link only with
``share=True``; each model is loaded once and kept; every computation goes through one Gradio queue slot, so
concurrent visitors wait their turn instead of racing on one model; an attack past ``time_limit`` stops with a
message; uploads are read by ``dkl_zoo`` (a file that is not an image is a message in the page) and images
of more than ``MAX_PIXELS`` pixels are refused before they are decoded. A pasted image (a data URL) goes through
the same reader and limits as a file. The answers are the library's for the same file, to the last digit: the
image is read as ``dkl_zoo.predict`` reads a path (16-bit files at full depth), never resized twice. An upload to
the API endpoints is deleted as soon as it is read; the page keeps its ``KEPT_UPLOADS`` most recent uploads (a
picture is predicted, then attacked) and deletes older ones. ``serve`` keeps Gradio's files in one temporary
folder, sweeps its outputs every few minutes and removes the folder when the server stops (Ctrl-C included).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import (
    LIST_MODELS,
    InvalidArgumentError,
    PortUnavailableError,
)
from ..registry import REGISTRY, ModelEntry, get_entry
from .handlers import DISPLAY_SIDE, DemoModels, _gradio, _Handlers
from .uploads import KEPT_UPLOADS, MAX_PIXELS, MAX_UPLOAD, _image_input

if TYPE_CHECKING:
    import gradio

__all__ = [
    "DEFAULT_MODELS",
    "MAX_PIXELS",
    "PAGE_CSS",
    "DemoModels",
    "build_app",
    "launch_options",
    "page_models",
    "serve",
]

DEFAULT_MODELS = ("ikl-at-fmnist-wrn10-1", "standard-fmnist-wrn10-1")
"""Preselected, since the shipped models load offline: the robust model and its non-robust contrast."""
OUTPUT_SWEEP = (300, 900)
"""Gradio's own sweep of its cache (outputs included): every 300 s, files older than 900 s."""
PAGE_CSS = (
    ".dkl-pixels img { image-rendering: pixelated; }\n"
    f"#dkl-image img {{ height: {DISPLAY_SIDE}px; width: auto; object-fit: contain; }}"
)
"""The browser must not smooth the enlarged pixels either, and shows a small upload at the size of the rest."""


_QUEUE = "dkl-zoo-models"
"""One concurrency group for every event that runs a model: one computation at a time."""


def page_models(names: Sequence[str] | None = None) -> list[str]:
    """The entries the page offers: ``names`` as given, or every registry entry with the shipped ones first.

    Raises:
        InvalidArgumentError: an unknown name, or an empty list.
    """
    if names is not None:
        names = list(dict.fromkeys(names))
        unknown = [name for name in names if name not in REGISTRY]
        if unknown:
            raise InvalidArgumentError(f"unknown model(s) {', '.join(unknown)}; see {LIST_MODELS.python}").with_remedy(
                LIST_MODELS
            )
        if not names:
            raise InvalidArgumentError(f"no models to show; name at least one (see {LIST_MODELS.python})").with_remedy(
                LIST_MODELS
            )
        return names
    shipped = [name for name in DEFAULT_MODELS if name in REGISTRY]
    return shipped + [name for name in sorted(REGISTRY) if name not in shipped]


def entry_summary(entry: ModelEntry) -> str:
    """The model card's headline numbers with their sources, in Markdown, for under the model picker."""
    provenance = entry.provenance
    if provenance.method == "standard":
        kind = "standard training, **not robust** (the contrast)"
    else:
        kind = " / ".join(dict.fromkeys(label.label for label in provenance.method_labels)) or "adversarial training"
    where = (
        "shipped in the package (offline)" if entry.weights.embedded_file else "downloaded from the Hub on first use"
    )
    rows = "\n".join(f"| {r.source} | {r.clean_acc:.2f} | {r.robust_acc:.2f} |" for r in provenance.reported)
    return (
        f"**{entry.name}**: {entry.arch.label} on {entry.dataset}, {kind}; {provenance.threat_model} "
        f"eps {provenance.eps_label}; {where}.\n\n| source | clean % | AutoAttack % |\n| --- | --- | --- |\n{rows}"
    )


def _eps_slider(gradio: Any, entry: ModelEntry, **kwargs: Any) -> Any:
    eps = entry.provenance.eps
    return gradio.Slider(
        minimum=0.0,
        maximum=min(1.0, 4 * eps),
        value=eps,
        step=1 / 255,
        label=f"eps (Linf), the model's own: {entry.provenance.eps_label}",
        **kwargs,
    )


def build_app(
    names: Sequence[str] | None = None,
    *,
    comparison: str | None = None,
    time_limit: float = 30.0,
    models: DemoModels | None = None,
) -> gradio.Blocks:
    """The Gradio app: pick a model (``names``; default every entry, the shipped ones first) and a model to
    compare with (default the standard contrast), give an image and see both top-5s, attack it at a chosen eps
    and see both adversarial images and answers. API endpoints ``/predict`` (entry name, image) and ``/attack``
    (entry name, image, eps). Launch it with ``css=PAGE_CSS``, or use ``serve``.

    Raises:
        MissingDependencyError: Gradio is not installed (the ``demo`` extra).
        InvalidArgumentError: an unknown name in ``names`` or ``comparison``, or a bad ``time_limit``.
    """
    gradio = _gradio()
    names = page_models(names)
    if comparison is None:
        comparison = DEFAULT_MODELS[1] if DEFAULT_MODELS[1] in names else names[-1]
    elif comparison not in names:
        raise InvalidArgumentError(f"comparison model {comparison!r} is not among the page's models")
    from .._arguments import checked_seconds

    time_limit = checked_seconds(time_limit, "time_limit")
    handlers = _Handlers(models or DemoModels(), names, float(time_limit))
    first = get_entry(names[0])
    from ..examples import example_images

    with gradio.Blocks(
        title="dkl_zoo: robustness you can see", analytics_enabled=False, delete_cache=OUTPUT_SWEEP
    ) as app:
        gradio.Markdown(
            "# dkl_zoo: robustness you can see\nGive an image and see what two models answer. Then "
            "attack it: the attack changes every pixel by at most eps and looks for an image the "
            "model gets wrong. A robust model holds; a standard one flips."
        )
        with gradio.Row():
            model = gradio.Dropdown(names, value=names[0], label="model")
            other = gradio.Dropdown(names, value=comparison, label="compared with")
        with gradio.Row():
            summary = gradio.Markdown(entry_summary(first))
            summary_other = gradio.Markdown(entry_summary(get_entry(comparison)))
        with gradio.Row():
            image = _image_input(
                gradio,
                keep=KEPT_UPLOADS,
                label="your image (upload, paste or drag)",
                sources=["upload", "clipboard"],
                height=DISPLAY_SIDE + 60,
                elem_id="dkl-image",
                elem_classes=["dkl-pixels"],
            )
            with gradio.Column():
                top5 = gradio.Label(num_top_classes=5, label="model: top-5", elem_id="dkl-top5")
                top5_other = gradio.Label(num_top_classes=5, label="compared model: top-5", elem_id="dkl-top5-other")
        gradio.Examples(
            [[str(example.path)] for example in example_images()],
            inputs=[image],
            label="Fashion-MNIST test images (click one)",
        )
        with gradio.Row():
            eps = _eps_slider(gradio, first, elem_id="dkl-eps")
            attack_button = gradio.Button("Attack", variant="stop", elem_id="dkl-attack")
        views = []
        with gradio.Row():
            for title, key in (("model", "model"), ("compared model", "other")):
                with gradio.Column():
                    verdict = gradio.Markdown(elem_id=f"dkl-verdict-{key}")
                    with gradio.Row():
                        adversarial = gradio.Image(
                            label=f"adversarial image ({title})",
                            format="png",
                            interactive=False,
                            elem_classes=["dkl-pixels"],
                            elem_id=f"dkl-adversarial-{key}",
                        )
                        perturbation = gradio.Image(
                            label="perturbation, magnified (grey: unchanged)",
                            format="png",
                            interactive=False,
                            elem_classes=["dkl-pixels"],
                        )
                    after = gradio.Label(
                        num_top_classes=5, label=f"{title}: top-5 after the attack", elem_id=f"dkl-after-{key}"
                    )
                    views.append((adversarial, perturbation, after, verdict))
        gradio.Markdown(
            "APGD-CE (AutoAttack's first attack), 100 steps, seed 0, on the image as the model sees it "
            "(its own size, 8 bits); the adversarial image is rounded to 8 bits inside the eps ball "
            "and the answers shown are the model's on that image."
        )

        def on_model(name: str) -> tuple[str, Any]:
            entry = get_entry(name)
            return entry_summary(entry), _eps_slider(gradio, entry)

        def on_other(name: str) -> str:
            return entry_summary(get_entry(name))

        def on_image(
            name: str, compared: str, picture: Any, progress: Any = gradio.Progress(track_tqdm=True)
        ) -> tuple[Any, Any]:
            if picture is None:
                return None, None
            return handlers.predict(name, picture), handlers.predict(compared, picture)

        def on_attack(
            name: str, compared: str, picture: Any, budget: float, progress: Any = gradio.Progress(track_tqdm=True)
        ) -> tuple[Any, ...]:
            mine = handlers.attack_view(name, picture, budget)
            theirs = handlers.attack_view(compared, picture, budget)
            return (
                mine[2],
                theirs[2],
                *(mine[0], mine[1], mine[3], mine[4]),
                *(theirs[0], theirs[1], theirs[3], theirs[4]),
            )

        def api_predict(name: str, picture: Any, progress: Any = gradio.Progress(track_tqdm=True)) -> Any:
            return handlers.predict(name, picture)

        def api_attack(name: str, picture: Any, budget: float, progress: Any = gradio.Progress(track_tqdm=True)) -> Any:
            return handlers.attack(name, picture, budget)

        shared = {"concurrency_limit": 1, "concurrency_id": _QUEUE}
        model.change(on_model, [model], [summary, eps], api_name=False)
        other.change(on_other, [other], [summary_other], api_name=False)
        for trigger in (image.change, model.change, other.change):
            trigger(on_image, [model, other, image], [top5, top5_other], api_name=False, **shared)
        attack_button.click(
            on_attack,
            [model, other, image, eps],
            [top5, top5_other, *(component for view in views for component in view)],
            api_name=False,
            **shared,
        )
        with gradio.Row(visible=False):  # the endpoints for scripts, not drawn
            name_in = gradio.Textbox()
            image_in = _image_input(gradio, keep=0)
            eps_in = gradio.Number()
            before_out, after_out = gradio.Label(), gradio.Label()
            adversarial_out = gradio.Image(type="pil", format="png")
            predict_endpoint, attack_endpoint = gradio.Button(), gradio.Button()
        predict_endpoint.click(api_predict, [name_in, image_in], [after_out], api_name="predict", **shared)
        attack_endpoint.click(
            api_attack,
            [name_in, image_in, eps_in],
            [adversarial_out, before_out, after_out],
            api_name="attack",
            **shared,
        )
    return app.queue(default_concurrency_limit=1)


def _check_host(host: object) -> None:
    """Refuse a host name that does not resolve here, before Gradio reports it as a port that is taken."""
    import socket

    if not isinstance(host, str) or not host:
        raise InvalidArgumentError(f"host must be a host name or an address such as 127.0.0.1, got {host!r}")
    try:
        socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError):
        raise InvalidArgumentError(
            f"host {host!r} does not resolve to an address on this machine: use 127.0.0.1 "
            "(this machine only) or 0.0.0.0 (every interface)"
        ) from None


def launch_options() -> dict[str, Any]:
    """What ``serve`` gives Gradio's ``launch`` besides the address: the upload limit, the page's style, errors
    shown in the page and the API link. A page launched otherwise (a notebook, a Space) passes the same."""
    return {"max_file_size": MAX_UPLOAD, "css": PAGE_CSS, "show_error": True, "footer_links": ["api"]}


def serve(
    names: Sequence[str] | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    share: bool = False,
    time_limit: float = 30.0,
    on_ready: Any = None,
) -> None:
    """Serve the app at ``host``:``port`` until interrupted (a public link only with ``share``). Gradio's uploads
    and outputs (and Matplotlib's cache, which Gradio touches on every call, unless ``MPLCONFIGDIR`` is set) live
    in one temporary folder, removed when the server stops. ``on_ready(url)`` is called once the page answers.
    Best called in a fresh process: Gradio reads some of its folders when it is first imported.

    Raises:
        MissingDependencyError: Gradio is not installed (the ``demo`` extra).
        InvalidArgumentError: as ``build_app``, a port outside 1..65535, or a host that does not resolve.
        PortUnavailableError: the port is taken or not allowed.
    """
    from .._arguments import checked_bool, checked_count

    port = checked_count(port, "port", 1, below=65536)
    _check_host(host)
    share = checked_bool(share, "share")
    folder = tempfile.mkdtemp(prefix="dkl-zoo-demo-")
    from ..settings import demo_folders

    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, folder, ignore_errors=True)
        cleanup.enter_context(demo_folders(folder))
        _gradio()
        app = build_app(names, time_limit=time_limit)
        try:
            app.launch(
                server_name=host,
                server_port=port,
                share=share,
                prevent_thread_lock=True,
                quiet=True,
                **launch_options(),
            )
        except OSError:
            raise PortUnavailableError(
                f"cannot serve on {host}:{port}: the port is taken or not allowed; choose another "
                "port (or stop the program that holds it)"
            ) from None
        try:
            if on_ready is not None:
                on_ready(app.share_url or app.local_url)
            threading.Event().wait()
        finally:
            app.close()
