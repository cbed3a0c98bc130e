"""The quality protocol of docs/quality.md: one command per table row.

    python benchmarks/quality.py run tutorial_s0 -- experiment=kaggle_tutorial tier=quick seed=0
    python benchmarks/quality.py baseline photos
    python benchmarks/quality.py baseline reinhard
    python benchmarks/quality.py table

``run`` trains with ``train.py`` (the overrides after ``--``), translates the fixed scoring set
with ``predict.py``, scores it with ``evaluate.py`` against the Monet paintings, and writes the
row's record under ``docs/quality/<name>/``: ``result.json`` (scores, iterations, wall times,
machine, commands), ``config.yaml`` (the composed training config), ``losses.png`` and, with
``--sheet``, ``sheet.png`` (the same 8 photos, input above output). Checkpoints and translated
images stay in ``--runs`` (outside the repository).

Scoring set: ``photo_jpg`` of the Kaggle data (the 500-photo subset, every photo) against the 300
paintings of ``monet_jpg``; FID, KID and MiFID from ``evaluate.py`` in float32.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cyclegan.accel import detect_cpu  # noqa: E402

DEFAULT_DATA = os.environ.get("CYCLEGAN_DATA", str(REPO.parent / "shared/data/gan-getting-started"))
DEFAULT_RUNS = os.environ.get("CYCLEGAN_RUNS", str(Path.home() / "cyclegan-quality-runs"))
SHEET_PHOTOS = 8
SHEET_SIDE = 128
LOSS_TAGS = ("g_adv_monet", "d_monet", "cycle_photo", "identity_photo", "g_total", "d_total")


def machine() -> str:
    """CPU model and capability, or the GPU, as the rows name the machine."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    cpu = detect_cpu()
    return f"{cpu.summary()}, {os.cpu_count()} CPUs"


def call(command: list[str], log: Path) -> float:
    """Run ``command`` from the repository, its output appended to ``log``; wall seconds."""
    print("$", " ".join(command), flush=True)
    start = time.perf_counter()
    with log.open("a") as out:
        out.write("$ " + " ".join(command) + "\n")
        out.flush()
        done = subprocess.run(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode not in (0, 1):  # evaluate.py exits 1 when it scored around bad images
        raise SystemExit(f"failed with exit {done.returncode}: see {log}")
    return time.perf_counter() - start


def score(generated: Path, data: Path, record: Path, log: Path) -> tuple[dict, float]:
    out = record / "scores.json"
    command = [
        sys.executable, "evaluate.py", f"generated={generated}", f"real={data / 'monet_jpg'}",
        "precision=fp32", "progress=false", f"json={out}",
    ]  # fmt: skip
    seconds = call(command, log)
    scores = json.loads(out.read_text())
    out.unlink()
    return scores, seconds


def contact_sheet(inputs: Path, outputs: Path, path: Path) -> None:
    """The first photos of the scoring set (sorted by name) above their translations."""
    names = sorted(p.name for p in inputs.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    names = names[:SHEET_PHOTOS]
    sheet = Image.new("RGB", (SHEET_SIDE * len(names), 2 * SHEET_SIDE))
    for i, name in enumerate(names):
        for row, folder in enumerate((inputs, outputs)):
            image = Image.open(folder / Path(name).with_suffix(".jpg")).convert("RGB")
            image = image.resize((SHEET_SIDE, SHEET_SIDE), Image.Resampling.LANCZOS)
            sheet.paste(image, (i * SHEET_SIDE, row * SHEET_SIDE))
    sheet.save(path, optimize=True)


def mifid_curve(tensorboard: Path) -> list[tuple[int, float]]:
    """``(iteration, MiFID)`` logged by the MiFID callback (``callbacks=mifid``), if any."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tensorboard), size_guidance={"scalars": 0})
    events.Reload()
    if "val/mifid" not in events.Tags()["scalars"]:
        return []
    # Epoch-end values are logged at Lightning's batch counter less one (not at global_step,
    # which counts the G and the D step): step + 1 is the iteration the score was taken at.
    return [(p.step + 1, round(p.value, 2)) for p in events.Scalars("val/mifid")]


def smoothed(points: list, window: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Moving average of logged scalars over ``window`` points, placed at the iteration that
    ends each window: the logged step (Lightning's batch counter, from 0) + 1, so a resumed run's
    curve starts where its checkpoint stopped."""
    steps = np.array([p.step for p in points])
    values = np.array([p.value for p in points])
    window = min(window, len(values))
    return steps[window - 1 :] + 1, np.convolve(values, np.ones(window) / window, mode="valid")


def loss_curves(tensorboard: Path, path: Path, title: str) -> None:
    """The training losses (moving average over 100 iterations) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tensorboard), size_guidance={"scalars": 0})
    events.Reload()
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=90)
    for tag in LOSS_TAGS:
        if f"train/{tag}" not in events.Tags()["scalars"]:
            continue
        ax.plot(*smoothed(events.Scalars(f"train/{tag}")), label=tag, linewidth=1)
    ax.set_xlabel("iteration")
    ax.set_yscale("log")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_record(record: Path, result: dict) -> None:
    record.mkdir(parents=True, exist_ok=True)
    (record / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    s = result["scores"]
    print(f"{record.name}: FID {s['fid']:.2f}  KID {s['kid_mean']:.4f}  MiFID {s['mifid']:.2f}")


def run(args: argparse.Namespace) -> None:
    data, runs = Path(args.data), Path(args.runs)
    run_dir = runs / args.name
    record = REPO / "docs/quality" / args.name
    if (record / "result.json").exists() and not args.replace:
        raise SystemExit(
            f"{record} already records row {args.name!r}: choose another name, or pass --replace"
        )
    if run_dir.exists():
        raise SystemExit(f"{run_dir} exists: choose another name or remove it")
    run_dir.mkdir(parents=True)
    record.mkdir(parents=True, exist_ok=True)
    log = run_dir / "quality.log"
    overrides = [f"data.root={data}", *args.overrides, f"hydra.run.dir={run_dir}"]
    train = [sys.executable, "train.py", *overrides, "trainer.enable_progress_bar=false"]
    train_seconds = call(train, log)
    ckpt = run_dir / "checkpoints/last.ckpt"
    translated = run_dir / "monet"
    predict = [
        sys.executable, "predict.py", f"ckpt={ckpt}", f"input_dir={data / 'photo_jpg'}",
        f"output_dir={translated}", "precision=32", "progress=false", "overwrite=true",
    ]  # fmt: skip
    predict_seconds = call(predict, log)
    scores, eval_seconds = score(translated, data, record, log)
    trained = None
    if "ema_decay: null" not in (run_dir / ".hydra/config.yaml").read_text():
        # An EMA run: also score its trained (not averaged) weights, what the EMA brings.
        call([*predict, "ema=false", f"output_dir={run_dir / 'monet_trained'}"], log)
        trained, _ = score(run_dir / "monet_trained", data, record, log)
    step = torch.load(ckpt, map_location="cpu", weights_only=True)["global_step"]
    (record / "config.yaml").write_text((run_dir / ".hydra/config.yaml").read_text())
    loss_curves(run_dir / "tensorboard", record / "losses.png", args.name)
    if args.sheet:
        contact_sheet(data / "photo_jpg", translated, record / "sheet.png")
    result = {
        "name": args.name,
        "overrides": args.overrides,
        "iterations": step // 2,  # Lightning counts the G and the D step
        "train_seconds": round(train_seconds, 1),
        "predict_seconds": round(predict_seconds, 1),
        "evaluate_seconds": round(eval_seconds, 1),
        "machine": machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "command": "python benchmarks/quality.py run "
        + args.name
        + (" --sheet" if args.sheet else "")
        + " -- "
        + " ".join(args.overrides),
        "scores": scores,
    }
    if trained is not None:
        result["scores_trained_weights"] = trained  # the EMA run's raw generator
    curve = mifid_curve(run_dir / "tensorboard")
    if curve:
        result["curve"] = curve  # (iteration, MiFID on the callback's photos)
    write_record(record, result)


def baseline(args: argparse.Namespace) -> None:
    data, runs = Path(args.data), Path(args.runs)
    name = f"baseline_{args.kind}"
    record = REPO / "docs/quality" / name
    record.mkdir(parents=True, exist_ok=True)
    run_dir = runs / name
    run_dir.mkdir(parents=True, exist_ok=True)
    log = run_dir / "quality.log"
    generated = data / "photo_jpg"
    seconds = 0.0
    if args.kind == "reinhard":
        generated = run_dir / "monet"
        seconds = call(
            [
                sys.executable,
                "-m",
                "cyclegan.colour_transfer",
                "--style",
                str(data / "monet_jpg"),
                "--input",
                str(data / "photo_jpg"),
                "--output",
                str(generated),
            ],  # fmt: skip
            log,
        )
        if args.sheet:
            contact_sheet(data / "photo_jpg", generated, record / "sheet.png")
    scores, eval_seconds = score(generated, data, record, log)
    result = {
        "name": name,
        "iterations": 0,
        "train_seconds": round(seconds, 1),
        "evaluate_seconds": round(eval_seconds, 1),
        "machine": machine(),
        "threads": torch.get_num_threads(),
        "command": f"python benchmarks/quality.py baseline {args.kind}",
        "scores": scores,
    }
    write_record(record, result)


def table(args: argparse.Namespace) -> None:
    """A markdown table of every record (or of ``--names``, in that order)."""
    root = REPO / "docs/quality"
    names = args.names or sorted(p.parent.name for p in root.glob("*/result.json"))
    print("| row | iterations | FID | KID ×10³ | MiFID | train min | machine, threads |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name in names:
        r = json.loads((root / name / "result.json").read_text())
        s = r["scores"]
        print(
            f"| {name} | {r['iterations']} | {s['fid']:.1f} | {1e3 * s['kid_mean']:.1f} "
            f"| {s['mifid']:.1f} | {r['train_seconds'] / 60:.1f} "
            f"| {r['machine']}, {r.get('threads', '?')} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=DEFAULT_DATA, help="the Kaggle data folder")
    parser.add_argument("--runs", default=DEFAULT_RUNS, help="checkpoints and images go here")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="train, translate and score one recipe")
    p.add_argument("name")
    p.add_argument("--sheet", action="store_true", help="also write the contact sheet")
    p.add_argument("--replace", action="store_true", help="overwrite a recorded row of that name")
    p.set_defaults(func=run)
    p = sub.add_parser("baseline", help="score an untrained baseline")
    p.add_argument("kind", choices=["photos", "reinhard"])
    p.add_argument("--sheet", action="store_true")
    p.set_defaults(func=baseline)
    p = sub.add_parser("table", help="print the table of the recorded rows")
    p.add_argument("names", nargs="*")
    p.set_defaults(func=table)
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    args.overrides = argv[split + 1 :]  # train.py overrides
    args.func(args)


if __name__ == "__main__":
    main()
