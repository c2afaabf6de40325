"""The command line: help text, configuration parsing and clear errors on bad input."""

import dataclasses
import re

import pytest

from rnd_explore.cli import build_parser, main
from rnd_explore.config import TrainConfig, parse_key_values


def test_train_help_documents_every_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    output = capsys.readouterr().out
    flat = " ".join(output.split())

    assert exit_info.value.code == 0
    for config_field in dataclasses.fields(TrainConfig):
        flag = "--" + config_field.name.replace("_", "-")
        assert flag in output, flag
    assert "(default: 0.99)" in flat
    assert "in environment steps" in flat


def test_config_from_arguments_round_trip():
    from rnd_explore.config import config_from_arguments

    arguments = build_parser().parse_args(
        ["train", "--bonus", "none", "--env-kwargs", "size=8", "deterministic=false", "--policy-hidden", "32", "--seed", "4"]
    )
    config = config_from_arguments(arguments)

    assert config.bonus == "none"
    assert config.resolved_env_kwargs() == {"size": 8, "deterministic": False, "mapping_seed": 4}
    assert config.policy_hidden == (32,)


def test_default_deep_sea_kwargs_follow_the_seed():
    assert TrainConfig(seed=3).resolved_env_kwargs() == {"size": 16, "mapping_seed": 3}
    assert TrainConfig(env_id="CartPole-v1").resolved_env_kwargs() == {}


def test_parse_key_values_rejects_missing_equals():
    with pytest.raises(ValueError, match="Invalid --env-kwargs entry 'size'"):
        parse_key_values(["size"])


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--bonus", "count"], "Unknown bonus 'count'. Choose one of: none, rnd, ensemble, bayes-rnd"),
        (["--bonus", "ensemble", "--num-members", "1"], "ensemble bonus needs num_members >= 2, got 1"),
        (["--bonus", "bayes-rnd", "--exploration", "greedy"], "Unknown exploration 'greedy'"),
        (["--parameterization", "mup"], "Unknown parameterization 'mup'"),
        (["--equivalence-probe", "-1"], "equivalence_probe must be an integer >= 0, got -1"),
        (["--env-id", "NoSuchEnv-v0"], "Unknown or invalid environment id 'NoSuchEnv-v0'"),
        (["--env-id", "Pendulum-v1", "--bonus", "none"], "need a Discrete action space"),
        (["--num-envs", "0"], "num_envs must be an integer >= 1, got 0"),
        (["--intrinsic-coef", "-2"], "intrinsic_coef must be a finite number >= 0, got -2"),
        (["--total-steps", "10"], "total_steps=10 is shorter than one rollout"),
        (["--device", "cuda:0"], "CUDA is not available"),
    ],
)
def test_train_bad_input_exits_with_clear_error(arguments, message, capsys, tmp_path):
    import torch

    if "cuda:0" in arguments and torch.cuda.is_available():
        pytest.skip("CUDA is available on this machine")
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--log-dir", str(tmp_path), "--total-steps", "1024", *arguments])

    assert exit_info.value.code == 2
    assert re.search(re.escape(message), capsys.readouterr().err)


def test_compare_defaults_cover_every_bonus():
    arguments = build_parser().parse_args(["compare"])

    assert arguments.bonuses == ["none", "rnd", "ensemble", "bayes-rnd"]
    assert arguments.seeds == [0, 1, 2]


def test_member_count_defaults_per_bonus():
    assert TrainConfig(bonus="rnd").resolved_num_members() == 1
    assert TrainConfig(bonus="ensemble").resolved_num_members() == 8
    assert TrainConfig(bonus="ensemble", num_members=3).bonus_config().num_members == 3


def test_compare_rejects_unknown_bonus(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--bonuses", "none", "curiosity", "--out-dir", str(tmp_path)])

    assert exit_info.value.code == 2
    assert "Unknown bonus 'curiosity'" in capsys.readouterr().err


def test_verify_ntk_writes_report(tmp_path, capsys):
    status = main(["verify-ntk", "--widths", "16", "--members", "10", "--heads", "2", "--train-points", "4",
                   "--test-points", "3", "--device", "cpu", "--out-dir", str(tmp_path)])

    output = capsys.readouterr().out
    assert status == 0
    assert (tmp_path / "report.md").exists()
    assert "width    16: claim1 ratio" in output
    assert "NOT CONVERGED" not in output


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--depth", "1"], "depth must be >= 2"),
        (["--members", "0"], "members must be an integer >= 1, got 0"),
        (["--widths", "-5"], "width must be an integer >= 1, got -5"),
        (["--out-dir", __file__], "exists and is not a folder"),
    ],
)
def test_verify_ntk_bad_input(arguments, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["verify-ntk", "--out-dir", str(tmp_path / "report"), *arguments])

    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_bonus_specific_options_are_rejected_elsewhere():
    with pytest.raises(ValueError, match="exploration='thompson' applies only to the bayes-rnd bonus"):
        TrainConfig(bonus="rnd", exploration="thompson").validate()
    with pytest.raises(ValueError, match="ensemble_labels='random' applies only to the ensemble bonus"):
        TrainConfig(bonus="bayes-rnd", ensemble_labels="random").validate()
    with pytest.raises(ValueError, match="equivalence_probe needs a bonus"):
        TrainConfig(bonus="none", equivalence_probe=16).validate()


def test_compare_applies_bonus_options_to_their_bonus(tmp_path):
    from rnd_explore.compare import comparison_configs

    base = TrainConfig(bonus="bayes-rnd", exploration="thompson", equivalence_probe=8)
    configs = comparison_configs(base, ["none", "rnd", "bayes-rnd"], [0], tmp_path)

    settings = {config.bonus: (config.exploration, config.equivalence_probe) for config in configs}
    assert settings == {"none": ("variance", 0), "rnd": ("variance", 8), "bayes-rnd": ("thompson", 8)}


def test_compare_option_without_its_bonus_exits(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--bonuses", "none", "rnd", "--exploration", "thompson", "--out-dir", str(tmp_path)])

    assert exit_info.value.code == 2
    assert "--exploration applies only to the bayes-rnd bonus, which is not among --bonuses none rnd" in capsys.readouterr().err


def test_package_facade_exports_every_bonus():
    import rnd_explore

    exported = {name: getattr(rnd_explore, name) for name in rnd_explore.__all__}

    assert exported["make_bonus"]("ensemble", __import__("gymnasium").spaces.Discrete(3), 1).name == "ensemble"
    assert {"RNDBonus", "EnsembleVarianceBonus", "BayesianRNDBonus", "BonusVecEnvWrapper"} <= set(exported)
