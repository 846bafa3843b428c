"""What the installed distribution is: the library, with its version written once."""

from __future__ import annotations

import re
from importlib import metadata

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


def test_every_error_class_is_exported_and_is_a_zoo_error():
    from dkl_zoo import errors

    for name in errors.__all__:
        assert getattr(dkl_zoo, name) is getattr(errors, name), f"dkl_zoo.{name} is not exported"
        assert issubclass(getattr(errors, name), errors.DklZooError)
    assert set(errors.__all__) <= set(dkl_zoo.__all__)


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
