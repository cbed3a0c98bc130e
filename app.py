"""A local web page to try a trained model: upload photos, get them back in its style.

    python app.py ckpt=demo_out/train/checkpoints/last.ckpt     # then open http://127.0.0.1:7860
    python app.py runs_dir=outputs                              # choose among a run folder's
    python app.py ckpt=last.ckpt precision=32 port=8000 host=0.0.0.0

See ``conf/app.yaml`` for every option and ``docs/app.md`` for the page. Exit status 2 for a
usage error (bad option, missing or unusable checkpoint, port taken).
"""

import sys

import hydra
from omegaconf import DictConfig

from cyclegan.inference.checkpoint import CheckpointError
from cyclegan.inference.cli import UsageError


@hydra.main(version_base="1.3", config_path="conf", config_name="app")
def main(cfg: DictConfig) -> None:
    try:
        from cyclegan.app.ui import serve  # gradio comes with the `app` extra
    except ModuleNotFoundError as error:
        print(f"error: {error}; install the app extra: pip install -e '.[app]'", file=sys.stderr)
        sys.exit(2)
    try:
        serve(cfg)
    except (UsageError, CheckpointError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
