"""The dkl-zoo command: every verb, exit codes, one-line errors.

Parser-only checks call `main(argv)` in this process (the same code the console script runs); whatever
depends on the environment, the real data or the installed script runs in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import dkl_zoo
from dkl_zoo.cli import main
from dkl_zoo.cli import main as cli_main
from dkl_zoo.registry import REGISTRY
from helpers import ROOT, fashion_mnist_or_skip, python_env, run_python, safetensors_bytes, trained_like

FMNIST = "ikl-at-fmnist-wrn10-1"


def cli(*args: str, env: dict | None = None, cwd: Path = ROOT, timeout: float = 600):
    return subprocess.run(
        [sys.executable, "-m", "dkl_zoo", *args],
        cwd=cwd,
        env=python_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def in_process(capsys, *args: str) -> subprocess.CompletedProcess:
    """Run `dkl-zoo ARGS` through `main`, with argparse's exits turned into return codes."""
    try:
        code = main(list(args))
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(["dkl-zoo", *args], code, captured.out, captured.err)


@pytest.mark.parametrize("verb", ["list", "info", "download", "eval", "convert", "publish", "cards"])
def test_help_of_every_verb(verb, capsys):
    done = in_process(capsys, verb, "--help")
    assert done.returncode == 0 and f"dkl-zoo {verb}" in done.stdout


def test_list_and_info(capsys):
    done = in_process(capsys, "list")
    assert done.returncode == 0
    for name in REGISTRY:
        assert name in done.stdout
    assert "85.31 / 57.13" in done.stdout
    assert in_process(capsys, "list", "*cifar100*").stdout.count("ikl-at-cifar100") == 4
    listed = json.loads(in_process(capsys, "list", "--json").stdout)
    assert [e["name"] for e in listed] == dkl_zoo.list_models()
    none = in_process(capsys, "list", "nothing*")
    assert none.returncode == 1 and "no model matches" in none.stderr
    info = in_process(capsys, "info", "ikl-at-cifar100-wrn34-v2")
    assert info.returncode == 0
    assert "RobustBench     65.76 / 31.91" in info.stdout and "64.08 / 31.65" in info.stdout
    data = json.loads(in_process(capsys, "info", "ikl-at-cifar10-wrn34", "--json").stdout)
    assert (
        data["repo_id"] == "dkl-zoo/ikl-at-cifar10-wrn34"
        and data["provenance"]["robustbench_name"] == "Cui2023Decoupled_WRN-34-10"
    )


def test_failure_is_one_line_with_exit_1_and_traceback_only_with_debug(tmp_path):
    done = cli("info", "ikl-at-cifar10-wrn43")  # a misspelled name is a usage error, with suggestions
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "Did you mean 'ikl-at-cifar10-wrn34'" in done.stderr
    assert "`dkl-zoo list`" in done.stderr and "list_models" not in done.stderr
    debug = cli("--debug", "info", "ikl-at-cifar10-wrn43")
    assert debug.returncode == 1 and "Traceback" in debug.stderr
    broken = tmp_path / "model.safetensors"
    broken.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken}")
    failed = cli("eval", "--checkpoint", str(broken), "--arch", "ikl-at-fmnist-wrn10-1", "--n-examples", "4")
    assert failed.returncode == 1 and failed.stderr.strip().count("\n") == 0
    assert "WeightsFormatError" in failed.stderr and "Traceback" not in failed.stderr


def test_usage_errors_exit_2(capsys):
    assert in_process(capsys, "bogus").returncode == 2
    assert in_process(capsys, "info").returncode == 2
    no_model = in_process(capsys, "eval")
    assert no_model.returncode == 2 and "give a registry NAME or --checkpoint" in no_model.stderr
    bad_eps = in_process(capsys, "eval", FMNIST, "--eps", "eight")
    assert bad_eps.returncode == 2 and "8/255" in bad_eps.stderr


def test_download_through_hf_endpoint(hub, tmp_path):
    torch.manual_seed(0)
    model = trained_like(dkl_zoo.build_model("ikl-at-cifar10-wrn34"))
    hub.add_repo("mirror/ikl-at-cifar10-wrn34", {"model.safetensors": safetensors_bytes(model)})
    env = {"HF_ENDPOINT": hub.url, "HF_HUB_CACHE": str(tmp_path / "cache"), "DKL_ZOO_NAMESPACE": "mirror"}
    done = cli("download", "ikl-at-cifar10-wrn34", env=env)
    assert done.returncode == 0, done.stderr
    assert "sha256" in done.stdout and "LFS ETag" in done.stdout
    offline = cli(
        "download", "ikl-at-cifar10-wrn34", env={**env, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "x")}
    )
    assert offline.returncode == 1 and "OfflineError" in offline.stderr


def test_eval_registry_entry_and_checkpoint_on_real_data(tmp_path):
    fashion_mnist_or_skip()
    out = tmp_path / "result.json"
    rb = tmp_path / "rb.json"
    done = cli(
        "eval",
        FMNIST,
        "--n-examples",
        "16",
        "--version",
        "custom",
        "--attacks",
        "apgd-ce",
        "--quiet",
        "--json-out",
        str(out),
        "--robustbench-json",
        str(rb),
        "--state",
        str(tmp_path / "s.json"),
        "--nonstandard-ok",
    )
    assert done.returncode == 0, done.stderr
    assert "clean accuracy" in done.stdout and "robust accuracy" in done.stdout
    result = json.loads(out.read_text())
    assert result["n_examples"] == 16 and result["dataset"] == "fashion-mnist" and result["eps"] == 0.1
    assert json.loads(rb.read_text())["eps"] == "0.1" and json.loads(rb.read_text())["unreliable"] is True
    refused = cli("eval", FMNIST, "--n-examples", "16", "--robustbench-json", str(tmp_path / "x.json"))
    assert refused.returncode == 2 and "--nonstandard-ok" in refused.stderr
    weights = Path(dkl_zoo.__file__).parent / REGISTRY[FMNIST].weights.embedded_file
    again = cli(
        "eval",
        "--checkpoint",
        str(weights),
        "--arch",
        FMNIST,
        "--n-examples",
        "16",
        "--version",
        "custom",
        "--attacks",
        "apgd-ce",
        "--quiet",
        "--json-out",
        str(tmp_path / "again.json"),
    )
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "again.json").read_text())["robust_acc"] == result["robust_acc"]
    pixels = cli("eval", FMNIST, "--eps", "8", "--n-examples", "4", "--quiet")
    assert pixels.returncode == 2 and "Did you give it in pixels" in pixels.stderr  # a usage error


def test_convert_publish_and_cards(hub, tmp_path):
    torch.manual_seed(0)
    model = trained_like(dkl_zoo.build_model(FMNIST))
    src = tmp_path / "release.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, src)
    converted = cli("convert", str(src), "--name", FMNIST, "--out", str(tmp_path / "repo"))
    assert converted.returncode == 0, converted.stderr
    assert "its pin in a pins file" in converted.stdout
    published = cli(
        "publish", str(tmp_path / "repo"), "--repo-id", "me/fmnist", "--token", "t", env={"HF_ENDPOINT": hub.url}
    )
    assert published.returncode == 0, published.stderr
    commit = published.stdout.split("commit ")[1].split()[0]
    assert hub.files("me/fmnist", commit)["model.safetensors"] == (tmp_path / "repo" / "model.safetensors").read_bytes()
    assert cli("cards", "--check").returncode == 0
    written = cli("cards", "--dir", str(tmp_path / "cards"))
    assert written.returncode == 0 and len(list((tmp_path / "cards").glob("*/README.md"))) == len(REGISTRY)
    card = tmp_path / "cards" / FMNIST / "README.md"
    card.write_text(card.read_text() + "edited\n")
    stale = cli("cards", "--check", "--dir", str(tmp_path / "cards"))
    assert stale.returncode == 1 and FMNIST in stale.stderr


def test_training_runs_from_a_checkout_and_is_not_a_verb_of_the_installed_command(tmp_path):
    """Training lives in the repository (training/), not in the wheel: `python -m training.train` from a checkout."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "training.train",
            "--config",
            "training/configs/smoke.yaml",
            "--out",
            str(tmp_path / "run"),
            "epochs=1",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "run" / "summary.json").exists()
    verb = cli("train", "--config", "x.yaml", "--out", str(tmp_path / "r2"), cwd=tmp_path)
    assert verb.returncode == 2 and "invalid choice: 'train'" in verb.stderr


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "dkl-zoo"
    if not script.exists():
        pytest.skip("package not installed with pip (run the README's set-up command)")
    done = subprocess.run([str(script), "list"], capture_output=True, text=True)
    assert done.returncode == 0 and "ikl-at-cifar10-wrn34" in done.stdout


def test_help_and_import_leave_torch_out():
    """`dkl-zoo --help` and `import dkl_zoo` import neither torch nor timm (seconds saved on every call)."""
    code = (
        "import sys, dkl_zoo, dkl_zoo.cli\n"
        "try:\n    dkl_zoo.cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('HEAVY', sorted(m for m in ('torch', 'timm', 'huggingface_hub') if m in sys.modules))"
    )
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stdout


def test_a_closed_pipe_ends_quietly_and_a_full_disk_is_one_line(tmp_path):
    for verb in (["list"], ["list", "--json"], ["info", FMNIST]):
        done = subprocess.run(
            f"{sys.executable} -m dkl_zoo {' '.join(verb)} | head -c 1",
            shell=True,
            cwd=ROOT,
            env=python_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.stderr == "" and len(done.stdout) == 1, (verb, done.stderr)
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "dkl_zoo", "list"],
            cwd=ROOT,
            stdout=full,
            stderr=subprocess.PIPE,
            env=python_env(),
            text=True,
            timeout=120,
        )
    assert done.returncode == 1
    assert done.stderr == "dkl-zoo list: cannot write the output: No space left on device\n"


def test_combinations_that_would_be_ignored_and_missing_paths_are_usage_errors(capsys, tmp_path):
    both = in_process(capsys, "release", "ikl-at-cifar10-wrn34", "--all", "--namespace", "x", "--dry-run")
    assert both.returncode == 2 and "give NAMEs or --all, not both" in both.stderr
    missing = in_process(capsys, "eval", "--checkpoint", str(tmp_path / "none.safetensors"), "--arch", FMNIST)
    assert missing.returncode == 2 and "no such file" in missing.stderr
    device = in_process(capsys, "eval", FMNIST, "--json-out", "/dev/full", "--n-examples", "4")
    assert device.returncode == 2 and "/dev/full is not a regular file" in device.stderr
    curve = in_process(
        capsys, "eval", FMNIST, "--plot", str(tmp_path / "c.png"), "--plot-eps", "0.05", "5", "--n-examples", "4"
    )
    assert curve.returncode == 2 and "eps=5.0 is larger than 1" in curve.stderr
    assert not list(tmp_path.iterdir())
    convert = in_process(capsys, "convert", str(tmp_path / "none.pt"), "--name", FMNIST, "--out", str(tmp_path / "o"))
    assert convert.returncode == 2 and "does not exist" in convert.stderr
    publish = in_process(capsys, "publish", str(tmp_path / "nothing"), "--repo-id", "me/x")
    assert publish.returncode == 2 and "is not a folder (it does not exist)" in publish.stderr


def test_the_librarys_remedies_are_said_as_commands(capsys, tmp_path):
    """Errors carry their remedy in both languages; the command prints the command, the library the call."""
    import pickle

    from dkl_zoo.errors import IntegrityError, Remedy, UnknownModelError

    unknown = UnknownModelError("ikl-at-cifar10", dkl_zoo.list_models())
    assert "see dkl_zoo.list_models()" in str(unknown)
    assert "see `dkl-zoo list`" in unknown.command_message() and "dkl_zoo." not in unknown.command_message()
    assert pickle.loads(pickle.dumps(unknown)).remedy == unknown.remedy  # it crosses processes with the error
    forget = Remedy(
        "dkl_zoo.original.forget_original('x', '/c/hf/dkl_zoo')", "dkl-zoo forget-original x --cache-dir /c/hf"
    )
    error = IntegrityError("u", "a" * 64, "b" * 64, hint=f"forget it ({forget.python}) and load").with_remedy(forget)
    assert "forget it (`dkl-zoo forget-original x --cache-dir /c/hf`) and load" in error.command_message()
    done = in_process(capsys, "info", "ikl-at-cifar10")
    assert done.returncode == 2 and "see `dkl-zoo list`" in done.stderr and "list_models" not in done.stderr


# ---- eval's usage errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--eps", "8/0"], "eps must be a number"),
        (["--eps", "nan"], "positive"),
        (["--eps", "-0.1"], "positive"),
        (["--n-examples", "0"], "positive integer"),
        (["--shard", "3", "2"], "shard"),
        (["--dataset", "cifar10"], "fashion-mnist model"),
    ],
)
def test_cli_eval_usage_errors_exit_2_before_loading(argv, message, capsys):
    try:
        code = cli_main(["eval", "ikl-at-fmnist-wrn10-1", "--quiet", *argv])
    except SystemExit as exit_:  # argparse's own usage errors
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err
    assert "usage error" in err or "error:" in err
    assert message in err and "Traceback" not in err


def test_cli_json_out_in_a_missing_folder_is_created_and_a_file_parent_refused(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert cli_main(["eval", "ikl-at-fmnist-wrn10-1", "--quiet", "--json-out", str(blocker / "r.json")]) == 2
    assert "cannot create the folder" in capsys.readouterr().err
