"""Every setting the package reads from the environment, in one place, each with its default (after
huggingface_hub's ``constants``). Nothing else in the package reads ``os.environ``.

A keyword argument always wins over its variable, and the variable over the default. Values are read when they
are needed, not at import, so a variable set by a test or a notebook after ``import dkl_zoo`` counts.

| variable | default | what it does |
| --- | --- | --- |
| ``DKL_ZOO_NAMESPACE`` | ``dkl-zoo`` | Hub user or organisation of the repos (a mirror, a fork) |
| ``DKL_ZOO_PINS`` | the package's ``pins.json`` | which pins file says which commit and bytes each entry loads |
| ``DKL_ZOO_DOWNLOAD_TIMEOUT`` | ``1800`` | seconds one file's whole download may take |
| ``DKL_ZOO_ORIGINAL_URL`` | Google Drive's download address | an original file's address, ``{id}`` its Drive id |
| ``DKL_ZOO_CACHE`` | ``~/.cache/dkl_zoo`` | where original files and their conversions are kept |
| ``DKL_ZOO_VERIFIED_ONLY`` | ``0`` | ``1``: only weights with a pinned sha256 load (fail closed) |

huggingface_hub's own variables (``HF_ENDPOINT``, ``HF_HUB_CACHE``, ``HF_HUB_OFFLINE``, ``HF_TOKEN``) work as
huggingface_hub documents them. The web demo sets Gradio's ``GRADIO_TEMP_DIR`` (and Matplotlib's ``MPLCONFIGDIR``
when unset) for as long as it serves, through ``demo_folders`` here, and reads the first back with
``gradio_temp_dir``.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from pathlib import Path

from ._arguments import is_real
from .errors import InvalidArgumentError

__all__ = [
    "NAMESPACE_ENV",
    "DEFAULT_NAMESPACE",
    "namespace",
    "namespace_override",
    "namespace_source",
    "PINS_ENV",
    "pins_path",
    "TIMEOUT_ENV",
    "DEFAULT_TIMEOUT",
    "download_timeout",
    "ORIGINAL_URL_ENV",
    "DRIVE_DOWNLOAD_URL",
    "original_url_template",
    "CACHE_ENV",
    "cache_root",
    "VERIFIED_ONLY_ENV",
    "verified_only",
    "GRADIO_TEMP_ENV",
    "MATPLOTLIB_CONFIG_ENV",
    "gradio_temp_dir",
    "demo_folders",
]

NAMESPACE_ENV = "DKL_ZOO_NAMESPACE"
DEFAULT_NAMESPACE = "dkl-zoo"
PINS_ENV = "DKL_ZOO_PINS"
TIMEOUT_ENV = "DKL_ZOO_DOWNLOAD_TIMEOUT"
DEFAULT_TIMEOUT = 1800.0
ORIGINAL_URL_ENV = "DKL_ZOO_ORIGINAL_URL"
DRIVE_DOWNLOAD_URL = "https://drive.google.com/uc?export=download&id={id}"
"""Google Drive's download address of a file id."""
CACHE_ENV = "DKL_ZOO_CACHE"
VERIFIED_ONLY_ENV = "DKL_ZOO_VERIFIED_ONLY"
GRADIO_TEMP_ENV = "GRADIO_TEMP_DIR"
MATPLOTLIB_CONFIG_ENV = "MPLCONFIGDIR"

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def _text(variable: str) -> str:
    return os.environ.get(variable, "").strip()


def namespace(keyword: str | None = None) -> str:
    """The Hub namespace of the zoo's repos: ``keyword``, else ``DKL_ZOO_NAMESPACE``, else ``dkl-zoo``."""
    return keyword if keyword is not None else (_text(NAMESPACE_ENV) or DEFAULT_NAMESPACE)


def namespace_override() -> str | None:
    """``DKL_ZOO_NAMESPACE`` when it is set, else None (the pins of the default namespace then apply whole)."""
    return _text(NAMESPACE_ENV) or None


def namespace_source(keyword: str | None = None) -> str:
    """Where ``namespace()`` came from, for messages about a bad one."""
    if keyword is not None:
        return f"namespace={keyword!r}"
    return f"{NAMESPACE_ENV}={os.environ.get(NAMESPACE_ENV, '')!r}" if _text(NAMESPACE_ENV) else "the default"


def pins_path(keyword: str | os.PathLike[str] | None = None) -> Path | None:
    """The pins file chosen by ``keyword`` or ``DKL_ZOO_PINS``; None means the package's own."""
    if keyword is not None:
        return Path(keyword)
    text = _text(PINS_ENV)
    return Path(text).expanduser() if text else None


def download_timeout(keyword: float | None = None) -> float:
    """Seconds allowed for one file: ``keyword``, else ``DKL_ZOO_DOWNLOAD_TIMEOUT``, else 1800.

    Raises:
        InvalidArgumentError: not a positive number (naming the variable when it came from there).
    """
    if keyword is not None:
        value, where = keyword, f"download timeout {keyword!r}"
    else:
        text = _text(TIMEOUT_ENV)
        if not text:
            return DEFAULT_TIMEOUT
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        where = f"{TIMEOUT_ENV}={text!r}"
    if not is_real(value) or value <= 0:
        raise InvalidArgumentError(
            f"{where} is not a positive number of seconds; set it to e.g. 3600 or unset it "
            f"(default {DEFAULT_TIMEOUT:.0f} s)"
        )
    return float(value)


def original_url_template(keyword: str | None = None) -> tuple[str, str]:
    """(template, where it came from) of an original file's address; ``{id}`` is its Google Drive id."""
    if keyword is not None:
        return keyword, "url_template"
    text = _text(ORIGINAL_URL_ENV)
    return (text, ORIGINAL_URL_ENV) if text else (DRIVE_DOWNLOAD_URL, "the default")


def cache_root(keyword: str | os.PathLike[str] | None = None) -> tuple[Path, str]:
    """(folder, what chose it) for original files and their conversions: ``keyword``, else ``DKL_ZOO_CACHE``,
    else ``~/.cache/dkl_zoo``."""
    if keyword is not None:
        return Path(keyword), "the cache argument"
    text = _text(CACHE_ENV)
    return (
        (Path(text).expanduser(), CACHE_ENV)
        if text
        else (Path.home() / ".cache" / "dkl_zoo", f"{CACHE_ENV} (default ~/.cache/dkl_zoo)")
    )


def verified_only(keyword: bool | None = None) -> bool:
    """Fail closed? ``keyword`` when given, else ``DKL_ZOO_VERIFIED_ONLY`` (default off)."""
    if keyword is not None:
        if not isinstance(keyword, bool):
            raise InvalidArgumentError(f"verified_only must be True, False or None, got {keyword!r}")
        return keyword
    text = _text(VERIFIED_ONLY_ENV).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidArgumentError(
        f"{VERIFIED_ONLY_ENV}={os.environ[VERIFIED_ONLY_ENV]!r} is not a yes/no value; set it to 1 or 0"
    )


def gradio_temp_dir() -> Path | None:
    """Gradio's folder for uploads and outputs (``GRADIO_TEMP_DIR``), resolved; None when unset."""
    text = _text(GRADIO_TEMP_ENV)
    return Path(text).resolve() if text else None


@contextlib.contextmanager
def demo_folders(folder: str | os.PathLike[str]) -> Iterator[None]:
    """Gradio's files (and Matplotlib's cache, unless ``MPLCONFIGDIR`` is set) in ``folder`` while the demo serves;
    both variables as they were afterwards."""
    saved = {key: os.environ.get(key) for key in (GRADIO_TEMP_ENV, MATPLOTLIB_CONFIG_ENV)}
    os.environ[GRADIO_TEMP_ENV] = str(folder)
    os.environ.setdefault(MATPLOTLIB_CONFIG_ENV, os.path.join(folder, "matplotlib"))
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
