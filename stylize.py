"""Gatys neural style transfer: paint photos in the style of one painting or a set of them.

    python stylize.py input_dir=photos/ style=monet.jpg [output_dir=stylized/] [optimizer=adam]
    python stylize.py input_dir=photo_tfrec/ style=monet_jpg/ style_limit=30 steps=500 preview=8

See ``conf/stylize.yaml`` for every option and ``docs/style_transfer.md`` for the details (and
the VGG19 ImageNet weights it needs). Exit status: 0 when every image was converted (or already
there), 1 when any failed, 2 for a usage error (bad option, missing weights, input or style).
"""

import sys

import hydra
from omegaconf import DictConfig

from cyclegan.inference.cli import UsageError
from cyclegan.style.cli import run


@hydra.main(version_base="1.3", config_path="conf", config_name="stylize")
def main(cfg: DictConfig) -> None:
    try:
        status = run(cfg)
    except (UsageError, FileNotFoundError, ValueError) as error:  # LossNetworkError included
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted: finished outputs are kept; re-run to do the rest", file=sys.stderr)
        sys.exit(130)
    sys.exit(status)


if __name__ == "__main__":
    main()
