"""TensorBoard logging (--tensorboard): the events say what metrics.jsonl says, resumes drop
what a crashed process logged past its checkpoint, selection hands on the winner's curves."""

from __future__ import annotations

import io
import json
import sys

import pytest
from conftest import TINY_FLAGS, tiny_config
from PIL import Image

from infogan.train import Trainer

event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator",
    reason="the tensorboard package (in the dev extra) is needed to read the events",
)


def _board(run_dir):
    acc = event_accumulator.EventAccumulator(
        str(run_dir / "tensorboard"), size_guidance={"scalars": 0, "images": 0}
    )
    acc.Reload()
    return acc


def _steps(acc, tag):
    return [e.step for e in acc.Scalars(tag)]


def _rows(run_dir):
    return [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_events_hold_the_metrics_rows_and_sample_grids(tmp_path, tiny_dataset):
    run = tmp_path / "run"
    cfg = tiny_config(steps=4, log_every=1, sample_every=2, tensorboard=True)
    Trainer(cfg, run, dataset=tiny_dataset).run(finish=False)
    acc, rows = _board(run), _rows(run)
    tags = set(acc.Tags()["scalars"])
    assert {"loss/d", "loss/g", "mi/c1", "mi/c2", "mi/c3", "speed/steps_per_s"} <= tags
    for key, tag in [("d_loss", "loss/d"), ("g_loss", "loss/g"), ("mi/c2", "mi/c2")]:
        assert _steps(acc, tag) == [r["step"] for r in rows] == [1, 2, 3, 4]
        assert [e.value for e in acc.Scalars(tag)] == pytest.approx([r[key] for r in rows])
    images = acc.Images("samples")
    assert [e.step for e in images] == [2, 4]
    png = Image.open(run / "samples" / "step_0000004.png")
    assert (images[1].width, images[1].height) == png.size
    shown = Image.open(io.BytesIO(images[1].encoded_image_string))
    assert shown.convert(png.mode).tobytes() == png.tobytes()


def test_a_resume_drops_what_was_logged_past_the_checkpoint(tmp_path, tiny_dataset):
    """A crash after step 4's rows but before its checkpoint: the resumed run goes on from
    step 2 and logs every other step; the stale rows of steps 3 and 4 must not stay beside it."""
    run = tmp_path / "run"
    cfg = tiny_config(steps=4, log_every=1, ckpt_every=2, sample_every=100, tensorboard=True)
    Trainer(cfg, run, dataset=tiny_dataset).run(finish=False)
    (run / "checkpoints" / "step_0000004.pt").unlink()
    resumed = tiny_config(steps=4, log_every=2, ckpt_every=2, sample_every=100, tensorboard=True)
    Trainer(resumed, run, dataset=tiny_dataset, resume=True).run(finish=False)
    acc, rows = _board(run), _rows(run)
    assert _steps(acc, "loss/d") == [r["step"] for r in rows] == [1, 2, 4]
    assert [e.value for e in acc.Scalars("loss/d")] == pytest.approx([r["d_loss"] for r in rows])


def test_selection_hands_the_winners_curves_to_the_run(tmp_path, tiny_dataset):
    from infogan.select import train_selected

    run = tmp_path / "run"
    cfg = tiny_config(steps=4, candidates=2, select_steps=2, log_every=1, tensorboard=True)
    train_selected(cfg, run, dataset=tiny_dataset)
    assert _steps(_board(run), "loss/d") == [1, 2, 3, 4]
    winner = json.loads((run / "selection.json").read_text())["winner"]
    for i in (0, 1):
        assert _steps(_board(run / "candidates" / str(i)), "loss/d") == [1, 2]
    win = _board(run / "candidates" / str(winner)).Scalars("loss/d")
    assert [e.value for e in _board(run).Scalars("loss/d")][:2] == [e.value for e in win]


def test_cli_flag_and_a_clear_error_without_the_package(tmp_path, tiny_npz, monkeypatch, capsys):
    from infogan.cli import main

    argv = ["train", "--data", tiny_npz, *TINY_FLAGS, "--steps", "2", "--log-every", "1"]
    assert main([*argv, "--tensorboard", "--out", str(tmp_path / "a")]) == 0
    assert _steps(_board(tmp_path / "a"), "loss/d") == [1, 2]
    assert json.loads((tmp_path / "a" / "config.json").read_text())["tensorboard"] is True
    assert main([*argv, "--out", str(tmp_path / "b")]) == 0
    assert not (tmp_path / "b" / "tensorboard").exists()  # off unless asked for

    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if it were not installed
    capsys.readouterr()
    assert main([*argv, "--tensorboard", "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: tensorboard: logging needs the tensorboard package")
    assert "\n" not in err and not (tmp_path / "c").exists()


def test_a_file_in_the_way_is_refused_before_anything_is_written(tmp_path, tiny_npz, capsys):
    from infogan.cli import main

    for cands in ("1", "2"):
        run = tmp_path / f"run{cands}"
        run.mkdir()
        (run / "tensorboard").write_text("x")
        argv = ["train", "--data", tiny_npz, *TINY_FLAGS, "--steps", "2", "--tensorboard"]
        argv += ["--candidates", cands, "--select-steps", "1", "--out", str(run)]
        capsys.readouterr()
        assert main(argv) == 2
        assert "tensorboard is a file, where the events would go" in capsys.readouterr().err
        assert sorted(p.name for p in run.iterdir()) == ["tensorboard"]
