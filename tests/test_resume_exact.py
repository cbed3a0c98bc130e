"""A resumed run is bit-identical to an uninterrupted one on the CPU (deterministic mode), with
dropout on, mid-epoch and at an epoch boundary, with and without DataLoader workers."""

import pytest
import torch

from cyclegan.training import train

# 10 photos, 6 Monet, batch 2, epoch_length=min: 3 iterations (6 optimizer steps) an epoch.
# The tiny U-Net has dropout 0.5 in its 3 innermost blocks (conf/generator/unet.yaml).
EXACT = (
    "trainer.precision=32-true",
    "+trainer.deterministic=true",
    "callbacks.image_grid=null",
    "callbacks.last.every_n_train_steps=1000",
    "model.generator.dropout=0.5",
    "data.augment=true",
    "data.load_size=36",
    # A learning rate that changes every epoch: an epoch-end step missed on resume would show.
    "module.scheduler.lr_lambda.epochs_constant=1",
    "module.scheduler.lr_lambda.epochs_decay=8",
)


def _weights(trainer) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in trainer.lightning_module.state_dict().items()}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("stop", "workers"),
    [(8, 0), (12, 0), (8, 1)],
    ids=["mid-epoch", "epoch-boundary", "mid-epoch-with-a-worker"],
)
def test_resume_is_bit_identical_to_an_uninterrupted_run(tiny_cfg, tmp_path, stop, workers):
    common = (*EXACT, f"data.num_workers={workers}")
    straight = _weights(train(tiny_cfg(*common, "trainer.max_steps=20", output_dir=tmp_path / "a")))

    run = tmp_path / "b"
    first = train(tiny_cfg(*common, f"trainer.max_steps={stop}", output_dir=run))
    assert first.global_step == stop
    last = run / "checkpoints" / "last.ckpt"
    with pytest.warns(UserWarning, match="exists and is not empty"):
        resumed = train(
            tiny_cfg(*common, "trainer.max_steps=20", f"ckpt_path={last}", output_dir=run)
        )
    assert resumed.global_step == 20
    again = _weights(resumed)
    assert again.keys() == straight.keys()
    differing = {
        key: float((again[key].float() - straight[key].float()).abs().max())
        for key in straight
        if not torch.equal(again[key], straight[key])
    }
    assert differing == {}
