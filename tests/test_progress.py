"""Progress output: a live bar on a terminal, plain lines when standard error is a file."""

from __future__ import annotations

import re

from conftest import tiny_config

from infogan import progress
from infogan.progress import Progress
from infogan.train import Trainer

LINE = re.compile(r"^train: step (\d+)/(\d+) \(\d+%\), [\d.]+ steps/s, \d+:\d\d elapsed")


def test_a_log_file_gets_whole_lines_not_carriage_returns(capsys, monkeypatch):
    monkeypatch.setattr(progress, "PLAIN_EVERY_S", 0.0)
    bar = Progress(total=4, initial=0, enabled=True)  # pytest's stderr is not a terminal
    for i in range(4):
        bar.update()
        bar.note(f"D={i}")
    bar.close()  # the last step was just shown: no second line for it
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.splitlines()
    assert [LINE.match(x).group(1) for x in lines] == ["1", "2", "3", "4"]
    assert lines[0].endswith("left  D=0") and lines[-1].endswith("D=3")


def test_lines_are_spaced_in_time_and_the_end_is_always_shown(capsys):
    bar = Progress(total=10, initial=3, enabled=True)  # a resume from step 3
    for _ in range(7):
        bar.update()
        bar.note("x")  # within PLAIN_EVERY_S of the start: nothing yet
    assert capsys.readouterr().err == ""
    bar.close()
    (line,) = capsys.readouterr().err.splitlines()
    assert LINE.match(line).groups() == ("10", "10")


def test_disabled_shows_nothing(capsys, monkeypatch):
    monkeypatch.setattr(progress, "PLAIN_EVERY_S", 0.0)
    bar = Progress(total=2, initial=0, enabled=False)
    bar.update()
    bar.note("x")
    bar.close()
    assert capsys.readouterr().err == ""


def test_training_into_a_log_writes_readable_progress(tmp_path, tiny_dataset, capsys):
    cfg = tiny_config(steps=4, log_every=2, progress=True)
    Trainer(cfg, tmp_path / "run", dataset=tiny_dataset).run(finish=False)
    err = capsys.readouterr().err
    assert "\r" not in err
    (line,) = [x for x in err.splitlines() if x.startswith("train:")]
    assert LINE.match(line).groups() == ("4", "4") and "L_I: c1=" in line
