"""dkl_zoo._compat: the places this package reaches into other libraries, refused outside the checked releases."""

from __future__ import annotations

from importlib import metadata

import pytest

from dkl_zoo import _compat
from dkl_zoo.errors import IncompatibleDependencyError


def test_the_installed_releases_are_inside_the_checked_ranges():
    for distribution in _compat.CHECKED:
        _compat.check_version(distribution, "this test")


@pytest.mark.parametrize("distribution, release", [("pyautoattack", "0.3.0"), ("huggingface_hub", "0.34.0"),
                                                   ("huggingface_hub", "3.0.0"), ("timm", "2.1.0")])
def test_a_release_outside_the_range_is_one_clear_error(monkeypatch, distribution, release):
    real = metadata.version
    monkeypatch.setattr(metadata, "version", lambda name: release if name == distribution else real(name))
    with pytest.raises(IncompatibleDependencyError) as info:
        _compat.check_version(distribution, "the download deadline")
    assert str(info.value) == (
        f"the download deadline reaches into {distribution}, and was checked against "
        f"{distribution}{_compat.CHECKED[distribution]}; {distribution} {release} is installed: pip install "
        f"'{distribution}{_compat.CHECKED[distribution]}'")


def test_a_missing_library_is_not_this_checks_business(monkeypatch):
    def missing(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", missing)
    _compat.check_version("timm", "x")


def test_the_upper_bounds_of_pyproject_are_the_checked_ranges():
    import re

    from conftest import ROOT

    text = (ROOT / "pyproject.toml").read_text()
    for distribution, spec in _compat.CHECKED.items():
        upper = re.search(r"<[\d.]+", spec).group(0)
        declared = re.findall(rf'"{distribution}([^"]*)"', text)
        assert declared and all(upper in d for d in declared), (distribution, declared)


def test_no_other_module_patches_another_library():
    """Assignments into other libraries' modules (timm's factory, sys.modules entries, a client's hooks) happen in
    _compat only."""
    import ast

    from conftest import ROOT

    offenders = []
    for path in sorted((ROOT / "dkl_zoo").rglob("*.py")):
        if path.name == "_compat.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    text = ast.unparse(target)
                    if text.startswith(("sys.modules[", "_factory.", "_hub.")) or ".event_hooks" in text:
                        offenders.append(f"{path.name}:{node.lineno} {text}")
    assert offenders == []
