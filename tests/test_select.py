"""Candidate selection: the unsupervised score and the train-select-continue flow."""

import json
import math

import pytest
import torch
from conftest import tiny_config

from infogan import checkpoint as ckpt
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
    best = max(sel["candidates"], key=lambda c: c["score"])
    assert sel["winner"] == best["candidate"] and sel["winner_seed"] == best["seed"]
    assert res.step == 4
    _, state = ckpt.latest_checkpoint(run)
    assert state["step"] == 4 and state["config"]["seed"] == sel["winner_seed"]
    assert not list((run / "candidates").glob("*/checkpoints/*"))  # freed once selection is done
    steps = [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 4
    # a finished selection is not redone on resume
    res2 = train_selected(
        tiny_config(steps=6, candidates=2, select_steps=2, ckpt_every=2, seed=sel["winner_seed"]),
        run,
        dataset=tiny_dataset,
    )
    assert res2.step == 6
    assert json.loads((run / "selection.json").read_text()) == sel


def test_selected_run_equals_plain_run_of_winner_seed(tmp_path, tiny_dataset):
    """The continued winner is exactly the plain run of the winner's seed (training randomness is
    drawn from (seed, step) counters). scripts/seed_study.py simulates selection rules from plain
    runs on this ground."""
    cfg = tiny_config(steps=4, candidates=2, select_steps=2, ckpt_every=2)
    train_selected(cfg, tmp_path / "sel", dataset=tiny_dataset)
    winner = json.loads((tmp_path / "sel" / "selection.json").read_text())["winner_seed"]
    plain = tiny_config(steps=4, seed=winner, ckpt_every=2)
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
