"""The one GAN training loop, shared by GAN, FactorGAN and their variants.

Per generator update (paper Sec. 4): ``disc_iter`` rounds in which every
sub-discriminator is updated once, then one generator step on the
discriminator's generator loss (for GAN and FactorGAN: the combined logit)
plus any extra loss terms of a baseline (pix2pix's L1, CycleGAN's cycles).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import signal
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Self

import torch
from torch import Tensor, nn
from tqdm import tqdm

from common.io import save_atomic
from common.protocols import GeneratorInput
from training.data import Pool
from training.discriminator import FactorisedDiscriminator, is_p_dep
from training.precision import Precision


class GeneratorLossTerm(Protocol):
    """A loss on the generator besides the adversarial one; a small object
    with one call shape (the generator, its inputs and outputs, the RNG)."""

    def __call__(self, generator: nn.Module, inputs: tuple[Tensor, ...], fake: Tensor,
                 rng: torch.Generator) -> Tensor: ...


@dataclass
class GANSetup:
    """Everything the loop trains, and the data it trains on."""

    generator: nn.Module  # generator(*inputs) -> (B, ...) joint samples
    discriminator: FactorisedDiscriminator
    inputs: GeneratorInput  # draws the generator's inputs
    pools: dict[str, Pool]  # sub-discriminator name -> real joint samples
    # further generator loss terms: term(generator, inputs, fake, rng) -> scalar
    extra_losses: list[GeneratorLossTerm] = field(default_factory=list)


def assign_pools(discriminator: FactorisedDiscriminator, paired: Pool,
                 marginal: Pool | Mapping[str, Pool]) -> dict[str, Pool]:
    """Real data for each sub-discriminator: the paired pool where full joint
    observations are needed (D_P, a GAN's joint discriminator), else the
    marginal data: one pool of joint samples whose parts serve every marginal
    discriminator, or per marginal discriminator a pool of its parts alone
    (e.g. shoe photos without edge maps; any size, independent of the others).
    A factorisation tree's group pairs need pools by level: ``training.data.tree_pools``."""
    pools = {}
    for name, source in discriminator.real_sources().items():
        if source == "group":
            raise ValueError(f"{name!r} needs observations of its group: build a tree's pools with tree_pools")
        if source == "paired":
            pools[name] = paired
        elif not isinstance(marginal, Mapping):
            pools[name] = marginal
        elif name in marginal:
            pools[name] = marginal[name]
        else:
            raise ValueError(f"no pool for the marginal discriminator {name!r}; got pools for {sorted(marginal)}")
    return pools


# Choices of the original-behaviour switches (docs/original_training.md): the first is the default
DISC_FORWARDS = ("joint", "separate")  # real and fake batches through one forward, or two (the original)
GENERATOR_STEP_DISC = ("frozen", "live")  # discriminators in eval mode in the generator step, or left in train mode
L2_SCOPES = ("discriminators_except_p", "all")  # which networks' Adam gets --L2 (all: the original's)
ADAM_IMPLS = ("fused", "plain")  # torch's fused Adam, or its single-tensor loop (the original's kind)


@dataclass
class LoopConfig:
    epochs: int = 40
    epoch_iter: int = 5000
    disc_iter: int = 2
    batch_size: int = 25
    objective: str = "JSD"  # "JSD" (non-saturating) or "KL"
    fake_batches: str = "shared"  # "shared" or "per_disc"
    instance_noise: float = 0.0  # sd of Gaussian noise on every discriminator input (0: off, the paper's)
    disc_forwards: str = "joint"  # DISC_FORWARDS; "separate": one more power iteration per sub-discriminator
    generator_step_disc: str = "frozen"  # GENERATOR_STEP_DISC; "live": power iteration in the generator step too
    max_steps: int | None = None
    checkpoint_every: int = 1000
    log_every: int = 100
    progress: bool = True

    def __post_init__(self) -> None:
        for name, choices in (("fake_batches", ("shared", "per_disc")), ("disc_forwards", DISC_FORWARDS),
                              ("generator_step_disc", GENERATOR_STEP_DISC)):
            if getattr(self, name) not in choices:
                raise ValueError(f"LoopConfig.{name} must be one of {choices}, got {getattr(self, name)!r}")


@dataclass
class TrainState:
    """What a checkpoint must hold to continue training bit-exactly."""

    setup: GANSetup
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    rng: torch.Generator  # every random draw of the loop comes from here
    step: int = 0
    precision: Precision = field(default_factory=Precision)  # --amp: autocast, fp16 grad scalers

    def state_dict(self) -> dict[str, Any]:
        return {
            "generator": self.setup.generator.state_dict(),
            "discriminator": self.setup.discriminator.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "rng": self.rng.get_state(),  # a CPU byte tensor, also for a GPU generator
            "rng_device": self.rng.device.type,
            "step": self.step,
            # pools with a state of their own (a pass in progress: datasets.mnist_pairs.RedrawnPairs)
            "pools": {name: pool.state_dict() for name, pool in self.setup.pools.items()
                      if hasattr(pool, "state_dict")},
            "grad_scalers": self.precision.state_dict(),
        }

    @classmethod
    def create(cls, setup: GANSetup, lr: float = 1e-4, beta1: float = 0.5, l2: float = 0.0,
               seed: int = 1337, precision: Precision | None = None,
               marginal_lr_factor: float = 1.0, l2_scope: str = "discriminators_except_p",
               adam_impl: str = "fused") -> TrainState:
        """A fresh state: Adam optimisers (make_optimizers), a seeded RNG on the
        generator's device, float32 unless a Precision is given."""
        device = next(setup.generator.parameters()).device
        opt_g, opt_d = make_optimizers(setup, lr, beta1, l2, marginal_lr_factor, l2_scope, adam_impl)
        rng = torch.Generator(device=device).manual_seed(seed)
        return cls(setup, opt_g, opt_d, rng, precision=precision or Precision())

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.setup.generator.load_state_dict(state["generator"])
        self.setup.discriminator.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self._load_rng(state["rng"], state.get("rng_device", "cpu"))  # checkpoints without it were all CPU runs
        self.step = int(state["step"])
        for name, pool_state in state.get("pools", {}).items():
            self.setup.pools[name].load_state_dict(pool_state)
        self.precision.load_state_dict(state.get("grad_scalers", {}))

    def _load_rng(self, saved: Tensor, saved_on: str) -> None:
        """Continue the saved random stream, or, when it is another device
        type's (a GPU run resumed on the CPU, or the reverse), go on with a
        stream seeded from it: the same checkpoint always continues the same way,
        but not as the uninterrupted run would (it could not on another device anyway)."""
        saved = saved.cpu()  # load_checkpoint's map_location moved it to the training device; set_state wants the CPU
        if saved_on == self.rng.device.type:
            self.rng.set_state(saved)
            return
        seed = int.from_bytes(hashlib.sha256(bytes(saved.tolist())).digest()[:8], "little")
        self.rng.manual_seed(seed)
        warnings.warn(f"the checkpoint's random stream is of a {saved_on} generator; training on "
                      f"{self.rng.device.type} goes on with a stream seeded from it (not bit-exact)", stacklevel=3)


class Hooks(Protocol):
    """What the loop reports to (the run directory, in practice)."""

    def log(self, step: int, scalars: dict[str, float]) -> None: ...
    def after_step(self, state: TrainState) -> None: ...  # e.g. periodic validation scores
    def checkpoint(self, state: TrainState, epoch_end: int | None) -> None: ...


class MemoryLog:
    """train()'s default hooks: no run directory. The logged scalars stay in
    ``history`` (dicts with a "step"); with checkpoint_path, every checkpoint
    writes the full state there (atomically), for ``TrainState.load_state_dict``."""

    def __init__(self, checkpoint_path: str | Path | None = None) -> None:
        self.history: list[dict[str, float]] = []
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else None

    def log(self, step: int, scalars: dict[str, float]) -> None:
        self.history.append({"step": step, **scalars})

    def after_step(self, state: TrainState) -> None:
        pass

    def checkpoint(self, state: TrainState, epoch_end: int | None) -> None:
        if self.checkpoint_path is not None:
            save_atomic(state.state_dict(), self.checkpoint_path)


class TrainingDiverged(RuntimeError):
    pass


def make_optimizers(setup: GANSetup, lr: float, beta1: float, l2: float, marginal_lr_factor: float = 1.0,
                    l2_scope: str = "discriminators_except_p",
                    adam_impl: str = "fused") -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    """Adam for the generator and one Adam over all sub-discriminators (Adam is
    per parameter, so this equals one optimiser each, and one backward pass
    serves all). L2 weight decay applies to the discriminators except D_P, as
    the reference's help says; l2_scope "all" decays the generator and D_P too,
    as the original code did. The discriminators in discriminator.marginals
    learn at lr * marginal_lr_factor (a stabiliser; 1 in the paper; for a GAN
    that is its joint discriminator, which the command line does not allow).
    Parameters shared by several sub-discriminators (CoGAN) appear once.
    adam_impl (ADAM_IMPLS): "fused" kernels, or "plain", torch's single-tensor
    loop, the kind of Adam the original used (equal up to float rounding)."""
    if l2_scope not in L2_SCOPES or adam_impl not in ADAM_IMPLS:
        raise ValueError(f"l2_scope must be one of {L2_SCOPES} and adam_impl one of {ADAM_IMPLS}, "
                         f"got {l2_scope!r} and {adam_impl!r}")
    disc = setup.discriminator
    marginal = list(disc.marginals.parameters())
    # a tree's group pairs (App. A.3) join their kind's group; none in a flat factorisation
    dep_q = [*(disc.dep_q.parameters() if disc.dep_q is not None else ()), *disc.group_q.parameters()]
    plain = [*(disc.dep_p.parameters() if disc.dep_p is not None else ()), *disc.group_p.parameters()]
    # fused: one kernel per update on CPU and GPU (20% faster than foreach on CPU here)
    impl = {"fused": True} if adam_impl == "fused" else {"fused": False, "foreach": False}
    kw = {"lr": lr, "betas": (beta1, 0.999), **impl}
    every = l2_scope == "all"
    opt_g = torch.optim.Adam(setup.generator.parameters(), **kw, **({"weight_decay": l2} if every else {}))
    if marginal_lr_factor == 1.0:  # one group, as before the option existed: older checkpoints resume
        groups = [{"params": marginal + dep_q, "weight_decay": l2}]
    else:
        groups = [{"params": marginal, "weight_decay": l2, "lr": lr * marginal_lr_factor},
                  {"params": dep_q, "weight_decay": l2}]
    groups += [{"params": plain, "weight_decay": l2 if every else 0.0}] if plain else []
    return opt_g, torch.optim.Adam([g for g in groups if g["params"]], **kw)


@contextlib.contextmanager
def frozen(module: nn.Module, keep_mode: bool = False) -> Iterator[None]:
    """No parameter gradients inside, and eval mode (no spectral-norm power
    iteration): the generator step needs gradients w.r.t. the inputs only.
    keep_mode: leave the train/eval mode alone (--generator_step_disc live:
    in training mode the power iteration runs, as in the original code, whose
    discriminators' parameter gradients from this step were cleared unused)."""
    flags = [(p, p.requires_grad) for p in module.parameters()]
    was_training = module.training
    for p, _ in flags:
        p.requires_grad_(False)
    if not keep_mode:
        module.eval()
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        module.train(was_training)


def with_noise(x: Tensor, sd: float, rng: torch.Generator) -> Tensor:
    """x plus Gaussian instance noise of standard deviation sd (x itself when sd is 0)."""
    if not sd:
        return x
    return x + sd * torch.randn(x.shape, generator=rng, device=x.device, dtype=x.dtype)


def discriminator_round(state: TrainState, cfg: LoopConfig) -> dict[str, Tensor]:
    """Update every sub-discriminator once; returns detached losses/accuracies."""
    s, rng, batch = state.setup, state.rng, cfg.batch_size
    subs = s.discriminator.sub_discriminators()
    with torch.no_grad(), state.precision.autocast():
        if cfg.fake_batches == "shared":
            shared = s.generator(*s.inputs.sample(batch, rng))
            fake = {name: shared for name in subs if not is_p_dep(name)}
        else:
            fake = {name: s.generator(*s.inputs.sample(batch, rng)) for name in subs if not is_p_dep(name)}
    real = {name: pool.sample(batch, rng) for name, pool in s.pools.items()}
    if cfg.instance_noise:
        real = {name: with_noise(x, cfg.instance_noise, rng) for name, x in real.items()}
        fake = {name: with_noise(x, cfg.instance_noise, rng) for name, x in fake.items()}
    with state.precision.autocast():
        losses = s.discriminator.losses(real, fake, rng, separate_forwards=cfg.disc_forwards == "separate")
    total = torch.stack([sub.loss for sub in losses.values()]).sum()
    state.opt_d.zero_grad(set_to_none=True)
    state.precision.backward_step(total, state.opt_d, "opt_d")
    out = {f"D/{n}/loss": sub.loss.detach() for n, sub in losses.items()}
    out.update({f"D/{n}/accuracy": sub.accuracy for n, sub in losses.items()})
    return out


def generator_step(state: TrainState, cfg: LoopConfig) -> dict[str, Tensor]:
    s = state.setup
    inputs = s.inputs.sample(cfg.batch_size, state.rng)
    with state.precision.autocast():
        fake = s.generator(*inputs)
        with frozen(s.discriminator, keep_mode=cfg.generator_step_disc == "live"):
            loss, stats = s.discriminator.generator_loss(with_noise(fake, cfg.instance_noise, state.rng), cfg.objective)
        for term in s.extra_losses:  # e.g. pix2pix's L1, CycleGAN's cycle consistency
            value = term(s.generator, inputs, fake, state.rng).float()
            stats[f"G/{type(term).__name__}"] = value.detach()
            loss = loss + value
    state.opt_g.zero_grad(set_to_none=True)
    state.precision.backward_step(loss, state.opt_g, "opt_g")
    # collapse detector: each entry's standard deviation across the generated batch, averaged (0 = one sample)
    stats["G/batch_sd"] = fake.detach().float().std(0).mean()
    return {"G/loss": loss.detach(), **stats}


def train_step(state: TrainState, cfg: LoopConfig) -> dict[str, Tensor]:
    """One generator update with its discriminator rounds; returns scalars (unsynced)."""
    for _ in range(cfg.disc_iter):
        stats = discriminator_round(state, cfg)
    stats.update(generator_step(state, cfg))
    state.step += 1
    return stats


class _StopRequest:
    """Turns Ctrl-C / SIGTERM into "finish this step, checkpoint, stop"."""

    def __init__(self) -> None:
        self.requested = False
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:  # second signal: give up at once
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> Self:
        with contextlib.suppress(ValueError):  # not the main thread: no handlers
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def save_point(cfg: LoopConfig, step: int, stop_at: int, stopping: bool) -> tuple[int | None, bool]:
    """After update `step`: the epoch it ends (None if none) and whether to
    checkpoint. `stopping` is the stop flag as read once for this step, and the
    loop must stop on that same value: a signal that lands while the step logs
    or saves then stops after the next step, which saves."""
    epoch_end = step // cfg.epoch_iter if step % cfg.epoch_iter == 0 else None
    return epoch_end, (epoch_end is not None or step % cfg.checkpoint_every == 0 or step == stop_at or stopping)


def _finite_means(sums: dict[str, Tensor], count: int, step: int) -> dict[str, float]:
    means = {k: v.item() / count for k, v in sums.items()}
    bad = [k for k, v in means.items() if not math.isfinite(v)]
    if bad:
        raise TrainingDiverged(f"non-finite {', '.join(bad)} before step {step}")
    return means


def train(state: TrainState, cfg: LoopConfig, hooks: Hooks | None = None) -> bool:
    """Train from state.step to epochs * epoch_iter (or max_steps), reporting
    to hooks (default: a MemoryLog, which keeps the scalars in memory).

    Returns True when the full schedule is done, False when stopped early
    (max_steps or a signal); a checkpoint is written either way.
    Raises TrainingDiverged on a NaN/inf loss, before any checkpoint holds it.
    """
    hooks = MemoryLog() if hooks is None else hooks
    total = cfg.epochs * cfg.epoch_iter
    stop_at = min(total, cfg.max_steps) if cfg.max_steps else total
    state.setup.generator.train()
    state.setup.discriminator.train()
    sums: dict[str, Tensor] = {}
    count = 0
    bar = tqdm(total=total, initial=state.step, disable=not cfg.progress,
               unit="upd", dynamic_ncols=True, smoothing=0.05)
    with _StopRequest() as stop, bar:
        stopping = stop.requested
        while state.step < stop_at and not stopping:
            stats = train_step(state, cfg)
            for k, v in stats.items():
                sums[k] = sums[k] + v if k in sums else v.clone()
            count += 1
            bar.update(1)
            hooks.after_step(state)  # before the checkpoint: a crash in between repeats it, never skips it
            step = state.step
            stopping = stop.requested
            epoch_end, must_save = save_point(cfg, step, stop_at, stopping)
            if step % cfg.log_every == 0 or must_save:
                means = _finite_means(sums, count, step)
                hooks.log(step, means)
                bar.set_postfix({"G": f"{means['G/loss']:.3f}"}, refresh=False)
                sums, count = {}, 0
            if must_save:
                hooks.checkpoint(state, epoch_end)
    return state.step >= total
