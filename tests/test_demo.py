"""``dkl-zoo demo``: the web page in a real browser (Debian's chromium, driven by Playwright), its API endpoints
through ``gradio_client`` against the running server, bad uploads, two clients at once, Ctrl-C.

Every server here is the real command in its own process, with a home and a temporary folder of its own; what
it answers is compared with what the library answers for the same image."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import dkl_zoo
import dkl_zoo.demo as demo_module
from dkl_zoo.errors import InvalidArgumentError, MissingDependencyError
from dkl_zoo.examples import example_images
from helpers import ROOT
from helpers.demo_server import DemoServer, files_under

gradio_client = pytest.importorskip("gradio_client")
pytest.importorskip("gradio")

ROBUST, STANDARD = "ikl-at-fmnist-wrn10-1", "standard-fmnist-wrn10-1"
EXAMPLES = {example.path.stem.split("-", 3)[-1]: example.path for example in example_images()}
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def models() -> dict[str, torch.nn.Module]:
    return {name: dkl_zoo.load(name) for name in (ROBUST, STANDARD)}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    demo = DemoServer(tmp_path_factory.mktemp("demo")).wait_ready()
    yield demo
    demo.kill()


@pytest.fixture(scope="module")
def client(server: DemoServer):
    return gradio_client.Client(server.url, verbose=False, download_files=str(server.home.parent / "downloads"))


def _pairs(label_output: dict) -> list[tuple[str, float]]:
    """A Gradio label's classes and probabilities, most probable first."""
    return [(item["label"], item["confidence"]) for item in label_output["confidences"]]


def _pixels(path: str | Path) -> torch.Tensor:
    array = np.array(Image.open(path))
    return torch.from_numpy(array[None] if array.ndim == 2 else array.transpose(2, 0, 1).copy())


def test_the_server_binds_to_the_loopback_address_only(server: DemoServer):
    listening = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    mine = [fields[1] for fields in listening if fields[3] == "0A" and int(fields[1].split(":")[1], 16) == server.port]
    assert mine == [f"0100007F:{server.port:04X}"]  # 127.0.0.1, not 0.0.0.0


def test_predict_endpoint_answers_what_the_library_answers(client, models):
    for kind in ("trouser", "pullover", "ankle-boot"):
        for name in (ROBUST, STANDARD):
            answer = client.predict(name, gradio_client.handle_file(str(EXAMPLES[kind])), api_name="/predict")
            expected = dkl_zoo.predict(models[name], EXAMPLES[kind], top_k=5, progress=False)[0]
            assert answer["label"] == expected.label
            assert _pairs(answer) == list(expected.top_k)


def test_attack_endpoint_answers_what_the_library_answers_as_a_lossless_png(client, models):
    image = EXAMPLES["trouser"]
    for name in (ROBUST, STANDARD):
        adversarial, before, after = client.predict(
            name, gradio_client.handle_file(str(image)), 0.1, api_name="/attack"
        )
        expected = dkl_zoo.attack_image(models[name], image, eps=0.1, top_k=5)
        assert Path(adversarial).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert torch.equal(_pixels(adversarial), (expected.adversarial * 255).round().to(torch.uint8))
        assert _pairs(before) == list(expected.before.top_k)
        assert _pairs(after) == list(expected.after.top_k)
    # the contrast: the standard model is fooled on this image, the robust one holds
    assert dkl_zoo.attack_image(models[STANDARD], image, eps=0.1).succeeded
    assert not dkl_zoo.attack_image(models[ROBUST], image, eps=0.1).succeeded


def test_two_clients_attacking_at_once_both_get_the_library_answers(server, models):
    jobs = {"trouser": ROBUST, "sneaker": STANDARD}
    answers: dict[str, object] = {}

    def attack(kind: str) -> None:
        own = gradio_client.Client(server.url, verbose=False, download_files=str(server.home.parent / kind))
        try:
            answers[kind] = own.predict(
                jobs[kind], gradio_client.handle_file(str(EXAMPLES[kind])), 0.1, api_name="/attack"
            )
        except Exception as error:  # reported below, with the kind
            answers[kind] = error

    threads = [threading.Thread(target=attack, args=(kind,)) for kind in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for kind, name in jobs.items():
        adversarial, before, after = answers[kind]  # type: ignore[misc]
        expected = dkl_zoo.attack_image(models[name], EXAMPLES[kind], eps=0.1, top_k=5)
        assert torch.equal(_pixels(adversarial), (expected.adversarial * 255).round().to(torch.uint8)), kind
        assert _pairs(after) == list(expected.after.top_k), kind


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"these are words, not pixels\n", "not an image"),
        (b"", "empty file"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not an image"),
    ],
    ids=["text", "zero-bytes", "png-header-only"],
)
def test_a_bad_upload_is_a_message_and_the_server_keeps_serving(client, server, tmp_path, content, expected):
    bad = tmp_path / "upload.png"
    bad.write_bytes(content)
    with pytest.raises(gradio_client.exceptions.AppError, match=expected) as caught:
        client.predict(ROBUST, gradio_client.handle_file(str(bad)), api_name="/predict")
    assert "upload.png" in str(caught.value) and "Traceback" not in str(caught.value)
    assert client.predict(ROBUST, gradio_client.handle_file(str(EXAMPLES["trouser"])), api_name="/predict")["label"]
    assert server.process.poll() is None


def test_a_large_upload_gets_the_librarys_answer_to_1e_6_and_an_oversized_one_a_message(client, models, tmp_path):
    gradient = np.tile(np.linspace(0, 255, 2000, dtype=np.uint8), (1500, 1))
    path = tmp_path / "photo.png"
    Image.fromarray(np.stack([gradient, gradient[:, ::-1], gradient // 2], axis=-1)).save(path)
    answer = client.predict(ROBUST, gradio_client.handle_file(str(path)), api_name="/predict")
    expected = dkl_zoo.predict(models[ROBUST], path, top_k=5, progress=False)[0].top_k
    assert [label for label, _ in _pairs(answer)] == [label for label, _ in expected]
    assert np.allclose([p for _, p in _pairs(answer)], [p for _, p in expected], rtol=0, atol=1e-6)
    huge = tmp_path / "huge.png"
    Image.new("L", (5000, 4000)).save(huge)  # 20 megapixels, a small file
    with pytest.raises(gradio_client.exceptions.AppError, match="5000×4000 pixels is more than this page takes"):
        client.predict(ROBUST, gradio_client.handle_file(str(huge)), api_name="/predict")


def test_a_48_bit_png_gets_the_librarys_full_depth_answer(client, models, tmp_path):
    from helpers.png16 import write_png16

    pixels = (np.random.default_rng(3).random((40, 30, 3)) * 65535).astype(np.uint16)
    path = write_png16(tmp_path / "deep.png", pixels)
    answer = client.predict(ROBUST, gradio_client.handle_file(str(path)), api_name="/predict")
    expected = dkl_zoo.predict(models[ROBUST], path, top_k=5, progress=False)[0].top_k
    assert np.allclose([p for _, p in _pairs(answer)], [p for _, p in expected], rtol=0, atol=1e-6)


def _data_url(data: bytes) -> dict:
    import base64

    return {
        "path": None,
        "url": "data:image/png;base64," + base64.b64encode(data).decode(),
        "meta": {"_type": "gradio.FileData"},
    }


def test_a_pasted_image_is_read_with_the_limits_of_a_file(client, models, tmp_path):
    example = EXAMPLES["trouser"]
    answer = client.predict(ROBUST, _data_url(example.read_bytes()), api_name="/predict")
    assert _pairs(answer) == list(dkl_zoo.predict(models[ROBUST], example, top_k=5, progress=False)[0].top_k)
    bomb = io.BytesIO()
    Image.new("L", (20000, 20000)).save(bomb, format="PNG")  # 400 megapixels in about 400 kB
    with pytest.raises(gradio_client.exceptions.AppError, match="more pixels than this page takes"):
        client.predict(ROBUST, _data_url(bomb.getvalue()), api_name="/predict")
    for data, expected in ((b"plain words", "not an image"), (b"", "empty file")):
        with pytest.raises(gradio_client.exceptions.AppError, match=expected) as caught:
            client.predict(ROBUST, _data_url(data), api_name="/predict")
        assert "/tmp" not in str(caught.value) and "pasted" in str(caught.value)


def test_uploads_to_the_endpoints_are_deleted_once_answered(client, server, tmp_path):
    def uploads() -> list[str]:
        return [f for f in files_under(server.tmp) if f.endswith((".png", ".img")) and "matplotlib" not in f]

    before = uploads()
    for index in range(12):
        image = tmp_path / f"upload-{index}.png"
        Image.fromarray(np.full((28, 28), index * 20, dtype=np.uint8)).save(image)
        client.predict(ROBUST, gradio_client.handle_file(str(image)), api_name="/predict")
        assert not [f for f in uploads() if f"upload-{index}" in f], "the upload is still on disk once answered"
    assert len(uploads()) <= len(before) + 1  # at most a cached output; the twelve uploads are gone


def test_a_host_that_does_not_resolve_is_said_so(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "dkl_zoo", "demo", "--host", "no-such-host.invalid", "--port", "7999"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**_clean_env(), "HOME": str(tmp_path), "TMPDIR": str(tmp_path)},
    )
    assert done.returncode == 2, done.stderr
    assert "host 'no-such-host.invalid' does not resolve" in done.stderr and "port" not in done.stderr.split(":", 1)[1]
    assert "Traceback" not in done.stderr


def _clean_env() -> dict[str, str]:
    import os

    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}


def test_unknown_entries_and_missing_hub_weights_are_messages(client):
    with pytest.raises(gradio_client.exceptions.AppError, match="unknown model 'no-such-model'"):
        client.predict("no-such-model", gradio_client.handle_file(str(EXAMPLES["bag"])), api_name="/predict")
    # a Hub entry, offline and not cached: the reason and the remedy, not a traceback
    with pytest.raises(gradio_client.exceptions.AppError, match="ikl-at-cifar10-wrn34: .*(offline|cache)") as caught:
        client.predict("ikl-at-cifar10-wrn34", gradio_client.handle_file(str(EXAMPLES["bag"])), api_name="/predict")
    assert "Traceback" not in str(caught.value)


@pytest.mark.skipif(BROWSER is None, reason="no chromium installed (.ci/run installs Debian's)")
def test_in_a_browser_upload_predict_attack_and_see_both_answers(server, models, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    image = EXAMPLES["trouser"]
    expected = {name: dkl_zoo.attack_image(models[name], image, eps=0.1, top_k=5) for name in (ROBUST, STANDARD)}
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=BROWSER,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            page.goto(server.url)
            page.locator("#dkl-image input[type=file]").set_input_files(str(image))
            for selector, name in (("#dkl-top5", ROBUST), ("#dkl-top5-other", STANDARD)):
                label = page.locator(f"{selector} h2, {selector} .output-class").first
                sync_api.expect(label).to_have_text(expected[name].before.label, timeout=60_000)
            page.click("#dkl-attack")
            for key, name in (("model", ROBUST), ("other", STANDARD)):
                verdict = page.locator(f"#dkl-verdict-{key}")
                result = expected[name]
                sync_api.expect(verdict).to_contain_text("held" if not result.succeeded else "fooled", timeout=120_000)
                assert f"→ {result.after.label} ({100 * result.after.probability:.1f} %)" in verdict.inner_text()
                after = page.locator(f"#dkl-after-{key} h2, #dkl-after-{key} .output-class").first
                sync_api.expect(after).to_have_text(result.after.label)
                # the image shown is the attack itself, enlarged by nearest neighbour
                source = page.locator(f"#dkl-adversarial-{key} img").get_attribute("src")
                shown = _pixels(io.BytesIO(page.request.get(source).body()))
                factor = shown.shape[-1] // result.adversarial.shape[-1]
                assert factor > 1
                assert torch.equal(shown[:, ::factor, ::factor], (result.adversarial * 255).round().to(torch.uint8))
            screenshot = tmp_path / "demo.png"
            page.screenshot(path=str(screenshot), full_page=True)
            assert Image.open(screenshot).size[0] == 1280
        finally:
            browser.close()


@pytest.mark.skipif(BROWSER is None, reason="no chromium installed (.ci/run installs Debian's)")
def test_in_a_browser_a_text_file_is_a_message_in_the_page(server, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=BROWSER, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.goto(server.url)
            page.locator("#dkl-image input[type=file]").set_input_files(str(text))
            sync_api.expect(page.get_by_text("notes.png: not an image")).to_be_visible(timeout=60_000)
        finally:
            browser.close()


def test_ctrl_c_stops_the_server_cleanly_and_leaves_nothing_behind(tmp_path):
    demo = DemoServer(tmp_path / "sandbox", "--models", ROBUST).wait_ready()
    try:
        client = gradio_client.Client(demo.url, verbose=False, download_files=str(tmp_path / "downloads"))
        client.predict(ROBUST, gradio_client.handle_file(str(EXAMPLES["dress"])), 0.1, api_name="/attack")
        assert files_under(demo.tmp), "the server keeps its files in its temporary folder while it runs"
        assert demo.interrupt() == 0
    finally:
        demo.kill()
    assert "stopped" in demo.output and "Traceback" not in demo.output
    assert files_under(demo.tmp) == [] and files_under(demo.home) == []
    assert sorted((ROOT / "dkl_zoo").rglob("*.pyi")) == []  # nor beside its source (Gradio's stubs)


def test_a_port_in_use_is_one_line_and_exit_1(server, tmp_path):
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    finished = subprocess.run(
        [sys.executable, "-m", "dkl_zoo", "demo", "--port", str(server.port)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(home),
            "TMPDIR": str(tmp),
            "PYTHONPATH": str(ROOT),
            "HF_HUB_OFFLINE": "1",
        },
    )
    assert finished.returncode == 1, finished.stderr
    assert f"127.0.0.1:{server.port}" in finished.stderr and "another port" in finished.stderr
    assert "Traceback" not in finished.stderr
    assert files_under(tmp) == [] and files_under(home) == []


def test_without_gradio_the_message_names_the_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gradio", None)
    from dkl_zoo.cli import main

    assert main(["demo", "--port", "7999"]) == 1
    assert "pip install 'dkl-zoo[demo]'" in capsys.readouterr().err
    with pytest.raises(MissingDependencyError, match=r"dkl-zoo\[demo\]"):
        demo_module.build_app()


def test_the_app_refuses_unknown_models_and_bad_limits_before_building():
    with pytest.raises(InvalidArgumentError, match="unknown model.*ikl-at-cifar10-wrn3 "):
        demo_module.build_app(["ikl-at-cifar10-wrn3 "])
    with pytest.raises(InvalidArgumentError, match="comparison"):
        demo_module.build_app([ROBUST], comparison=STANDARD)
    with pytest.raises(InvalidArgumentError, match="time_limit"):
        demo_module.build_app(time_limit=0)
    with pytest.raises(InvalidArgumentError, match="port"):
        demo_module.serve(port=70000)
    assert demo_module.page_models()[:2] == [ROBUST, STANDARD]
    assert sorted(demo_module.page_models()) == dkl_zoo.list_models()


def test_a_slow_attack_stops_at_the_time_limit_with_a_message(models):
    import gradio

    handlers = demo_module._Handlers(demo_module.DemoModels(), [ROBUST], time_limit=1e-6)
    with pytest.raises(gradio.Error, match=f"{ROBUST}: .*time"):
        handlers.attack(ROBUST, Image.open(EXAMPLES["trouser"]), 0.1)


def test_the_page_predicts_through_the_fast_path_and_attacks_with_pytorch(models):
    from dkl_zoo import _onnx_cache

    loaded = demo_module.DemoModels()
    handlers = demo_module._Handlers(loaded, [ROBUST], time_limit=60)
    labels = handlers.predict(ROBUST, Image.open(EXAMPLES["trouser"]))
    model = loaded.get(ROBUST)
    assert _onnx_cache._SERVED.get(model), "the page's /predict runs what predict(model, image) runs"
    expected = dkl_zoo.predict(model, Image.open(EXAMPLES["trouser"]), top_k=5, backend="torch", progress=False)[0]
    assert max(labels, key=labels.get) == expected.label
    assert abs(labels[expected.label] - expected.probability) < 1e-4
