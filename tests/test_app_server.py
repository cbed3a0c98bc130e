"""The web app as a client sees it: gradio_client against a server on a free local port, and
``app.py``'s exit status for what stops it at start."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

pytest.importorskip("gradio", reason="the app extra (gradio) is not installed")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from cyclegan.app.service import StyleService  # noqa: E402
from tests.app_helpers import GRADIO_LOOP_LEAKS, RunningApp, free_port, running_app  # noqa: E402
from tests.predict_helpers import REPO, encoded, photo, write_checkpoint  # noqa: E402

pytestmark = GRADIO_LOOP_LEAKS


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    with running_app(tmp_path_factory.mktemp("app"), max_upload_mb=1) as running:
        yield running


@pytest.fixture(scope="module")
def client(served: RunningApp) -> Client:
    return Client(served.app.local_url, verbose=False)


def test_listens_on_localhost_only_without_a_public_link(served: RunningApp) -> None:
    assert served.app.server_name == "127.0.0.1"
    assert served.app.local_url.startswith("http://127.0.0.1:")
    assert served.app.share_url is None


def test_one_inference_at_a_time(served: RunningApp) -> None:
    (stylize,) = [fn for fn in served.app.fns.values() if fn.api_name == "stylize"]
    assert stylize.concurrency_limit == 1
    assert served.app._queue.max_size == served.cfg.queue_size


def test_uploads_come_back_stylized_at_their_size_with_a_zip(
    served: RunningApp, client: Client, tmp_path: Path
) -> None:
    wide = tmp_path / "wide.jpg"
    wide.write_bytes(encoded(photo(300, 200, 1)))
    tall = tmp_path / "tall.png"
    tall.write_bytes(encoded(photo(90, 160, 2), "PNG"))
    ckpt = served.ckpt

    slider, gallery, download, report = client.predict(
        [handle_file(str(wide)), handle_file(str(tall))],
        ckpt,
        "photo2monet",
        "png",
        api_name="/stylize",
    )

    assert [item["caption"] for item in gallery] == ["wide.jpg (300×200)", "tall.png (90×160)"]
    assert Path(download).suffix == ".zip"
    direct = StyleService(served.cfg, tmp_path / "direct").stylize([wide, tall], ckpt, fmt="png")
    with zipfile.ZipFile(download) as archive:
        assert archive.namelist() == ["wide.png", "tall.png"]
        for image, name in zip(direct.images, archive.namelist(), strict=True):
            assert archive.read(name) == image.output.read_bytes()  # same as calling it directly
    with Image.open(slider[1]) as shown, Image.open(direct.images[0].output) as expected:
        assert shown.size == (300, 200)
        assert np.array_equal(np.asarray(shown), np.asarray(expected))
        assert np.asarray(shown).std() > 2  # not blank
    assert "wide.jpg`: 300×200 in" in report
    assert "device **cpu** · precision **float32**" in report


def test_a_bad_file_is_answered_with_its_reason_not_a_traceback(
    served: RunningApp, client: Client, tmp_path: Path
) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff this is not a JPEG")
    _, gallery, download, report = client.predict(
        [handle_file(str(bad))],
        served.ckpt,
        "photo2monet",
        "jpg",
        api_name="/stylize",
    )
    assert gallery == []
    assert download is None
    assert "**failed** `broken.jpg`: cannot decode image" in report
    assert "Traceback" not in report


def test_no_file_or_a_checkpoint_not_offered_is_refused(
    served: RunningApp, client: Client, tmp_path: Path
) -> None:
    good = tmp_path / "good.jpg"
    good.write_bytes(encoded(photo(40, 30)))
    with pytest.raises(AppError, match="Upload a photo or pick an example first"):
        client.predict([], served.ckpt, "photo2monet", "jpg", api_name="/stylize")
    with pytest.raises(AppError, match="not in the list of choices"):
        client.predict(
            [handle_file(str(good))], "/etc/passwd", "photo2monet", "jpg", api_name="/stylize"
        )


def test_uploads_over_the_size_limit_are_refused_by_client_and_server(
    served: RunningApp, client: Client, tmp_path: Path
) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (700, 700, 3), dtype=np.uint8)
    big = tmp_path / "noise.png"
    big.write_bytes(encoded(noise, "PNG"))
    assert big.stat().st_size > 1024 * 1024  # max_upload_mb=1
    with pytest.raises(ValueError, match="exceeds the maximum file size of 1048576 bytes"):
        client.predict(
            [handle_file(str(big))], served.ckpt, "photo2monet", "jpg", api_name="/stylize"
        )
    upload = served.app.local_url.rstrip("/") + "/gradio_api/upload"
    refused = httpx.post(upload, files={"files": ("noise.png", big.read_bytes(), "image/png")})
    assert refused.status_code == 413  # a client that skips the check is refused by the server
    small = httpx.post(upload, files={"files": ("small.png", b"x" * 1000, "image/png")})
    assert small.status_code == 200


def _app_py(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "app.py"), "precision=32", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow  # two app.py processes, each importing torch and gradio
def test_app_py_exits_2_naming_a_bad_checkpoint_or_a_taken_port(tmp_path: Path) -> None:
    work = tmp_path / "cwd"
    work.mkdir()
    missing = _app_py(work, "ckpt=nothing.ckpt")
    assert missing.returncode == 2
    assert "nothing.ckpt: checkpoint file not found" in missing.stderr
    assert list(work.iterdir()) == []  # no .hydra/ folder, no log file

    write_checkpoint(tmp_path / "tiny.ckpt")
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        busy = _app_py(work, f"ckpt={tmp_path / 'tiny.ckpt'}", f"port={port}")
    assert busy.returncode == 2
    assert f"port={port} on host=127.0.0.1 is not free" in busy.stderr
