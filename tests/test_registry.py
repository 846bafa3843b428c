"""The registry: seven released checkpoints, every number with its source, lookups and errors."""

from __future__ import annotations

import csv
import dataclasses
import re
from pathlib import Path

import pytest

import dkl_zoo
from dkl_zoo.errors import InvalidArgumentError, UnknownModelError
from dkl_zoo.maintainers.cards import lab_notes, render_card
from dkl_zoo.registry import (
    REGISTRY,
    RELEASED,
    SOURCE_LOG,
    SOURCE_README,
    SOURCE_ROBUSTBENCH,
    get_entry,
)
from helpers import tiny_entry, trained_like

SEVEN = [
    "gkl-at-cifar100-wrn28-50m",
    "ikl-at-cifar10-wrn28-20m",
    "ikl-at-cifar10-wrn34",
    "ikl-at-cifar100-wrn28-50m",
    "ikl-at-cifar100-wrn34",
    "ikl-at-cifar100-wrn34-autoaug",
    "ikl-at-cifar100-wrn34-v2",
]

# (README clean, AA), (log clean, AA) or None, (RB clean, AA) or None, RB name, Drive ids; README numbers and ids
# also in tests/data/release_readmes.csv, logs in DKLv1/Adv-training-dkl/auto_attacks/logs, RobustBench's model_info.
TABLE = {
    "ikl-at-cifar10-wrn34": (
        (85.31, 57.13),
        (85.31, 57.09),
        (85.31, 57.09),
        "Cui2023Decoupled_WRN-34-10",
        ("1SFdNdKE6ezI6OsINWX-h74dGo2-9u3Ac", "1-ArD-TugRXUbH3VtM9qnzvby6NvdXNUN"),
    ),
    "ikl-at-cifar10-wrn28-20m": (
        (92.16, 67.75),
        (92.16, 67.73),
        (92.16, 67.73),
        "Cui2023Decoupled_WRN-28-10",
        ("1gEodZ4ushbRPaaVfS_vjJyldH3wJg4zV", "1-AaTrYt23WJFR22hXgBd-i6kjpsz6Hf2"),
    ),
    "ikl-at-cifar100-wrn34": ((66.51, 31.43), (66.51, 31.43), None, None, ("1NaWPX5w32xTiny91kJ6SJxSejCzsD1dy",)),
    "ikl-at-cifar100-wrn34-v2": (
        (65.76, 31.91),
        None,
        (65.76, 31.91),
        "Cui2023Decoupled_WRN-34-10",
        ("1lgFnfmsCw4UxguAOWSLsg6xUDfGG-HRy", "1whziIioVu5SGI1fBKyc331IfG_1MgenN"),
    ),
    "ikl-at-cifar100-wrn34-autoaug": (
        (65.93, 32.52),
        None,
        (65.93, 32.52),
        "Cui2023Decoupled_WRN-34-10_autoaug",
        ("1kQQpVVtlS9uBC4oZ3ei9OHly1yriU1UU", "18hjcLa1V3JTNUOshafLvw1ncxL2gu50M"),
    ),
    "ikl-at-cifar100-wrn28-50m": (
        (73.85, 39.18),
        (73.85, 39.18),
        (73.85, 39.18),
        "Cui2023Decoupled_WRN-28-10",
        ("1Leec2X9kGBnBSuTiYytdb4_wR50ibTE8", "15BwWdWbNfoarTEWWugicOVkTjh3nXH36"),
    ),
    "gkl-at-cifar100-wrn28-50m": ((73.65, 39.37), None, None, None, ("1H86QPlAnYZe6IVdGOhAQ73VsEBJ6VPom",)),
}
README_ROWS = [
    row
    for row in csv.DictReader(
        line
        for line in (Path(__file__).parent / "data" / "release_readmes.csv").read_text().splitlines()
        if not line.startswith("#")
    )
]


def pair(result):
    return None if result is None else (result.clean_acc, result.robust_acc)


def test_list_models_gives_the_seven_released_checkpoints_and_the_two_shipped_ones():
    assert sorted(RELEASED) == SEVEN
    shipped = ["ikl-at-fmnist-wrn10-1", "standard-fmnist-wrn10-1"]
    assert dkl_zoo.list_models() == sorted(SEVEN + shipped) and len(dkl_zoo.list_models()) == 9
    assert dkl_zoo.list_models("*cifar10-*") == ["ikl-at-cifar10-wrn28-20m", "ikl-at-cifar10-wrn34"]
    assert dkl_zoo.list_models("*wrn28*") == [
        "gkl-at-cifar100-wrn28-50m",
        "ikl-at-cifar10-wrn28-20m",
        "ikl-at-cifar100-wrn28-50m",
    ]
    assert dkl_zoo.list_models("nothing*") == []


@pytest.mark.parametrize("name", SEVEN)
def test_numbers_and_provenance_match_the_sources_table(name):
    entry = dkl_zoo.model_info(name)
    readme, log, rb, rb_name, drive = TABLE[name]
    assert pair(entry.result_from(SOURCE_README)) == readme
    assert pair(entry.result_from(SOURCE_LOG)) == log
    assert pair(entry.result_from(SOURCE_ROBUSTBENCH)) == rb
    assert entry.provenance.robustbench_name == rb_name
    assert tuple(s.google_drive_id for s in entry.weights.original_sources) == drive
    assert entry.headline.source == SOURCE_README
    for result in entry.provenance.reported:
        assert (
            result.reference.startswith("https://")
            and "c5e8ad2" in result.reference
            or "robustbench" in result.reference
        )
    assert (
        entry.provenance.threat_model == "Linf"
        and entry.provenance.eps == pytest.approx(8 / 255)
        and entry.provenance.eps_label == "8/255"
    )
    assert entry.arch.input_size == (3, 32, 32)
    assert entry.weights.filename == "model.safetensors"
    assert entry.num_classes == entry.arch.kwargs["num_classes"] == (10 if "cifar10-" in name else 100)
    assert "Cui" in entry.provenance.citation and "2305.13948" in entry.provenance.paper
    assert entry.provenance.training_config == f"{name}.yaml"


@pytest.mark.parametrize("name", SEVEN)
def test_disagreeing_sources_are_said_in_notes(name):
    entry = get_entry(name)
    values = {pair(r) for r in entry.provenance.reported}
    if len(values) > 1:
        assert entry.provenance.notes, f"{name}: sources disagree ({values}) but no note says so"
        joined = " ".join(entry.provenance.notes)
        assert all(f"{v[1]:.2f}" in joined for v in values)


def test_unknown_recipe_is_marked_not_invented():
    recipe = get_entry("ikl-at-cifar100-wrn34-v2").provenance.recipe
    assert (recipe.alpha, recipe.beta, recipe.temperature) == (None, None, None)
    assert "64.08 / 31.65" in recipe.note and "lines 16-26" in recipe.note and "lines 31-42" in recipe.note
    assert get_entry("ikl-at-cifar100-wrn34-autoaug").provenance.recipe.gamma_aug == 0.3
    gkl = get_entry("gkl-at-cifar100-wrn28-50m").provenance.recipe
    assert (gkl.alpha, gkl.beta, gkl.temperature) == (None, None, None) and "50M" in gkl.extra_data


@pytest.mark.parametrize("row", README_ROWS, ids=lambda r: f"{r['readme'][:5]}-{r['entry']}")
def test_registry_matches_the_transcribed_readme_rows(row):
    entry = get_entry(row["entry"])
    readme = entry.result_from(SOURCE_README)
    assert (readme.clean_acc, readme.robust_acc) == (float(row["clean"]), float(row["autoattack"]))
    assert entry.weights.original_sources[0].google_drive_id == row["model_drive_id"]
    assert entry.weights.original_sources[0].kind == "README Google Drive"
    labels = {(m.label, m.source.split("/blob/c5e8ad2/")[1]) for m in entry.provenance.method_labels}
    assert (row["label"], row["readme"]) in labels


def test_every_readme_row_with_a_model_is_an_entry():
    assert {row["entry"] for row in README_ROWS} == set(RELEASED)


def test_ikl_and_gkl_labels_and_recipe_conflicts_are_recorded():
    for name in ("ikl-at-cifar10-wrn34", "ikl-at-cifar100-wrn34-v2", "ikl-at-cifar100-wrn34-autoaug"):
        assert [m.label for m in get_entry(name).provenance.method_labels] == ["IKL-AT", "GKL-AT"], name
        assert any("gamma = 1" in n for n in get_entry(name).provenance.notes)
    assert "--alpha 4.0" in get_entry("ikl-at-cifar10-wrn34").provenance.recipe.note
    assert "--alpha 4.0" in get_entry("ikl-at-cifar100-wrn34").provenance.recipe.note
    assert "0.5" in get_entry("ikl-at-cifar100-wrn34-autoaug").provenance.recipe.note
    assert any("IndexError" in n for n in get_entry("ikl-at-cifar100-wrn34").provenance.notes)
    assert any("backslash" in n for n in get_entry("gkl-at-cifar100-wrn28-50m").provenance.notes)


_GOOD_URLS = (
    r"https://github\.com/jiequancui/DKL",
    r"https://github\.com/jiequancui/DKL/blob/c5e8ad2/DKLv[12]/Adv-training-dkl/[\w./-]+\.(md|sh|log|py)",
    r"https://github\.com/jiequancui/DKL/tree/c5e8ad2/DKLv1/Adv-training-dkl/auto_attacks/logs",
    r"https://github\.com/RobustBench/robustbench/blob/master/model_info/cifar100?/Linf/Cui2023Decoupled_[\w-]+\.json",
    r"https://drive\.google\.com/(uc\?export=download&id=|file/d/)[\w-]{25,}",
    r"https://arxiv\.org/abs/2305\.13948",
    r"https://www\.cs\.toronto\.edu/~kriz/cifar-10(0)?-python\.tar\.gz",  # the class names' sources
    r"https://github\.com/zalandoresearch/fashion-mnist",
)


def _urls(text: str) -> list[str]:
    return [u.rstrip(".,;:") for u in re.findall(r"https?://[^\s)>`\"']+", text)]


def test_every_reference_url_in_registry_and_cards_is_a_known_good_one():
    texts = [repr(dataclasses.asdict(entry)) for entry in REGISTRY.values()]
    texts += [s.url for entry in REGISTRY.values() for s in entry.weights.original_sources]
    texts += [p.read_text() for p in (Path(__file__).parent.parent / "model_cards").glob("*/README.md")]
    urls = {u for text in texts for u in _urls(text)}
    assert len(urls) > 20
    bad = sorted(u for u in urls if not any(re.fullmatch(pattern, u) for pattern in _GOOD_URLS))
    assert bad == []
    for text in texts:
        assert "tree/main/Adv-training-dkl" not in text and "#readme" not in text


def test_normalisation_field_follows_architecture():
    assert get_entry("ikl-at-cifar10-wrn34").arch.mean is None
    assert get_entry("ikl-at-cifar10-wrn28-20m").arch.mean == get_entry("ikl-at-cifar10-wrn28-20m").arch.kwargs["mean"]
    assert "inside the model" in get_entry("ikl-at-cifar100-wrn28-50m").arch.normalization


def test_entries_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_entry("ikl-at-cifar10-wrn34").sha256 = "0" * 64  # type: ignore[misc]


def test_repo_id_namespace_is_overridable_where_the_hub_is_asked(monkeypatch):
    from dkl_zoo._hub import repo_id_of
    from dkl_zoo.settings import NAMESPACE_ENV

    entry = get_entry("ikl-at-cifar10-wrn34")
    monkeypatch.delenv(NAMESPACE_ENV, raising=False)
    assert entry.repo_id == repo_id_of(entry) == "dkl-zoo/ikl-at-cifar10-wrn34"
    monkeypatch.setenv(NAMESPACE_ENV, "my-mirror")
    assert repo_id_of(entry) == "my-mirror/ikl-at-cifar10-wrn34"
    assert entry.repo_id == "dkl-zoo/ikl-at-cifar10-wrn34"  # the registry itself reads no environment
    assert repo_id_of(entry.with_weights(repo="me/fork")) == "me/fork"


def test_unknown_name_suggests_the_closest():
    with pytest.raises(UnknownModelError) as info:
        dkl_zoo.load("ikl-at-cifar10-wrn-34")
    assert info.value.suggestions[0] == "ikl-at-cifar10-wrn34"
    assert "Did you mean 'ikl-at-cifar10-wrn34'" in str(info.value)
    assert isinstance(info.value, LookupError)
    with pytest.raises(UnknownModelError, match="Known models: gkl-at-cifar100-wrn28-50m, ikl-at-cifar10-wrn28-20m"):
        dkl_zoo.model_info("resnet50")


def test_pins_are_unset_until_published():
    for entry in REGISTRY.values():
        assert (entry.weights.revision is None) == (entry.weights.sha256 is None)
    assert all(REGISTRY[name].weights.revision is None for name in RELEASED)  # no Hub repo is published yet


def test_shipped_entry_records_its_own_evaluation_and_the_trades_comparison():
    entry = REGISTRY["ikl-at-fmnist-wrn10-1"]
    assert entry.weights.embedded_file and entry.weights.sha256 and not entry.weights.original_sources
    assert entry.headline.source == "dkl_zoo AutoAttack evaluation"
    assert 0 < entry.headline.robust_acc < entry.headline.clean_acc < 100
    notes = lab_notes(entry)  # the long story lives in a Markdown file the card includes, not in the source
    assert "TRADES" in notes and "python -m training.train" in notes and "seed 0" in notes
    assert "## Lab notes" in render_card(entry) and "25.8 minutes" in render_card(entry)


def test_an_entry_is_three_parts_and_each_is_changed_by_its_own_method():
    entry = get_entry("ikl-at-cifar10-wrn28-20m")
    assert entry.arch.name == "dm_wide_resnet" and entry.arch.num_classes == entry.num_classes == 10
    assert entry.arch.mean == tuple(entry.arch.kwargs["mean"])  # one source: the constructor arguments
    assert entry.weights.filename == "model.safetensors" and entry.provenance.dataset == entry.dataset == "cifar10"
    fork = entry.with_weights(repo="me/fork", sha256=None).with_arch(label="mine").with_provenance(eps_label="x")
    assert (fork.repo_id, fork.weights.sha256, fork.arch.label, fork.provenance.eps_label) == (
        "me/fork",
        None,
        "mine",
        "x",
    )
    assert fork.provenance.reported == entry.provenance.reported and fork.arch.kwargs == entry.arch.kwargs
    renamed = dataclasses.replace(entry, name="other")
    assert renamed.name == "other" and renamed.repo_id.endswith("/other")
    with pytest.raises(InvalidArgumentError, match=r"Provenance has no field 'colour' \(fields: dataset, threat_model"):
        entry.with_provenance(colour="blue")
    with pytest.raises(InvalidArgumentError, match="WeightsSpec has no field 'kwargs'"):  # each part its own fields
        entry.with_weights(kwargs={})


def test_a_second_entry_of_one_name_is_refused():
    from dkl_zoo.registry import registry_of

    entry = REGISTRY["ikl-at-cifar10-wrn34"]
    with pytest.raises(InvalidArgumentError, match="already has an entry named 'ikl-at-cifar10-wrn34'"):
        registry_of([entry, REGISTRY["ikl-at-fmnist-wrn10-1"], entry])
    with pytest.raises(TypeError):
        REGISTRY["x"] = entry  # read-only  # type: ignore[index]


def test_each_fact_is_stated_once_per_entry():
    """A disagreement about hyperparameters lives in the recipe's note, one about numbers in the notes: never both."""
    for entry in REGISTRY.values():
        note = entry.provenance.recipe.note
        for text in entry.provenance.notes:
            shared = [note[i : i + 40] for i in range(max(0, len(note) - 40)) if note[i : i + 40] in text]
            assert not shared, f"{entry.name}: said in both the recipe note and the notes: {shared[0]!r}"


def test_each_entrys_size_is_measured_again_and_matches_what_is_kept():
    """Parameters and FLOPs from the architecture, the file size from the bytes the release writes (or the
    shipped file): the numbers in dkl_zoo.registry._metrics cannot drift from the code."""
    from dkl_zoo.maintainers.metrics import measure
    from dkl_zoo.registry import REGISTRY
    from dkl_zoo.registry._metrics import METRICS

    assert sorted(METRICS) == sorted(REGISTRY)
    for name, entry in REGISTRY.items():
        assert measure(entry) == entry.metrics == METRICS[name], name
    wrn34 = REGISTRY["ikl-at-cifar10-wrn34"].metrics
    assert wrn34.parameters == 46_160_474  # RobustBench's WRN-34-10 (10 classes)
    assert 13.3 < wrn34.gflops < 13.4  # 6.66 G multiply-adds, counted twice


def test_the_measured_file_size_is_the_size_of_the_file_the_release_writes(tmp_path):
    from dkl_zoo.maintainers.metrics import RELEASE_SOURCE_SHA256, _file_bytes
    from dkl_zoo.original.convert import write_repo_folder

    entry = tiny_entry()
    model = trained_like(dkl_zoo.build_model(entry))
    folder = write_repo_folder(entry, model.state_dict(), tmp_path / "repo", source_sha256="a" * 64)
    assert (folder / "model.safetensors").stat().st_size == _file_bytes(entry) and len(RELEASE_SOURCE_SHA256) == 64
