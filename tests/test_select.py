"""Candidate selection: the unsupervised score and the train-select-continue flow."""

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from conftest import tiny_config

from infogan import checkpoint as ckpt
from infogan.errors import SpecError
from infogan.model import Encoding
from infogan.select import real_code_mi, train_selected


class _FakeModel:
    """Stands in for InfoGAN.encode with chosen probabilities."""

    def __init__(self, probs):
        from infogan.latent import LatentSpec

        self.spec = LatentSpec.parse(f"cat:{probs.shape[1]},cont:1", 2)
        self.probs = probs

    def encode(self, images):
        n = len(self.probs)
        return Encoding(
            [self.probs], self.probs.argmax(1, keepdim=True), torch.zeros(n, 1), torch.ones(n, 1)
        )


def test_real_code_mi_known_answers():
    n, k = 400, 4
    confident = torch.nn.functional.one_hot(torch.arange(n) % k, k).float()
    assert real_code_mi(_FakeModel(confident), None)["c1"] == pytest.approx(1.0, abs=1e-6)
    unsure = torch.full((n, k), 1 / k)
    assert real_code_mi(_FakeModel(unsure), None)["c1"] == pytest.approx(0.0, abs=1e-6)
    merged = torch.nn.functional.one_hot(torch.arange(n) % 2, k).float()  # only 2 values used
    assert real_code_mi(_FakeModel(merged), None)["c1"] == pytest.approx(math.log(2) / math.log(4))


def test_train_selected_picks_best_and_continues(tmp_path, tiny_dataset):
    cfg = tiny_config(steps=4, candidates=2, select_steps=2, ckpt_every=2)
    run = tmp_path / "run"
    res = train_selected(cfg, run, dataset=tiny_dataset)
    sel = json.loads((run / "selection.json").read_text())
    assert len(sel["candidates"]) == 2
    # the points' steps, and the step the top-level candidates' scores were read at
    assert sel["select_steps"] == [2] and sel["candidates_step"] == 2
    # the best score among those the noise-use guard does not rank last (every one, mostly)
    best = max(sel["candidates"], key=lambda c: (not c.get("demoted"), c["score"]))
    assert sel["winner"] == best["candidate"] and sel["winner_seed"] == best["seed"]
    assert all(c["noise_use"] > 0 for c in sel["candidates"])
    assert res.step == 4
    _, state = ckpt.latest_checkpoint(run)
    assert state["step"] == 4 and state["config"]["seed"] == sel["winner_seed"]
    assert not list((run / "candidates").glob("*/checkpoints/*"))  # freed once selection is done
    steps = [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 4
    grids = sorted(p.name for p in (run / "samples").iterdir())  # the winner's, then the run's
    assert grids == ["step_0000002.png", "step_0000003.png", "step_0000004.png"]
    winner_grid = run / "candidates" / str(sel["winner"]) / "samples" / "step_0000002.png"
    assert (run / "samples" / "step_0000002.png").read_bytes() == winner_grid.read_bytes()
    # a finished selection is not redone on resume
    res2 = train_selected(
        tiny_config(steps=6, candidates=2, select_steps=2, ckpt_every=2, seed=sel["winner_seed"]),
        run,
        dataset=tiny_dataset,
    )
    assert res2.step == 6
    assert json.loads((run / "selection.json").read_text()) == sel
    # A start of the selection is not resumed by hand (while the selection ran, one went past
    # the others' step and was chosen at it; a dropped one was retrained from step 0).
    from infogan import train
    from infogan.cli import main

    loser = run / "candidates" / str(1 - sel["winner"])
    with pytest.raises(SpecError, match=r"is a start of the run .*'s selection; resume"):
        train(tiny_config(steps=8), loser, resume=True, dataset=tiny_dataset)
    assert main(["train", "--resume", str(loser), "--steps", "8"]) == 2
    assert not ckpt.list_checkpoints(loser)
    # A user's own runs in a folder named candidates beside a shared recipe file are theirs.
    from infogan.select import refuse_candidate_folder

    (tmp_path / "proj" / "candidates" / "0").mkdir(parents=True)
    (tmp_path / "proj" / "config.json").write_text(json.dumps(cfg.to_dict() | {"candidates": 1}))
    refuse_candidate_folder(tmp_path / "proj" / "candidates" / "0")
    refuse_candidate_folder(run / "candidates" / "mine")


def test_selected_run_equals_plain_run_of_winner_seed(tmp_path, tiny_dataset):
    """The continued winner is exactly the plain run of the winner's seed (training randomness is
    drawn from (seed, step) counters). scripts/seed_study.py simulates selection rules from plain
    runs on this ground. Schedules keyed to the run's length (instance noise decays to 0 at
    ``steps``) run in the candidates as in the whole run, not to the selection point."""
    kw = dict(steps=4, ckpt_every=2, instance_noise=0.2)
    cfg = tiny_config(candidates=2, select_steps=2, **kw)
    train_selected(cfg, tmp_path / "sel", dataset=tiny_dataset)
    winner = json.loads((tmp_path / "sel" / "selection.json").read_text())["winner_seed"]
    # the noise's end written down when the run began (a resume with other --steps keeps it)
    assert json.loads((tmp_path / "sel" / "config.json").read_text())["instance_noise_end"] == 4
    plain = tiny_config(seed=winner, **kw)
    train_selected(plain, tmp_path / "plain", dataset=tiny_dataset)
    _, a = ckpt.latest_checkpoint(tmp_path / "sel")
    _, b = ckpt.latest_checkpoint(tmp_path / "plain")
    assert a["step"] == b["step"] == 4
    for k, v in a["nets"].items():
        assert torch.equal(v, b["nets"][k]), k


def test_agreement_prefers_the_partition_others_share():
    import numpy as np

    from infogan.select import agreement

    rng = np.random.default_rng(0)
    truth = np.arange(1000) % 10
    relabelled = (truth + 3) % 10  # same partition, other code order: full agreement
    merged = np.where(truth == 9, 4, truth)  # one class merged into another
    noise = rng.integers(0, 10, 1000)
    a = agreement([[truth], [relabelled], [merged], [noise]])
    assert a[0] == pytest.approx(a[1]) and a[0] > a[2] > a[3]
    assert agreement([[truth]]) == [0.0]


def test_consensus_rule_picks_most_agreeing_candidate(tmp_path, tiny_dataset):
    cfg = tiny_config(steps=4, candidates=3, select_steps=2, ckpt_every=2, select_rule="consensus")
    train_selected(cfg, tmp_path / "run", dataset=tiny_dataset)
    sel = json.loads((tmp_path / "run" / "selection.json").read_text())
    assert sel["rule"].startswith("consensus")
    best = max(sel["candidates"], key=lambda c: (c["agreement"], c["score"]))
    assert sel["winner"] == best["candidate"]


def test_centrality_rule_picks_most_central_candidate(tmp_path, tiny_dataset, monkeypatch):
    import infogan.select

    # Fewer votes than at a real selection point: the rule's wiring is what is checked here.
    monkeypatch.setattr(
        infogan.select, "SELECT_CENTRALITY", {"groups": 20, "group_size": 10, "n_var": 100}
    )
    cfg = tiny_config(steps=4, candidates=3, select_steps=2, ckpt_every=2, select_rule="centrality")
    train_selected(cfg, tmp_path / "run", dataset=tiny_dataset)
    sel = json.loads((tmp_path / "run" / "selection.json").read_text())
    assert sel["rule"].startswith("centrality")
    assert all(0.0 <= c["centrality"] <= 1.0 for c in sel["candidates"])
    best = max(sel["candidates"], key=lambda c: (c["centrality"], c["score"]))
    assert sel["winner"] == best["candidate"]


def test_unknown_select_rule_is_refused():
    from infogan.errors import SpecError

    with pytest.raises(SpecError, match="select_rule"):
        tiny_config(select_rule="best").validate()


def test_interrupted_selection_resumes_from_the_run_dir(tmp_path, tiny_dataset, monkeypatch):
    from infogan.config import TrainConfig
    from infogan.train import Trainer

    cfg = tiny_config(steps=4, candidates=2, select_steps=2, ckpt_every=1)
    run = tmp_path / "run"
    real_run = Trainer.run

    def stop_in_second(self, finish=True):
        if self.cfg.seed == 1:  # candidate 2
            raise KeyboardInterrupt("stopped")
        return real_run(self, finish)

    monkeypatch.setattr(Trainer, "run", stop_in_second)
    with pytest.raises(KeyboardInterrupt, match=f"--resume {run}"):
        train_selected(cfg, run, dataset=tiny_dataset)
    assert not (run / "selection.json").exists()
    monkeypatch.setattr(Trainer, "run", real_run)
    # what `infogan train --resume RUN` does: the run's own config, then continue
    again = TrainConfig.load(run / "config.json")
    assert again.candidates == 2
    res = train_selected(again, run, resume=True, dataset=tiny_dataset)
    assert res.step == 4 and (run / "selection.json").exists()


def test_selection_stages_halve_then_keep_one():
    from infogan.select import selection_stages

    def stages(**kw):
        return selection_stages(tiny_config(**kw))

    assert stages(steps=100, candidates=4, select_steps=10) == [(10, 1)]
    assert stages(steps=100, candidates=4, select_steps=10, select_later=[30]) == [(10, 2), (30, 1)]
    assert stages(steps=100, candidates=5, select_steps=10, select_later=[20, 30]) == [
        (10, 3),
        (20, 2),
        (30, 1),
    ]
    # two candidates: one is left after the first point, so later points are dropped
    assert stages(steps=100, candidates=2, select_steps=10, select_later=[30]) == [(10, 1)]
    # points past the run's length collapse onto its end
    assert stages(steps=20, candidates=4, select_steps=10, select_later=[30, 40]) == [
        (10, 2),
        (20, 1),
    ]


def test_select_later_must_increase():
    from infogan.errors import SpecError

    with pytest.raises(SpecError, match="select_later"):
        tiny_config(select_steps=10, select_later=[10]).validate()
    with pytest.raises(SpecError, match="select_later"):
        tiny_config(select_steps=10, select_later=[30, 20]).validate()
    tiny_config(select_steps=10, select_later=[20, 30]).validate()


def test_successive_halving_keeps_the_best_half_then_the_best(tmp_path, tiny_dataset):
    cfg = tiny_config(steps=6, candidates=4, select_steps=2, select_later=[4], ckpt_every=2)
    run = tmp_path / "run"
    res = train_selected(cfg, run, dataset=tiny_dataset)
    sel = json.loads((run / "selection.json").read_text())
    first, second = sel["stages"]
    assert first["step"] == 2 and len(first["candidates"]) == 4
    by_score = sorted(first["candidates"], key=lambda c: -c["score"])
    assert first["kept"] == [c["candidate"] for c in by_score[:2]]
    assert second["step"] == 4 and [c["candidate"] for c in second["candidates"]] == first["kept"]
    best = max(second["candidates"], key=lambda c: c["score"])
    assert sel["winner"] == best["candidate"] and sel["winner_seed"] == best["seed"]
    assert sel["candidates"] == first["candidates"]  # every start, as with one point
    # the survivors really trained on to step 4 (their metrics reach it); the others did not
    for c in range(4):
        rows = (run / "candidates" / str(c) / "metrics.jsonl").read_text().splitlines()
        assert json.loads(rows[-1])["step"] == (4 if c in first["kept"] else 2)
    assert not list((run / "candidates").glob("*/checkpoints/*"))
    assert res.step == 6
    _, state = ckpt.latest_checkpoint(run)
    assert state["config"]["seed"] == sel["winner_seed"]
    # the run's report page shows every point's scores (6 rows: 4 starts, then 2) and the winner
    page = (run / "report.html").read_text()
    assert "Candidate selection" in page and page.count("<td>kept</td>") == 3
    assert f"winner: candidate {sel['winner'] + 1} (seed {sel['winner_seed']})" in page
    # the continued winner is the plain run of its seed, halving or not
    plain_cfg = tiny_config(steps=6, seed=sel["winner_seed"], ckpt_every=2)
    train_selected(plain_cfg, tmp_path / "p", dataset=tiny_dataset)
    _, plain = ckpt.latest_checkpoint(tmp_path / "p")
    for k, v in state["nets"].items():
        assert torch.equal(v, plain["nets"][k]), k


def test_halving_interrupted_in_its_second_point_resumes(tmp_path, tiny_dataset, monkeypatch):
    from infogan.config import TrainConfig
    from infogan.train import Trainer

    cfg = tiny_config(steps=6, candidates=4, select_steps=2, select_later=[4], ckpt_every=1)
    run = tmp_path / "run"
    real_run = Trainer.run
    calls = []

    def stop_late(self, finish=True):
        calls.append((self.cfg.seed, self.cfg.steps))
        if self.cfg.steps == 4 and len([c for c in calls if c[1] == 4]) == 2:
            raise KeyboardInterrupt("stopped")  # the second survivor's second leg
        return real_run(self, finish)

    monkeypatch.setattr(Trainer, "run", stop_late)
    with pytest.raises(KeyboardInterrupt, match=f"--resume {run}"):
        train_selected(cfg, run, dataset=tiny_dataset)
    first = json.loads((run / "candidates" / "stages.json").read_text())["stages"]
    assert len(first) == 1 and not (run / "selection.json").exists()
    monkeypatch.setattr(Trainer, "run", real_run)
    calls.clear()
    monkeypatch.setattr(
        Trainer,
        "run",
        lambda self, finish=True: (calls.append(self.cfg.steps), real_run(self, finish))[1],
    )
    res = train_selected(
        TrainConfig.load(run / "config.json"), run, resume=True, dataset=tiny_dataset
    )
    # the first point is not redone, nor the first survivor's finished leg: only the
    # interrupted leg, then the winner
    assert calls == [4, 6] and res.step == 6
    sel = json.loads((run / "selection.json").read_text())
    assert sel["stages"][0] == first[0]


@pytest.mark.slow  # ~19 s of worker start-up; the other parallel tests stay in the default suite
def test_parallel_candidates_match_one_after_another(tmp_path, tiny_dataset):
    """Two worker processes train the candidates; the selection is the serial one's."""
    kw = dict(steps=6, candidates=3, select_steps=2, select_later=[4], ckpt_every=2)
    train_selected(tiny_config(**kw), tmp_path / "serial", dataset=tiny_dataset)
    res = train_selected(tiny_config(parallel=2, **kw), tmp_path / "par", dataset=tiny_dataset)
    a, b = (json.loads((tmp_path / d / "selection.json").read_text()) for d in ("serial", "par"))
    assert a["winner"] == b["winner"] and res.step == 6
    for sa, sb in zip(a["stages"], b["stages"], strict=True):
        assert sa["kept"] == sb["kept"]
        for ca, cb in zip(sa["candidates"], sb["candidates"], strict=True):
            assert ca["score"] == pytest.approx(cb["score"], abs=1e-4)


@pytest.mark.slow  # ~13 s of worker processes; CI runs the slow tests too
def test_a_failing_parallel_candidate_is_one_clear_error(tmp_path, tiny_dataset):
    from infogan.errors import TrainingError

    run = tmp_path / "run"
    (run / "candidates").mkdir(parents=True)
    (run / "candidates" / "1").write_text("not a directory")  # candidate 2 cannot write its run
    cfg = tiny_config(steps=4, candidates=2, select_steps=2, parallel=2)
    with pytest.raises(TrainingError, match=r"candidate 2/2 \(seed 1\): .*Error"):
        train_selected(cfg, run, dataset=tiny_dataset)
    assert not (run / "selection.json").exists()


def test_leg_devices():
    from infogan.parallel import leg_devices

    assert leg_devices("cpu", 3) == ["cpu"] * 3
    assert leg_devices("cuda:1", 2) == ["cuda:1", "cuda:1"]
    if not torch.cuda.is_available():
        assert leg_devices("auto", 2) == ["cpu", "cpu"]


@pytest.mark.slow  # ~14 s of worker processes; CI runs the slow tests too
def test_stopping_parallel_candidates_keeps_each_ones_checkpoint(tmp_path, tiny_dataset):
    """SIGTERM to the parent (as `kill` or a scheduler sends it) reaches every worker once;
    each stops at a step boundary with a checkpoint, and the parent says how to resume."""
    import os
    import signal
    import threading
    import time

    run = tmp_path / "run"
    cfg = tiny_config(steps=10**6, candidates=2, select_steps=10**5, parallel=2, ckpt_every=10**5)

    def stop_once_both_train():
        files = [run / "candidates" / str(i) / "metrics.jsonl" for i in (0, 1)]
        deadline = time.time() + 120
        while time.time() < deadline and not all(f.exists() and f.stat().st_size for f in files):
            time.sleep(0.1)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=stop_once_both_train, daemon=True).start()
    with pytest.raises(KeyboardInterrupt, match=f"--resume {run}"):
        train_selected(cfg, run, dataset=tiny_dataset)
    for i in (0, 1):
        kept = ckpt.list_checkpoints(run / "candidates" / str(i))
        assert kept and 0 < kept[-1][0] < 10**5  # written by the stop, not by the schedule
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the parent's handler is gone


def test_a_worker_that_dies_silently_is_reported_not_an_eof_error():
    """A worker killed before it could report (the parent's forwarded SIGTERM can land before
    the worker installs its handler) closes its pipe empty: poll() is true, recv() would raise
    EOFError. Under load this happened to the sibling of a failing candidate."""
    import multiprocessing as mp
    import signal
    from types import SimpleNamespace

    from infogan.parallel import _outcome

    for stopping, kind in ((True, "interrupted"), (False, "error")):
        recv, send = mp.get_context("spawn").Pipe(duplex=False)
        send.close()  # nothing sent
        killed = SimpleNamespace(exitcode=-signal.SIGTERM)
        assert _outcome(killed, recv, stopping)[0] == kind
        recv.close()
    recv, send = mp.get_context("spawn").Pipe(duplex=False)
    send.send(None)
    send.close()
    assert _outcome(SimpleNamespace(exitcode=0), recv, False) is None
    recv, send = mp.get_context("spawn").Pipe(duplex=False)
    send.close()
    assert _outcome(SimpleNamespace(exitcode=1), recv, True) == ("error", "exit code 1")


def test_a_stop_between_the_choice_and_the_continuation_resumes_the_winner(
    tmp_path, tiny_dataset, monkeypatch
):
    """selection.json is written, then the process stops before the winner goes on: config.json
    still has the run's seed, and a sweep passes its own; the resumed run must still be the
    winner's (it went on with seed 0, another run, without a word)."""
    from infogan import select
    from infogan.config import TrainConfig

    monkeypatch.setattr(select, "rank", lambda *args: [1, 0])
    cfg = tiny_config(steps=4, candidates=2, select_steps=2, ckpt_every=2)
    train_selected(cfg, tmp_path / "ref", dataset=tiny_dataset)
    real_run_one = select.run_one

    def stop(*args, **kw):
        raise KeyboardInterrupt("stopped")

    for name, again in (("cli", None), ("sweep", cfg)):
        run = tmp_path / name
        monkeypatch.setattr(select, "run_one", stop)
        with pytest.raises(KeyboardInterrupt):
            train_selected(cfg, run, dataset=tiny_dataset)
        winner = json.loads((run / "selection.json").read_text())["winner_seed"]
        assert winner != cfg.seed and TrainConfig.load(run / "config.json").seed == cfg.seed
        monkeypatch.setattr(select, "run_one", real_run_one)
        again = again or TrainConfig.load(run / "config.json")  # what --resume reads
        train_selected(again, run, resume=True, dataset=tiny_dataset)
        assert TrainConfig.load(run / "config.json").seed == cfg.seed  # the run's, as given
        _, a = ckpt.latest_checkpoint(tmp_path / "ref")
        _, b = ckpt.latest_checkpoint(run)
        assert a["step"] == b["step"] == 4
        for k, v in a["nets"].items():
            assert torch.equal(v, b["nets"][k]), (name, k)


def test_a_selected_runs_config_json_re_runs_the_same_run(tmp_path, tiny_dataset):
    """config.json is the recipe `--config` re-runs: it keeps the seed the selection started
    from (it held the winner's, whose --config started other candidates: another run)."""
    from infogan.config import TrainConfig

    cfg = tiny_config(steps=4, candidates=2, select_steps=2, ckpt_every=2, seed=3)
    train_selected(cfg, tmp_path / "a", dataset=tiny_dataset)
    saved = TrainConfig.load(tmp_path / "a" / "config.json")
    assert saved.seed == 3 and saved.candidates == 2
    assert json.loads((tmp_path / "a" / "selection.json").read_text())["winner_seed"] != 3
    train_selected(saved, tmp_path / "b", dataset=tiny_dataset)
    _, a = ckpt.latest_checkpoint(tmp_path / "a")
    _, b = ckpt.latest_checkpoint(tmp_path / "b")
    for k, v in a["nets"].items():
        assert torch.equal(v, b["nets"][k]), k
    # The winner's trainer itself writes the run's seed (selection.json's run_seed): a
    # process killed in the continuation (no finally runs) left the winner's seed for good.
    winner = json.loads((tmp_path / "a" / "selection.json").read_text())["winner_seed"]
    import dataclasses

    dataclasses.replace(saved, seed=winner).save(tmp_path / "a" / "config.json")  # as left
    # ... and a kill between selection.json and the removal of the winner's own checkpoints
    # left those for good: a resume removes them (the run holds that checkpoint).
    sel = json.loads((tmp_path / "a" / "selection.json").read_text())
    left = tmp_path / "a" / "candidates" / str(sel["winner"]) / "checkpoints"
    left.mkdir(parents=True, exist_ok=True)
    (left / "step_0000002.pt").write_bytes(b"x")
    again = dataclasses.replace(TrainConfig.load(tmp_path / "a" / "config.json"), steps=6)
    train_selected(again, tmp_path / "a", resume=True, dataset=tiny_dataset)
    assert TrainConfig.load(tmp_path / "a" / "config.json").seed == 3
    assert not left.exists()


def test_rows_at_a_legs_end_off_the_log_grid_do_not_shift_later_rows(tmp_path, tiny_dataset):
    """A selection point (or a first length) between two log_every multiples got a row of its
    own that started a new window: every later row of the selected (or extended) run
    averaged other steps than the plain run's. The weights were the same all along."""

    def rows(run):
        out = {}
        for line in (run / "metrics.jsonl").read_text().splitlines():
            r = json.loads(line)
            out[r["step"]] = {k: v for k, v in r.items() if k not in ("steps_per_s", "wall_s")}
        return out

    kw = dict(steps=7, ckpt_every=2, log_every=3)
    train_selected(
        tiny_config(candidates=2, select_steps=2, **kw), tmp_path / "sel", dataset=tiny_dataset
    )
    winner = json.loads((tmp_path / "sel" / "selection.json").read_text())["winner_seed"]
    train_selected(tiny_config(seed=winner, **kw), tmp_path / "plain", dataset=tiny_dataset)
    sel, plain = rows(tmp_path / "sel"), rows(tmp_path / "plain")
    assert sorted(plain) == [3, 6, 7] and 2 in sel  # the selection point's own row stays
    assert all(sel[s] == plain[s] for s in plain)
    # A plain run extended past its first length: the same rows as one trained to it directly
    # (the plain run above, same seed).
    ext = tmp_path / "ext"
    train_selected(tiny_config(seed=winner, **{**kw, "steps": 4}), ext, dataset=tiny_dataset)
    train_selected(tiny_config(seed=winner, **kw), ext, resume=True, dataset=tiny_dataset)
    assert sorted(rows(ext)) == [3, 4, 6, 7] and all(rows(ext)[s] == plain[s] for s in plain)


def test_the_noise_use_guard_ranks_a_generator_that_ignores_z_last():
    from infogan.select import rank

    def records():
        return [
            {"score": 0.9, "noise_use": 0.05},  # the collapse: Q's favourite
            {"score": 0.8, "noise_use": 0.5},
            {"score": 0.7, "noise_use": 0.3},
            {"score": 0.95, "noise_use": 0.1},
        ]

    recs = records()
    assert rank(recs, [], "score", min_noise_use=0.2) == [1, 2, 3, 0]
    assert [r["demoted"] for r in recs] == [True, False, False, True]
    recs = records()
    assert rank(recs, [], "score") == [3, 0, 1, 2]  # 0 = off
    assert not any("demoted" in r for r in recs)
    recs = records()  # every one below: the rule's order stands, nothing is marked
    assert rank(recs, [], "score", min_noise_use=0.6) == [3, 0, 1, 2]
    assert not any("demoted" in r for r in recs)
    # the consensus rule's order within each group (agreement first, then score)
    parts = [[torch.tensor([0, 0, 1, 1]).numpy()] for _ in range(4)]
    parts[1] = [torch.tensor([0, 1, 0, 1]).numpy()]  # disagrees with the rest
    recs = records()
    assert rank(recs, parts, "consensus", min_noise_use=0.2) == [2, 1, 3, 0]
    # a record without noise (noise size 0) is never demoted
    assert rank([{"score": 0.1}, {"score": 0.9, "noise_use": 0.0}], [], "score", None, 0.2) == [
        0,
        1,
    ]


def test_selection_does_not_keep_a_candidate_whose_generator_ignores_z(
    tmp_path, tiny_dataset, monkeypatch, capsys
):
    """The best-scoring candidate is made to look collapsed: the run goes on with another."""
    from infogan import select
    from infogan.model import InfoGAN

    cfg = tiny_config(steps=3, candidates=3, select_steps=2, ckpt_every=2)
    unguarded = replace(cfg, steps=2, select_min_noise_use=0)
    train_selected(unguarded, tmp_path / "plain", dataset=tiny_dataset)
    sel = json.loads((tmp_path / "plain" / "selection.json").read_text())
    favourite = sel["winner"]
    candidate_of = {}  # model -> its folder's number (candidates/<i>)
    real = select.load_run

    def load_run(path, **kw):
        model = real(path, **kw)
        candidate_of[id(model)] = int(path.name)
        return model

    real_use = InfoGAN.noise_use

    def noise_use(self, *a, **kw):
        if id(self) not in candidate_of:  # the continued run's own report
            return real_use(self, *a, **kw)
        return 0.01 if candidate_of[id(self)] == favourite else 0.5

    monkeypatch.setattr(select, "load_run", load_run)
    monkeypatch.setattr(InfoGAN, "noise_use", noise_use)
    train_selected(cfg, tmp_path / "run", dataset=tiny_dataset)
    sel2 = json.loads((tmp_path / "run" / "selection.json").read_text())
    assert sel2["winner"] != favourite
    # the same scores as without the guard: only the order changed
    assert [c["score"] for c in sel2["candidates"]] == [c["score"] for c in sel["candidates"]]
    demoted = [c for c in sel2["candidates"] if c["demoted"]]
    assert [c["candidate"] for c in demoted] == [favourite]
    assert "noise use below 0.2 ranked last" in sel2["rule"]
    out = capsys.readouterr().out
    assert f"candidate {demoted[0]['candidate'] + 1} ranked last: noise use below 0.2" in out
    assert "noise use 0.010" in out
    from infogan.runinfo import format_info, run_info

    info = run_info(tmp_path / "run")
    assert info["selection"]["stages"][0]["demoted"] == [favourite + 1]
    assert f"({favourite + 1}: ignore z, ranked last); noise use 0.01-0.50" in format_info(info)


def test_select_min_noise_use_is_checked_and_old_runs_keep_no_guard(tmp_path):
    from infogan.config import TrainConfig
    from infogan.errors import SpecError

    with pytest.raises(SpecError, match="select_min_noise_use"):
        TrainConfig(select_min_noise_use=-0.1).validate()
    with pytest.raises(SpecError, match="select_min_noise_use"):
        TrainConfig(select_min_noise_use=float("nan")).validate()
    with pytest.raises(SpecError, match="select_min_noise_use: must be between 0 .off. and 1"):
        TrainConfig(select_min_noise_use=1e9).validate()
    path = tmp_path / "config.json"
    TrainConfig().save(path)
    saved = json.loads(path.read_text())
    assert saved["select_min_noise_use"] == 0.2
    del saved["select_min_noise_use"]  # a run saved before the guard existed
    path.write_text(json.dumps(saved))
    assert TrainConfig.load(path).select_min_noise_use == 0.0
    # a config written by hand that leaves fields out takes today's defaults, the guard too
    assert TrainConfig.from_dict({"steps": 4, "candidates": 2}).select_min_noise_use == 0.2


def test_one_start_recipes_do_not_differ_by_their_selection_settings():
    from infogan.config import TrainConfig, recipe_differences

    one = TrainConfig(candidates=1, select_min_noise_use=0.0, select_rule="consensus")
    assert recipe_differences(one, TrainConfig(candidates=1)) == []
    many = TrainConfig(candidates=4, select_min_noise_use=0.0)
    assert recipe_differences(many, TrainConfig()) == ["select_min_noise_use 0.0 there, 0.2 here"]


def test_a_selection_where_every_generator_ignores_z_says_so(
    tmp_path, tiny_dataset, monkeypatch, capsys
):
    from infogan.model import InfoGAN

    monkeypatch.setattr(InfoGAN, "noise_use", lambda self, *a, **kw: 0.05)
    cfg = tiny_config(steps=2, candidates=2, select_steps=2, ckpt_every=2)
    train_selected(cfg, tmp_path / "run", dataset=tiny_dataset)
    out = capsys.readouterr().out
    assert "warning: at step 2 every start's generator ignores z (noise use 0.050-0.050" in out
    sel = json.loads((tmp_path / "run" / "selection.json").read_text())
    assert not any(c.get("demoted") for c in sel["candidates"])
    best = max(sel["candidates"], key=lambda c: c["score"])
    assert sel["winner"] == best["candidate"]  # the rule's choice stands
    from infogan.runinfo import format_info, run_info

    info = run_info(tmp_path / "run")
    assert info["selection"]["stages"][0]["noise_use"] == {"1": 0.05, "2": 0.05}
    assert "noise use 0.05-0.05 (every start ignores z)" in format_info(info)


def test_a_sweep_started_before_the_guard_goes_on_with_the_same_command(tmp_path, tiny_npz, capsys):
    from conftest import TINY_FLAGS

    from infogan.cli import main

    flags = [f for f in TINY_FLAGS if f not in ("--candidates", "1")]
    out = tmp_path / "sw"
    argv = ["sweep", "--data", tiny_npz, "--seeds", "0", "--out", str(out), *flags]
    argv += ["--codes", "cat:4,cont:2", "--device", "cpu", "--candidates", "2"]
    assert main([*argv, "--select-steps", "2", "--steps", "2"]) == 0
    config = out / "seed0" / "config.json"
    saved = json.loads(config.read_text())
    del saved["select_min_noise_use"]  # as a sweep before the guard wrote it
    config.write_text(json.dumps(saved))
    capsys.readouterr()
    assert main([*argv, "--select-steps", "2", "--steps", "3"]) == 0
    assert "seed0's start was chosen before the noise-use guard existed" in capsys.readouterr().out
    assert json.loads(config.read_text())["select_min_noise_use"] == 0.2


def test_a_resume_with_fewer_steps_than_a_candidate_reached_is_refused(
    tmp_path, tiny_dataset, monkeypatch
):
    """Candidate 1 finished its 6 steps, candidate 2 stopped at 2; a resume with --steps 4 once
    scored the first at step 6 against the second at 4, kept that choice, deleted the loser's
    checkpoints, and then said "nothing was changed"."""
    from infogan.config import TrainConfig
    from infogan.errors import SpecError
    from infogan.train import Trainer

    cfg = tiny_config(steps=8, candidates=2, select_steps=6, ckpt_every=2)
    run = tmp_path / "run"
    real = Trainer._stop_agreed
    monkeypatch.setattr(
        Trainer, "_stop_agreed", lambda self, asked: self.cfg.seed == 1 and self.step_count == 2
    )
    with pytest.raises(KeyboardInterrupt):
        train_selected(cfg, run, dataset=tiny_dataset)
    monkeypatch.setattr(Trainer, "_stop_agreed", real)
    before = sorted(str(p.relative_to(run)) for p in run.rglob("*"))
    shorter = TrainConfig.load(run / "config.json")
    shorter.steps = 4
    with pytest.raises(SpecError, match=r"candidate 1 .* at step 6, .*--steps 6 or more"):
        train_selected(shorter, run, resume=True, dataset=tiny_dataset)
    assert sorted(str(p.relative_to(run)) for p in run.rglob("*")) == before
    # with enough steps the selection goes on as it would have
    res = train_selected(
        TrainConfig.load(run / "config.json"), run, resume=True, dataset=tiny_dataset
    )
    assert res.step == 8
    stages = json.loads((run / "selection.json").read_text())["stages"]
    assert [s["step"] for s in stages] == [6]


def test_the_last_leg_of_a_parallel_point_gets_a_workers_threads(monkeypatch):
    """With --parallel 2, a point's legs train in workers of half the threads each; a resume
    with one leg left trained it here with all of them, and so not as the uninterrupted run
    did (its losses differed from the first step on)."""
    from infogan import parallel
    from infogan.parallel import Leg, run_legs

    seen = []
    monkeypatch.setattr(parallel, "run_one", lambda *a, **k: seen.append(torch.get_num_threads()))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        leg = Leg(tiny_config(), Path("unused"), resume=True, label="candidate 2/2")
        run_legs([leg], 2, "cpu", None, share=2)
        run_legs([leg], 1, "cpu", None, share=2)  # one at a time: every thread, as before
        assert seen == [1, 2] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
