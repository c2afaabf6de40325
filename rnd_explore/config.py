"""Run configuration: one dataclass whose field docs become the command line's ``--help``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import typing
from dataclasses import dataclass, field
from typing import Any

from rnd_explore._checks import (
    check_choice,
    check_discount,
    check_non_negative_float,
    check_non_negative_int,
    check_positive_float,
    check_positive_int,
    check_unit_interval,
)
from rnd_explore.bonuses import BONUS_CLASSES, BONUS_NAMES, DEFAULT_MEMBERS, BonusConfig
from rnd_explore.envs import DEEP_SEA_ID, MINIGRID_OBSERVATION_MODES

DEFAULT_DEEP_SEA_SIZE = 16
AGENT_DEFAULTS = {
    # c_int = 3 reached the DeepSea-16 goal in 12 of 12 seeds within 80k steps during tuning of
    # the mixed-reward path, c_int = 1 in 5 of 6 (the normalised bonus is small per step).
    "sb3-ppo": {"gamma": 0.99, "intrinsic_coef": 3.0, "extrinsic_coef": 1.0},
    # The two-head recipe of Burda et al. (2019): gamma_ext 0.999, advantages 2 A_ext + 1 A_int.
    "ppo-dual": {"gamma": 0.999, "intrinsic_coef": 1.0, "extrinsic_coef": 2.0},
}
"""Per-agent values of the settings left as None."""
BONUS_SPECIFIC_OPTIONS = (("exploration", "bayes-rnd", "variance"), ("ensemble_labels", "ensemble", "zero"))
"""(field, the only bonus it applies to, its default)."""


def _option(default: Any, help_text: str, **extra: Any) -> Any:
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help_text, **extra})
    return field(default=default, metadata={"help": help_text, **extra})


@dataclass
class TrainConfig:
    """Everything one training run needs. ``validate()`` checks every field."""

    env_id: str = _option(DEEP_SEA_ID, "gymnasium environment id; its action space must be Discrete")
    env_kwargs: dict[str, Any] | None = _option(
        None,
        "keyword arguments for gymnasium.make as KEY=VALUE pairs, values parsed as JSON "
        f"(default: size={DEFAULT_DEEP_SEA_SIZE} for {DEEP_SEA_ID}, none for other envs; DeepSea's "
        "mapping_seed defaults to --seed, so every seed explores its own layout)",
        metavar="KEY=VALUE",
    )
    minigrid_observation: str = _option(
        "flat",
        "observation adapter for MiniGrid ids: flat (index vector), image (7x7x3 index grid) "
        "or onehot (indices one-hot encoded, 980 features; learns much faster)",
    )
    agent: str = _option(
        "sb3-ppo",
        "sb3-ppo: Stable-Baselines3 PPO with the bonus mixed into the reward; ppo-dual: PPO with separate "
        "extrinsic (episodic) and intrinsic (non-episodic) value heads",
    )
    bonus: str = _option("rnd", f"novelty bonus: {', '.join(BONUS_NAMES)}")
    seed: int = _option(0, "seed of the environments, the policy and the bonus networks")
    total_steps: int = _option(
        60_000, "training length in environment steps summed over all envs, rounded up to whole rollouts"
    )
    num_envs: int = _option(8, "parallel environments (SB3 DummyVecEnv)")
    n_steps: int = _option(64, "PPO rollout length per environment, in steps")
    batch_size: int = _option(128, "PPO minibatch size, in transitions")
    n_epochs: int = _option(4, "PPO optimisation epochs per rollout")
    learning_rate: float = _option(5e-4, "PPO Adam learning rate")
    gamma: float | None = _option(
        None,
        "discount of the extrinsic return (for sb3-ppo, of the reward with the bonus added). The ppo-dual "
        "default 0.999 is the RND recipe's. On MiniGrid MultiRoom-N2-S4 (no bonus and 3 bonuses, 3 seeds "
        "each), ppo-dual reached a return of 0.75 within 100k steps in 11 of 12 runs with 0.99 and in 4 of "
        "12 with 0.999 (default: 0.99 sb3-ppo, 0.999 ppo-dual)",
    )
    gae_lambda: float = _option(0.95, "GAE lambda")
    clip_range: float = _option(0.2, "PPO clip range")
    ent_coef: float = _option(0.01, "PPO entropy coefficient")
    policy_hidden: tuple[int, ...] = _option((64, 64), "hidden layer widths of the policy and value MLPs")
    intrinsic_coef: float | None = _option(
        None,
        "c_int, weight of the normalised bonus: in the reward for sb3-ppo, in the advantage for ppo-dual. "
        "With sb3-ppo the bonus is part of the episodic return, so on tasks that end at the goal a large "
        "c_int pays the agent to avoid the goal: on MiniGrid MultiRoom-N2-S4 at c_int 3, rnd and bayes-rnd "
        "ran nearly every episode to the time limit (default: 3 sb3-ppo, 1 ppo-dual)",
    )
    extrinsic_coef: float | None = _option(
        None, "c_ext, weight of the environment reward or advantage (default: 1 sb3-ppo, 2 ppo-dual)"
    )
    warmup_steps: int = _option(16, "random-action steps per env that initialise the bonus statistics before training")
    num_members: int | None = _option(
        None,
        "K, member networks of the bonus: predictor/target pairs for rnd and bayes-rnd (their errors are "
        "averaged), ensemble members for ensemble (default: "
        + ", ".join(f"{count} for {name}" for name, count in DEFAULT_MEMBERS.items())
        + ")",
    )
    parameterization: str = _option(
        "standard",
        "weight parameterisation of the bonus networks: standard or ntk (with Adam, ntk learns about "
        "sqrt(width) times slower at the same --bonus-learning-rate)",
    )
    bias_std: float = _option(0.0, "standard deviation of the bonus networks' initial biases (s_b)")
    ensemble_labels: str = _option(
        "zero", "ensemble only: labels the members regress, zero or random (one shared frozen network)"
    )
    exploration: str = _option(
        "variance",
        "bayes-rnd only: variance (the posterior variance) or thompson (one signed posterior sample per env, "
        "redrawn each episode; a policy that does not see the sampled head averages it away, so it did not "
        "reach the DeepSea-16 goal in 7 of 7 trials)",
    )
    bonus_hidden: tuple[int, ...] = _option((256, 256), "hidden layer widths of the bonus networks")
    bonus_output_dim: int = _option(64, "output features of the bonus networks")
    bonus_learning_rate: float = _option(1e-3, "Adam learning rate of the bonus predictor")
    update_proportion: float = _option(0.25, "fraction of each rollout the predictor trains on, in (0, 1]")
    bonus_epochs: int = _option(4, "predictor passes over each rollout")
    bonus_minibatch_size: int = _option(128, "predictor minibatch size, in observations")
    gamma_int: float = _option(0.99, "discount of the intrinsic return that normalises the bonus")
    equivalence_probe: int = _option(
        0,
        "probe batch size of the live RND/ensemble equivalence diagnostic (intrinsic/probe_*); 0 disables it. "
        "It trains a 4-pair RND and a 4-member ensemble beside the bonus",
    )
    device: str = _option("auto", "torch device: auto (CUDA when available), cpu, cuda or cuda:N")
    torch_threads: int = _option(1, "torch CPU threads for this run (keep 1 when several runs share the machine)")
    log_dir: str = _option("runs", "folder that receives one subfolder per run")
    run_name: str | None = _option(None, "name of the run's subfolder (default: env__bonus__seedS__date-time)")
    save_model: bool = _option(True, "save the trained policy and bonus state at the end")
    checkpoint_every: int = _option(10, "ppo-dual: write checkpoint.pt every this many rollouts (0: only at the end)")
    resume: bool = _option(
        False, "ppo-dual: continue the run in <log-dir>/<run-name> from its checkpoint.pt (needs --run-name)"
    )

    def resolved_env_kwargs(self) -> dict[str, Any]:
        """``env_kwargs``, or the default for the chosen env when none were given."""
        if self.env_kwargs is not None:
            kwargs = dict(self.env_kwargs)
        else:
            kwargs = {"size": DEFAULT_DEEP_SEA_SIZE} if self.env_id == DEEP_SEA_ID else {}
        if self.env_id == DEEP_SEA_ID:
            kwargs.setdefault("mapping_seed", self.seed)
        return kwargs

    def __post_init__(self) -> None:
        check_choice("agent", self.agent, AGENT_DEFAULTS)
        for name, value in AGENT_DEFAULTS[self.agent].items():
            if getattr(self, name) is None:
                setattr(self, name, value)

    def env_description(self) -> str:
        """Describe the environment for titles: id and the kwargs shared by every seed."""
        kwargs = self.resolved_env_kwargs()
        if self.env_id == DEEP_SEA_ID and (self.env_kwargs is None or "mapping_seed" not in self.env_kwargs):
            kwargs.pop("mapping_seed")
            kwargs["mapping_seed"] = "seed"
        settings = ", ".join(f"{key}={value}" for key, value in kwargs.items())
        return f"{self.env_id} ({settings})" if settings else self.env_id

    def resolved_run_name(self) -> str:
        """Return the name of the run's subfolder."""
        if self.run_name:
            return self.run_name
        short_id = self.env_id.split("/")[-1]
        return f"{short_id}__{self.bonus}__seed{self.seed}"

    @property
    def planned_steps(self) -> int:
        """``total_steps`` rounded up to whole PPO rollouts of ``num_envs * n_steps`` steps."""
        rollout = self.num_envs * self.n_steps
        return -(-self.total_steps // rollout) * rollout

    def resolved_num_members(self) -> int:
        """``num_members``, or the bonus's default when it is not given."""
        if self.num_members is not None:
            return self.num_members
        return DEFAULT_MEMBERS.get(self.bonus, 1)

    def bonus_config(self) -> BonusConfig:
        """Return the bonus hyperparameters as a ``BonusConfig``."""
        return BonusConfig(
            num_members=self.resolved_num_members(),
            parameterization=self.parameterization,
            bias_std=self.bias_std,
            ensemble_labels=self.ensemble_labels,
            exploration=self.exploration,
            hidden_sizes=tuple(self.bonus_hidden),
            output_dim=self.bonus_output_dim,
            learning_rate=self.bonus_learning_rate,
            update_proportion=self.update_proportion,
            update_epochs=self.bonus_epochs,
            minibatch_size=self.bonus_minibatch_size,
            gamma_int=self.gamma_int,
            seed=self.seed,
        )

    def validate(self) -> "TrainConfig":
        """Check every field; raise ValueError or TypeError naming the field. Returns ``self``."""
        check_choice("bonus", self.bonus, BONUS_NAMES)
        check_choice("minigrid_observation", self.minigrid_observation, MINIGRID_OBSERVATION_MODES)
        check_non_negative_int("seed", self.seed)
        check_positive_int("torch_threads", self.torch_threads)
        check_non_negative_int("checkpoint_every", self.checkpoint_every)
        if self.resume and (self.agent != "ppo-dual" or not self.run_name):
            raise ValueError(
                f"resume needs --agent ppo-dual and a --run-name, got agent={self.agent!r}, run_name={self.run_name!r}. "
                "Pass the name of the run to continue."
            )
        self._validate_ppo()
        self._validate_bonus()
        return self

    def _validate_ppo(self) -> None:
        for name in ("total_steps", "num_envs", "n_steps", "batch_size", "n_epochs"):
            check_positive_int(name, getattr(self, name))
        check_positive_float("learning_rate", self.learning_rate)
        check_discount("gamma", self.gamma)
        check_unit_interval("gae_lambda", self.gae_lambda)
        check_positive_float("clip_range", self.clip_range)
        check_non_negative_float("ent_coef", self.ent_coef)
        for width in self.policy_hidden:
            check_positive_int("policy_hidden entry", width)

        rollout = self.num_envs * self.n_steps
        if self.batch_size > rollout:
            raise ValueError(
                f"batch_size={self.batch_size} exceeds the rollout size num_envs * n_steps = {rollout}. "
                "Lower batch_size or raise n_steps."
            )
        if self.total_steps < rollout:
            raise ValueError(
                f"total_steps={self.total_steps} is shorter than one rollout (num_envs * n_steps = {rollout}). "
                "Raise total_steps."
            )

    def _validate_bonus(self) -> None:
        for name, owner, default in BONUS_SPECIFIC_OPTIONS:
            if getattr(self, name) != default and self.bonus != owner:
                raise ValueError(
                    f"{name}={getattr(self, name)!r} applies only to the {owner} bonus, but bonus is {self.bonus!r}. "
                    f"Remove --{name.replace('_', '-')} or choose --bonus {owner}."
                )
        if self.equivalence_probe > 0 and self.bonus == "none":
            raise ValueError("equivalence_probe needs a bonus, but bonus is 'none'. Remove --equivalence-probe.")
        check_non_negative_int("warmup_steps", self.warmup_steps)
        check_non_negative_int("equivalence_probe", self.equivalence_probe)
        check_non_negative_float("intrinsic_coef", self.intrinsic_coef)
        check_non_negative_float("extrinsic_coef", self.extrinsic_coef)
        bonus_config = self.bonus_config().validate()
        if self.bonus == "none":
            return
        minimum = BONUS_CLASSES[self.bonus].min_members
        if bonus_config.num_members < minimum:
            raise ValueError(
                f"The {self.bonus} bonus needs num_members >= {minimum}, got {bonus_config.num_members}. "
                "Pass --num-members 8, for example."
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict copy with the resolved env kwargs and run name (JSON-serialisable)."""
        values = dataclasses.asdict(self)
        values["env_kwargs"] = self.resolved_env_kwargs()
        values["run_name"] = self.resolved_run_name()
        values["num_members"] = self.resolved_num_members()
        values["policy_hidden"] = list(self.policy_hidden)
        values["bonus_hidden"] = list(self.bonus_hidden)
        return values


def parse_key_values(pairs: list[str] | None) -> dict[str, Any] | None:
    """Parse ``["size=12", "name=\"x\""]`` into a dict; values are JSON, else kept as strings."""
    if pairs is None:
        return None
    parsed: dict[str, Any] = {}
    for pair in pairs:
        key, separator, raw = pair.partition("=")
        if not separator or not key:
            raise ValueError(f"Invalid --env-kwargs entry {pair!r}: expected KEY=VALUE, for example size=12.")
        try:
            parsed[key] = json.loads(raw)
        except json.JSONDecodeError:
            parsed[key] = raw
    return parsed


def add_config_arguments(parser: argparse.ArgumentParser, exclude: tuple[str, ...] = ()) -> None:
    """Add one ``--field-name`` option per ``TrainConfig`` field, with its help and default."""
    hints = typing.get_type_hints(TrainConfig)
    for config_field in dataclasses.fields(TrainConfig):
        if config_field.name in exclude:
            continue
        flag = "--" + config_field.name.replace("_", "-")
        hint = hints[config_field.name]
        default = config_field.default if config_field.default is not dataclasses.MISSING else config_field.default_factory()
        help_text = config_field.metadata["help"]
        if default is not None and "(default" not in help_text:
            shown = " ".join(map(str, default)) if isinstance(default, tuple) else default
            help_text = f"{help_text} (default: {shown})".replace("%", "%%")
        if config_field.name == "env_kwargs":
            parser.add_argument(flag, nargs="*", default=None, metavar="KEY=VALUE", help=help_text)
        elif hint is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_text)
        elif typing.get_origin(hint) is tuple:
            parser.add_argument(flag, type=int, nargs="+", default=default, metavar="N", help=help_text)
        else:
            value_type = hint
            if typing.get_origin(hint) is not None:
                value_type = next(option for option in typing.get_args(hint) if option is not type(None))
            parser.add_argument(flag, type=value_type, default=default, help=help_text)


def config_from_arguments(arguments: argparse.Namespace, **overrides: Any) -> TrainConfig:
    """Build a validated ``TrainConfig`` from parsed arguments (fields missing there keep their default)."""
    values = {}
    for config_field in dataclasses.fields(TrainConfig):
        if hasattr(arguments, config_field.name):
            values[config_field.name] = getattr(arguments, config_field.name)
    values.update(overrides)
    if isinstance(values.get("env_kwargs"), list):
        values["env_kwargs"] = parse_key_values(values["env_kwargs"])
    for name in ("policy_hidden", "bonus_hidden"):
        if name in values:
            values[name] = tuple(values[name])
    return TrainConfig(**values).validate()
