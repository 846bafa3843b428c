"""benchmarks/gpu.py is prepared before accelerator time is spent on it: its --smoke mode runs every section at
toy sizes here, on the CPU, and writes the JSON the README quotes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from helpers import ROOT

FMNIST = "/usr/share/datasets/fashion-mnist"


@pytest.mark.skipif(
    not os.path.exists(f"{FMNIST}/train-images-idx3-ubyte.gz"),
    reason="needs Debian's dataset-fashion-mnist (installed by .ci/run)",
)
def test_gpu_benchmark_runs_every_section_in_smoke_mode(tmp_path):
    out = tmp_path / "gpu.json"
    done = subprocess.run(
        [
            sys.executable,
            "-W",
            "ignore",
            str(ROOT / "benchmarks" / "gpu.py"),
            "--smoke",
            "--device",
            "cpu",
            "--data-dir",
            FMNIST,
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["smoke"] is True and set(report["sections"]) == {"step", "eval", "predict", "fmnist", "trades"}
    step = report["sections"]["step"]
    assert [row["step"] for row in step["table"]][:3] == [
        "port of the released step, fp32",
        "ours, fp32",
        "ours, fp32 + channels_last",
    ]
    assert all(row["images_per_s"] > 0 for row in step["table"]) and step["table"][0]["vs_port"] == 1.0
    assert step["ikl_vs_trades_wrn10_1"]["ikl_step_time_over_trades"] > 0
    evaluation = report["sections"]["eval"]
    assert evaluation["clean_images_per_s"] > evaluation["apgd_ce_images_per_s"] > 0
    predicting = report["sections"]["predict"]["table"]
    assert [row["batch"] for row in predicting] == [1, 8]
    assert all(row["predict_torch"] > 0 and row["plain_fp32_channels_last"] > 0 for row in predicting)
    fmnist = report["sections"]["fmnist"]
    assert fmnist["n_examples"] == 20 and 0 <= fmnist["robust_acc"] <= fmnist["clean_acc"] <= 1
    trades = report["sections"]["trades"]
    assert set(trades) >= {"ikl-at-fmnist-wrn10-1", "trades-fmnist-wrn10-1"}


def test_every_device_mutant_of_the_gpu_check_is_planted_where_it_says():
    """benchmarks/device_mutants.py plants its mutants on the syntax tree: each names one call in the code, plants a
    module that still compiles and differs from the original only in that call's device argument, and survives a
    reformatting of the module."""
    import ast
    import textwrap

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from device_mutants import MUTANTS, Mutant
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    for mutant in MUTANTS:
        text = (ROOT / "dkl_zoo" / mutant.file).read_text()
        planted = mutant.plant(text)
        assert planted != text and ast.unparse(ast.parse(planted)) != ast.unparse(ast.parse(text)), mutant
        changed = [
            (a, b)
            for a, b in zip(ast.walk(ast.parse(text)), ast.walk(ast.parse(planted)))
            if isinstance(a, ast.Call) and ast.unparse(a) != ast.unparse(b) and ast.unparse(a.func) == mutant.call
        ]
        assert len(changed) == 1 and "None" in ast.unparse(changed[0][1]) or mutant.drop, mutant
    reformatted = textwrap.dedent("""
        def f(model, x, device):
            return model(
                x[:2].to(
                    device
                )
            )
    """)
    planted = Mutant("any.py", "f", "x[:2].to", 0).plant(reformatted)
    assert "x[:2].to(None)" in planted and "device\n" not in planted.split("def f")[1]
    with pytest.raises(ValueError, match="0 times"):
        Mutant("any.py", "f", "x[:3].to", 0).plant(reformatted)
