"""Colour-statistics transfer (Reinhard et al., 2001) in CIE Lab: the no-training baseline.

Each photo's Lab channels are shifted and scaled so that their mean and standard deviation match
those of the style set (all pixels of all its images pooled). A recipe that does not beat this
baseline (and the photos left unchanged) on FID/MiFID has not learned to paint (docs/quality.md).

    python -m cyclegan.colour_transfer --style monet_jpg/ --input photo_jpg/ --output out/

Exit status: 0 when every input was written, 1 when some inputs could not be decoded (they are
listed and counted; the rest are written), 2 on an input error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image
from skimage.color import lab2rgb, rgb2lab

from cyclegan.data.images import BadImageError, decode_image
from cyclegan.inference.inputs import InputProblem, iter_inputs


@dataclass(frozen=True)
class LabStats:
    """Per-channel mean and standard deviation of L, a and b."""

    mean: np.ndarray
    std: np.ndarray


def to_lab(image: np.ndarray) -> np.ndarray:
    """``uint8 [H, W, 3]`` sRGB to float64 CIE Lab (D65)."""
    return rgb2lab(image.astype(np.float64) / 255.0)


def lab_stats(images: Iterable[np.ndarray]) -> LabStats:
    """Mean and standard deviation of each Lab channel over all pixels of ``images`` pooled.

    Raises:
        ValueError: when ``images`` is empty.
    """
    total = np.zeros(3)
    total_sq = np.zeros(3)
    count = 0
    for image in images:
        lab = to_lab(image).reshape(-1, 3)
        total += lab.sum(0)
        total_sq += (lab**2).sum(0)
        count += len(lab)
    if count == 0:
        raise ValueError("no images to take colour statistics from")
    mean = total / count
    return LabStats(mean, np.sqrt(np.maximum(total_sq / count - mean**2, 0.0)))


def transfer(image: np.ndarray, target: LabStats, eps: float = 1e-6) -> np.ndarray:
    """``image`` (``uint8 [H, W, 3]``) with its Lab mean and standard deviation moved to
    ``target``'s; returns ``uint8 [H, W, 3]``."""
    lab = to_lab(image)
    source = LabStats(lab.reshape(-1, 3).mean(0), lab.reshape(-1, 3).std(0))
    lab = (lab - source.mean) * (target.std / np.maximum(source.std, eps)) + target.mean
    lab[..., 0] = np.clip(lab[..., 0], 0.0, 100.0)
    rgb = lab2rgb(lab)  # clips out-of-gamut colours into [0, 1]
    return np.round(rgb * 255.0).astype(np.uint8)


def read_images(path: str | Path, bad: list[str]) -> Iterable[tuple[str, np.ndarray]]:
    """``(name, uint8 [H, W, 3])`` of every image under ``path`` (folder, .tfrec, .zip or image
    file); what cannot be decoded is appended to ``bad`` as ``"name: reason"``."""
    for item in iter_inputs(path):
        if isinstance(item, InputProblem):
            if not item.ignored:
                bad.append(f"{item.name}: {item.reason}")
            continue
        try:
            image = decode_image(item.data, item.origin)
        except BadImageError as error:
            bad.append(str(error))
            continue
        yield item.name, image.permute(1, 2, 0).numpy()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--style", required=True, help="images whose colours to take (Monet)")
    parser.add_argument("--input", required=True, help="images to recolour (photos)")
    parser.add_argument("--output", required=True, help="folder for the recoloured JPEGs")
    parser.add_argument("--jpeg-quality", type=int, default=95)
    args = parser.parse_args(argv)
    bad: list[str] = []
    try:
        target = lab_stats(image for _, image in read_images(args.style, bad))
        output = Path(args.output)
        written = 0
        for name, image in read_images(args.input, bad):
            out = output / PurePosixPath(name).with_suffix(".jpg")
            out.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(transfer(image, target)).save(out, quality=args.jpeg_quality)
            written += 1
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    mean = ", ".join(f"{m:.2f}±{s:.2f}" for m, s in zip(target.mean, target.std, strict=True))
    print(f"style Lab mean±std: {mean}")
    print(f"wrote {written} image(s) to {output}; {len(bad)} could not be read")
    for line in bad:
        print(f"  {line}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
