"""infogan info: a run's recipe, progress, selection and scores, read from its files."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import TINY_FLAGS, tiny_config

from infogan.cli import main
from infogan.runinfo import format_info, nearest_preset, run_info
from infogan.runlock import lock_holder, run_lock
from infogan.train import Trainer


def test_a_finished_selected_run(tmp_path, tiny_npz, capsys):
    run = tmp_path / "run"
    flags = [f for f in TINY_FLAGS if f not in ("--candidates", "1")]
    argv = ["train", "--preset", "paper", "--data", tiny_npz, *flags, "--steps", "4"]
    argv += ["--candidates", "2", "--select-steps", "2", "--eval-data", tiny_npz]
    assert main([*argv, "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["info", str(run), "--json", str(tmp_path / "i.json")]) == 0
    out = capsys.readouterr().out
    assert "recipe:    paper + batch=8, candidates=2, select_steps=2, model.noise_dim=8" in out
    assert "model.width=0.125" in out and "step 4 of 4" in out and "finished" in out
    (info,) = json.loads((tmp_path / "i.json").read_text())
    sel = json.loads((run / "selection.json").read_text())
    assert info["selection"]["winner_seed"] == sel["winner_seed"]
    assert info["selection"]["stages"][0]["kept"] == [k + 1 for k in sel["stages"][0]["kept"]]
    rep = json.loads((run / "report.json").read_text())
    (name,) = info["report"]["clustering"]  # the one evaluation set, scored at the end
    assert (
        info["report"]["clustering"][name]["c1"]
        == rep["evaluations"][name]["clustering"]["c1"]["accuracy"]
    )
    assert info["last_metrics"]["step"] == 4 and info["state"] == "finished"
    assert info["report"]["noise_use"] == rep["noise_use"]["ratio"]
    assert f"noise use {rep['noise_use']['ratio']:.3f}" in out
    assert main(["info", str(run), "--json", str(tmp_path / "i.json")]) == 2  # no replacing


def test_a_stopped_run_and_one_in_training(tmp_path, tiny_dataset):
    run = tmp_path / "run"
    Trainer(tiny_config(steps=3), run, dataset=tiny_dataset).run(finish=False)
    cfg = json.loads((run / "config.json").read_text())
    cfg["steps"] = 6  # as a run stopped at step 3 of 6 leaves it
    (run / "config.json").write_text(json.dumps(cfg))
    info = run_info(run)
    assert info["state"] == "stopped" and info["steps"]["checkpoints"][-1] == 3
    assert "last checkpoint at step 3 of 6 (checkpoints: 3)" in format_info(info)
    info["last_metrics"]["wall_s"] = 5000.4  # the training time so far is shown
    assert "steps/s; 1 h 23 min of training" in format_info(info)
    info["last_metrics"]["wall_s"] = 754.2
    assert "steps/s; 12 min 34 s of training" in format_info(info)
    # Stopped before its first checkpoint: said so, not "at step 0" as if one were there.
    for f in (run / "checkpoints").iterdir():
        f.unlink()
    assert "progress:  no checkpoint yet, of 6 steps" in format_info(run_info(run))
    with run_lock(run):  # this process trains there
        assert run_info(run)["state"] == "training"
    assert lock_holder(run) is None
    # Another process holding the lock, as a trainer does, with its pid in the file.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            f"fd = os.open({str(run / '.lock')!r}, os.O_RDWR)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX); os.ftruncate(fd, 0); os.write(fd, b'4242')\n"
            "print('locked', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert lock_holder(run) == 4242 and run_info(run)["pid"] == 4242
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert lock_holder(run) is None


def test_nearest_preset_names_the_differences():
    from infogan.config import preset

    cfg = preset("default")
    assert nearest_preset(cfg) == ("default", {})
    cfg.lr_d, cfg.seed, cfg.steps = 1e-4, 7, 99  # seed and length are not the recipe
    assert nearest_preset(cfg) == ("default", {"lr_d": 1e-4})
    assert nearest_preset(preset("mnist")) == ("paper", {})  # an alias counts once


def test_not_a_run_is_one_line(tmp_path, capsys):
    assert main(["info", str(tmp_path)]) == 2
    assert "is not a run directory (no config.json)" in capsys.readouterr().err
    assert main(["info", str(tmp_path / "typo")]) == 2
    captured = capsys.readouterr()
    assert f"info: {tmp_path / 'typo'} does not exist" in captured.err
    assert captured.out == ""  # no empty line after the error


def test_damaged_files_are_named_not_crashed_on(tmp_path, tiny_dataset, capsys):
    """Files of the wrong shape inside a run are reported in a line; a run whose config cannot
    be read is named, and the other runs are still shown."""
    run = tmp_path / "run"
    Trainer(tiny_config(steps=3, candidates=2, select_steps=2), run, dataset=tiny_dataset).run()
    (run / "report.json").write_text(json.dumps({"evaluations": [1], "mi_bound": [1, 2]}))
    (run / "selection.json").write_text(json.dumps({"stages": [{"candidates": [1, 2]}]}))
    info = run_info(run)
    assert (
        "report.json has evaluations that are not one object per dataset" in info["report"]["error"]
    )
    other = {"codes": "cont:3", "mi_bound": {"c2": {"bound": 0.5}}}  # another run's report
    (run / "report.json").write_text(json.dumps(other))
    assert "is of codes 'cont:3', not this run's 'cat:4,cont:2'" in run_info(run)["report"]["error"]
    (run / "report.json").write_text(json.dumps({"evaluations": [1], "mi_bound": [1, 2]}))
    assert "holds something else than a selection record" in info["selection"]["error"]
    (run / "report.json").write_text("{")
    assert run_info(run)["state"] == "trained"  # at its last step, but no readable report
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text(json.dumps({"steps": "40"}))
    ckpt = sorted((run / "checkpoints").glob("*.pt"))[-1]
    capsys.readouterr()
    assert main(["info", str(bad), str(ckpt)]) == 2  # a checkpoint file stands for its run
    out, err = capsys.readouterr()
    assert f"error: info: {bad}: config: field steps" in err and f"run:       {run}" in out
    assert "else than a selection record" in out and "no readable report.json" in out
    with_json = ["info", str(run), "--json", str(run / "report.json"), "--force"]
    assert main(with_json) == 2  # never over a run's own files
    assert (run / "report.json").read_text() == "{"


def test_the_report_lock_makes_a_second_writer_wait(tmp_path):
    """Two writers of one run's report (the end of training, evaluate) read, merged and wrote
    report.json at once: one evaluation was lost, or older figures drawn over newer ones."""
    import subprocess
    import sys
    import time

    from infogan.runlock import report_lock

    code = (
        "import sys, time; from infogan.runlock import report_lock\n"
        f"with report_lock({str(tmp_path)!r}):\n"
        "    print('held', flush=True); time.sleep(1.5)\n"
    )
    other = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "held"
        t0 = time.monotonic()
        with report_lock(tmp_path), report_lock(tmp_path):  # re-entrant in one process
            waited = time.monotonic() - t0
        assert waited > 0.8, waited
    finally:
        other.wait(timeout=30)
    assert list(tmp_path.iterdir()) == []  # no file added to the run


def test_the_report_lock_orders_threads_and_is_left_clean(tmp_path):
    """A second thread skipped the flock (the re-entrancy was per process), and whichever
    left last could leave the lock off for the rest of the process."""
    import threading
    import time

    from infogan import runlock

    order: list[str] = []
    inside = threading.Event()

    def first():
        with runlock.report_lock(tmp_path):
            inside.set()
            time.sleep(0.5)
            order.append("first out")

    def second():
        inside.wait()
        with runlock.report_lock(tmp_path):
            order.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert order == ["first out", "second in"]
    assert runlock._REPORTING[tmp_path.resolve()][1] == [0]  # nothing held any more
