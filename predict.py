"""Stylize images with a trained CycleGAN generator, or export it.

    python predict.py ckpt=last.ckpt input_dir=photos/ [output_dir=out/] [direction=monet2photo]
    python predict.py ckpt=last.ckpt input_dir=photo_tfrec/ submission=true   # Kaggle images.zip
    python predict.py ckpt=last.ckpt export=onnx                              # or torchscript

See ``conf/predict.yaml`` for every option and ``docs/predict.md`` for the details.
Exit status: 0 when every image was converted (or already there), 1 when any failed, 2 for a
usage error (bad option, missing or unusable checkpoint or input).
"""

import sys

import hydra
from omegaconf import DictConfig

from cyclegan.inference.checkpoint import CheckpointError
from cyclegan.inference.cli import UsageError, run


@hydra.main(version_base="1.3", config_path="conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    try:
        status = run(cfg)
    except (UsageError, CheckpointError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted: finished outputs are kept; re-run to do the rest", file=sys.stderr)
        sys.exit(130)
    sys.exit(status)


if __name__ == "__main__":
    main()
