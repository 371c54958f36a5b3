"""training.loop.train for an ensemble: each member logs and checkpoints
through its own hooks exactly as its single run would.

Members that start at different steps (e.g. resumed runs stopped at
different points) are brought level first: the ones furthest behind train
(as an ensemble of their own) up to the next member's step, then those
together, and so on. A member whose losses turn NaN/inf is dropped when the
check of its logged means fails, as the single run stops there, with its
last good checkpoint kept; the others train on.

    states = [TrainState.create(setup, seed=seed) for setup, seed in ...]
    outcome = train_ensemble(states, LoopConfig(epochs=1, epoch_iter=500))
    outcome.failed  # {member index: TrainingDiverged}; states[e] holds member e
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from torch import Tensor
from tqdm import tqdm

from training.ensemble import Ensemble, ensemble_train_step
from training.loop import Hooks, LoopConfig, MemoryLog, TrainingDiverged, TrainState, _StopRequest, save_point


@dataclass
class EnsembleOutcome:
    """How training ended: whether every member that did not diverge finished
    its schedule (not stopped early), and the members (by index) that diverged."""

    finished: bool
    failed: dict[int, TrainingDiverged] = field(default_factory=dict)


def _member_means(sums: dict[str, Tensor], count: int, e: int, step: int) -> dict[str, float]:
    """Member e's logged means; raises TrainingDiverged as the single run's check would."""
    means = {k: v[e].item() / count for k, v in sums.items()}
    bad = [k for k, v in means.items() if not math.isfinite(v)]
    if bad:
        raise TrainingDiverged(f"non-finite {', '.join(bad)} before step {step}")
    return means


def _train_level(states: list[int], members: Sequence[TrainState], cfg: LoopConfig, hooks: Sequence[Hooks],
                 stop_at: int, stop: _StopRequest, bar: tqdm, failed: dict[int, TrainingDiverged]) -> None:
    """Train the members listed in states (indices, all at one step) to stop_at
    (or a stop request); drops members that diverge into failed."""
    alive = list(states)
    ensemble = Ensemble([members[i] for i in alive])
    ensemble.train()
    sums: dict[str, Tensor] = {}
    count = 0
    stopping = stop.requested
    while ensemble.step < stop_at and not stopping:
        stats = ensemble_train_step(ensemble, cfg)
        for k, v in stats.items():
            sums[k] = sums[k] + v if k in sums else v.clone()
        count += 1
        bar.update(len(alive))  # member updates
        step = ensemble.step
        stopping = stop.requested
        epoch_end, must_save = save_point(cfg, step, stop_at, stopping)
        if step % cfg.log_every != 0 and not must_save:
            continue
        diverged = []
        for e, index in enumerate(alive):
            try:
                hooks[index].log(step, _member_means(sums, count, e, step))
            except TrainingDiverged as err:
                failed[index] = err
                diverged.append(index)
        sums, count = {}, 0
        if must_save or diverged:
            ensemble.store()
        if must_save:
            for index in alive:
                if index not in diverged:
                    hooks[index].checkpoint(members[index], epoch_end)
        if diverged:
            alive = [i for i in alive if i not in diverged]
            if not alive:
                return
            ensemble = Ensemble([members[i] for i in alive])
            ensemble.train()
    ensemble.store()


def train_ensemble(members: Sequence[TrainState], cfg: LoopConfig,
                   hooks: Sequence[Hooks] | None = None) -> EnsembleOutcome:
    """Train every member from its step to epochs * epoch_iter (or max_steps),
    as training.loop.train would train each alone (hooks[e]: member e's; default
    a MemoryLog each). ``after_step`` hooks are not called: ensembles have no
    periodic scores. Members behind the others train first (module docstring).

    Returns the outcome; a checkpoint of every member that did not diverge is
    written at the end, whether finished or stopped early (max_steps, a signal).
    """
    hooks = [MemoryLog() for _ in members] if hooks is None else list(hooks)
    if len(hooks) != len(members):
        raise ValueError(f"{len(members)} members but {len(hooks)} hooks")
    total = cfg.epochs * cfg.epoch_iter
    stop_at = min(total, cfg.max_steps) if cfg.max_steps else total
    failed: dict[int, TrainingDiverged] = {}
    start = sum(max(0, stop_at - m.step) for m in members)
    bar = tqdm(total=start, disable=not cfg.progress, unit="upd", dynamic_ncols=True, smoothing=0.05)  # member updates
    with _StopRequest() as stop, bar:
        while not stop.requested:
            behind = [i for i, m in enumerate(members) if i not in failed and m.step < stop_at]
            if not behind:
                break
            low = min(members[i].step for i in behind)
            level = [i for i in behind if members[i].step == low]
            ahead = [members[i].step for i in behind if members[i].step > low]
            target = min(ahead) if ahead else stop_at
            _train_level(level, members, cfg, hooks, target, stop, bar, failed)
    finished = all(m.step >= total for i, m in enumerate(members) if i not in failed)
    return EnsembleOutcome(finished=finished, failed=failed)
