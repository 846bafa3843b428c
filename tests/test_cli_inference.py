"""`dkl-zoo predict`, `attack` and `export`: formats, broken files, exit codes, atomic outputs."""

from __future__ import annotations

import csv
import io
import json

import pytest
import torch
from PIL import Image
from test_cli import cli, in_process
from test_images import broken_files

import dkl_zoo
from dkl_zoo.adversarial import read_png
from dkl_zoo.examples import example_images

NAME = "ikl-at-fmnist-wrn10-1"


@pytest.fixture()
def folder(tmp_path):
    """Three real images in a sub-folder, one of each unreadable kind, and a text file that is not taken."""
    root = tmp_path / "images"
    (root / "sub").mkdir(parents=True)
    for example in example_images()[:3]:
        (root / "sub" / example.path.name).write_bytes(example.path.read_bytes())
    reasons = broken_files(root)
    (root / "notes.txt").write_text("not an image, not taken from a folder")
    return root, reasons


@pytest.mark.parametrize("verb", ["predict", "attack", "export"])
def test_help(verb, capsys):
    done = in_process(capsys, verb, "--help")
    assert done.returncode == 0 and f"dkl-zoo {verb}" in done.stdout


def test_predict_json_has_one_object_per_input_and_errors_in_place(folder, capsys, tmp_path):
    root, reasons = folder
    done = in_process(capsys, "predict", NAME, str(root), "--format", "json", "--top-k", "3", "--quiet")
    assert done.returncode == 1  # some files could not be read
    rows = json.loads(done.stdout)
    expected_paths = sorted(str(p) for p in root.rglob("*.png"))
    assert [row["path"] for row in rows] == expected_paths
    answers = {a.source: a for a in dkl_zoo.predict(NAME, sorted(root.rglob("sub/*.png")), top_k=3, progress=False)}
    for row in rows:
        name = row["path"].rsplit("/", 1)[-1]
        if name in reasons:
            assert set(row) == {"path", "error"} and reasons[name] in row["error"]
            continue
        answer = answers[row["path"]]
        assert set(row) == {"path", "index", "label", "probability", "top_k"}
        assert (row["index"], row["label"], row["probability"]) == (answer.index, answer.label, answer.probability)
        assert row["top_k"] == [
            {"index": i, "label": label, "probability": p} for i, (label, p) in zip(answer.top_k_indices, answer.top_k)
        ]
    assert "3 image(s) predicted; 4 file(s) could not be read" in done.stderr


def test_predict_csv_and_table(folder, capsys):
    root, reasons = folder
    done = in_process(
        capsys,
        "predict",
        NAME,
        str(root / "sub"),
        str(root / "empty.png"),
        "--format",
        "csv",
        "--top-k",
        "2",
        "--quiet",
    )
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert list(rows[0]) == [
        "path",
        "index",
        "label",
        "probability",
        "top1_index",
        "top1_label",
        "top1_probability",
        "top2_index",
        "top2_label",
        "top2_probability",
        "error",
    ]
    assert len(rows) == 4 and rows[-1]["error"] == "empty file (0 bytes)" and rows[-1]["label"] == ""
    assert all(row["label"] == row["top1_label"] and row["error"] == "" for row in rows[:3])
    assert done.returncode == 1
    table = in_process(capsys, "predict", NAME, str(root / "sub"), "--quiet")
    lines = table.stdout.splitlines()
    assert table.returncode == 0 and len(lines) == 3 and table.stderr == ""
    first = dkl_zoo.predict(NAME, sorted((root / "sub").iterdir())[0], progress=False)[0]
    assert lines[0].startswith(f"{100 * first.probability:5.1f} %  {first.label}") and first.source in lines[0]


def test_predict_out_is_written_whole_and_a_missing_path_is_a_usage_error(folder, capsys, tmp_path):
    root, _ = folder
    out = tmp_path / "results" / "p.json"
    done = in_process(capsys, "predict", NAME, str(root / "sub"), "--format", "json", "--out", str(out), "--quiet")
    assert done.returncode == 0 and done.stdout == "" and len(json.loads(out.read_text())) == 3
    assert sorted(p.name for p in out.parent.iterdir()) == ["p.json"]
    missing = in_process(capsys, "predict", NAME, str(tmp_path / "nope"))
    assert missing.returncode == 2 and "no such file or folder" in missing.stderr
    workers = in_process(capsys, "predict", NAME, str(root / "sub"), "--workers", "-1")
    assert workers.returncode == 2


def test_attack_writes_the_figure_and_a_lossless_adversarial_png(tmp_path):
    image = next(e for e in example_images() if e.label == 1).path
    done = cli(
        "attack",
        NAME,
        str(image),
        "--steps",
        "10",
        "--out",
        str(tmp_path / "fig.png"),
        "--save-adv",
        str(tmp_path / "adv.png"),
        "--compare",
        "standard-fmnist-wrn10-1",
    )
    assert done.returncode == 0, done.stderr
    assert Image.open(tmp_path / "fig.png").size == (825, 726)  # two rows: the model and the comparison
    result = dkl_zoo.attack_image(NAME, image, steps=10)
    assert torch.equal(read_png(tmp_path / "adv.png").float() / 255, result.adversarial)
    assert f"after: {result.after}" in done.stdout and "standard-fmnist-wrn10-1: apgd-ce" in done.stdout
    assert f"read back, {NAME} answers {result.after}" in done.stdout
    pixels = cli("attack", NAME, str(image), "--eps", "8", "--out", str(tmp_path / "f2.png"))
    assert pixels.returncode == 2 and "eps=8.0 is larger than 1" in pixels.stderr
    assert not (tmp_path / "f2.png").exists()


def test_export_prints_the_sha256_of_a_checked_file(tmp_path, capsys):
    from dkl_zoo._integrity import file_digest

    done = in_process(capsys, "export", NAME, "--format", "torchscript", "--out", str(tmp_path / "m.pt"))
    assert done.returncode == 0
    assert done.stdout.splitlines()[0] == f"{tmp_path / 'm.pt'}  sha256 {file_digest(tmp_path / 'm.pt')}"
    assert "checked against PyTorch on real and random images at batch 1 and 8" in done.stdout
    bad = in_process(capsys, "export", NAME, "--format", "tflite", "--out", str(tmp_path / "m.tfl"))
    assert bad.returncode == 2


def test_no_output_overwrites_an_input_or_another_output(folder, capsys, tmp_path):
    """`--out` onto the image being predicted used to replace the user's picture with the JSON."""
    root, _ = folder
    image = sorted((root / "sub").iterdir())[0]
    before = image.read_bytes()
    onto_input = in_process(capsys, "predict", NAME, str(image), "--out", str(image))
    assert (
        onto_input.returncode == 2
        and f"--out {image} is the input {image}: it would be overwritten" in onto_input.stderr
    )
    (tmp_path / "link.png").symlink_to(image)
    through_link = in_process(capsys, "predict", NAME, str(image), "--out", str(tmp_path / "link.png"))
    assert through_link.returncode == 2 and "it would be overwritten" in through_link.stderr
    inside = in_process(capsys, "predict", NAME, str(root), "--out", str(root / "sub" / "new.png"))
    assert inside.returncode == 2 and "is an image file inside the input folder" in inside.stderr
    beside = in_process(
        capsys, "predict", NAME, str(root / "sub"), "--format", "csv", "--out", str(root / "sub" / "p.csv"), "--quiet"
    )  # not an image: a folder's results may live there
    assert beside.returncode == 0 and len((root / "sub" / "p.csv").read_text().splitlines()) == 4
    figure_on_image = in_process(capsys, "attack", NAME, str(image), "--out", str(image))
    assert figure_on_image.returncode == 2 and "it would be overwritten" in figure_on_image.stderr
    same = in_process(
        capsys, "attack", NAME, str(image), "--out", str(tmp_path / "a.png"), "--save-adv", str(tmp_path / "a.png")
    )
    assert same.returncode == 2 and "--out and --save-adv name the same file" in same.stderr
    assert image.read_bytes() == before and not (tmp_path / "a.png").exists()


def test_eval_outputs_are_distinct_files_and_never_the_checkpoint(capsys, tmp_path):
    checkpoint = tmp_path / "model.safetensors"
    checkpoint.write_bytes(b"weights")
    onto = in_process(capsys, "eval", "--checkpoint", str(checkpoint), "--arch", NAME, "--json-out", str(checkpoint))
    assert onto.returncode == 2 and "--json-out" in onto.stderr and "it would be overwritten" in onto.stderr
    twice = in_process(
        capsys, "eval", NAME, "--state", str(tmp_path / "s.json"), "--json-out", str(tmp_path / "s.json")
    )
    assert twice.returncode == 2 and "--json-out and --state name the same file" in twice.stderr
    assert checkpoint.read_bytes() == b"weights" and sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]
