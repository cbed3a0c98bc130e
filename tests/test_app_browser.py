"""The web page in a real browser: Playwright drives the system's Chromium (Debian's
``chromium`` package, installed by ``.ci/run``; Playwright's own browser download needs the
internet). It opens the page, uploads a photo, waits for the output, checks the downloaded
image and saves a screenshot."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("gradio", reason="the app extra (gradio) is not installed")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

from cyclegan.app.service import StyleService  # noqa: E402
from tests.app_helpers import GRADIO_LOOP_LEAKS, RunningApp, running_app  # noqa: E402
from tests.predict_helpers import encoded, photo  # noqa: E402

pytestmark = [*GRADIO_LOOP_LEAKS, pytest.mark.slow]

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _system_chromium() -> str | None:
    return next((path for path in map(shutil.which, CHROMIUM_NAMES) if path), None)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    with running_app(tmp_path_factory.mktemp("app")) as running:
        yield running


def test_a_photo_uploaded_in_the_browser_comes_back_stylized(
    served: RunningApp, tmp_path: Path
) -> None:
    chromium = _system_chromium()
    if chromium is None:
        pytest.skip(
            "no Chromium on this machine: apt-get install chromium (make test does, as root)"
        )
    upload = tmp_path / "lake.jpg"
    upload.write_bytes(encoded(photo(320, 200, 5)))
    expected = StyleService(served.cfg, tmp_path / "direct").stylize([upload], served.ckpt)

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            requested: list[str] = []
            page.on("request", lambda request: requested.append(request.url))
            page.goto(served.app.local_url)
            assert "device **cpu**" not in page.inner_text("#model")  # rendered, not raw
            assert "precision float32" in page.inner_text("#model")
            page.set_input_files("#photos input[type=file]", str(upload))
            page.locator("#photos").get_by_label("lake.jpg").wait_for(timeout=30_000)
            page.click("#stylize")
            link = page.locator("#download a").first
            link.wait_for(timeout=60_000)
            response = page.request.get(link.get_attribute("href") or "")
            assert response.ok
            page.locator("#compare img").first.wait_for(timeout=30_000)
            report = page.inner_text("#report")
            body = response.body()
            page.get_by_text("chelsea", exact=True).first.click()  # a built-in example
            page.locator("#photos").get_by_label("chelsea.jpg").wait_for(timeout=30_000)
            page.click("#stylize")
            page.locator("#report").get_by_text("chelsea.jpg: 451×300 in").wait_for(timeout=60_000)
            page.screenshot(path=str(tmp_path / "app.png"), full_page=True)
        finally:
            browser.close()

    with Image.open(io.BytesIO(body)) as downloaded:
        assert downloaded.size == (320, 200)
        pixels = np.asarray(downloaded.convert("RGB"))
    assert pixels.std() > 2  # not blank
    assert body == expected.images[0].output.read_bytes()  # what predict.py's path writes
    assert "lake.jpg: 320×200 in" in report
    assert requested
    assert [url for url in requested if not url.startswith(served.app.local_url)] == []
    with Image.open(tmp_path / "app.png") as screenshot:
        assert screenshot.width == 1400
        assert np.asarray(screenshot.convert("L")).std() > 10  # a page, not an empty frame
