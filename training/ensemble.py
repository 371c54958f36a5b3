"""Independent runs trained in one process as stacked networks (an ensemble).

E single-run ``TrainState`` s (e.g. the same options with E seeds) become one
``Ensemble``: the generators, every sub-discriminator and both Adam states
are stacked along a leading member axis (models/stacked.py,
training/stacked_discriminator.py), so that one batched matrix product does
the work of E small ones. Only the compute is shared:

* every member keeps its own RNG, pools and inputs, and each member's draws
  happen in exactly its single run's order (per discriminator round: noise,
  then each pool's batch in dict order, then the D_P and D_Q shuffles; then
  the generator step's noise);
* losses are summed over members, so each member's gradients are its own;
* Adam (fused) is elementwise, so the stacked optimiser is E optimisers.

Member e therefore trains exactly as its single run would; only float
summation order may differ. ``store()`` writes the stacked weights and
optimiser states back into the members' own modules and optimisers, so that
checkpoints keep the single-run format (``TrainState.state_dict``).

    states = [TrainState.create(build(seed), seed=seed) for seed in (1337, 1, 2)]
    ensemble = Ensemble(states)
    for _ in range(100):
        stats = ensemble_train_step(ensemble, LoopConfig())  # name -> (E,) per-member scalars
    ensemble.store()  # states[e] now holds member e's weights, optimiser state and step
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from models.stacked import load_members, stack_modules, store_members
from training.loop import LoopConfig, TrainState, frozen
from training.stacked_discriminator import StackedDiscriminator, member_generator_losses

UNSUPPORTED = ("ensembles train with --fake_batches shared, no --instance_noise, no --amp, no --compile, and the "
               "default discriminator forwards and generator-step mode")


def _stacked_optimizer_state(optimizers: Sequence[torch.optim.Optimizer]) -> dict[str, Any]:
    """The members' optimiser state dicts as one: per-parameter tensors stacked
    (member axis first), scalars (Adam's step) checked to agree."""
    states = [o.state_dict() for o in optimizers]
    first = states[0]
    merged: dict[Any, dict[str, Any]] = {}
    for index, entry in first["state"].items():
        if any(index not in s["state"] or set(s["state"][index]) != set(entry) for s in states):
            raise ValueError("the members' optimiser states differ: are they at the same step?")
        merged[index] = {}
        for key, value in entry.items():
            values = [s["state"][index][key] for s in states]
            if isinstance(value, Tensor) and value.dim() > 0:
                merged[index][key] = torch.stack(values)
            elif all(torch.equal(torch.as_tensor(v), torch.as_tensor(value)) for v in values):
                merged[index][key] = value.clone() if isinstance(value, Tensor) else value
            else:
                raise ValueError(f"the members' optimiser states differ in {key!r}: are they at the same step?")
    if any(len(s["state"]) != len(first["state"]) for s in states):
        raise ValueError("the members' optimiser states differ: are they at the same step?")
    return {"state": merged, "param_groups": copy.deepcopy(first["param_groups"])}


def stack_optimizer(optimizers: Sequence[torch.optim.Optimizer], members: Sequence[nn.Module],
                    stacked: nn.Module) -> torch.optim.Optimizer:
    """One optimiser over the stacked module's parameters with the members'
    parameter groups (same hyperparameters, same order) and their stacked state.

    optimizers[e] optimises (some of) members[e]'s parameters.
    """
    by_name = dict(stacked.named_parameters())
    groups = []
    for e, (opt, member) in enumerate(zip(optimizers, members, strict=True)):
        names = {id(p): n for n, p in member.named_parameters()}
        member_groups = [[names[id(p)] for p in g["params"]] for g in opt.param_groups]
        if e == 0:
            groups = member_groups
        elif member_groups != groups:
            raise ValueError("the members' optimisers hold different parameters")
    first = optimizers[0]
    param_groups = [{**{k: v for k, v in g.items() if k != "params"}, "params": [by_name[n] for n in names]}
                    for g, names in zip(first.param_groups, groups, strict=True)]
    optimizer = type(first)(param_groups, **first.defaults)
    optimizer.load_state_dict(_stacked_optimizer_state(optimizers))
    return optimizer


def store_optimizer(stacked: torch.optim.Optimizer, optimizers: Sequence[torch.optim.Optimizer]) -> None:
    """Write member e's slice of the stacked optimiser state into optimizers[e]."""
    state = stacked.state_dict()
    for e, opt in enumerate(optimizers):
        own = {index: {key: (v[e].clone() if isinstance(v, Tensor) and v.dim() > 0
                             else v.clone() if isinstance(v, Tensor) else v) for key, v in entry.items()}
               for index, entry in state["state"].items()}
        opt.load_state_dict({"state": own, "param_groups": copy.deepcopy(state["param_groups"])})


class Ensemble:
    """E single-run TrainStates trained as one (see the module docstring).

    members: states at the same step, of the same structure (plain
    FactorisedDiscriminator, stackable models, no extra generator losses, no
    mixed precision). Their RNGs and pools are used as they are; their
    modules and optimisers are only read here and written by ``store()``.
    """

    def __init__(self, members: Sequence[TrainState]) -> None:
        if not members:
            raise ValueError("an ensemble needs at least one member")
        steps = {m.step for m in members}
        if len(steps) != 1:
            raise ValueError(f"ensemble members must be at the same step, got {sorted(steps)}")
        if any(m.precision.mode != "none" for m in members):
            raise ValueError(f"{UNSUPPORTED} (a member uses mixed precision)")
        if any(m.setup.extra_losses for m in members):
            raise ValueError("ensembles do not train generator loss terms besides the adversarial one")
        self.members = list(members)
        self.step = steps.pop()
        generators = [m.setup.generator for m in members]
        discriminators = [m.setup.discriminator for m in members]
        self.generator = stack_modules(generators)
        self.discriminator = StackedDiscriminator(discriminators)
        self.opt_g = stack_optimizer([m.opt_g for m in members], generators, self.generator)
        self.opt_d = stack_optimizer([m.opt_d for m in members], discriminators, self.discriminator)

    def __len__(self) -> int:
        return len(self.members)

    @property
    def generators(self) -> list[torch.Generator]:
        return [m.rng for m in self.members]

    def train(self, mode: bool = True) -> None:
        self.generator.train(mode)
        self.discriminator.train(mode)

    def store(self) -> None:
        """Write every member's weights, buffers, optimiser state and step back
        into its own TrainState (the single-run format)."""
        store_members(self.generator, [m.setup.generator for m in self.members])
        store_members(self.discriminator, [m.setup.discriminator for m in self.members])
        store_optimizer(self.opt_g, [m.opt_g for m in self.members])
        store_optimizer(self.opt_d, [m.opt_d for m in self.members])
        for m in self.members:
            m.step = self.step

    def reload(self) -> None:
        """The inverse of store(): read the members' weights back into the stacks
        (after a member's modules were changed from outside)."""
        load_members(self.generator, [m.setup.generator for m in self.members])
        load_members(self.discriminator, [m.setup.discriminator for m in self.members])


def _inputs(ensemble: Ensemble, batch: int) -> tuple[Tensor, ...]:
    """Each member's generator inputs from its own RNG, stacked: e.g. (z,) with z (E, B, nz)."""
    drawn = [m.setup.inputs.sample(batch, m.rng) for m in ensemble.members]
    return tuple(torch.stack(parts) for parts in zip(*drawn, strict=True))


def _real_batches(ensemble: Ensemble, batch: int) -> dict[str, Tensor]:
    """Each member's real batches from its own pools and RNG: name -> (E, B, ...)."""
    drawn = [{name: pool.sample(batch, m.rng) for name, pool in m.setup.pools.items()} for m in ensemble.members]
    out = {}
    for name in drawn[0]:
        shapes = {tuple(d[name].shape) for d in drawn}
        if len(shapes) != 1:
            raise RuntimeError(f"ensemble members drew batches of different shapes from pool {name!r}: {shapes}")
        out[name] = torch.stack([d[name] for d in drawn])
    return out


def _check(cfg: LoopConfig) -> None:
    # getattr: switches of the original code's behaviour that only some LoopConfigs have; ensembles run the defaults
    original = (getattr(cfg, "disc_forwards", "joint") != "joint"
                or getattr(cfg, "generator_step_disc", "frozen") != "frozen")
    if cfg.fake_batches != "shared" or cfg.instance_noise or original:
        raise ValueError(UNSUPPORTED)


def ensemble_round(ensemble: Ensemble, cfg: LoopConfig) -> dict[str, Tensor]:
    """training.loop.discriminator_round for every member; returns (E,) losses/accuracies."""
    _check(cfg)
    with torch.no_grad():
        fake = ensemble.generator(*_inputs(ensemble, cfg.batch_size))  # (E, B, ...)
    real = _real_batches(ensemble, cfg.batch_size)
    losses = ensemble.discriminator.losses(real, fake, ensemble.generators)
    total = torch.stack([sub.loss for sub in losses.values()]).sum()  # member e's gradients are its own
    ensemble.opt_d.zero_grad(set_to_none=True)
    total.backward()
    ensemble.opt_d.step()
    out = {f"D/{n}/loss": sub.loss.detach() for n, sub in losses.items()}
    out.update({f"D/{n}/accuracy": sub.accuracy for n, sub in losses.items()})
    return out


def ensemble_generator_step(ensemble: Ensemble, cfg: LoopConfig) -> dict[str, Tensor]:
    """training.loop.generator_step for every member; returns (E,) scalars."""
    fake = ensemble.generator(*_inputs(ensemble, cfg.batch_size))
    with frozen(ensemble.discriminator):
        logit = ensemble.discriminator(fake)  # (E, B)
        losses = member_generator_losses(logit, cfg.objective)
    ensemble.opt_g.zero_grad(set_to_none=True)
    losses.sum().backward()
    ensemble.opt_g.step()
    return {"G/loss": losses.detach(), "G/combined_prob_fake": torch.sigmoid(logit.detach()).mean(1),
            "G/batch_sd": _batch_sd(fake.detach().float())}


def _batch_sd(fake: Tensor) -> Tensor:
    """fake (E, B, ...) -> (E,) each entry's standard deviation across the batch, averaged, as
    the single run's G/batch_sd; written out because Tensor.std over a middle axis is 8x slower here."""
    centred = fake - fake.mean(1, keepdim=True)
    return centred.pow(2).sum(1).div(fake.shape[1] - 1).sqrt().flatten(1).mean(1)


def ensemble_train_step(ensemble: Ensemble, cfg: LoopConfig) -> dict[str, Tensor]:
    """training.loop.train_step for every member: disc_iter rounds, then a generator step."""
    for _ in range(cfg.disc_iter):
        stats = ensemble_round(ensemble, cfg)
    stats.update(ensemble_generator_step(ensemble, cfg))
    ensemble.step += 1
    return stats
