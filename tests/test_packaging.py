"""What the installed distribution is: the library, with its version written once."""

from __future__ import annotations

import re
from importlib import metadata

import pytest

import dkl_zoo
from helpers import ROOT


def test_the_version_is_written_once_and_read_everywhere():
    assert "version =" not in (ROOT / "pyproject.toml").read_text().split("[project.optional-dependencies]")[0]
    cff = re.search(r"^version: (\S+)$", (ROOT / "CITATION.cff").read_text(), re.M)
    assert cff and cff.group(1) == dkl_zoo.__version__
    assert metadata.version("dkl-zoo") == dkl_zoo.__version__


def test_test_helpers_are_not_in_the_package():
    """The Hub-protocol test server is a test helper (tests/helpers/hub_server.py), not part of what users install."""
    shipped = [p.relative_to(ROOT).as_posix() for p in (ROOT / "dkl_zoo").rglob("*.py")]
    assert not [p for p in shipped if "http.server" in (ROOT / p).read_text() or "/testing" in p]
    assert (ROOT / "tests" / "helpers" / "hub_server.py").exists()


def test_every_error_class_is_in_errors_and_the_top_level_keeps_the_callers_ones():
    import warnings

    from dkl_zoo import errors

    classes = [name for name in errors.__all__ if name != "Remedy"]
    assert all(issubclass(getattr(errors, name), errors.DklZooError) for name in classes)
    top = [name for name in dkl_zoo.__all__ if name.endswith("Error")]
    assert set(top) <= set(classes) and len(top) == 13 and len(dkl_zoo.__all__) == 33
    for name in top:
        assert getattr(dkl_zoo, name) is getattr(errors, name)
    for name in sorted(set(classes) - set(top)):  # moved: still found, with a warning naming the new place
        with pytest.warns(DeprecationWarning, match=f"dkl_zoo.errors.{name}; the top-level name goes in 0.2.0"):
            assert getattr(dkl_zoo, name) is getattr(errors, name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert dkl_zoo.InvalidArgumentError is errors.InvalidArgumentError  # a kept name: no warning
    with pytest.raises(AttributeError):
        dkl_zoo.NoSuchName  # noqa: B018


def test_every_public_name_has_a_docstring_and_load_documents_its_keywords():
    import importlib
    import inspect
    import pkgutil

    undocumented = []
    for info in pkgutil.walk_packages(dkl_zoo.__path__, "dkl_zoo."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__ == module.__name__:
                if not inspect.getdoc(obj):
                    undocumented.append(f"{info.name}.{name}")
    assert not undocumented, undocumented
    for function in (dkl_zoo.load, dkl_zoo.evaluate):
        doc = inspect.getdoc(function)
        assert "Raises:" in doc
        missing = [p for p in inspect.signature(function).parameters if p not in doc]
        assert not missing, f"{function.__name__} does not document {missing}"
