"""End-to-end prediction speed: read, decode, infer, encode, write (``predict.py``'s path).

    python benchmarks/predict_throughput.py [--images DIR] [--limit N] [--generators unet resnet]

For each generator (U-Net-256 and ResNet-9 at full width, randomly initialised: speed does not
depend on the weights) it stylizes the photos twice, into fresh folders:

- ``default``: ``conf/predict.yaml`` as shipped (``precision=auto``: bf16 weights and
  activations where the CPU has native bf16, else float32; the speed plan of the hardware;
  batch 8, ``num_workers=auto`` decoding processes (none on up to 4 CPUs), encoding in 2
  writer threads);
- ``batch2``: the default with ``batch_size=2`` (the ResNet's best batch on a 2-core CPU);
- ``naive``: float32, batch 1, contiguous (NCHW) tensors, everything in the main thread.

It prints the CPU model and capability, seconds per image and images per second, and, where
bf16 is native, how far bf16 outputs are from float32 outputs (uint8 levels, before JPEG
encoding) on the first images. Run it on a quiet machine,
e.g. ``flock /tmp/bench.lock python benchmarks/predict_throughput.py``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cyclegan.accel import detect_cpu  # noqa: E402
from cyclegan.data.images import decode_image  # noqa: E402
from cyclegan.data.sources import iter_records  # noqa: E402
from cyclegan.inference.checkpoint import load_generator  # noqa: E402
from cyclegan.inference.options import PredictOptions  # noqa: E402
from cyclegan.inference.runner import predict  # noqa: E402
from cyclegan.inference.stylizer import Stylizer  # noqa: E402

GENERATORS = {
    "unet": {"_target_": "cyclegan.networks.UNetGenerator", "_partial_": True},
    "resnet": {"_target_": "cyclegan.networks.ResnetGenerator", "_partial_": True, "n_blocks": 9},
}
MODES = {
    "default": {},
    "batch2": {"batch_size": 2},
    "naive": {
        "precision": 32,
        "batch_size": 1,
        "channels_last": False,
        "num_workers": 0,
        "writer_threads": 0,
    },
}


def write_checkpoint(path: Path, config: dict) -> None:
    """A checkpoint in the LightningModule's layout with a randomly initialised generator."""
    torch.manual_seed(0)
    state = {}
    for name in ("gen_photo2monet", "gen_monet2photo"):
        generator = instantiate(config)()
        state.update({f"{name}.{key}": value for key, value in generator.state_dict().items()})
    torch.save({"state_dict": state, "hyper_parameters": {"generator": config}}, path)


def time_predict(
    ckpt: Path, images: Path, output_dir: Path, overrides: dict
) -> tuple[float, float]:
    """Seconds per image of one ``predict.py`` run, without and with loading the checkpoint.

    The first number covers read, decode, infer, encode and write (what grows with the number
    of images); the second adds the one-off loading of the checkpoint and setting up the model.
    """
    items = [f"ckpt={ckpt}", f"input_dir={images}", f"output_dir={output_dir}", "progress=false"]
    items += [f"{key}={value}" for key, value in overrides.items()]
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(config_name="predict", overrides=items)
    start = time.perf_counter()
    generator = load_generator(cfg.ckpt, cfg.direction)
    options = PredictOptions.from_config(cfg)
    summary = predict(Stylizer.for_generator(generator, options), options)
    total = time.perf_counter() - start
    if summary.failed or not summary.converted:
        raise RuntimeError(f"prediction failed: {summary.line()} {summary.failed[:3]}")
    return summary.seconds / summary.converted, total / summary.converted


def bf16_difference(ckpt: Path, images: Path, count: int = 16) -> tuple[float, float, float]:
    """Mean, 99.9th percentile and max |bf16 - float32| output difference in uint8 levels."""
    generator = load_generator(ckpt, "photo2monet")
    batch = []
    for record in iter_records(images):
        batch.append(decode_image(record.data, record.name))
        if len(batch) == count:
            break
    x = torch.stack(batch)
    outputs = [
        Stylizer(generator.module, generator.size_multiple, precision=p).forward_uint8(x)
        for p in ("bf16", "32")
    ]
    difference = (outputs[0].int() - outputs[1].int()).abs().float()
    return difference.mean().item(), difference.quantile(0.999).item(), difference.max().item()


def subset(images: Path, limit: int, workdir: Path) -> Path:
    """A folder with links to the first ``limit`` images (all of them when limit <= 0)."""
    files = sorted(p for p in images.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    if limit <= 0 or limit >= len(files):
        return images
    folder = workdir / "subset"
    folder.mkdir()
    for file in files[:limit]:
        os.symlink(file.resolve(), folder / file.name)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--images", type=Path, default=REPO.parent / "shared/data/gan-getting-started/photo_jpg"
    )
    parser.add_argument("--limit", type=int, default=0, help="use the first N images (0: all)")
    parser.add_argument("--generators", nargs="+", default=list(GENERATORS), choices=GENERATORS)
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument(
        "--repeats", type=int, default=1, help="run each case N times, keep the fastest"
    )
    args = parser.parse_args()
    if not args.images.is_dir():
        sys.exit(f"{args.images}: not found (the Kaggle photo_jpg folder)")

    work = Path(tempfile.mkdtemp(prefix="predict_bench_"))
    try:
        images = subset(args.images, args.limit, work)
        count = len(list(images.iterdir()))
        cpu = detect_cpu()
        print(
            f"{count} images from {args.images}; CPU {cpu.summary()}; torch "
            f"{torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs"
        )
        rows = []
        differences = {}
        for name in args.generators:
            ckpt = work / f"{name}.ckpt"
            write_checkpoint(ckpt, GENERATORS[name])
            for mode in args.modes:
                runs = [
                    time_predict(ckpt, images, work / f"{name}-{mode}-{i}", MODES[mode])
                    for i in range(args.repeats)
                ]
                per_image, with_load = min(runs)
                rows.append((name, mode, per_image, with_load))
                print(f"  {name:7s} {mode:8s} {per_image:.4f} s/img", flush=True)
            if cpu.native_bf16:  # emulated bf16 takes tens of seconds per image
                differences[name] = bf16_difference(ckpt, images)

        print()
        print("| generator | path    |  s/img | img/s | s/img incl. loading | speed-up vs naive |")
        print("|-----------|---------|-------:|------:|--------------------:|------------------:|")
        naive = {name: s for name, mode, s, _ in rows if mode == "naive"}
        for name, mode, per_image, with_load in rows:
            speedup = f"{naive[name] / per_image:.1f}x" if name in naive else "-"
            print(
                f"| {name:9s} | {mode:7s} | {per_image:6.4f} | {1 / per_image:5.1f} | "
                f"{with_load:19.4f} | {speedup:>17s} |"
            )
        if differences:
            print()
            print("bf16 vs float32 outputs (uint8 levels, 16 images, before JPEG encoding):")
        for name, (mean, q999, worst) in differences.items():
            print(f"  {name:7s} mean {mean:.3f}, 99.9th percentile {q999:.0f}, max {worst:.0f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
