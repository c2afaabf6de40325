"""End-to-end runs: run-folder files, TensorBoard namespaces, and RND against plain PPO on DeepSea."""

import csv
import json

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rnd_explore.compare import run_comparison
from rnd_explore.config import TrainConfig
from rnd_explore.training import load_episodes, train


def short_config(tmp_path, **overrides):
    settings = dict(env_kwargs={"size": 6}, total_steps=2048, num_envs=4, n_steps=32, batch_size=64,
                    warmup_steps=4, log_dir=str(tmp_path), device="cpu")
    settings.update(overrides)
    return TrainConfig(**settings)


def test_run_folder_and_tensorboard_namespaces(tmp_path):
    config = short_config(tmp_path, bonus="rnd")

    summary = train(config)

    run_dir = tmp_path / config.resolved_run_name()
    episodes = load_episodes(run_dir)
    # Each of the 4 envs finishes one 6-step episode every 6 of its 512 steps.
    assert summary.episodes == len(episodes["step"]) == 4 * (2048 // 4 // 6)
    assert summary.successes == int(episodes["success"].sum())
    saved = json.loads((run_dir / "summary.json").read_text())
    assert saved["summary"]["episodes"] == summary.episodes
    assert saved["config"]["env_kwargs"] == {"size": 6, "mapping_seed": 0}
    assert set(torch.load(run_dir / "bonus.pt")) >= {"predictor.layers.0.weight", "target.layers.0.weight", "_extra_state"}
    assert (run_dir / "model.zip").stat().st_size > 0

    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    scalar_tags = set(events.Tags()["scalars"])
    assert all(tag.split("/")[0] in {"charts", "losses", "intrinsic"} for tag in scalar_tags), scalar_tags
    assert {"charts/episodic_return", "charts/sps", "losses/policy_loss", "losses/value_loss",
            "losses/approx_kl", "intrinsic/predictor_loss", "intrinsic/raw_bonus_mean"} <= scalar_tags
    logged_returns = [event.value for event in events.Scalars("charts/episodic_return")]
    assert logged_returns == pytest.approx(list(episodes["extrinsic_return"]))
    assert "hyperparameters/text_summary" in events.Tags()["tensors"]
    # 16 rollouts of 32 steps: the visitation heatmap is logged after rollouts 10 (and 20).
    heatmaps = events.Images("charts/visitation")
    assert [image.step for image in heatmaps] == [10 * 32 * 4]


@pytest.mark.parametrize("bonus", ["ensemble", "bayes-rnd"])
def test_ensemble_and_bayes_runs_log_their_bonus(tmp_path, bonus):
    config = short_config(tmp_path, bonus=bonus, total_steps=1024, equivalence_probe=64, save_model=False)

    summary = train(config)

    events = EventAccumulator(str(tmp_path / config.resolved_run_name()), size_guidance={"scalars": 0})
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"intrinsic/raw_bonus_mean", "intrinsic/probe_ratio", "intrinsic/probe_ensemble_variance"} <= tags
    ratios = [event.value for event in events.Scalars("intrinsic/probe_ratio")]
    assert len(ratios) == 1024 // (4 * 32)
    assert all(ratio > 0 for ratio in ratios)
    assert summary.episodes == 4 * (1024 // 4 // 6)


def test_same_seed_gives_identical_runs(tmp_path):
    first = train(short_config(tmp_path, run_name="a", save_model=False))
    second = train(short_config(tmp_path, run_name="b", save_model=False))

    first_episodes = load_episodes(tmp_path / "a")
    second_episodes = load_episodes(tmp_path / "b")
    assert first.successes == second.successes
    assert list(first_episodes["extrinsic_return"]) == list(second_episodes["extrinsic_return"])
    assert list(first_episodes["intrinsic_return"]) == list(second_episodes["intrinsic_return"])


@pytest.mark.slow
def test_bonuses_solve_deep_sea_where_plain_ppo_fails(tmp_path):
    # DeepSea-16 with the default settings (60k steps, c_int = 3). A uniformly random policy
    # reaches the goal with probability 2^-16 per episode, so plain PPO's ~3,750 episodes find
    # it with probability below 6%. During tuning RND found it in 12 of 12 seeds; on seeds
    # 0-2 the ensemble found it in 2 and Bayesian RND in 3.
    base = TrainConfig(device="cpu", save_model=False)
    seeds = [0, 1, 2]
    bonuses = ["none", "rnd", "ensemble", "bayes-rnd"]

    result = run_comparison(base, bonuses, seeds, tmp_path, workers=2, show_progress=False)

    rows = {row.bonus: row for row in result.table}
    assert rows["none"].seeds_reached_goal == 0
    assert rows["none"].final_mean_return < 0.1
    for bonus in ("rnd", "ensemble", "bayes-rnd"):
        assert rows[bonus].seeds_reached_goal >= 2, bonus
    assert rows["rnd"].final_mean_return > 0.9
    assert rows["bayes-rnd"].final_mean_return > 0.9
    with open(tmp_path / "results.csv", newline="") as handle:
        table = {row["bonus"]: row for row in csv.DictReader(handle)}
    assert int(table["rnd"]["seeds_reached_goal"]) == rows["rnd"].seeds_reached_goal
    assert float(table["rnd"]["final_mean_return"]) == pytest.approx(rows["rnd"].final_mean_return)
    assert (tmp_path / "returns.png").stat().st_size > 10_000


def test_load_bonus_restores_the_trained_state(tmp_path):
    from rnd_explore.training import load_bonus

    config = short_config(tmp_path, bonus="ensemble", num_members=3, run_name="saved")
    train(config)

    bonus = load_bonus(tmp_path / "saved")

    # Warm-up (4 steps x 4 envs) plus 2048 training steps went into the observation statistics.
    assert bonus.obs_normalizer.stats.count.item() == 16 + 2048
    assert bonus.config.num_members == 3
    assert bonus.reward_normalizer.return_stats.count.item() > 0
    train(short_config(tmp_path, bonus="none", run_name="plain", total_steps=256))
    with pytest.raises(ValueError, match="has no saved bonus"):
        load_bonus(tmp_path / "plain")


def test_finished_run_folder_is_not_overwritten(tmp_path):
    config = short_config(tmp_path, run_name="kept", total_steps=256, save_model=False)
    train(config)
    before = (tmp_path / "kept" / "episodes.csv").read_text()

    with pytest.raises(ValueError, match="already contains a finished run"):
        train(config)
    assert (tmp_path / "kept" / "episodes.csv").read_text() == before


def test_interrupted_run_folder_is_not_reused(tmp_path):
    (tmp_path / "stale").mkdir()
    (tmp_path / "stale" / "events.out.tfevents.1.host").write_bytes(b"")
    config = short_config(tmp_path, run_name="stale", total_steps=256, save_model=False)

    with pytest.raises(ValueError, match="already contains files of an interrupted run"):
        train(config)


def test_bad_environment_leaves_no_run_folder(tmp_path):
    config = short_config(tmp_path, env_id="Pendulum-v1", env_kwargs={}, bonus="none", run_name="bad")

    with pytest.raises(ValueError, match="Discrete action space"):
        train(config)
    assert not (tmp_path / "bad").exists()


def test_result_files_are_group_readable(tmp_path):
    train(short_config(tmp_path, run_name="perm", total_steps=256, bonus="none"))

    for name in ("summary.json", "episodes.csv", "model.zip"):
        mode = (tmp_path / "perm" / name).stat().st_mode
        assert mode & 0o044, f"{name} has mode {oct(mode)}"
