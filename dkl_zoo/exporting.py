"""``dkl_zoo.export``: a model as an ONNX, TorchScript or ExportedProgram file, checked before it is written.

The file is written beside its destination under a temporary name, loaded back by the runtime that will use
it (onnxruntime for ONNX, ``torch.jit.load``, ``torch.export.load``), and compared with the PyTorch model on
real images (the shipped examples through the entry's transforms) and on random ones, at batch 1 and at a
larger batch. Only when every logit agrees within ``atol`` is it renamed to its destination: a file that
exists is a checked file. The module is not named after the function, so the two cannot shadow each other.

ONNX uses PyTorch's ``torch.export``-based exporter (``torch.onnx.export(dynamo=True)``, which needs
onnxscript); the file carries the entry's name, the weights' sha256, the class names and the input spec in
its metadata (``metadata_props``, keys ``dkl_zoo.*``). The other formats carry the same as ``dkl_zoo.json``.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ._choices import EXPORT_FORMATS
from .errors import ExportCheckError, InvalidArgumentError, MissingDependencyError
from .registry import ModelEntry

__all__ = ["FORMATS", "ExportResult", "export", "export_metadata"]

FORMATS = EXPORT_FORMATS
_SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt", "exported-program": ".pt2"}
CHECK_BATCH = 8
"""The larger batch each export is checked at (besides batch 1)."""


@dataclass(frozen=True)
class ExportResult:
    """What was written: the file, its format and sha256, and how far its logits were from PyTorch's."""

    path: Path
    format: str
    sha256: str
    max_abs_diff: float
    checked_batches: tuple[int, ...]
    metadata: dict[str, str]


def export_metadata(entry: ModelEntry, weights_sha256: str | None, dynamic_batch: bool) -> dict[str, str]:
    """The ``dkl_zoo.*`` fields an exported file carries (strings; lists and specs as JSON)."""
    from importlib import metadata

    channels, height, width = entry.arch.input_size
    spec = {
        "name": "images",
        "dtype": "float32",
        "layout": "NCHW",
        "shape": ["batch" if dynamic_batch else 1, channels, height, width],
        "range": [0.0, 1.0],
        "colour": "grayscale" if channels == 1 else "RGB",
        "normalisation": entry.arch.normalization,
    }
    return {
        "dkl_zoo.name": entry.name,
        "dkl_zoo.weights_sha256": weights_sha256 or "unknown (weights not from a verified file, or changed since)",
        "dkl_zoo.categories": json.dumps(list(entry.categories)),
        "dkl_zoo.input": json.dumps(spec),
        "dkl_zoo.output": json.dumps({"name": "logits", "shape": ["batch" if dynamic_batch else 1, entry.num_classes]}),
        "dkl_zoo.dataset": entry.dataset,
        "dkl_zoo.threat_model": f"{entry.provenance.threat_model} eps {entry.provenance.eps_label}",
        "dkl_zoo.version": metadata.version("dkl-zoo"),
    }


def _need(module: str, what: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(f"{what} needs {module}: pip install 'dkl-zoo[export]'") from None


def _check_inputs(entry: ModelEntry, batch: int) -> list[torch.Tensor]:
    """Real images (the shipped examples through the entry's transforms) and random ones, of ``batch`` each."""
    from .examples import example_images

    transform = entry.transforms()
    real = torch.stack([transform(example.path) for example in example_images()])
    real = real.repeat((batch + len(real) - 1) // len(real), 1, 1, 1)[:batch]
    generator = torch.Generator().manual_seed(0)
    return [real, torch.rand((batch, *entry.arch.input_size), generator=generator)]


def _write_onnx(
    model: nn.Module, example: torch.Tensor, path: Path, metadata: dict[str, str], dynamic_batch: bool
) -> Callable[[torch.Tensor], torch.Tensor]:
    _need("onnxscript", "ONNX export")
    onnx = _need("onnx", "ONNX export")
    ort = _need("onnxruntime", "checking an ONNX export")
    import warnings

    dynamic = ({0: torch.export.Dim("batch", min=1)},) if dynamic_batch else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's own chatter; a failure still raises
        program = torch.onnx.export(
            model,
            (example,),
            dynamo=True,
            input_names=["images"],
            output_names=["logits"],
            dynamic_shapes=dynamic,
            verbose=False,
        )
    program.save(str(path))
    proto = onnx.load(str(path))
    onnx.helper.set_model_props(proto, metadata)
    onnx.save(proto, str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: torch.from_numpy(session.run(["logits"], {"images": x.numpy()})[0])


def _write_torchscript(
    model: nn.Module, example: torch.Tensor, path: Path, metadata: dict[str, str], dynamic_batch: bool
) -> Callable[[torch.Tensor], torch.Tensor]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript's deprecation notice; a failure still raises
        traced = torch.jit.trace(model, example, check_trace=False)
        torch.jit.save(traced, str(path), _extra_files={"dkl_zoo.json": json.dumps(metadata)})
        loaded = torch.jit.load(str(path), map_location="cpu")
    return lambda x: loaded(x)


def _write_exported_program(
    model: nn.Module, example: torch.Tensor, path: Path, metadata: dict[str, str], dynamic_batch: bool
) -> Callable[[torch.Tensor], torch.Tensor]:
    dynamic = ({0: torch.export.Dim("batch", min=1)},) if dynamic_batch else None
    program = torch.export.export(model, (example,), dynamic_shapes=dynamic)
    torch.export.save(program, str(path), extra_files={"dkl_zoo.json": json.dumps(metadata)})
    loaded = torch.export.load(str(path)).module()
    return lambda x: loaded(x)


_WRITERS = {"onnx": _write_onnx, "torchscript": _write_torchscript, "exported-program": _write_exported_program}


def export(
    model_or_name: nn.Module | str | ModelEntry,
    path: str | os.PathLike[str],
    *,
    format: str = "onnx",
    dynamic_batch: bool = True,
    atol: float = 1e-4,
    entry: str | ModelEntry | None = None,
) -> ExportResult:
    """Write the model to ``path`` as ``format`` ("onnx", "torchscript" or "exported-program") after checking
    the written file against PyTorch: max abs logit difference ≤ ``atol`` on real and random images, at batch 1
    and (with ``dynamic_batch``, a free batch dimension) at batch ``CHECK_BATCH``. Returns the file's sha256.

    ``model_or_name`` and ``entry`` as for ``predict``; the export runs on the CPU (a model elsewhere is
    copied there, not moved; the caller's model is never changed). The input is float32 N×C×H×W in [0, 1] named
    "images", the output "logits".

    Raises:
        InvalidArgumentError: an unknown format; a path that must not be replaced (a folder, a device such as
            /dev/null, a pipe, a read-only file) or cannot be written; a bad atol; a ``dynamic_batch`` that is not
            True or False; a model that does not fit its entry.
        MissingDependencyError: ONNX without onnx / onnxscript / onnxruntime (``pip install 'dkl-zoo[export]'``).
        ExportCheckError: the written file computes other logits than PyTorch; nothing was kept.
    """
    from ._arguments import checked_bool, is_real
    from ._atomic import atomic_file, checked_output
    from ._integrity import file_digest
    from ._resolve import resolve_model
    from ._weights_watch import unchanged_since_load
    from .loading import weights_sha256_of

    if format not in FORMATS:
        raise InvalidArgumentError(f"unknown export format {format!r}; known: {', '.join(FORMATS)}")
    if not is_real(atol) or not 0 < atol < 1:  # a tolerance, not a count
        raise InvalidArgumentError(f"atol must be a number in (0, 1), got {atol!r}")
    dynamic_batch = checked_bool(dynamic_batch, "dynamic_batch")
    checked_output(path)
    if format == "onnx":  # the extra is checked before any model is loaded
        for module in ("onnx", "onnxscript", "onnxruntime"):
            _need(module, "ONNX export")
    model, known, device = resolve_model(model_or_name, entry=entry, warn_training=False)  # exported in eval mode
    given = model_or_name if isinstance(model_or_name, nn.Module) else model  # resolve_model may run a copy
    sha256 = weights_sha256_of(given) if unchanged_since_load(given) else None  # not the file's, once edited
    if device.type != "cpu" or model.training:  # the caller's module keeps its device and mode
        model = copy.deepcopy(model).cpu().eval()
    metadata = export_metadata(known, sha256, dynamic_batch)
    batches = (1, CHECK_BATCH) if dynamic_batch else (1,)
    try:
        with atomic_file(path, suffix=_SUFFIXES[format]) as tmp:
            run = _WRITERS[format](
                model, _check_inputs(known, 2 if dynamic_batch else 1)[0], tmp, metadata, dynamic_batch
            )
            worst = 0.0
            for batch in batches:
                for x in _check_inputs(known, batch):
                    with torch.no_grad():
                        expected = model(x)
                        got = run(x)
                    worst = max(worst, float((got - expected).abs().max()))
            if not worst <= atol:
                raise ExportCheckError(
                    f"the {format} export of {known.name} computes other logits than PyTorch (max abs difference "
                    f"{worst:.3g} > {atol:g}); no file was written"
                )
    except Exception as error:
        from ._interrupts import interrupt_in_chain

        if interrupt_in_chain(error):  # torch.export wraps a Ctrl-C in its own error: it stays an interrupt
            raise KeyboardInterrupt from None
        raise
    return ExportResult(
        path=Path(path),
        format=format,
        sha256=file_digest(checked_output(path)),
        max_abs_diff=worst,
        checked_batches=batches,
        metadata=metadata,
    )
