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


@pytest.mark.skipif(not os.path.exists(f"{FMNIST}/train-images-idx3-ubyte.gz"),
                    reason="needs Debian's dataset-fashion-mnist (installed by .ci/run)")
def test_gpu_benchmark_runs_every_section_in_smoke_mode(tmp_path):
    out = tmp_path / "gpu.json"
    done = subprocess.run([sys.executable, "-W", "ignore", str(ROOT / "benchmarks" / "gpu.py"), "--smoke",
                           "--device", "cpu", "--data-dir", FMNIST, "--out", str(out)],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["smoke"] is True and set(report["sections"]) == {"step", "eval", "predict", "fmnist", "trades"}
    step = report["sections"]["step"]
    assert [row["step"] for row in step["table"]][:3] == [
        "port of the released step, fp32", "ours, fp32", "ours, fp32 + channels_last"]
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


def test_every_device_mutant_of_the_gpu_check_is_in_the_code_once():
    """benchmarks/device_mutants.py plants its mutants by text: each must still name one place in the code."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from device_mutants import MUTANTS
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    for file, original, mutant in MUTANTS:
        text = (ROOT / "dkl_zoo" / file).read_text()
        assert text.count(original) == 1 and original != mutant, (file, original)
