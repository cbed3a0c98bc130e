"""The Gradio page of ``python app.py``: upload photos, get them back in the model's style.

:func:`build_app` lays out the page around a :class:`~cyclegan.app.service.StyleService`;
:func:`serve` makes the service from the config and starts the server: on 127.0.0.1 unless
``host`` says otherwise, no public link unless ``share=true``, uploads limited to
``max_upload_mb``, and one request at a time (a queue), since one inference already uses every
CPU core.

Example:
    >>> app = serve(cfg, block=False)  # doctest: +SKIP
    >>> app.close()  # doctest: +SKIP
"""

from __future__ import annotations

import html
import shutil
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr
from omegaconf import DictConfig

from cyclegan.app.service import StyleResult, StyleService, write_examples
from cyclegan.data.images import IMAGE_EXTENSIONS
from cyclegan.inference.checkpoint import DIRECTIONS, CheckpointError
from cyclegan.inference.cli import UsageError
from cyclegan.inference.outputs import FORMATS

__all__ = ["build_app", "serve"]

_INTRO = """# Photos → Monet
Upload one or several photos (JPEG, PNG, WebP, BMP, TIFF; any size), or pick an example, then
**Stylize**. Outputs keep each photo's size and orientation; large photos are processed in
tiles. Click an output to compare it with its photo; download one image, or a zip of all."""

# System fonts: the default theme would fetch its fonts from a font server on every page load.
_THEME = gr.themes.Default(
    font=["ui-sans-serif", "system-ui", "sans-serif"],
    font_mono=["ui-monospace", "monospace"],
)


def build_app(service: StyleService, examples: list[Path]) -> gr.Blocks:
    """The page: model choice and uploads on the left, comparison, outputs and report right."""
    cfg = service.cfg
    offered = service.checkpoints()
    with gr.Blocks(
        title="cyclegan: try a model",
        analytics_enabled=False,
        delete_cache=(600, 3600),  # every 10 minutes, Gradio's copies older than an hour
    ) as app:
        gr.Markdown(_INTRO)
        model_info = gr.Markdown(service.describe(offered[0], cfg.direction), elem_id="model")
        with gr.Row():
            with gr.Column(scale=2):
                ckpt = gr.Dropdown(offered, value=offered[0], label="Checkpoint")
                with gr.Row():
                    direction = gr.Radio(list(DIRECTIONS), value=cfg.direction, label="Direction")
                    fmt = gr.Radio(list(FORMATS), value=cfg.format, label="Output format")
                files = gr.File(
                    file_count="multiple",
                    file_types=sorted(IMAGE_EXTENSIONS),
                    type="filepath",
                    label="Photos",
                    elem_id="photos",
                )
                button = gr.Button("Stylize", variant="primary", elem_id="stylize")
                if examples:
                    gr.Examples(
                        [[[str(path)]] for path in examples],
                        inputs=[files],
                        example_labels=[path.stem for path in examples],
                        label="Examples: photographs behind the demo data",
                    )
            with gr.Column(scale=3):
                slider = gr.ImageSlider(
                    type="filepath", label="Photo | output", interactive=False, elem_id="compare"
                )
                gallery = gr.Gallery(
                    label="Outputs (click one to compare)",
                    columns=4,
                    height=220,
                    object_fit="contain",
                    interactive=False,
                    elem_id="outputs",
                )
                download = gr.File(label="Download", interactive=False, elem_id="download")
                report = gr.Markdown(elem_id="report")
        pairs = gr.State([])

        def describe(ckpt: str, direction: str) -> str:
            try:
                return service.describe(ckpt, direction)
            except (UsageError, CheckpointError) as error:
                raise gr.Error(html.escape(str(error)), print_exception=False) from error

        def stylize(
            files: list[str] | None,
            ckpt: str,
            direction: str,
            fmt: str,
            progress: gr.Progress = gr.Progress(),  # noqa: B008  (Gradio's injection marker)
        ) -> tuple[Any, ...]:
            if not files:
                raise gr.Error("Upload a photo or pick an example first.", print_exception=False)
            try:
                result = service.stylize(
                    [Path(f) for f in files],
                    ckpt,
                    direction,
                    fmt,
                    lambda fraction, what: progress(fraction, desc=what),
                )
            except (UsageError, CheckpointError) as error:
                raise gr.Error(html.escape(str(error)), print_exception=False) from error
            return _outputs(result)

        def show(pairs: list[tuple[str, str]], event: gr.SelectData) -> tuple[str, str]:
            return pairs[event.index]

        ckpt.change(describe, [ckpt, direction], model_info)
        direction.change(describe, [ckpt, direction], model_info)
        button.click(
            stylize,
            [files, ckpt, direction, fmt],
            [slider, gallery, download, report, pairs],
            api_name="stylize",
            concurrency_limit=1,
        )
        gallery.select(show, pairs, slider)
    return app


def _outputs(result: StyleResult) -> tuple[Any, ...]:
    pairs = [(str(i.shown_input), str(i.shown_output)) for i in result.images]
    gallery = [(str(i.shown_output), f"{i.name} ({i.width}×{i.height})") for i in result.images]
    download = str(result.download) if result.download else None
    return (pairs[0] if pairs else None), gallery, download, result.report(), pairs


def serve(cfg: DictConfig, work_dir: Path | None = None, block: bool = True) -> gr.Blocks:
    """Load the first checkpoint, build the page and start the server.

    Args:
        cfg: The composed ``conf/app.yaml``.
        work_dir: Where results and examples are written; a temporary folder (removed when a
            blocking server stops) if None.
        block: Serve until interrupted; False returns the running app (tests: ``app.close()``).

    Returns:
        The app, after the server has stopped when ``block``.

    Raises:
        UsageError: For a wrong option or no checkpoint.
        CheckpointError: If the first checkpoint cannot give a generator (checked at start).
        OSError: If the port is taken.
    """
    temporary = work_dir is None
    work_dir = Path(tempfile.mkdtemp(prefix="cyclegan-app-")) if work_dir is None else work_dir
    try:
        service = StyleService(cfg, work_dir)
        service.model(service.checkpoints()[0], cfg.direction)  # a bad checkpoint fails now
        examples = write_examples(work_dir / "examples") if cfg.examples else []
        app = build_app(service, examples)
        app.queue(default_concurrency_limit=1, max_size=cfg.queue_size)
        _launch(app, cfg, work_dir, block)
    except BaseException:
        if temporary:
            shutil.rmtree(work_dir, ignore_errors=True)
        raise
    if temporary and block:  # the server has stopped
        shutil.rmtree(work_dir, ignore_errors=True)
    return app


def _launch(app: gr.Blocks, cfg: DictConfig, work_dir: Path, block: bool) -> None:
    try:
        app.launch(
            server_name=cfg.host,
            server_port=cfg.port,
            share=cfg.share,
            inbrowser=cfg.open_browser,
            max_file_size=int(cfg.max_upload_mb) * 1024 * 1024,
            allowed_paths=[str(work_dir)],
            prevent_thread_lock=not block,
            theme=_THEME,
        )
    except OSError as error:
        if "port" not in str(error):
            raise
        app.close()
        raise OSError(
            f"port={cfg.port} on host={cfg.host} is not free; choose another with port=..."
        ) from error
