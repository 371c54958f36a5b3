"""The paper's models by name, and the command-line flags that select them.

The one place that says which flags make "GAN", "FactorGAN", ... and back
(which model a run's options select), whether a model trains on paired
samples, and which entry scripts offer it. The entry scripts, the sweep, the
benchmarks and the tests read it. No torch and no project imports, so that
every layer can use it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

EXPERIMENTS = ("PairedMNIST", "ImagePairs", "Image2Image", "AudioSeparation")
# the models an entry script can train as an ensemble of seeds in one process (--seeds; training/ensemble_run.py)
ENSEMBLE_MODELS = {"PairedMNIST": ("GAN", "FactorGAN", "FactorGAN-no-cp")}
# options of some sub-discriminators: they matter only for models that have them
SUB_DISCRIMINATOR_OPTIONS = ("lipschitz_p", "lipschitz_q", "marginal_lr_factor")


@dataclass(frozen=True)
class Model:
    """How one model is selected, and what it is made of."""

    flags: tuple[str, ...]  # what selects it on the command line, e.g. ("--factorGAN", "1")
    uses_pairs: bool  # trains on paired samples; if not, one run serves every paired count
    experiments: tuple[str, ...]  # the entry scripts (tasks) that offer it
    factorised: bool = False  # marginal discriminators and D_Q (FactorGAN); else a joint one or a baseline's own
    dep_p: bool = False  # has the p-dependency discriminator D_P
    options: tuple[str, ...] = ()  # options that only this model uses, e.g. a baseline's loss weights

    @property
    def settings(self) -> dict[str, str]:
        """The flags as option -> value, e.g. {"factorGAN": "1"}."""
        return {flag.removeprefix("--"): value for flag, value in zip(self.flags[::2], self.flags[1::2], strict=True)}

    def uses(self, option: str) -> bool:
        """Whether the model reads option (beyond leaving it at its default)."""
        has = {"lipschitz_p": self.dep_p, "lipschitz_q": self.factorised, "marginal_lr_factor": self.factorised}
        return option in self.settings or option in self.options or has.get(option, False)


MODELS: dict[str, Model] = {
    "GAN": Model(("--factorGAN", "0"), uses_pairs=True, experiments=EXPERIMENTS),
    "GAN big": Model(("--factorGAN", "0", "--big_disc", "1"), uses_pairs=True, experiments=("ImagePairs",)),
    "FactorGAN": Model(("--factorGAN", "1"), uses_pairs=True, experiments=EXPERIMENTS, factorised=True, dep_p=True),
    "FactorGAN-no-cp": Model(("--factorGAN", "1", "--use_real_dep_disc", "0"), uses_pairs=False,
                             experiments=EXPERIMENTS, factorised=True),
    "CoGAN": Model(("--model", "cogan"), uses_pairs=False, experiments=("PairedMNIST", "ImagePairs")),
    "SCoGAN": Model(("--model", "scogan"), uses_pairs=False, experiments=("PairedMNIST", "ImagePairs"),
                    options=("fr_weight", "latent_cycle_weight", "semantic_weight", "perceptual_weight")),
    "CycleGAN": Model(("--model", "cyclegan"), uses_pairs=False, experiments=("Image2Image",),
                      options=("cycle_weight", "identity_weight")),
    "pix2pix": Model(("--model", "pix2pix"), uses_pairs=True, experiments=("Image2Image",), options=("l1_weight",)),
}


def model_flags(name: str) -> list[str]:
    """The command-line flags that select the named model."""
    return list(MODELS[name].flags)


def models_of(experiment: str) -> list[str]:
    """The names of the models an entry script offers, in the paper's order."""
    return [name for name, model in MODELS.items() if experiment in model.experiments]


def option_values(option: str, experiment: str) -> list[str]:
    """The values of a selecting option (e.g. "model") among the experiment's
    models: the choices its parser offers."""
    return [v for name in models_of(experiment) if (v := MODELS[name].settings.get(option)) is not None]


def model_name(opts: argparse.Namespace, experiment: str) -> str:
    """The name of the model that opts select: a --model baseline, else the
    most specific model whose flags all hold. Flags that the model ignores are
    refused (``model_conflict``) except in runs saved before that check, which
    resolve to the model they trained."""
    holding = [name for name in models_of(experiment)
               if all(str(getattr(opts, k, None)) == v for k, v in MODELS[name].settings.items())]
    if not holding:
        raise ValueError(f"no {experiment} model fits the options {vars(opts)}")
    return max(holding, key=lambda name: ("model" in MODELS[name].settings, len(MODELS[name].settings)))


def _scoped_options() -> list[str]:
    """Options that only some models use, in the order conflicts are reported."""
    selecting = [k for model in MODELS.values() for k in model.settings]
    own = [k for model in MODELS.values() for k in model.options]
    return list(dict.fromkeys([*selecting, *SUB_DISCRIMINATOR_OPTIONS, *own]))


def _describe(name: str) -> str:
    return f"{name} ({' '.join(MODELS[name].flags)})"


def _fits(model: Model, option: str, value: Any) -> bool:
    if option in model.settings:
        return model.settings[option] == str(value)
    return model.uses(option)


def model_conflict(opts: argparse.Namespace, experiment: str, given: Collection[str],
                   default: Callable[[str], Any]) -> str | None:
    """Why opts are refused, or None: the first option given on this command
    line that the selected model ignores, set to another value than its
    default. Options inherited from a saved run (--resume, --eval) are not
    judged. default(option) is the parser's default."""
    name = model_name(opts, experiment)
    for option in _scoped_options():
        value = getattr(opts, option, None)
        if option in given and not MODELS[name].uses(option) and value != default(option):
            users = [_describe(n) for n in models_of(experiment) if _fits(MODELS[n], option, value)]
            return (f"--{option} {value} does not apply to {_describe(name)}"
                    + (f"; it is for {' or '.join(users)}" if users else ""))
    return None
