"""A run killed with SIGKILL (or stopped with SIGINT) resumes losing at most one interval."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import TINY_FLAGS

from infogan import checkpoint as ckpt

ARGS = [*TINY_FLAGS, "--codes", "cat:4,cont:1", "--log-every", "1", "--sample-every", "1000"]


def _start(data, run_dir, steps, ckpt_every, resume=False):
    cmd = [
        sys.executable,
        "-m",
        "infogan.cli",
        "train",
        "--steps",
        str(steps),
        "--ckpt-every",
        str(ckpt_every),
    ]
    cmd += ["--resume", str(run_dir)] if resume else ["--data", data, "--out", str(run_dir), *ARGS]
    if resume:
        cmd += ["--log-every", "1", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def terminal_signals():  # as from a terminal, also when the tests run under nohup
        signal.signal(signal.SIGHUP, signal.SIG_DFL)

    return subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=terminal_signals,
    )


def _wait_for_checkpoints(run_dir, n, proc, timeout=60):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if len(ckpt.list_checkpoints(run_dir)) >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("no checkpoints appeared")


@pytest.mark.slow  # 11 s of subprocesses; CI runs the slow tests too
def test_sigkill_then_resume(tmp_path, tiny_npz):
    run = tmp_path / "run"
    # ckpt every step: the kill lands in or between checkpoint writes, the risky moments
    proc = _start(tiny_npz, run, steps=100_000, ckpt_every=1)
    _wait_for_checkpoints(run, 3, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # every checkpoint file left behind loads (temp files may remain; they are not checkpoints)
    found = ckpt.list_checkpoints(run)
    assert found
    for _, path in found:
        ckpt.load_checkpoint(path)
    last = found[-1][0]
    target = last + 5
    proc = _start(tiny_npz, run, steps=target, ckpt_every=1000, resume=True)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    _, state = ckpt.latest_checkpoint(run)
    assert state["step"] == target
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in rows]
    assert steps == sorted(set(steps)), "metrics rows duplicated or out of order after resume"
    assert steps[-1] == target
    assert not list((run / "checkpoints").glob("*.tmp")), "stale temp files not cleaned"
    assert (run / "report.json").exists()


@pytest.mark.parametrize(
    "sig",
    # ~6 s of subprocess each; the default suite stops runs in-process (test_checkpoint,
    # test_cli), these the real signals: CI runs the slow tests too
    [
        pytest.param("SIGINT", marks=pytest.mark.slow),
        pytest.param("SIGHUP", marks=pytest.mark.slow),
    ],
)
def test_sigint_saves_a_checkpoint_at_the_current_step(tmp_path, tiny_npz, sig):
    """Ctrl-C, or the terminal closing (SIGHUP: it killed the run, losing up to ckpt_every
    steps), saves a checkpoint of the step reached."""
    run = tmp_path / "run"
    proc = _start(tiny_npz, run, steps=100_000, ckpt_every=100_000)
    t0 = time.time()
    while not (run / "metrics.jsonl").exists() or not (run / "metrics.jsonl").read_text():
        assert time.time() - t0 < 60 and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(getattr(signal, sig))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "--resume" in err
    _, state = ckpt.latest_checkpoint(run)
    assert state["step"] >= 1
    assert torch.is_tensor(state["torch_rng"])
