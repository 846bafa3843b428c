"""What the installed distribution is: the library, with its version written once."""

from __future__ import annotations

import re
from importlib import metadata

import dkl_zoo
from conftest import ROOT


def test_the_version_is_written_once_and_read_everywhere():
    assert "version =" not in (ROOT / "pyproject.toml").read_text().split("[project.optional-dependencies]")[0]
    cff = re.search(r"^version: (\S+)$", (ROOT / "CITATION.cff").read_text(), re.M)
    assert cff and cff.group(1) == dkl_zoo.__version__
    assert metadata.version("dkl-zoo") == dkl_zoo.__version__


def test_test_helpers_are_not_in_the_package():
    """The Hub-protocol test server is a test helper (tests/hub_server.py), not part of what users install."""
    shipped = [p.relative_to(ROOT).as_posix() for p in (ROOT / "dkl_zoo").rglob("*.py")]
    assert not [p for p in shipped if "http.server" in (ROOT / p).read_text() or "/testing" in p]
    assert (ROOT / "tests" / "hub_server.py").exists()
