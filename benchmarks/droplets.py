"""Droplet spikes in a U-Net generator's decoder (Karras et al. 2020 saw them under instance norm).

For each checkpoint and each upsample of the photo→Monet U-Net, every image's spike ratio: the
largest activation (channel-wise max of ``|x|``, per position) over its mean over positions,
and where it sits. A droplet is a large ratio at the same position in every image, whatever the
photo shows.

    python benchmarks/droplets.py CKPT [CKPT ...] [--photos DIR] [--num 6] [--trained] [--all]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cyclegan.data.images import is_image_file, load_image  # noqa: E402
from cyclegan.inference.checkpoint import load_generator  # noqa: E402

DEFAULT_PHOTOS = Path(__file__).resolve().parents[2] / "shared/data/gan-getting-started/photo_jpg"


def photos(folder: Path, num: int) -> torch.Tensor:
    """The first ``num`` images of ``folder`` by name, in [-1, 1]."""
    files = sorted(f for f in folder.iterdir() if is_image_file(f))[:num]
    if not files:
        raise SystemExit(f"droplets.py: no images in {folder}")
    images = [load_image(f) for f in files]
    sizes = {tuple(image.shape[1:]) for image in images}
    if len(sizes) > 1:
        raise SystemExit(f"droplets.py: images of {folder} differ in size: {sorted(sizes)}")
    return torch.stack(images).float() / 127.5 - 1


def spikes(ckpt: str, x: torch.Tensor, ema: bool) -> list[tuple[int, torch.Tensor, torch.Tensor]]:
    """Per upsample: its side, each image's spike ratio and each image's spike position."""
    generator = load_generator(ckpt, "photo2monet", ema=ema)
    ups = getattr(generator.module, "ups", None)
    if ups is None:
        raise SystemExit(f"droplets.py: {ckpt}: the generator is not a U-Net (no upsamples)")
    maps: list[torch.Tensor] = []
    for up in ups:
        up.register_forward_hook(lambda module, args, out: maps.append(out.abs().amax(1)))
    with torch.no_grad():
        generator.module(x)
    rows = []
    for magnitude in maps:  # (N, H, W)
        flat = magnitude.flatten(1)
        rows.append((magnitude.shape[-1], flat.amax(1) / flat.mean(1), flat.argmax(1)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    parser.add_argument("--num", type=int, default=6, help="photos, the first by name")
    parser.add_argument("--trained", action="store_true", help="the trained weights, not the EMA")
    parser.add_argument("--all", action="store_true", help="every upsample, not only the last")
    args = parser.parse_args()
    x = photos(args.photos, args.num)
    print(f"{len(x)} photos of {args.photos}, {'trained' if args.trained else 'EMA'} weights")
    for ckpt in args.checkpoints:
        rows = spikes(ckpt, x, ema=not args.trained)
        for side, ratio, where in rows if args.all else rows[-1:]:
            places = [(int(i) // side, int(i) % side) for i in where]
            place, count = Counter(places).most_common(1)[0]
            print(
                f"{ckpt} upsample {side}x{side}: max/mean "
                + " ".join(f"{float(r):.1f}" for r in ratio)
                + f"; at {places}; most common {place} in {count} of {len(places)}"
            )


if __name__ == "__main__":
    main()
