"""Score generated images against real ones: FID, KID, memorization distance and Kaggle MiFID.

    python evaluate.py generated=images.zip real=../shared/data/gan-getting-started/monet_jpg
    python evaluate.py generated=out/ real=data/gan-getting-started/monet_tfrec precision=bf16

Exit status: 0 when every image was scored, 1 when some images could not be decoded (they are
listed; the scores cover the rest), 2 on an input error (missing or empty path).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from cyclegan.accel import describe_hardware
from cyclegan.inference.options import resolve_device
from cyclegan.metrics.evaluation import Evaluation, evaluate, format_report
from cyclegan.metrics.inception import InceptionFeatureExtractor, inception_precision


def write_json(result: Evaluation, path: str) -> None:
    """The scores, the inputs and the images that could not be scored, as JSON at ``path``."""
    report = {
        **result.scores.as_dict(),
        "generated": result.generated.path,
        "real": result.real.path,
        "bad": [list(b) for b in result.generated.bad + result.real.bad],
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(report, indent=2) + "\n")


USAGE = "Usage: python evaluate.py generated=DIR_OR_ZIP real=DIR_OR_TFREC [precision=bf16]"


@hydra.main(config_path="conf", config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Evaluate ``cfg.generated`` against ``cfg.real``, print the report, exit with its status."""
    for key in ("generated", "real"):
        if OmegaConf.is_missing(cfg, key):
            print(f"error: {key}=PATH is required. {USAGE}", file=sys.stderr)
            sys.exit(2)
    try:
        device = resolve_device(cfg.device)
        precision = inception_precision(cfg.precision, device)
        result = evaluate(
            cfg.generated,
            cfg.real,
            InceptionFeatureExtractor(precision=precision),
            batch_size=cfg.batch_size,
            device=device,
            cache_dir=cfg.cache_dir,
            kid_subsets=cfg.kid_subsets,
            kid_subset_size=cfg.kid_subset_size,
            seed=cfg.seed,
            epsilon=cfg.mifid_epsilon,
            progress=cfg.progress,
        )
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    print(format_report(result, epsilon=cfg.mifid_epsilon))
    if cfg.json:
        write_json(result, cfg.json)
    print(describe_hardware(device, precision), file=sys.stderr)  # what the features ran on
    sys.exit(1 if result.generated.bad or result.real.bad else 0)


if __name__ == "__main__":
    main()
