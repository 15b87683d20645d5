"""``zoo demo``: the page predicts exactly as ``zoo predict`` does, in-process and through a real browser."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

from zoo_core.demo import GRADIO_MISSING, card_markdown

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps calling Google services, which a closed
# network refuses (slowly); a fresh profile each run (Playwright's user_data_dir) keeps runs alike.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _missing(reason: str) -> None:
    """Skip for want of the browser stack, except where CI requires it (ZOO_REQUIRE_BROWSER=1): fail."""
    if os.environ.get("ZOO_REQUIRE_BROWSER") == "1":
        pytest.fail(f"ZOO_REQUIRE_BROWSER=1, but {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def trained(tiny_catalog, tmp_path_factory):
    """A tiny image adapter ('pics') and a tiny text adapter ('reviews'), trained once for the module."""
    from zoo_core.engine.pipeline import finetune
    from zoo_core.plugins import Zoo, make_plugin_manager
    from zoo_core.testing.tiny import TINY_IMAGE, TINY_TEXT, write_image_folder, write_text_file

    data = tmp_path_factory.mktemp("demo-data")
    home = tmp_path_factory.mktemp("demo-home")
    images, texts = write_image_folder(data / "images"), write_text_file(data / "reviews.csv")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("ZOO_HOME", str(home))
        zoo = Zoo(make_plugin_manager(stderr=io.StringIO()), catalog_paths=[str(tiny_catalog)])
        fast = {"l2_grid": "0.01"}  # one L2 strength, not the grid: the demo is under test, not the fit
        finetune(TINY_IMAGE, images, zoo=zoo, epochs=1, name="pics", method_options=fast)
        finetune(TINY_TEXT, texts, zoo=zoo, epochs=1, name="reviews", method_options=fast)
    return SimpleNamespace(adapters=home / "adapters", image=images / "class_1" / "0.png")


@pytest.fixture
def adapters(trained, _isolated):
    """The trained adapters, copied into this test's ZOO_HOME (every test has its own)."""
    shutil.copytree(trained.adapters, _isolated / "adapters")
    return trained


@pytest.fixture
def gradio_installed():
    try:
        import gradio  # noqa: F401
    except ImportError:
        _missing(GRADIO_MISSING)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Debian's Chromium driven by Playwright, with a fresh profile; skipped (or failed) when missing."""
    if not Path(CHROMIUM).is_file():
        _missing(f"{CHROMIUM} is missing (make browser installs Debian's chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install 'transfer-zoo[test]')")
    try:
        import gradio  # noqa: F401
    except ImportError:
        _missing(GRADIO_MISSING)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            viewport={"width": 1200, "height": 900},
        )
        yield context
        context.close()


def _read_label(page) -> dict:
    """The page's answer: the top label and every shown label's probability (the meters' exact values)."""
    page.wait_for_selector("#zoo-label [data-testid='label-output-value']", timeout=60_000)
    meters = page.locator("#zoo-label meter")
    return {
        "label": page.locator("#zoo-label [data-testid='label-output-value']").inner_text().strip(),
        "top": [
            {"label": meters.nth(i).get_attribute("aria-label"), "score": float(meters.nth(i).get_attribute("value"))}
            for i in range(meters.count())
        ],
    }


def _open(browser, url: str):
    """A new page on ``url``; every request it makes elsewhere is recorded (there must be none)."""
    page = browser.new_page()
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith((url, "data:", "blob:")) else outside.append(r.url))
    page.goto(url)
    page.wait_for_selector("#zoo-submit", timeout=60_000)
    return page, outside


def _prediction(result: dict) -> dict:
    return {"label": result["label"], "top": result["top"]}


# ----------------------------------------------------------------------------- without a browser
def test_card_names_the_split_the_metrics_come_from():
    card = card_markdown(
        {
            "ref": "flowers@2",
            "task": "image-classification",
            "base_model": {"id": "efficientnet-lite0"},
            "method": {"name": "lora", "config": {"r": 8}},
            "labels": ["rose", "tulip|red"],
            "metrics": {"accuracy": 0.91234, "macro_f1": 0.9, "num_samples": 40},
            "eval_split": "test",
            "created": "2026-01-02T03:04:05+00:00",
            "data": {"num_train": 160},
            "pulled_from": {"repo_id": "someone/flowers", "commit": "0123456789abcdef0123"},
        }
    )
    assert "`flowers@2`" in card and "`efficientnet-lite0`" in card and "`lora` (r=8)" in card
    assert "metrics (test split, 40 examples)**: accuracy 0.9123, macro-F1 0.9000" in card
    assert "rose, tulip\\|red" in card  # a label is text, never markup
    assert "2026" in card and "160 examples" in card and "`someone/flowers` at 0123456789ab" in card


def test_zoo_core_demo_imports_neither_torch_nor_gradio():
    code = "import sys, zoo_core.cli, zoo_core.demo; print([m for m in ('torch', 'gradio') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stderr


@pytest.mark.slow  # trains two tiny adapters (once for the module)
def test_page_function_gives_what_zoo_predict_gives(gradio_installed, adapters, tiny_zoo, tmp_path, monkeypatch):
    from zoo_core.demo import build_demo
    from zoo_core.engine.inference import predict

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))  # gradio copies inputs into its cache
    for name, item in (("pics", str(adapters.image)), ("reviews", "the food was very good")):
        blocks = build_demo(name, zoo=tiny_zoo, top_k=5)
        # Through gradio's own pre- and post-processing, as the page calls it.
        shown = blocks(item, api_name="predict")
        expected = predict(name, [item], zoo=tiny_zoo, top_k=5)[0]
        assert shown["label"] == expected["label"]
        assert [(c["label"], c["confidence"]) for c in shown["confidences"]] == [
            (t["label"], t["score"]) for t in expected["top"]
        ]


@pytest.mark.slow  # trains two tiny adapters (once for the module)
def test_demo_refuses_what_it_cannot_serve_in_one_line(adapters, tiny_catalog, run_zoo, _isolated, monkeypatch):
    env = {"ZOO_CATALOG": str(tiny_catalog)}
    code, _, err = run_zoo("demo", "nope", env=env)
    assert code == 1 and err.strip().splitlines() == [
        "Error: unknown adapter 'nope'. Run 'zoo adapters list' to see the stored adapters."
    ]

    # Detection and segmentation adapters will come; the page shows classifiers only.
    meta_path = _isolated / "adapters" / "pics" / "v1" / "adapter.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "task": "object-detection"}))
    code, _, err = run_zoo("demo", "pics", env=env)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "is a 'object-detection' adapter; zoo demo shows classification adapters only" in err

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, _, err = run_zoo("demo", "reviews", "--port", str(port), env=env)
    assert code == 1 and err.strip().splitlines() == [
        f"Error: port {port} on 127.0.0.1 is in use (another zoo demo?); pick another, e.g. --port {port + 1}"
    ]

    from click.testing import CliRunner

    from zoo_core.cli import cli

    monkeypatch.setitem(sys.modules, "gradio", None)  # import gradio now raises ImportError
    result = CliRunner().invoke(cli, ["demo", "reviews", "--port", str(_free_port())])
    assert result.exit_code == 1 and result.output.strip().splitlines() == [f"Error: {GRADIO_MISSING}"]


def test_a_stopped_demo_whose_server_will_not_close_still_stops(monkeypatch, capsys):
    """Ctrl-C sets an event (never an interrupt inside the server's code); a close that hangs is
    given up after CLOSE_SECONDS, said in one warning, and the command still says it stopped."""
    import threading

    import zoo_core.commands.demo as command

    closing, release = threading.Event(), threading.Event()

    class HangingBlocks:
        def close(self, verbose=True):
            closing.set()
            release.wait(30)

    tunnels_ended = threading.Event()
    monkeypatch.setattr(command, "CLOSE_SECONDS", 0.5)
    monkeypatch.setattr(command, "_exit_soon", lambda seconds: None)  # never arm an exit in pytest's process
    monkeypatch.setattr(command, "_end_tunnels", tunnels_ended.set)
    before = signal.getsignal(signal.SIGINT)
    serving_handler = []

    def interrupt() -> None:
        serving_handler.append(signal.getsignal(signal.SIGINT))
        os.kill(os.getpid(), signal.SIGINT)

    threading.Timer(0.3, interrupt).start()
    started = time.monotonic()
    try:
        command._serve(HangingBlocks())
    finally:
        release.set()
    assert closing.is_set() and time.monotonic() - started < 10
    assert serving_handler and serving_handler[0] is not before  # Ctrl-C went to the event, not an interrupt
    assert tunnels_ended.is_set()  # even though the close never finished
    out, err = capsys.readouterr()
    assert out.strip() == "zoo demo: stopped"
    assert err.strip() == "warning: the web server did not close within 0.5 s; exiting anyway"
    assert signal.getsignal(signal.SIGINT) is before  # the caller's handler is back


def test_a_close_that_raises_is_one_warning_and_the_demo_still_stops(monkeypatch, capsys):
    import threading

    import zoo_core.commands.demo as command

    class FailingBlocks:
        def close(self, verbose=True):
            raise OSError("socket gone\nsecond line")

    monkeypatch.setattr(command, "_exit_soon", lambda seconds: None)
    monkeypatch.setattr(command, "_end_tunnels", lambda: None)
    threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    command._serve(FailingBlocks())
    out, err = capsys.readouterr()
    assert out.strip() == "zoo demo: stopped"
    assert err.strip() == "warning: closing the web server failed (OSError: socket gone); exiting anyway"


@pytest.mark.slow  # trains two tiny adapters (once for the module)
def test_demo_listens_on_localhost_and_shares_only_when_asked(adapters, monkeypatch):
    from click.testing import CliRunner

    import zoo_core.commands.demo as command
    import zoo_core.demo as demo
    from zoo_core.cli import cli

    launched = []
    monkeypatch.setattr(demo, "import_gradio", lambda: None)
    monkeypatch.setattr(demo.DemoModel, "load", classmethod(lambda cls, *args, **kwargs: None))
    monkeypatch.setattr(demo, "build_blocks", lambda model: "blocks")
    monkeypatch.setattr(
        demo,
        "launch_demo",
        lambda blocks, host, port, share: launched.append((host, port, share)) or (f"http://{host}:{port}/", None),
    )
    monkeypatch.setattr(command, "_serve", lambda blocks: None)
    port = _free_port()

    result = CliRunner().invoke(cli, ["demo", "pics", "--port", str(port)])
    assert result.exit_code == 0, result.output
    assert launched == [("127.0.0.1", port, False)]
    assert f"zoo demo: pics@1 on http://127.0.0.1:{port}/ (Ctrl-C stops it)" in result.stdout
    assert "warning" not in result.stderr

    result = CliRunner().invoke(cli, ["demo", "pics", "--port", str(port), "--share"])
    assert result.exit_code == 0, result.output
    assert launched[-1] == ("127.0.0.1", port, True)
    assert "warning: --share makes a PUBLIC link" in result.stderr
    assert "the public link could not be made" in result.stderr  # none came back here (offline)


# ----------------------------------------------------------------------------- through the browser
@pytest.mark.serial  # a server and a browser: shutting down in time needs the CPU to itself
@pytest.mark.slow  # trains, starts zoo demo and a browser
def test_browser_page_predicts_like_zoo_predict(browser, adapters, tiny_catalog, tiny_zoo, tmp_path):
    """The acceptance test: a real `zoo demo` process, a real Chromium, an uploaded image."""
    from zoo_core.engine.inference import predict

    port = _free_port()
    env = {**os.environ, "ZOO_CATALOG": str(tiny_catalog), "GRADIO_TEMP_DIR": str(tmp_path / "gradio")}
    out_path, err_path = tmp_path / "demo.out", tmp_path / "demo.err"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from zoo_core.cli import main; main()", "demo", "pics", "--port", str(port)],
            stdout=out,
            stderr=err,
            env=env,
        )
    try:
        # While the server loads: what zoo predict says for the image the browser will upload.
        expected = _prediction(predict("pics", [str(adapters.image)], zoo=tiny_zoo, top_k=5)[0])
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 240
        while f"on {url}" not in out_path.read_text():
            assert proc.poll() is None, f"zoo demo exited with {proc.returncode}: {err_path.read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"zoo demo did not start: {err_path.read_text()[-2000:]}"
            time.sleep(0.25)
        with urllib.request.urlopen(url, timeout=30) as response:
            assert response.status == 200

        page, outside = _open(browser, url)
        page.locator("#zoo-input input[type=file]").set_input_files(str(adapters.image))
        # Uploaded once the preview is served by the demo itself; only then is the input set.
        page.wait_for_selector("#zoo-input img[src*='/gradio_api/file=']", timeout=60_000)
        page.click("#zoo-submit")
        shown = _read_label(page)
        ARTIFACTS.mkdir(exist_ok=True)
        screenshot = ARTIFACTS / "demo-page.png"
        page.screenshot(path=str(screenshot), full_page=True)
        print(f"screenshot of the demo page: {screenshot}")
        print(f"page: {shown['top'][0]}; zoo predict: {expected['top'][0]}")
        card = page.locator("#zoo-card").inner_text()
        page.close()

        assert shown == expected  # the same labels, with bit-identical probabilities
        assert "pics@1" in card and "tiny/test-efficientnet" in card and "validation split" in card
        assert outside == [], f"the page reached outside the demo: {outside}"

        proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert proc.wait(timeout=60) == 0, err_path.read_text()[-2000:]
        assert "zoo demo: stopped" in out_path.read_text()
        assert "Traceback" not in err_path.read_text()
        uploads = [path for path in (tmp_path / "gradio").rglob("*") if path.is_file()]
        assert uploads == [], "the uploaded image outlived the demo"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


@pytest.mark.serial  # a server and a browser: shutting down in time needs the CPU to itself
@pytest.mark.slow  # trains (once for the module), serves in-process
def test_browser_text_page_predicts_like_zoo_predict(browser, adapters, tiny_zoo):
    from zoo_core.demo import build_demo, launch_demo
    from zoo_core.engine.inference import predict

    text = "the staff was awful and bad"
    blocks = build_demo("reviews", zoo=tiny_zoo, top_k=5)
    url, _ = launch_demo(blocks, port=_free_port())  # as zoo demo serves it, in this process
    try:
        page, outside = _open(browser, url)
        page.locator("#zoo-input textarea").fill(text)
        page.click("#zoo-submit")
        shown = _read_label(page)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "demo-text-page.png"), full_page=True)
        page.close()
    finally:
        blocks.close(verbose=False)
    assert shown == _prediction(predict("reviews", [text], zoo=tiny_zoo, top_k=5)[0])
    assert outside == [], f"the page reached outside the demo: {outside}"
