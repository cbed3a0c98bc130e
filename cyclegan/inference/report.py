"""Step 6 of prediction, the report: print the account of a run, write the contact sheet and
the Kaggle submission its options ask for, and give the exit status.

Example:
    >>> status = report(summary, options)  # doctest: +SKIP
    500 converted, 0 skipped, 0 failed in 15.1 s (0.030 s/img) -> out
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from cyclegan.data.names import printable
from cyclegan.inference.options import PredictOptions
from cyclegan.inference.outputs import write_image
from cyclegan.inference.runner import PredictSummary
from cyclegan.inference.submission import validate_submission, write_submission

__all__ = ["report"]


def report(summary: PredictSummary, options: PredictOptions) -> int:
    """Print the account of a run; write the preview and the submission ``options`` ask for.

    Returns:
        The exit status: 0 when every input was converted or skipped (and the submission, if
        asked for, is valid), 1 otherwise.
    """
    status = _account(summary, options)
    if options.preview_path is not None:
        status = max(status, _write_preview(summary, options.preview_path))
    if options.submission_zip is not None:
        status = max(status, _submission(summary, options, options.submission_zip))
    return status


def _account(summary: PredictSummary, options: PredictOptions) -> int:
    if summary.ignored:
        examples = "; ".join(
            f"{printable(name)} ({printable(reason)})" for name, reason in summary.ignored[:5]
        )
        more = "; ..." if len(summary.ignored) > 5 else ""
        print(f"ignored {len(summary.ignored)}: {examples}{more}")
    if summary.skipped:
        print(f"skipped {len(summary.skipped)} inputs whose output exists (overwrite=true redoes)")
    if summary.failed:
        print(f"{len(summary.failed)} failed:")
        for name, reason in sorted(summary.failed):
            print(f"  {printable(name)}: {printable(reason)}")
    print(summary.line(options.output_dir))
    if not summary.converted and not summary.skipped and not summary.failed:
        print("no images found in the input", file=sys.stderr)
        return 1
    return 1 if summary.failed else 0


def _write_preview(summary: PredictSummary, path: Path) -> int:
    if summary.preview is None or not summary.preview.pairs:
        print("preview: no image was converted in this run, no contact sheet written")
        return 0
    write_image(np.asarray(summary.preview.render()), path, overwrite=True)
    print(f"preview: {len(summary.preview.pairs)} inputs beside their outputs -> {path}")
    return 0


def _submission(summary: PredictSummary, options: PredictOptions, zip_path: Path) -> int:
    files = [options.output_dir / relpath for relpath in sorted(summary.outputs)]
    write_submission(files, zip_path)
    check = validate_submission(
        zip_path, options.submission_min_images, options.submission_max_images
    )
    for problem in check.problems[:20]:
        print(f"  {printable(problem)}")
    if len(check.problems) > 20:
        print(f"  ... and {len(check.problems) - 20} more problems")
    print(f"{check.line()} -> {zip_path}")
    return 0 if check.ok else 1
