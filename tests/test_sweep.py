"""Resumable, fault-tolerant sweeps on the local and the Ray backend."""

import json
import os
import sys
from pathlib import Path

import pytest
from sweep_helpers import FAILING_SEED, train_failing_on_one_seed, train_recording_time

from rnd_explore.cli import main
from rnd_explore.compare import RayOptions, run_comparison
from rnd_explore.config import TrainConfig
from rnd_explore.ray_backend import RayNotInstalledError, import_ray
from rnd_explore.training import load_episodes, train
from rnd_explore.trials import COMPLETE_MARKER

NUMBERS = ("total_steps", "episodes", "successes", "first_success_episode", "first_success_step", "final_mean_return")


def tiny_config(**overrides):
    settings = dict(env_kwargs={"size": 6}, total_steps=1024, num_envs=4, n_steps=32, batch_size=64,
                    warmup_steps=4, device="cpu", save_model=False)
    settings.update(overrides)
    return TrainConfig(**settings)


def numbers(summary):
    return {name: getattr(summary, name) for name in NUMBERS}


def test_failing_trial_is_retried_reported_and_kept(tmp_path):
    result = run_comparison(tiny_config(), ["rnd"], [0, FAILING_SEED], tmp_path, retries=2,
                            show_progress=False, trainer=train_failing_on_one_seed)

    assert [summary.seed for summary in result.runs] == [0]
    (failure,) = result.failures
    assert failure.attempts == 3
    assert failure.error == f"RuntimeError: injected failure for seed {FAILING_SEED}"
    (row,) = result.table
    assert row.seeds == 1
    assert row.seeds_failed == 1
    record = json.loads((tmp_path / "failures" / f"{failure.run_name}.json").read_text())
    assert record["attempts"] == 3
    assert "injected failure" in record["traceback"]
    assert json.loads((tmp_path / "results.json").read_text())["failures"][0]["run_name"] == failure.run_name
    # Every failed attempt's files are kept outside runs/, one folder per attempt.
    kept = sorted((tmp_path / "incomplete").glob(f"{failure.run_name}.*"))
    assert len(kept) == 3
    assert all((folder / "partial.txt").exists() for folder in kept)
    assert not (tmp_path / "runs" / failure.run_name).exists()


def test_rerun_runs_only_missing_trials(tmp_path):
    first = run_comparison(tiny_config(), ["none", "rnd"], [0, FAILING_SEED], tmp_path,
                           show_progress=False, trainer=train_failing_on_one_seed)
    assert len(first.runs) == 2
    assert len(first.failures) == 2
    complete_dir = tmp_path / "runs" / first.runs[0].run_name
    marker_time = (complete_dir / COMPLETE_MARKER).stat().st_mtime_ns
    # A trial interrupted mid-run leaves a folder without the complete marker.
    interrupted = tmp_path / "runs" / "DeepSea-v0__rnd__seed5"
    interrupted.mkdir()
    (interrupted / "events.out.tfevents.partial").write_text("partial")
    trained = []

    def counting_train(config, progress=None):
        trained.append(config.resolved_run_name())
        return train(config, progress=progress)

    second = run_comparison(tiny_config(), ["none", "rnd"], [0, FAILING_SEED, 5], tmp_path,
                            show_progress=False, trainer=counting_train)

    assert sorted(trained) == sorted(f"DeepSea-v0__{bonus}__seed{seed}" for bonus in ("none", "rnd")
                                     for seed in (FAILING_SEED, 5))
    assert second.reused == 2
    assert not second.failures
    assert [row.seeds for row in second.table] == [3, 3]
    assert (complete_dir / COMPLETE_MARKER).stat().st_mtime_ns == marker_time
    assert not (tmp_path / "failures" / f"DeepSea-v0__rnd__seed{FAILING_SEED}.json").exists()
    (kept,) = (tmp_path / "incomplete").glob("DeepSea-v0__rnd__seed5.*")
    assert (kept / "events.out.tfevents.partial").read_text() == "partial"
    # The reused trial enters the new table with its stored numbers.
    stored = {summary.run_name: summary for summary in first.runs}
    for summary in second.runs:
        if summary.run_name in stored:
            assert numbers(summary) == numbers(stored[summary.run_name])


def test_rerun_with_other_settings_is_rejected(tmp_path):
    run_comparison(tiny_config(), ["none"], [0], tmp_path, show_progress=False)

    with pytest.raises(ValueError, match=r"other settings \(--total-steps: 1024 there, 2048 now\)"):
        run_comparison(tiny_config(total_steps=2048), ["none"], [0], tmp_path, show_progress=False)


def test_folder_of_other_sweep_is_rejected(tmp_path):
    run_comparison(tiny_config(), ["none"], [0], tmp_path, show_progress=False)

    with pytest.raises(ValueError, match=r"complete trial DeepSea-v0__none__seed0 of a sweep with other settings"):
        run_comparison(tiny_config(total_steps=2048), ["none"], [5], tmp_path, show_progress=False)
    assert not (tmp_path / "runs" / "DeepSea-v0__none__seed5").exists()
    # Another seed of the same sweep is welcome, and the table covers both.
    result = run_comparison(tiny_config(), ["none"], [5], tmp_path, show_progress=False)
    assert [summary.seed for summary in result.runs] == [5, 0]
    assert result.table[0].seeds == 2
    assert result.reused == 1


def test_unused_bonus_options_ignored_for_none(tmp_path):
    run_comparison(tiny_config(), ["none"], [0], tmp_path, show_progress=False)

    result = run_comparison(tiny_config(num_members=4), ["ensemble"], [0], tmp_path, show_progress=False)
    assert [row.bonus for row in result.table] == ["ensemble", "none"]

    with pytest.raises(ValueError, match=r"DeepSea-v0__ensemble__seed0 .*--num-members: 4 there, 2 now"):
        run_comparison(tiny_config(num_members=2), ["rnd"], [0], tmp_path, show_progress=False)


def test_interrupt_keeps_finished_results(tmp_path):
    def interrupted_on_second(config, progress=None):
        if config.seed == 1:
            raise KeyboardInterrupt
        return train(config, progress=progress)

    with pytest.raises(KeyboardInterrupt):
        run_comparison(tiny_config(), ["none"], [0, 1], tmp_path, show_progress=False, trainer=interrupted_on_second)

    written = json.loads((tmp_path / "results.json").read_text())
    assert [run["seed"] for run in written["runs"]] == [0]
    assert written["missing_trials"] == ["DeepSea-v0__none__seed1"]
    rerun = run_comparison(tiny_config(), ["none"], [0, 1], tmp_path, show_progress=False)
    assert rerun.reused == 1
    assert [summary.seed for summary in rerun.runs] == [0, 1]


def test_missing_ray_gives_install_hint(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)

    with pytest.raises(RayNotInstalledError, match=r'pip install "rnd-explore\[ray\]"'):
        import_ray()
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--backend", "ray", "--bonuses", "none", "--seeds", "0", "--out-dir", str(tmp_path / "c")])
    assert exit_info.value.code == 2
    assert 'pip install "rnd-explore[ray]"' in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_ray_options_need_the_ray_backend(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["compare", "--address", "auto", "--out-dir", str(tmp_path)])
    assert "--backend ray" in capsys.readouterr().err


def test_unreachable_ray_address_raises(tmp_path):
    pytest.importorskip("ray")

    with pytest.raises(ValueError, match=r"Could not connect to a Ray cluster at address '127.0.0.1:1'"):
        run_comparison(tiny_config(), ["none"], [0], tmp_path, backend="ray", show_progress=False,
                       ray_options=RayOptions(address="127.0.0.1:1"))


@pytest.mark.slow
def test_ray_gpu_request_beyond_machine_raises(tmp_path):
    pytest.importorskip("ray")
    import torch

    gpus = torch.cuda.device_count() + 1

    with pytest.raises(ValueError, match=rf"gpus_per_trial is {gpus}, but this machine's private Ray instance has {gpus - 1} GPUs"):
        run_comparison(tiny_config(), ["none"], [0], tmp_path, backend="ray", show_progress=False,
                       ray_options=RayOptions(gpus_per_trial=gpus))


@pytest.mark.slow
def test_ray_runs_at_most_workers_trials(tmp_path, monkeypatch):
    pytest.importorskip("ray")
    tests_dir = str(Path(__file__).parent)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [tests_dir, os.environ.get("PYTHONPATH")])))

    run_comparison(tiny_config(), ["none"], [0, 1, 2, 3, 4], tmp_path, backend="ray", workers=2,
                   show_progress=False, trainer=train_recording_time)

    spans = [json.loads(path.read_text()) for path in (tmp_path / "timeline").glob("*.json")]
    assert len(spans) == 5
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = max_running = 0
    for _, change in events:
        running += change
        max_running = max(max_running, running)
    assert max_running == 2


@pytest.mark.slow
@pytest.mark.parametrize("shared_storage", [True, False], ids=["shared-storage", "sent-back"])
def test_ray_backend_matches_local_backend(tmp_path, monkeypatch, shared_storage):
    pytest.importorskip("ray")
    # Ray workers import the failing trainer from this folder.
    tests_dir = str(Path(__file__).parent)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [tests_dir, os.environ.get("PYTHONPATH")])))
    seeds = [0, 1, FAILING_SEED]
    base = tiny_config(save_model=True)

    local = run_comparison(base, ["rnd"], seeds, tmp_path / "local", retries=1, show_progress=False,
                           trainer=train_failing_on_one_seed)
    on_ray = run_comparison(base, ["rnd"], seeds, tmp_path / "ray", backend="ray", workers=2, retries=1,
                            show_progress=False, trainer=train_failing_on_one_seed,
                            ray_options=RayOptions(shared_storage=shared_storage))

    assert [numbers(summary) for summary in on_ray.runs] == [numbers(summary) for summary in local.runs]
    assert len(on_ray.runs) == 2
    for summary in on_ray.runs:
        ray_dir, local_dir = tmp_path / "ray" / "runs" / summary.run_name, tmp_path / "local" / "runs" / summary.run_name
        assert load_episodes(ray_dir)["extrinsic_return"].tolist() == load_episodes(local_dir)["extrinsic_return"].tolist()
        ray_files = {path.name for path in ray_dir.iterdir() if not path.name.startswith("events.")}
        assert ray_files == {path.name for path in local_dir.iterdir() if not path.name.startswith("events.")}
        assert len(list(ray_dir.glob("events.out.tfevents.*"))) == 1
        stored = json.loads((ray_dir / "summary.json").read_text())
        assert stored["config"]["log_dir"] == str(tmp_path / "ray" / "runs")
    (failure,) = on_ray.failures
    assert failure.attempts == 2
    assert "injected failure" in failure.error
    assert len(list((tmp_path / "ray" / "incomplete").glob(f"{failure.run_name}.*"))) == 2
    assert (tmp_path / "ray" / "failures" / f"{failure.run_name}.json").exists()
    assert (tmp_path / "ray" / "results.csv").read_text() == (tmp_path / "local" / "results.csv").read_text()
    assert not list((tmp_path / "ray").glob(".incoming-*"))
