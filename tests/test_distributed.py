"""Data-parallel training (``ddp``): processes over gloo on the CPU compute the same run as one."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as tmp
from conftest import TINY_FLAGS, tiny_config
from torch import nn

from infogan import checkpoint as ckpt
from infogan.distributed import Group, ddp_devices, shard, sync_batch_norm
from infogan.errors import SpecError
from infogan.model import load_run
from infogan.train import run_one


def test_shard_cuts_every_input_into_the_rows_of_one_batch():
    batch = 8
    inputs = {
        "x": torch.arange(8 * 3).view(8, 3),
        "shift": torch.arange(24 * 2).view(24, 2),  # real, fake, G-step fake: 8 rows each
        "k": torch.arange(8),
        "scalar": torch.tensor(5.0),
    }
    parts = [shard(inputs, batch, Group(r, 4)) for r in range(4)]
    assert torch.equal(torch.cat([p["x"] for p in parts]), inputs["x"])
    assert torch.equal(torch.cat([p["k"] for p in parts]), inputs["k"])
    # each process's shifts: its rows of each third, in the order real, fake, G-step fake
    for r, p in enumerate(parts):
        want = inputs["shift"].view(3, 8, 2)[:, 2 * r : 2 * r + 2].reshape(6, 2)
        assert torch.equal(p["shift"], want)
    assert all(p["scalar"] is inputs["scalar"] for p in parts)


def _bn_worker(rank, world, store, out_dir):
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    torch.manual_seed(0)
    x = torch.randn(8, 3, 5, 5) * 3 + 1
    w = torch.randn(8, 3, 5, 5)  # a fixed projection: loss = sum(w * y)
    x1, w1 = torch.randn(8, 6) * 2 - 1, torch.randn(8, 6)
    bn2 = sync_batch_norm(nn.Sequential(nn.BatchNorm2d(3)))[0]
    bn1 = sync_batch_norm(nn.BatchNorm1d(6))
    with torch.no_grad():
        bn2.weight.uniform_(0.5, 1.5)
        bn2.bias.uniform_(-1, 1)
    rows = slice(4 * rank, 4 * rank + 4)
    xs, x1s = x[rows].clone().requires_grad_(True), x1[rows].clone().requires_grad_(True)
    y2, y1 = bn2(xs), bn1(x1s)
    ((w[rows] * y2).sum() + (w1[rows] * y1).sum()).backward()
    torch.save(
        {
            "y2": y2.detach(),
            "y1": y1.detach(),
            "gx": xs.grad,
            "gx1": x1s.grad,
            "gw": bn2.weight.grad,
            "gb": bn2.bias.grad,
            "rm": bn2.running_mean,
            "rv": bn2.running_var,
            "rv1": bn1.running_var,
            "keys": sorted(bn2.state_dict()),
        },
        os.path.join(out_dir, f"{rank}.pt"),
    )
    dist.barrier()  # torch 2.5's destroy hung in the rank that came second
    dist.destroy_process_group()


def test_sync_batch_norm_equals_batch_norm_of_the_whole_batch(tmp_path):
    tmp.spawn(_bn_worker, args=(2, str(tmp_path / "store"), str(tmp_path)), nprocs=2)
    got = [torch.load(tmp_path / f"{r}.pt", weights_only=True) for r in range(2)]
    torch.manual_seed(0)
    x = (torch.randn(8, 3, 5, 5) * 3 + 1).requires_grad_(True)
    w = torch.randn(8, 3, 5, 5)
    x1, w1 = (torch.randn(8, 6) * 2 - 1).requires_grad_(True), torch.randn(8, 6)
    bn2, bn1 = nn.BatchNorm2d(3), nn.BatchNorm1d(6)
    with torch.no_grad():
        bn2.weight.uniform_(0.5, 1.5)
        bn2.bias.uniform_(-1, 1)
    y2, y1 = bn2(x), bn1(x1)
    ((w * y2).sum() + (w1 * y1).sum()).backward()
    close = dict(atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(torch.cat([g["y2"] for g in got]), y2.detach(), **close)
    torch.testing.assert_close(torch.cat([g["y1"] for g in got]), y1.detach(), **close)
    # the input's gradient reaches each process's rows as it reaches the rows of one batch
    torch.testing.assert_close(torch.cat([g["gx"] for g in got]), x.grad, **close)
    torch.testing.assert_close(torch.cat([g["gx1"] for g in got]), x1.grad, **close)
    # parameters: the processes' gradients sum to the whole batch's (ddp then averages the
    # gradients of per-share *mean* losses, which is the same thing)
    torch.testing.assert_close(got[0]["gw"] + got[1]["gw"], bn2.weight.grad, **close)
    torch.testing.assert_close(got[0]["gb"] + got[1]["gb"], bn2.bias.grad, **close)
    for g in got:  # running statistics of the whole batch, unbiased variance as torch keeps it
        torch.testing.assert_close(g["rm"], bn2.running_mean, **close)
        torch.testing.assert_close(g["rv"], bn2.running_var, **close)
        torch.testing.assert_close(g["rv1"], bn1.running_var, **close)
        assert g["keys"] == sorted(bn2.state_dict())  # checkpoints stay ordinary ones


def _rows(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow  # ~18 s of two gloo processes; CI runs the slow tests too
def test_two_processes_train_the_same_run_as_one(tmp_path, tiny_dataset):
    """Every loss term of the step, each with its own gradient routing: translation, instance
    noise, R1 (a double backward through the synchronised batch norm), the real-image
    information term (a marginal over the whole batch) and InfoGAN-CR's classifier. The
    data-parallel run's checkpoint then resumes in one process, as any checkpoint does."""
    kw = dict(
        steps=8,
        log_every=1,
        ckpt_every=4,
        d_translate=2,
        instance_noise=0.1,
        instance_noise_end=8,  # its schedule would otherwise follow each call's steps
        r1_gamma=1.0,
        lambda_real=0.5,
        cr_weight=0.5,
        cr_start=0,
    )
    one, two = tmp_path / "one", tmp_path / "two"
    run_one(tiny_config(**kw), one, dataset=tiny_dataset, finish=False)
    run_one(tiny_config(ddp=2, **{**kw, "steps": 4}), two, dataset=tiny_dataset, finish=False)
    assert json.loads((two / "config.json").read_text())["ddp"] == 2
    run_one(tiny_config(**kw), two, dataset=tiny_dataset, resume=True, finish=False)
    a, b = _rows(one), _rows(two)
    assert [r["step"] for r in b] == list(range(1, 9))
    keys = ["d_loss", "g_loss", "r1", "real_mi", "cr_loss", "mi/c1", "mi/c2", "mi/c3"]
    for ra, rb in zip(a, b, strict=True):
        # Steps 1-2 pin the processes to one process: losses read after D's first update and
        # after a whole first step (gradients not averaged, or batch norm per process, are
        # off by 1e-2 here). Later steps drift apart by up to ~1e-3 however right the code:
        # Adam's first steps move a weight whose gradient is about its eps (1e-8) by an amount
        # that float noise in that gradient decides (a different thread count does the same).
        tol = 1e-4 if ra["step"] <= 2 else 2e-2
        for k in keys:
            assert ra[k] == pytest.approx(rb[k], abs=tol), (ra["step"], k)
    # The resumed networks compute what the one-process run's do, to the same drift.
    ma, mb = load_run(one, device="cpu"), load_run(two, device="cpu")
    torch.testing.assert_close(ma.generate(16, seed=3), mb.generate(16, seed=3), atol=5e-2, rtol=0)


def test_ddp_refuses_what_it_cannot_do(monkeypatch):
    with pytest.raises(SpecError, match="ddp: must divide the batch"):
        tiny_config(ddp=3).validate()
    with pytest.raises(SpecError, match="ddp: must be 1 when parallel"):
        tiny_config(ddp=2, parallel=2).validate()
    with pytest.raises(SpecError, match="ddp: must be 1 with compile"):
        tiny_config(ddp=2, compile=True).validate()
    with pytest.raises(SpecError, match="ddp: must be 1 with graph 'on'"):
        tiny_config(ddp=2, graph="on").validate()
    assert ddp_devices("cpu", 3) == ["cpu"] * 3
    with pytest.raises(SpecError, match="a GPU of its own"):
        ddp_devices("cuda:1", 2)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert ddp_devices("auto", 2) == ["cuda:0", "cuda:1"]
    with pytest.raises(SpecError, match="4 processes need 4 GPUs; this machine has 2"):
        ddp_devices("cuda", 4)


def _start_ddp_run(run, data):
    cmd = [sys.executable, "-m", "infogan.cli", "train", "--data", data, "--out", str(run)]
    cmd += [*TINY_FLAGS, "--ddp", "2", "--device", "cpu", "--steps", "100000", "--log-every", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    t0 = time.time()
    while not (run / "metrics.jsonl").exists() or not (run / "metrics.jsonl").read_text():
        assert time.time() - t0 < 120 and proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    return proc


@pytest.mark.slow
def test_ctrl_c_stops_every_process_at_one_step_with_a_checkpoint(tmp_path, tiny_npz):
    run = tmp_path / "run"
    proc = _start_ddp_run(run, tiny_npz)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "--resume" in err
    _, state = ckpt.latest_checkpoint(run)
    assert state["step"] >= 1 and state["step"] % 10 == 0  # where the processes agreed to stop


def test_missing_gpus_are_refused_before_the_run_directory_is_written(
    tmp_path, tiny_npz, monkeypatch, capsys
):
    from infogan.cli import main

    args = ["train", "--data", tiny_npz, *TINY_FLAGS, "--candidates", "2", "--steps", "4"]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main([*args, "--device", "cuda", "--out", str(tmp_path / "a")]) == 2
    assert "no usable CUDA GPU" in capsys.readouterr().err
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert main([*args, "--ddp", "2", "--out", str(tmp_path / "b")]) == 2
    assert "2 processes need 2 GPUs; this machine has 1" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def _trainer_worker(rank, world, store, cfg, run_dir, dataset):
    from infogan.train import Trainer

    # gloo moves CUDA tensors too, so two processes can share one GPU here (NCCL would refuse)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    Trainer(cfg, run_dir, dataset=dataset, group=Group(rank, world)).run(finish=False)
    dist.destroy_process_group()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_two_processes_on_a_gpu_train_the_same_run_as_one(tmp_path, tiny_dataset):
    """The data-parallel step on CUDA tensors (synchronised batch norm, averaged gradients),
    both processes on GPU 0: what a machine with several GPUs runs, short of NCCL."""
    kw = dict(steps=3, log_every=1, device="cuda:0", deterministic=True, d_translate=2)
    one, two = tmp_path / "one", tmp_path / "two"
    run_one(tiny_config(**kw), one, dataset=tiny_dataset, finish=False)
    args = (2, str(tmp_path / "store"), tiny_config(ddp=2, **kw), two, tiny_dataset)
    tmp.spawn(_trainer_worker, args=args, nprocs=2)
    for ra, rb in zip(_rows(one)[:2], _rows(two)[:2], strict=True):
        for k in ["d_loss", "g_loss", "mi/c1", "mi/c2"]:
            assert ra[k] == pytest.approx(rb[k], abs=1e-4), (ra["step"], k)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_workers_stop_with_a_checkpoint_when_the_parent_is_killed(tmp_path, tiny_npz):
    """SIGKILL of the launching process (no chance to forward anything): the processes get a
    SIGTERM from the kernel (Linux), agree on a step, write a checkpoint and exit."""
    run = tmp_path / "run"
    proc = _start_ddp_run(run, tiny_npz)
    pids = [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
    proc.kill()
    proc.communicate(timeout=60)
    t0 = time.time()
    while any(_running(p) for p in pids):
        assert time.time() - t0 < 60, "workers outlived their parent"
        time.sleep(0.1)
    _, state = ckpt.latest_checkpoint(run)
    assert state["step"] >= 1 and state["step"] % 10 == 0


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_worker_killed_from_outside_is_named(tmp_path, tiny_npz):
    """The out-of-memory killer's SIGKILL of one rank was reported as the survivor's gloo error
    ("Connection closed by peer"), or not at all."""
    run = tmp_path / "run"
    proc = _start_ddp_run(run, tiny_npz)
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    workers = [p for p in children if "spawn_main" in Path(f"/proc/{p}/cmdline").read_text()]
    assert len(workers) == 2, children
    os.kill(int(max(workers, key=int)), signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert re.search(r"error: ddp: the process of rank \d was killed \(SIGKILL\)$", err.strip()), (
        err
    )


def _running(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


def test_more_cpu_processes_than_cores_is_warned(caplog, monkeypatch):
    import os

    from conftest import tiny_config

    from infogan.prepare import check_machine

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    with caplog.at_level("WARNING"):
        check_machine(tiny_config(ddp=4, device="cpu"))
    assert "--ddp 4 runs 4 processes on this machine's 2 CPU cores" in caplog.text


def test_rendezvous_folders_of_killed_launches_are_removed(tmp_path, monkeypatch):
    """A launch killed with SIGKILL left its /tmp/infogan-ddp-* folder for ever (21 sat in
    /tmp); the next launch removes those whose launcher is gone, and only those."""
    from infogan import distributed

    monkeypatch.setattr(distributed.tempfile, "gettempdir", lambda: str(tmp_path))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    old = time.time() - 2 * distributed.STALE_STORE_S
    folders = {}
    for name, pid, age in (
        ("dead_old", gone.pid, old),
        ("dead_new", gone.pid, None),  # its workers may still be writing their checkpoint
        ("alive_old", os.getpid(), old),
        ("garbage", "x", old),
    ):
        folder = tmp_path / (distributed.STORE_PREFIX + name)
        folder.mkdir()
        (folder / "parent").write_text(str(pid))
        (folder / "store").write_text("")
        if age is not None:
            os.utime(folder / "parent", (age, age))
        folders[name] = folder
    (tmp_path / (distributed.STORE_PREFIX + "no_note")).mkdir()
    (tmp_path / "other").mkdir()
    distributed._remove_stale_stores()
    left = sorted(p.name.removeprefix(distributed.STORE_PREFIX) for p in tmp_path.iterdir())
    assert left == ["alive_old", "dead_new", "garbage", "no_note", "other"]
