"""Start the web app on a free 127.0.0.1 port for the server and browser tests."""

from __future__ import annotations

import asyncio
import gc
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from tests.predict_helpers import CONF_DIR, write_checkpoint

__all__ = ["GRADIO_LOOP_LEAKS", "RunningApp", "free_port", "running_app"]

GRADIO_LOOP_LEAKS = [
    # Gradio 6.31 builds its server (routes.App) and queue with utils.safe_get_lock() and
    # safe_get_stop_event(), which, outside a running event loop, each create a new asyncio
    # event loop and set it as the thread's loop without closing the one they replace: garbage
    # loops and their self-pipe sockets (AF_UNIX, family=1). Library-internal: only the tests
    # that start a server ignore exactly these two messages.
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in. <function BaseEventLoop.__del__"
        ":pytest.PytestUnraisableExceptionWarning"
    ),
    pytest.mark.filterwarnings(
        r"ignore:Exception ignored in. <socket.socket fd=\d+, family=1, type=1, proto=0>"
        ":pytest.PytestUnraisableExceptionWarning"
    ),
]


@dataclass(frozen=True)
class RunningApp:
    """A served app: ``app`` is the ``gradio.Blocks`` (``local_url``, ``server_name``, ...)."""

    app: Any
    cfg: DictConfig
    ckpt: str


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_app(root: Path, **overrides: Any) -> Iterator[RunningApp]:
    """``python app.py`` with a tiny checkpoint in ``root``, served until the block ends."""
    from cyclegan.app.ui import serve

    ckpt = root / "tiny.ckpt"
    write_checkpoint(ckpt)
    settings = {"ckpt": ckpt, "precision": 32, "port": free_port(), **overrides}
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("app", overrides=[f"{key}={value}" for key, value in settings.items()])
    app = serve(cfg, work_dir=root / "work", block=False)
    try:
        yield RunningApp(app, cfg, str(ckpt))
    finally:
        app.close()
        _drop_gradio_loops()


def _drop_gradio_loops() -> None:
    """Close the event loop Gradio left set on this thread and collect the ones it dropped,
    so that their warnings come now, inside the test marked with GRADIO_LOOP_LEAKS, rather than
    in whichever later test happens to run the garbage collector."""
    policy = asyncio.get_event_loop_policy()
    try:
        leftover = policy.get_event_loop()
    except RuntimeError:  # none set
        leftover = None
    if leftover is not None and not leftover.is_running():
        leftover.close()
    policy.set_event_loop(None)
    gc.collect()
