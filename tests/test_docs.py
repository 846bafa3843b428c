"""Every Python block of README.md and docs/*.md runs as written, offline: each in a fresh interpreter, with the
Hub replaced by the test server holding (random) weights under the names the docs use. The README stays short."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import torch

import dkl_zoo
from dkl_zoo.original.convert import write_repo_folder
from dkl_zoo.registry import get_entry
from helpers import ROOT, fashion_mnist_or_skip, python_env, trained_like

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCKS = [
    (path.relative_to(ROOT).as_posix(), block)
    for path in DOCS
    for block in re.findall(r"^```python\n(.*?)^```$", path.read_text(), flags=re.S | re.M)
]


def test_the_docs_have_python_blocks_and_the_readme_stays_short():
    assert len(BLOCKS) >= 8 and {name for name, _ in BLOCKS} >= {
        "README.md",
        "docs/inference.md",
        "docs/evaluation.md",
        "docs/loading.md",
    }
    assert len((ROOT / "README.md").read_text().splitlines()) <= 160


def test_every_link_between_the_docs_leads_to_a_file():
    for path in DOCS:
        for target in re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", path.read_text()):
            assert (path.parent / target).is_file(), f"{path.name} links to {target}"


@pytest.fixture(scope="module")
def readme_hub(tmp_path_factory):
    """dkl-zoo/ikl-at-cifar10-wrn34 as `dkl-zoo release` would publish it (full size, random weights)."""
    from helpers.hub_server import HubServer

    folder = tmp_path_factory.mktemp("repo")
    torch.manual_seed(0)
    entry = get_entry("ikl-at-cifar10-wrn34")
    write_repo_folder(entry, trained_like(dkl_zoo.build_model(entry)).state_dict(), folder)
    with HubServer() as hub:
        hub.add_repo(entry.repo_id, {p.name: p.read_bytes() for p in folder.iterdir()})
        yield hub


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(BLOCKS)), ids=[f"{name}-{i}" for i, (name, _) in enumerate(BLOCKS)])
def test_docs_python_block_runs(index, readme_hub, tmp_path):
    name, block = BLOCKS[index]
    if "fmnist" in block and ("evaluate" in block or "verify" in block):
        fashion_mnist_or_skip()
    env = python_env(
        {
            "HF_ENDPOINT": readme_hub.url,
            "HF_HUB_CACHE": str(tmp_path / "hf-cache"),
            "DKL_ZOO_CACHE": str(tmp_path / "zoo-cache"),
            "OMP_NUM_THREADS": "1",
        }
    )
    env.pop("DKL_ZOO_NAMESPACE", None)
    done = subprocess.run(
        [sys.executable, "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{name}: block {index + 1} failed:\n{block}\n{done.stderr[-3000:]}"
    position = 0  # every "# => text" line of the block is printed, in this order (as part of a line)
    for expected in (line[5:] for line in block.splitlines() if line.startswith("# => ")):
        found = done.stdout.find(expected, position)
        assert found >= 0, f"{name}: block {index + 1} does not print {expected!r}; it printed:\n{done.stdout[-2000:]}"
        position = found + len(expected)
    # what the output lines cannot say: files written, numbers that differ from one torch release to another
    if "attack_figure(" in block:
        assert (tmp_path / "trouser-attack.png").stat().st_size > 10_000
    if "backend=" in block:
        assert list((tmp_path / "zoo-cache" / "onnx" / "ikl-at-fmnist-wrn10-1").glob("*.onnx"))  # auto made it
    if "export(" in block:
        sha256, diff = done.stdout.split()
        assert len(sha256) == 64 and float(diff) <= 1e-4 and (tmp_path / "fmnist.onnx").exists()


SHOWS_NO_OUTPUT = {"docs/training.md", "docs/inference.md-export"}
"""Blocks that print without "# => " lines: random losses (training) and an export's sha256 (checked above)."""


def test_every_block_that_prints_says_what_it_prints():
    for name, block in BLOCKS:
        if "print(" in block and "# => " not in block:
            assert name in SHOWS_NO_OUTPUT or (name + "-export" in SHOWS_NO_OUTPUT and "export(" in block), name


def test_the_load_example_lists_every_keyword_of_load():
    import inspect

    (block,) = [b for name, b in BLOCKS if name == "docs/loading.md" and "every keyword" in b]
    shown = re.findall(r"^\s+(\w+)=", block, flags=re.M)
    keywords = [n for n, p in inspect.signature(dkl_zoo.load).parameters.items() if p.kind is p.KEYWORD_ONLY]
    assert shown == keywords and len(keywords) == 13
    defaults = dict(re.findall(r"^\s+(\w+)=([^,]+),", block, flags=re.M))
    for name in keywords:
        assert eval(defaults[name]) == inspect.signature(dkl_zoo.load).parameters[name].default, name


def test_the_loading_page_names_every_error_class():
    from dkl_zoo import errors

    page = (ROOT / "docs" / "loading.md").read_text()
    assert [n for n in errors.__all__ if n != "Remedy" and f"`{n}`" not in page] == []


def test_the_api_page_lists_exactly_what_the_package_exports_with_each_errors_bases():
    from dkl_zoo import errors

    page = (ROOT / "docs" / "api.md").read_text()
    rows = re.findall(r"^\| `(\w+)` \| ([^|]*) \|", page, flags=re.M)
    error_rows = re.findall(r"^\| `(\w+Error)` \| ([^|]*) \| (yes|no) \|", page, flags=re.M)
    others = [name for name, _ in rows if not name.endswith("Error")]
    top = [name for name, _, kept in error_rows if kept == "yes"]
    assert sorted(others + top) == sorted(dkl_zoo.__all__) and len(others) == len(set(others))
    assert sorted(name for name, _, _ in error_rows) == sorted(n for n in errors.__all__ if n != "Remedy")
    for name, bases, _ in error_rows:
        expected = ", ".join(f"`{base.__name__}`" for base in getattr(errors, name).__bases__)
        assert bases.strip() == expected, name
