"""A checkpoint file to verify, told apart by its content (not its ending): a safetensors weights file, or a file
written by ``dkl_zoo.export`` (ONNX, TorchScript, ExportedProgram), each run through its own runtime.

TorchScript and ExportedProgram keep gradients, so they get all three checks; an ONNX file runs in onnxruntime,
which has none, so it gets the fingerprint and clean checks and says why the robust check was skipped. A
TorchScript or ExportedProgram file is a program that runs when called: verify the files you made (with
``dkl_zoo.export``) or trust, as you would any program.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import InvalidArgumentError, MissingDependencyError
from ..registry import ModelEntry, get_entry

__all__ = ["ExportedModel", "checkpoint_kind", "open_checkpoint"]

KINDS = ("safetensors", "onnx", "torchscript", "exported-program")


def checkpoint_kind(path: str | os.PathLike[str]) -> str:
    """ "safetensors", "onnx", "torchscript" or "exported-program", read from the file's first bytes and, for the
    two zip archives, the names inside them.

    Raises:
        InvalidArgumentError: the file is none of these (or cannot be read).
    """
    target = Path(path)
    try:
        with open(target, "rb") as handle:
            head = handle.read(16)
    except OSError as error:
        raise InvalidArgumentError(f"cannot read {target}: {error.strerror or error}") from None
    if len(head) >= 9 and head[8:9] == b"{" and 0 < int.from_bytes(head[:8], "little") < 100_000_000:
        return "safetensors"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(target) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile:
            names = []
        if any(n.split("/")[-1] == "archive_format" for n in names):  # torch.export.save's archive
            return "exported-program"
        if any(n.split("/")[-1] in ("data.pkl", "constants.pkl") for n in names):  # torch.jit.save's archive
            return "torchscript"
    elif head[:1] == b"\x08":  # an ONNX ModelProto starts with its ir_version field
        return "onnx"
    raise InvalidArgumentError(
        f"{target} is neither a safetensors weights file nor a model written by "
        "dkl_zoo.export (ONNX, TorchScript, ExportedProgram)"
    )


class ExportedModel:
    """An exported file's model: callable on a float N×C×H×W batch, with the entry and weights its metadata names.
    ``module`` is the ``nn.Module`` for formats with gradients, None for ONNX."""

    def __init__(
        self,
        run: Callable[[torch.Tensor], torch.Tensor],
        *,
        path: Path,
        format: str,
        metadata: dict[str, str],
        module: nn.Module | None,
    ) -> None:
        self._run, self.path, self.format, self.metadata, self.module = run, path, format, metadata, module
        name = metadata.get("dkl_zoo.name")
        self.entry: ModelEntry | None = get_entry(name) if name else None
        self.weights_sha256 = metadata.get("dkl_zoo.weights_sha256")
        self.no_gradients_reason = (
            "an ONNX file runs in onnxruntime, which computes no input gradients: the robust "
            "check needs them (verify the TorchScript or ExportedProgram export for it)"
            if module is None
            else None
        )

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x)

    def describe(self) -> str:
        return f"{self.format} file {self.path.name}"


class _OneByOne(nn.Module):
    """A static-batch export (batch 1) run image by image, keeping gradients."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.inner = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.inner(x[i : i + 1]) for i in range(len(x))])


def _static(metadata: dict[str, str]) -> bool:
    try:
        return json.loads(metadata.get("dkl_zoo.input", "{}")).get("shape", ["batch"])[0] == 1
    except (ValueError, AttributeError, IndexError):
        return False


def open_checkpoint(path: str | os.PathLike[str], entry: str | ModelEntry | None = None) -> nn.Module | ExportedModel:
    """The model in ``path`` for ``verify``: a weights file becomes ``entry``'s model with those weights (``load(
    entry, weights_file=path)``); an exported file its runtime's model, whose metadata must name ``entry`` (when
    given) and the weights it was exported from.

    Raises:
        InvalidArgumentError: not a weights file or an export, or an export of another entry.
        MissingDependencyError: an ONNX file without onnx / onnxruntime (the ``export`` extra).
    """
    target = Path(path)
    kind = checkpoint_kind(target)
    known = get_entry(entry) if isinstance(entry, str) else entry
    if kind == "safetensors":
        if known is None:
            raise InvalidArgumentError(f"{target} holds weights only: name the entry whose architecture it has")
        from ..loading import load

        return load(known, weights_file=target)
    opened = _OPENERS[kind](target)
    if known is not None and opened.entry is not None and opened.entry.name != known.name:
        raise InvalidArgumentError(f"{target} is an export of {opened.entry.name}, not of {known.name}")
    return opened


def _open_onnx(path: Path) -> ExportedModel:
    try:
        import onnx
        import onnxruntime as ort
    except ImportError:
        raise MissingDependencyError(
            "verifying an ONNX file needs onnx and onnxruntime: pip install 'dkl-zoo[export]'"
        ) from None
    proto = onnx.load(str(path), load_external_data=False)
    metadata = {p.key: p.value for p in proto.metadata_props}
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    static = _static(metadata)

    def run(x: torch.Tensor) -> torch.Tensor:
        array = x.detach().cpu().float().numpy()
        if static:
            return torch.cat(
                [torch.from_numpy(session.run(None, {name: array[i : i + 1]})[0]) for i in range(len(array))]
            )
        return torch.from_numpy(session.run(None, {name: array})[0])

    return ExportedModel(run, path=path, format="onnx", metadata=metadata, module=None)


def _open_torchscript(path: Path) -> ExportedModel:
    import warnings

    extra = {"dkl_zoo.json": ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript's deprecation notice
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    metadata = json.loads(extra["dkl_zoo.json"] or "{}")
    return _module_model(module, path, "torchscript", metadata)


def _open_exported_program(path: Path) -> ExportedModel:
    extra = {"dkl_zoo.json": ""}
    program = torch.export.load(str(path), extra_files=extra)
    metadata = json.loads(extra["dkl_zoo.json"] or "{}")
    return _module_model(program.module(), path, "exported-program", metadata)


def _module_model(module: nn.Module, path: Path, format: str, metadata: dict[str, Any]) -> ExportedModel:
    if _static(metadata):
        module = _OneByOne(module)
    return ExportedModel(module, path=path, format=format, metadata=metadata, module=module)


_OPENERS: dict[str, Callable[[Path], ExportedModel]] = {
    "onnx": _open_onnx,
    "torchscript": _open_torchscript,
    "exported-program": _open_exported_program,
}
