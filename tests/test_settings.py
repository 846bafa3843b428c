"""Settings in one module: ``dkl_zoo.settings`` is the only reader of the environment, and a keyword wins over
its variable."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

import dkl_zoo
from dkl_zoo import settings

PACKAGE = Path(dkl_zoo.__file__).parent


def _environment_readers(package: Path) -> list[str]:
    """``file:line`` of every use of ``os.environ`` / ``os.getenv`` outside ``settings.py``."""
    found = []
    for path in sorted(package.rglob("*.py")):
        where = str(path.relative_to(package))
        if where == "settings.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("environ", "getenv", "environb")
                and isinstance(node.value, ast.Name)
                and node.value.id == "os"
            ):
                found.append(f"{where}:{node.lineno}")
    return sorted(found)


def test_only_the_settings_module_reads_the_environment():
    assert _environment_readers(PACKAGE) == []


def test_the_source_check_finds_a_planted_reader(tmp_path):
    (tmp_path / "bad.py").write_text(
        "import os\n\nNAME = os.environ.get('DKL_ZOO_NAMESPACE')\nTIMEOUT = os.getenv('DKL_ZOO_DOWNLOAD_TIMEOUT')\n"
    )
    assert _environment_readers(tmp_path) == ["bad.py:3", "bad.py:4"]


def test_the_demo_reads_no_setting_of_ours_and_names_no_variable(monkeypatch, tmp_path):
    for path in sorted((PACKAGE / "demo").glob("*.py")):
        source = path.read_text()
        assert "DKL_ZOO_" not in source
        assert not {
            node.value
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Constant) and str(node.value).isupper() and str(node.value).endswith("DIR")
        }, path
    monkeypatch.delenv("GRADIO_TEMP_DIR", raising=False)
    monkeypatch.setenv("MPLCONFIGDIR", "/mine")
    with settings.demo_folders(tmp_path):  # what serve() sets while it serves, through settings
        assert settings.gradio_temp_dir() == tmp_path.resolve()
        assert os.environ["MPLCONFIGDIR"] == "/mine"  # the user's own is kept
    assert "GRADIO_TEMP_DIR" not in os.environ and settings.gradio_temp_dir() is None
    monkeypatch.delenv("MPLCONFIGDIR")
    with settings.demo_folders(tmp_path):
        assert os.environ["MPLCONFIGDIR"] == str(tmp_path / "matplotlib")
    assert "MPLCONFIGDIR" not in os.environ


@pytest.mark.parametrize(
    "read, variable, keyword, from_environment",
    [
        (settings.namespace, settings.NAMESPACE_ENV, "mine", "mirror-org"),
        (settings.download_timeout, settings.TIMEOUT_ENV, 5.0, 60.0),
    ],
)
def test_a_keyword_wins_over_its_variable_and_the_variable_over_the_default(
    monkeypatch, read, variable, keyword, from_environment
):
    monkeypatch.delenv(variable, raising=False)
    default = read()
    monkeypatch.setenv(variable, str(from_environment))
    assert read() == from_environment != default  # read when needed, not at import
    assert read(keyword) == keyword
