"""Train a CycleGAN: ``python train.py [accelerator=cpu|gpu|tpu] [loss=bce|lsgan] ...``.

See ``conf/train.yaml`` for every option and ``conf/experiment/`` for whole recipes.
"""

import logging
import sys

import hydra
from omegaconf import DictConfig

import cyclegan.config  # noqa: F401  (registers the config resolvers)
from cyclegan.guard import NonFiniteLossError
from cyclegan.inference.checkpoint import CheckpointError
from cyclegan.training import TrainerConfigError, train

log = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> None:
    try:
        train(cfg)
    except (FileNotFoundError, TrainerConfigError, CheckpointError) as err:
        # Missing data, a missing or unreadable checkpoint, or an accelerator that is not here:
        # say what and where.
        log.error("%s", err)
        sys.exit(2)
    except NonFiniteLossError as err:
        # Diverged: the message names the step and the loss terms; earlier checkpoints are kept.
        log.error("%s", err)
        sys.exit(1)


if __name__ == "__main__":
    main()
