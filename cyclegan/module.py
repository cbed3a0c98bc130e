"""The CycleGAN LightningModule: two generators, two discriminators, manual optimization.

Paper mapping (Zhu et al., 2017), written once:
    G   = ``gen_photo2monet``  photo (X) -> Monet (Y)
    F   = ``gen_monet2photo``  Monet (Y) -> photo (X)
    D_Y = ``disc_monet``       judges Monet paintings
    D_X = ``disc_photo``       judges photos
"""

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import lightning as L
import torch
from lightning.pytorch.core.optimizer import LightningOptimizer
from omegaconf import DictConfig, ListConfig, OmegaConf
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler

from cyclegan.accel import OFF, SpeedPlan, cached_autocast, fast_optimizer, plan_for, speed_up
from cyclegan.diffaugment import check_policy, diff_augment
from cyclegan.ema import check_decay, ema_copy, update_ema
from cyclegan.guard import FiniteGuard, check_finite_weights
from cyclegan.image_pool import ImagePool
from cyclegan.losses import GANLoss, cycle_loss, identity_loss
from cyclegan.rng import capture_rng_states, restore_rng_states

Batch = Mapping[str, torch.Tensor]
log = logging.getLogger(__name__)


def partial_config(factory: Callable[..., nn.Module]) -> dict[str, Any]:
    """The Hydra config that rebuilds ``factory`` (a ``functools.partial`` of a class), as plain
    data for the checkpoint: ``instantiate(cfg)()`` builds the network again."""
    if not isinstance(factory, functools.partial) or not isinstance(factory.func, type):
        raise TypeError(
            f"expected a functools.partial of a network class (a Hydra `_partial_: true` "
            f"config), got {factory!r}"
        )
    kwargs = {
        k: OmegaConf.to_container(v) if isinstance(v, DictConfig | ListConfig) else v
        for k, v in factory.keywords.items()
    }
    target = f"{factory.func.__module__}.{factory.func.__qualname__}"
    return {"_target_": target, "_partial_": True, **kwargs}


def generator_of(module: nn.Module, direction: str = "photo2monet", ema: bool = True) -> nn.Module:
    """The generator ``module`` paints ``direction`` with: the ``generator(direction, ema)``
    accessor of :class:`CycleGAN` (the EMA weights when there are some and ``ema``), else the
    module's ``gen_<direction>`` network (fast style transfer, test stubs).

    Raises:
        AttributeError: the module has neither.
    """
    accessor = getattr(module, "generator", None)
    if callable(accessor) and not isinstance(accessor, nn.Module):
        return cast(nn.Module, accessor(direction, ema))
    network = getattr(module, f"gen_{direction}", None)
    if not isinstance(network, nn.Module):
        raise AttributeError(
            f"{type(module).__name__}.gen_{direction} (an nn.Module) or a "
            "generator(direction, ema) accessor is needed"
        )
    return network


def check_identity_decay(value: Sequence[int] | None) -> tuple[int, int] | None:
    """``module.identity_decay`` as ``(start, end)`` iterations with ``0 <= start < end``, or
    ``None``.

    Raises:
        ValueError: anything else, naming the option.
    """
    if value is None:
        return None
    if isinstance(value, ListConfig):
        value = list(value)
    valid = (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        and 0 <= value[0] < value[1]
    )
    if not valid:
        raise ValueError(
            f"module.identity_decay must be null or [start, end] iterations with "
            f"0 <= start < end, got {value!r}"
        )
    return int(value[0]), int(value[1])


class CycleGAN(L.LightningModule):
    """Unpaired photo <-> Monet translation.

    Each training step runs a generator step (both generators, discriminators frozen) and then a
    discriminator step on detached fakes drawn through an image pool. Losses are watched for NaN
    and infinity on the device and checked on the logging cadence (``log_every_n_steps``), at
    every checkpoint and at the end: a diverged run stops with
    :class:`~cyclegan.guard.NonFiniteLossError` naming the first bad step, and a checkpoint with
    non-finite weights is never saved. Losses:
    adversarial (BCE, LSGAN or hinge), cycle L1 weighted ``lambda_cycle`` and identity L1
    weighted ``lambda_identity · lambda_cycle`` (0.5 · 10 = 5 by default, as in the paper).

    The quality toolbox (each off by default; docs/quality.md): DiffAugment before every
    discriminator call, an EMA of both generators, the R1 penalty on real images and a separate
    learning rate for the discriminators.

    Args:
        generator: factory of a generator (called twice: G and F).
        discriminator: factory of a discriminator (called twice: D_Y and D_X).
        gan_loss: adversarial loss on discriminator logits.
        optimizer: factory taking parameters, e.g. ``partial(Adam, lr=2e-4, betas=(0.5, 0.999))``.
        scheduler: optional factory taking an optimizer; stepped once per epoch.
        lambda_cycle: weight of each cycle-consistency L1 term.
        lambda_identity: identity weight relative to ``lambda_cycle``; 0 disables it.
        pool_size: image-pool capacity per domain; 0 disables the pool.
        seed: seed of the image pools' random generators.
        channels_last: this architecture gains from the channels-last memory format where the
            hardware does (``model.channels_last``); whether it is used is the speed plan's
            choice (:func:`cyclegan.accel.plan_for`).
        speed: the ``speed`` config (``enabled``, ``channels_last``, ``small_map_gemm``,
            ``winograd``):
            applied by :func:`cyclegan.accel.speed_up` when training starts, for the device and
            precision the Trainer uses.
        compile_networks: compile the four networks with ``torch.compile`` when training
            starts (CPU and CUDA; a one-off compilation of a minute or more, then faster steps).
        diffaugment: DiffAugment policy (:mod:`cyclegan.diffaugment`), e.g.
            ``["color", "translation", "cutout"]``, applied to real and fake images before every
            discriminator call in both steps; empty: off.
        ema_decay: keep an exponential moving average of both generators with this decay
            (e.g. 0.999), updated after every generator step; ``None``: off. Image grids, the
            MiFID callback, ``predict.py`` and export use the averages when present.
        r1_gamma: weight γ of the R1 penalty γ/2 · E‖∇D(real)‖² (Mescheder et al. 2018) on
            each discriminator; 0: off.
        r1_every: lazy regularisation (StyleGAN2): the penalty is computed every ``r1_every``
            iterations, scaled by ``r1_every``.
        d_lr_ratio: the discriminators' learning rate as a multiple of the generators' (the
            two time-scale update rule, Heusel et al. 2017); 1: the same rate.
        identity_decay: ``(start, end)`` iterations: the identity weight is
            ``lambda_identity`` until ``start``, falls linearly to 0 at ``end`` and stays 0
            (the terms are still computed, so the step's graph does not change); ``None``:
            constant.

    Example:
        >>> from functools import partial
        >>> from cyclegan.networks import UNetGenerator, PatchGANDiscriminator
        >>> from cyclegan.losses import LSGANLoss
        >>> model = CycleGAN(partial(UNetGenerator, ngf=8, num_downs=5),
        ...                  partial(PatchGANDiscriminator, ndf=8), LSGANLoss(),
        ...                  partial(torch.optim.Adam, lr=2e-4, betas=(0.5, 0.999)))
        >>> model.gen_photo2monet(torch.zeros(1, 3, 32, 32)).shape
        torch.Size([1, 3, 32, 32])
    """

    def __init__(
        self,
        generator: Callable[[], nn.Module],
        discriminator: Callable[[], nn.Module],
        gan_loss: GANLoss,
        optimizer: Callable[..., Optimizer],
        scheduler: Callable[[Optimizer], LRScheduler] | None = None,
        lambda_cycle: float = 10.0,
        lambda_identity: float = 0.5,
        pool_size: int = 50,
        seed: int = 0,
        channels_last: bool = False,
        compile_networks: bool = False,
        speed: Mapping[str, Any] | None = None,
        diffaugment: Sequence[str] = (),
        ema_decay: float | None = None,
        r1_gamma: float = 0.0,
        r1_every: int = 16,
        d_lr_ratio: float = 1.0,
        identity_decay: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.save_hyperparameters(
            ignore=[
                "generator",
                "discriminator",
                "gan_loss",
                "optimizer",
                "scheduler",
                "speed",
                "diffaugment",
                "identity_decay",
            ]  # fmt: skip
        )
        if r1_gamma < 0 or r1_every < 1:
            raise ValueError(f"need r1_gamma >= 0 and r1_every >= 1, got {r1_gamma}, {r1_every}")
        if not d_lr_ratio > 0:
            raise ValueError(f"module.d_lr_ratio must be > 0, got {d_lr_ratio}")
        # Plain data, so checkpoints load with torch.load(weights_only=True) and predict.py can
        # rebuild the generator without the training config.
        self.hparams["generator"] = partial_config(generator)
        self.hparams["discriminator"] = partial_config(discriminator)
        self.hparams["gan_loss"] = type(gan_loss).__name__
        self.diffaugment = check_policy(diffaugment)
        self.hparams["diffaugment"] = list(self.diffaugment)
        self.ema_decay = check_decay(ema_decay)

        self.gen_photo2monet = generator()
        self.gen_monet2photo = generator()
        self.disc_monet = discriminator()
        self.disc_photo = discriminator()
        # translate() batches the domains into one generator call only where that changes no
        # output: generators that declare per_image (cyclegan.networks.Generator).
        self.batch_domains = bool(getattr(self.gen_photo2monet, "per_image", False))
        # Moving averages of G and F (checkpointed with the module), or None.
        self.ema_photo2monet = ema_copy(self.gen_photo2monet) if ema_decay is not None else None
        self.ema_monet2photo = ema_copy(self.gen_monet2photo) if ema_decay is not None else None
        self.r1_gamma = r1_gamma
        self.r1_every = r1_every
        self.d_lr_ratio = d_lr_ratio
        self.gan_loss = gan_loss
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.lambda_cycle = lambda_cycle
        self.lambda_identity = lambda_identity
        self.identity_decay = check_identity_decay(identity_decay)
        self.hparams["identity_decay"] = (
            list(self.identity_decay) if self.identity_decay is not None else None
        )
        self.pool_monet = ImagePool(pool_size, seed=seed)
        self.pool_photo = ImagePool(pool_size, seed=seed + 1)
        self.channels_last = channels_last
        self.speed_options = dict(speed) if speed is not None else {"enabled": False}
        self.speed_plan: SpeedPlan = OFF
        self._speed_applied = False
        self.compile_networks = compile_networks
        self._compiled = False
        self.guard = FiniteGuard()
        self._resumed_rng: dict[str, Any] | None = None
        # The learning rates and schedules this config asks for (configure_optimizers).
        self._configured_rates: list[dict[str, Any]] = []

    # ----------------------------------------------------------------- forward passes
    def translate(self, real_photo: torch.Tensor, real_monet: torch.Tensor) -> dict[str, Any]:
        """All generator outputs of one step.

        Runs G on [photo, Monet], F on [Monet, photo, G(photo)] and G on F(Monet): three
        batched calls instead of six when the generators are ``per_image`` (instance norm:
        batching changes nothing), else one call per domain (batch statistics would mix them).
        The identity images G(Monet) and F(photo) are made only while the identity terms weigh
        anything: after ``identity_decay``'s window the generators see four images per
        iteration instead of six (on XLA: two new graph variants at the window's end, then none).

        Returns:
            ``fake_monet`` = G(photo), ``cycled_photo`` = F(G(photo)), ``fake_photo`` = F(Monet),
            ``cycled_monet`` = G(F(Monet)), and while identity weighs anything
            ``same_monet`` = G(Monet), ``same_photo`` = F(photo).
        """
        use_identity = self.identity_weight() > 0
        g_parts = [real_photo, real_monet] if use_identity else [real_photo]
        fake_monet, *same_monet = self._generate(self.gen_photo2monet, g_parts)
        f_parts = [real_monet, real_photo, fake_monet] if use_identity else [real_monet, fake_monet]
        fake_photo, *same_photo, cycled_photo = self._generate(self.gen_monet2photo, f_parts)
        out = {
            "fake_monet": fake_monet,
            "cycled_photo": cycled_photo,
            "fake_photo": fake_photo,
            "cycled_monet": self.gen_photo2monet(fake_photo),
        }
        if use_identity:
            out["same_monet"] = same_monet[0]
            out["same_photo"] = same_photo[0]
        return out

    def _generate(self, generator: nn.Module, parts: list[torch.Tensor]) -> list[torch.Tensor]:
        """``generator`` on each part: one call on their concatenation when ``batch_domains``."""
        if not self.batch_domains:
            return [generator(part) for part in parts]
        out = generator(torch.cat(parts))
        return list(out.split([part.shape[0] for part in parts]))

    def generator_losses(
        self, real_photo: torch.Tensor, real_monet: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Generator losses (``total`` is what is minimised) and the generated images."""
        fakes = self.translate(real_photo, real_monet)
        lam = self.lambda_cycle
        losses = {
            "g_adv_monet": self.gan_loss.generator_loss(
                self.judge(self.disc_monet, fakes["fake_monet"])
            ),
            "g_adv_photo": self.gan_loss.generator_loss(
                self.judge(self.disc_photo, fakes["fake_photo"])
            ),
            "cycle_photo": cycle_loss(real_photo, fakes["cycled_photo"], lam),
            "cycle_monet": cycle_loss(real_monet, fakes["cycled_monet"], lam),
        }
        if "same_monet" in fakes:
            weight = self.identity_weight()
            losses["identity_monet"] = identity_loss(real_monet, fakes["same_monet"], weight)
            losses["identity_photo"] = identity_loss(real_photo, fakes["same_photo"], weight)
        elif self.lambda_identity > 0:  # decayed to 0: the terms stay, at their value, 0
            zero = torch.zeros_like(losses["cycle_photo"])
            losses["identity_monet"] = losses["identity_photo"] = zero
        losses["g_total"] = torch.stack(list(losses.values())).sum()
        return losses, fakes

    def identity_weight(self) -> float:
        """The identity terms' weight at this iteration: ``lambda_identity · lambda_cycle``,
        scaled down linearly over ``identity_decay`` when it is set."""
        weight = self.lambda_identity * self.lambda_cycle
        if self.identity_decay is None:
            return weight
        start, end = self.identity_decay
        iteration = self.global_step // 2  # global_step counts the G and the D step
        return weight * min(1.0, max(0.0, (end - iteration) / (end - start)))

    def discriminator_losses(
        self,
        real_photo: torch.Tensor,
        real_monet: torch.Tensor,
        fake_photo: torch.Tensor,
        fake_monet: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """Discriminator losses on real images and (detached, pooled) fakes; real and fake go
        through each discriminator in one batch."""
        n = real_photo.shape[0]
        monet_logits = self.judge(self.disc_monet, torch.cat([real_monet, fake_monet]))
        photo_logits = self.judge(self.disc_photo, torch.cat([real_photo, fake_photo]))
        losses = {
            "d_monet": self.gan_loss.discriminator_loss(monet_logits[:n], monet_logits[n:]),
            "d_photo": self.gan_loss.discriminator_loss(photo_logits[:n], photo_logits[n:]),
        }
        losses["d_total"] = losses["d_monet"] + losses["d_photo"]
        return losses

    def judge(self, discriminator: nn.Module, images: torch.Tensor) -> torch.Tensor:
        """Logits of ``discriminator`` on ``images``, through DiffAugment when it is on (every
        discriminator call, real or fake, generator step or discriminator step, goes here)."""
        return discriminator(diff_augment(images, self.diffaugment))

    def r1_penalty(self, discriminator: nn.Module, real: torch.Tensor) -> torch.Tensor:
        """E‖∇ₓD(x)‖² over real images ``x`` (the gradient of the summed logits with respect
        to the images, before DiffAugment), differentiable with respect to D's weights."""
        real = real.detach().requires_grad_(True)
        logits = self.judge(discriminator, real)
        (grad,) = torch.autograd.grad(logits.float().sum(), real, create_graph=True)
        return grad.float().square().sum(dim=(1, 2, 3)).mean()

    def generator(self, direction: str = "photo2monet", ema: bool = True) -> nn.Module:
        """The generator to use for ``direction`` (``photo2monet``: G, ``monet2photo``: F): its
        moving average when EMA is on and ``ema`` is true, else the trained weights. Image
        grids and the MiFID callback take their generator from here."""
        if direction not in ("photo2monet", "monet2photo"):
            raise ValueError(f"direction must be photo2monet or monet2photo, got {direction!r}")
        average = self.ema_photo2monet if direction == "photo2monet" else self.ema_monet2photo
        if ema and average is not None:
            return average
        return self.gen_photo2monet if direction == "photo2monet" else self.gen_monet2photo

    def forward(self, photo: torch.Tensor) -> torch.Tensor:
        """Photo -> Monet (with the EMA generator when there is one)."""
        return self.generator("photo2monet")(photo)

    # ----------------------------------------------------------------- training
    def networks(self) -> tuple[nn.Module, nn.Module, nn.Module, nn.Module]:
        """G, F, D_Y, D_X."""
        return self.gen_photo2monet, self.gen_monet2photo, self.disc_monet, self.disc_photo

    def averaged_generators(self) -> list[tuple[nn.Module, nn.Module]]:
        """(moving average, generator) of G and F when EMA is on; else empty."""
        pairs = [
            (self.ema_photo2monet, self.gen_photo2monet),
            (self.ema_monet2photo, self.gen_monet2photo),
        ]
        return [(average, net) for average, net in pairs if average is not None]

    def configure_model(self) -> None:
        trainer = self._trainer  # None when called outside Trainer.fit (tests)
        if not self._speed_applied and trainer is not None and self.speed_options.get("enabled"):
            self.speed_plan = plan_for(
                trainer.strategy.root_device,
                str(trainer.precision),
                self.channels_last,
                self.speed_options,
            )
            averages = [average for average, _ in self.averaged_generators()]
            for net in [*self.networks(), *averages]:
                speed_up(net, self.speed_plan)
            self._speed_applied = True
            log.info("Speed plan: %s", self.speed_plan)
        # In place (nn.Module.compile), so parameter names and checkpoints stay as they are.
        if self.compile_networks and not self._compiled:
            for net in self.networks():
                net.compile()
            self._compiled = True

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` in the networks' memory format (the DataModule delivers channels-last)."""
        return x.contiguous(memory_format=self.speed_plan.memory_format)

    def training_step(self, batch: Batch, batch_idx: int) -> None:
        real_photo, real_monet = self._prepare(batch["photo"]), self._prepare(batch["monet"])
        opt_g, opt_d = cast(list[LightningOptimizer], self.optimizers())

        self.toggle_optimizer(opt_g)  # discriminators frozen
        with cached_autocast(self.device.type, self.speed_plan.cached_autocast):
            g_losses, fakes = self.generator_losses(real_photo, real_monet)
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(g_losses["g_total"])
        opt_g.step()
        self.untoggle_optimizer(opt_g)
        if self.ema_decay is not None:
            for average, generator in self.averaged_generators():
                update_ema(average, generator, self.ema_decay)

        self.toggle_optimizer(opt_d)  # generators frozen
        fake_monet = self.pool_monet.query(fakes["fake_monet"].detach())
        fake_photo = self.pool_photo.query(fakes["fake_photo"].detach())
        with cached_autocast(self.device.type, self.speed_plan.cached_autocast):
            d_losses = self.discriminator_losses(real_photo, real_monet, fake_photo, fake_monet)
            # Lazy R1: every r1_every-th iteration (global_step counts the G and the D step).
            if self.r1_gamma > 0 and (self.global_step // 2) % self.r1_every == 0:
                r1 = self.r1_penalty(self.disc_monet, real_monet)
                r1 = r1 + self.r1_penalty(self.disc_photo, real_photo)
                d_losses["r1"] = 0.5 * self.r1_gamma * self.r1_every * r1
                d_losses["d_total"] = d_losses["d_total"] + d_losses["r1"]
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(d_losses["d_total"])
        opt_d.step()
        self.untoggle_optimizer(opt_d)

        losses = {**g_losses, **d_losses}
        self.guard.watch(losses, step=self.global_step)  # after this iteration's two steps
        if self.guard.due(getattr(self.trainer, "log_every_n_steps", 1)):
            self.guard.check(self.current_epoch)  # one host sync, on the logging cadence
        logs = {f"train/{k}": v.detach() for k, v in losses.items()}
        self.log_dict(logs, on_step=True, on_epoch=False, batch_size=real_photo.shape[0])
        self.log("train/lr", float(opt_g.param_groups[0]["lr"]), on_step=True, on_epoch=False)
        if self.identity_decay is not None:
            self.log("train/identity_weight", self.identity_weight(), on_step=True, on_epoch=False)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # The random states of a resumed checkpoint take effect here, just before the first
        # step, so that nothing Lightning or the DataLoader draws while restarting shifts them.
        if self._resumed_rng is not None:
            restore_rng_states(self._resumed_rng)
            self._resumed_rng = None
        # A run resumed from the last step of an epoch starts the next epoch without that
        # epoch's end hooks (Lightning ran them before the interruption, not after the save):
        # bring the schedules to this epoch.
        self._step_schedulers(until=self.current_epoch)

    def on_train_start(self) -> None:
        self._restore_configured_rates()

    def on_train_end(self) -> None:
        self.guard.check(self.current_epoch)

    def on_train_epoch_end(self) -> None:
        # Manual optimization: Lightning does not step schedulers for us.
        self._step_schedulers(until=self.current_epoch + 1)

    def _step_schedulers(self, until: int) -> None:
        """Step each epoch schedule until it has taken ``until`` steps (idempotent: resuming
        never steps a schedule twice or skips a step)."""
        schedulers = self.lr_schedulers()
        if schedulers is None:
            return
        for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
            while scheduler.last_epoch < until:
                scheduler.step()  # type: ignore[call-arg]

    def configure_optimizers(self) -> Any:
        generators = [*self.gen_photo2monet.parameters(), *self.gen_monet2photo.parameters()]
        discriminators = [*self.disc_monet.parameters(), *self.disc_photo.parameters()]
        factory = fast_optimizer(self.optimizer_factory, self.speed_plan)
        opt_g = factory(generators)
        opt_d = factory(discriminators)
        for group in opt_d.param_groups:  # before the scheduler records the initial rate
            group["lr"] *= self.d_lr_ratio
        if self.scheduler_factory is None:
            self._configured_rates = [_rates(opt, None) for opt in (opt_g, opt_d)]
            return [opt_g, opt_d]
        schedulers = [self.scheduler_factory(opt_g), self.scheduler_factory(opt_d)]
        self._configured_rates = [
            _rates(opt, sched) for opt, sched in zip((opt_g, opt_d), schedulers, strict=True)
        ]
        return [opt_g, opt_d], schedulers

    def _restore_configured_rates(self) -> None:
        """Train at the learning rates and schedule the config asks for, also when resuming.

        Lightning loads a checkpoint's optimizer and scheduler states over the ones
        ``configure_optimizers`` built, and with them the checkpoint's base rates and the
        parameters of its ``LinearDecay``: without this, ``ckpt_path=...
        module.scheduler.lr_lambda.epochs_decay=12`` would silently keep the old schedule. Where
        the two differ, the config's rates and schedule parameters are put back (the step count
        and Adam's moments stay the checkpoint's), the current rate becomes the config's for
        this epoch, and a warning names each change.
        """
        if not self._configured_rates:
            return
        found = self.optimizers(use_pl_optimizer=False)
        optimizers = found if isinstance(found, list) else [found]
        scheduled = self.lr_schedulers() if self.scheduler_factory is not None else None
        schedulers: list[Any] = (
            scheduled if isinstance(scheduled, list) else [scheduled] * len(optimizers)
        )
        # Every difference first: the two schedulers may share one factor function.
        nows = [_rates(opt, sched) for opt, sched in zip(optimizers, schedulers, strict=True)]
        changes = [
            f"{name} {key}: {now[key]} -> {wanted[key]}"
            for name, now, wanted in zip(
                ("generators", "discriminators"), nows, self._configured_rates, strict=True
            )
            for key in wanted
            if now[key] != wanted[key]
        ]
        for opt, sched, now, wanted in zip(
            optimizers, schedulers, nows, self._configured_rates, strict=True
        ):
            if now == wanted:
                continue
            if sched is None:
                for group, lr in zip(opt.param_groups, wanted["lr"], strict=True):
                    group["lr"] = lr
                continue
            if not isinstance(sched, LambdaLR):
                raise ValueError(
                    f"module.scheduler: this resumed run asks for other learning rates than its "
                    f"checkpoint ({'; '.join(changes)}); changing them on resume is supported "
                    f"for LambdaLR schedules only, not {type(sched).__name__}"
                )
            sched.base_lrs = list(wanted["lr"])
            for fn, params in zip(sched.lr_lambdas, wanted["schedule"], strict=True):
                vars(fn).update(params)
            for group, base, fn in zip(
                opt.param_groups, sched.base_lrs, sched.lr_lambdas, strict=True
            ):
                group["initial_lr"] = base
                group["lr"] = base * fn(sched.last_epoch)
            sched._last_lr = [group["lr"] for group in opt.param_groups]
        if changes:
            log.warning(
                "resumed with the config's learning rates and schedule, not the checkpoint's "
                "(epoch %d): %s",
                self.current_epoch,
                "; ".join(changes),
            )

    # ----------------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Never save a diverged state: the previous checkpoint stays as it is.
        self.guard.check(self.current_epoch)
        check_finite_weights(self, self.global_step)
        checkpoint["image_pools"] = {
            "monet": self.pool_monet.state_dict(),
            "photo": self.pool_photo.state_dict(),
        }
        checkpoint["rng_states"] = capture_rng_states()
        # The training resolution, for predict, export and the web app (plain data).
        size = getattr(getattr(self._trainer, "datamodule", None), "image_size", None)
        if isinstance(size, int) and "hyper_parameters" in checkpoint:
            checkpoint["hyper_parameters"]["image_size"] = size

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        pools = checkpoint.get("image_pools")
        if pools is not None:
            self.pool_monet.load_state_dict(pools["monet"])
            self.pool_photo.load_state_dict(pools["photo"])
        rng = checkpoint.get("rng_states", {})
        if "torch" in rng:
            restore_rng_states(rng)  # now, and again before the first resumed step
            self._resumed_rng = rng


def _rates(optimizer: Optimizer, scheduler: Any) -> dict[str, Any]:
    """The base learning rate of each parameter group and, for a ``LambdaLR``, the
    parameters of each of its factor functions (what its ``state_dict`` saves of them)."""
    rates: dict[str, Any] = {
        "lr": [group.get("initial_lr", group["lr"]) for group in optimizer.param_groups]
    }
    if isinstance(scheduler, LambdaLR):
        rates["schedule"] = [dict(vars(fn)) for fn in scheduler.lr_lambdas]
    return rates
