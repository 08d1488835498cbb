"""Checkpoint round trip, safe loading, and exact resume."""

import pickle

import pytest
import torch
from conftest import tiny_config

from infogan import checkpoint as ckpt
from infogan.errors import CheckpointError
from infogan.model import load_run
from infogan.train import Trainer


def _train(cfg, run_dir, dataset, resume=False):
    tr = Trainer(cfg, run_dir, dataset=dataset, resume=resume)
    tr.run(finish=False)
    return tr


def test_round_trip_and_no_temp_files(tmp_path, tiny_dataset):
    tr = _train(tiny_config(steps=3), tmp_path / "run", tiny_dataset)
    path, state = ckpt.latest_checkpoint(tmp_path / "run")
    assert path.name == "step_0000003.pt" and state["step"] == 3
    assert not list((tmp_path / "run" / "checkpoints").glob("*.tmp"))
    model = load_run(tmp_path / "run")
    for k, v in tr.nets.state_dict().items():
        assert torch.equal(v, model.nets.state_dict()[k]), k
    x = model.generate(n=4, codes={"c1": 2})
    assert x.shape == (4, 1, 28, 28) and x.min() >= -1 and x.max() <= 1


def test_exact_resume_equals_one_run(tmp_path, tiny_dataset):
    # N steps, resume, N more == 2N in one go: bit for bit on CPU.
    one = _train(tiny_config(steps=8, ckpt_every=4), tmp_path / "one", tiny_dataset)
    _train(tiny_config(steps=4, ckpt_every=4), tmp_path / "two", tiny_dataset)
    two = _train(tiny_config(steps=8, ckpt_every=4), tmp_path / "two", tiny_dataset, resume=True)
    assert two.step_count == 8
    for k, v in one.nets.state_dict().items():
        assert torch.equal(v, two.nets.state_dict()[k]), f"{k} differs after resume"
    s1, s2 = one.opt_g.state_dict()["state"], two.opt_g.state_dict()["state"]
    assert all(torch.equal(s1[i]["exp_avg"], s2[i]["exp_avg"]) for i in s1)


def test_a_stop_between_two_rows_resumes_with_the_same_rows(tmp_path, tiny_dataset, monkeypatch):
    """Stopped at step 6 with rows every 4: the resumed run's row at 8 averaged steps 7-8 only
    (the audit's 19 steps of 20); the pending statistics now travel in the checkpoint."""
    import json

    cfg = dict(steps=8, ckpt_every=8, log_every=4)
    _train(tiny_config(**cfg), tmp_path / "one", tiny_dataset)
    real = Trainer._stop_agreed
    monkeypatch.setattr(Trainer, "_stop_agreed", lambda self, asked: self.step_count == 6)
    with pytest.raises(KeyboardInterrupt):
        _train(tiny_config(**cfg), tmp_path / "two", tiny_dataset)
    monkeypatch.setattr(Trainer, "_stop_agreed", real)
    _train(tiny_config(**cfg), tmp_path / "two", tiny_dataset, resume=True)

    def rows(run):
        lines = (run / "metrics.jsonl").read_text().splitlines()
        return [
            {k: v for k, v in json.loads(x).items() if k not in ("steps_per_s", "wall_s")}
            for x in lines
        ]

    assert [r["step"] for r in rows(tmp_path / "two")] == [4, 8]
    assert rows(tmp_path / "one") == rows(tmp_path / "two")


def test_wall_time_runs_on_across_a_resume(tmp_path, tiny_dataset):
    """metrics.jsonl's wall_s is the run's training time: a resumed process goes on from the
    checkpoint's count (it restarted at 0, so curves against time jumped back)."""
    import json

    _train(tiny_config(steps=4, ckpt_every=4, log_every=2), tmp_path / "r", tiny_dataset)
    _, state = ckpt.latest_checkpoint(tmp_path / "r")
    state["wall_s"] = 1000.0  # as if the first process had trained for 1,000 s
    ckpt.save_checkpoint(tmp_path / "r" / "checkpoints" / "step_0000004.pt", state)
    _train(
        tiny_config(steps=8, ckpt_every=4, log_every=2), tmp_path / "r", tiny_dataset, resume=True
    )
    rows = [json.loads(x) for x in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    walls = {r["step"]: r["wall_s"] for r in rows}
    assert walls[2] < walls[4] < 1000.0 < walls[6] < walls[8]
    assert ckpt.latest_checkpoint(tmp_path / "r")[1]["wall_s"] > walls[8] - 1e-9
    # The report's training block says both: this model's time and this session's.
    cfg = tiny_config(steps=10, ckpt_every=4, log_every=2)
    Trainer(cfg, tmp_path / "r", dataset=tiny_dataset, resume=True).run(finish=True)
    training = json.loads((tmp_path / "r" / "report.json").read_text())["training"]
    assert training["wall_s"] > 1000.0 > training["seconds_this_session"]
    assert training["wall_s"] >= walls[8]


def test_exact_resume_with_contrastive_regulariser(tmp_path, tiny_dataset):
    kw = dict(cr_weight=2.0, cr_start=3, ckpt_every=3)
    one = _train(tiny_config(steps=6, **kw), tmp_path / "one", tiny_dataset)
    _train(tiny_config(steps=3, **kw), tmp_path / "two", tiny_dataset)
    two = _train(tiny_config(steps=6, **kw), tmp_path / "two", tiny_dataset, resume=True)
    for k, v in one.nets.state_dict().items():
        assert torch.equal(v, two.nets.state_dict()[k]), f"{k} differs after resume"
    assert load_run(tmp_path / "two").nets.cr is not None


def test_keep_prunes_old_checkpoints(tmp_path, tiny_dataset):
    _train(tiny_config(steps=12, ckpt_every=2, keep_ckpts=2), tmp_path / "r", tiny_dataset)
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path / "r")] == [10, 12]
    # a junk file named past the run's steps pushed its newest checkpoints out; now it is
    # neither counted nor deleted
    junk = tmp_path / "j" / "checkpoints" / "step_0000300.pt"
    junk.parent.mkdir(parents=True)
    junk.write_bytes(b"not a checkpoint")
    _train(tiny_config(steps=6, ckpt_every=2, keep_ckpts=2), tmp_path / "j", tiny_dataset)
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path / "j")] == [4, 6, 300]


def test_foreign_and_malicious_files_are_refused(tmp_path):
    not_ours = tmp_path / "a.pt"
    torch.save({"weights": torch.zeros(2)}, not_ours)
    with pytest.raises(CheckpointError, match="not an infogan checkpoint"):
        ckpt.load_checkpoint(not_ours)

    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(CheckpointError, match="not a checkpoint file"):
        ckpt.load_checkpoint(evil)
    # The same object inside a torch archive: refused by the weights-only unpickler, and the
    # message does not pass on torch's advice to load it with weights_only=False.
    evil_zip = tmp_path / "evil_zip.pt"
    torch.save({"format": ckpt.FORMAT, "x": Evil()}, evil_zip)
    with pytest.raises(CheckpointError, match="cannot be read safely.*running code") as err:
        ckpt.load_checkpoint(evil_zip)
    assert "weights_only" not in str(err.value)
    garbage = tmp_path / "g.pt"
    garbage.write_bytes(b"\x00not a zip")
    with pytest.raises(CheckpointError, match="not a checkpoint file"):
        ckpt.load_checkpoint(garbage)
    report = tmp_path / "report.pt"
    report.write_text('{"a": 1}')  # a JSON file where a checkpoint should be
    with pytest.raises(CheckpointError, match="not a checkpoint file") as err:
        ckpt.load_checkpoint(report)
    assert "weights_only" not in str(err.value)
    with pytest.raises(CheckpointError, match="does not exist"):
        ckpt.load_checkpoint(tmp_path / "missing.pt")


def test_corrupt_newest_checkpoint_falls_back(tmp_path, tiny_dataset):
    _train(tiny_config(steps=6, ckpt_every=3), tmp_path / "r", tiny_dataset)
    newest = ckpt.checkpoint_path(tmp_path / "r", 6)
    newest.write_bytes(newest.read_bytes()[:100])  # a copy cut short
    path, state = ckpt.latest_checkpoint(tmp_path / "r")
    assert state["step"] == 3 and path.name == "step_0000003.pt"
    tr = Trainer(
        tiny_config(steps=6, ckpt_every=3), tmp_path / "r", dataset=tiny_dataset, resume=True
    )
    assert tr.step_count == 3


def test_checkpoint_from_other_config_is_a_clear_error(tmp_path, tiny_dataset):
    _train(tiny_config(steps=3), tmp_path / "r", tiny_dataset)
    with pytest.raises(
        CheckpointError, match="not of this run's recipe.*model.codes 'cat:4,cont:2'"
    ):
        Trainer(tiny_config(codes="cat:7"), tmp_path / "r", dataset=tiny_dataset, resume=True)
    # the same networks but another recipe (a file copied in from another run): refused too
    with pytest.raises(CheckpointError, match="lr_d 0.0002 there, 0.01 here"):
        Trainer(tiny_config(lr_d=0.01), tmp_path / "r", dataset=tiny_dataset, resume=True)
    # a checkpoint without its config is still judged by its tensors
    path, state = ckpt.latest_checkpoint(tmp_path / "r")
    del state["config"]
    ckpt.save_checkpoint(path, state)
    with pytest.raises(CheckpointError, match="does not fit"):
        Trainer(tiny_config(codes="cat:7"), tmp_path / "r", dataset=tiny_dataset, resume=True)


def test_a_hand_edited_checkpoint_with_a_negative_step_or_non_finite_weights_is_refused(
    tmp_path, tiny_dataset
):
    """A step of -5 was taken ("continuing from ... (step -5)"); NaN weights drew grey grids
    with no word of why. Training never writes either."""
    _train(tiny_config(steps=3), tmp_path / "r", tiny_dataset)
    path, state = ckpt.latest_checkpoint(tmp_path / "r")
    ckpt.save_checkpoint(path, {**state, "step": -5})
    with pytest.raises(CheckpointError, match=r"does not hold a usable model \(step -5\)"):
        load_run(tmp_path / "r")
    with pytest.raises(CheckpointError, match=r"is damaged \(step -5\); remove it"):
        Trainer(tiny_config(steps=6), tmp_path / "r", dataset=tiny_dataset, resume=True)
    # A NaN weight, or an inf in a batch-norm buffer (which resumed and was checkpointed again,
    # a file every other command then refused): refused by loading and by resuming alike.
    for pick in (
        lambda k: k.startswith("generator.") and k.endswith("weight"),
        lambda k: k.endswith("running_var"),
    ):
        nets = dict(state["nets"])
        name = next(k for k in nets if pick(k))
        nets[name] = torch.full_like(nets[name], float("inf"))
        ckpt.save_checkpoint(path, {**state, "nets": nets})
        with pytest.raises(CheckpointError, match=f"non-finite values in {name}"):
            load_run(tmp_path / "r")
        with pytest.raises(CheckpointError, match=f"is damaged \\(non-finite values in {name}"):
            Trainer(tiny_config(steps=6), tmp_path / "r", dataset=tiny_dataset, resume=True)


def test_newer_format_version_refused(tmp_path):
    p = tmp_path / "future.pt"
    torch.save({"format": ckpt.FORMAT, "version": ckpt.VERSION + 1}, p)
    with pytest.raises(CheckpointError, match="upgrade"):
        ckpt.load_checkpoint(p)


def test_a_failed_write_names_the_users_file_and_leaves_no_temp(tmp_path, monkeypatch):
    """An unwritable place or a full disk is reported with the path asked for (the error named
    our hidden temporary file, e.g. /proc/.c.csv.8z5dzr11.tmp), and no temp file is left."""
    from infogan.atomic import atomic_write

    target = tmp_path / "codes.csv"

    def full_disk(f):
        f.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left") as e:
        atomic_write(target, full_disk)
    assert e.value.filename == str(target) and e.value.errno == 28
    assert list(tmp_path.iterdir()) == []

    def refused(prefix, suffix, dir):  # as creating a file in /proc fails
        raise FileNotFoundError(2, "No such file or directory", f"{dir}/{prefix}x{suffix}")

    monkeypatch.setattr("tempfile.mkstemp", refused)
    with pytest.raises(FileNotFoundError) as e:
        atomic_write(target, lambda f: None)
    assert e.value.filename == str(target)


def test_a_resume_keeps_the_optimisers_execution_flags_of_this_process(tmp_path, tiny_dataset):
    """load_state_dict takes each group's flags from the file: a checkpoint of a graphed CUDA
    run (capturable on) or of a CPU run (off) must not decide how this process steps."""
    cfg = tiny_config(steps=3)
    _train(cfg, tmp_path / "run", tiny_dataset)
    path, state = ckpt.latest_checkpoint(tmp_path / "run")
    for key in ("opt_d", "opt_g"):
        for group in state[key]["param_groups"]:
            group["capturable"], group["foreach"] = True, True
    ckpt.save_checkpoint(path, {k: v for k, v in state.items() if k not in ("format", "version")})
    tr = Trainer(tiny_config(steps=6), tmp_path / "run", dataset=tiny_dataset, resume=True)
    for opt in (tr.opt_d, tr.opt_g):
        for group in opt.param_groups:
            assert group["capturable"] is False and group["fused"] is True
            assert group["foreach"] is None
    tr.run(finish=False)  # and it steps
    assert tr.step_count == 6


def test_extending_a_run_does_not_raise_its_instance_noise_again(tmp_path, tiny_dataset):
    """Instance noise anneals to 0 over the run's first length: a resume with more --steps
    keeps that end (it once restarted at the new length's value, noise jumping back up)."""
    import json

    kw = dict(instance_noise=0.5, ckpt_every=4)
    _train(tiny_config(steps=4, **kw), tmp_path / "run", tiny_dataset)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["instance_noise_end"] == 4
    tr = _train(tiny_config(steps=8, **kw), tmp_path / "run", tiny_dataset, resume=True)
    assert tr.cfg.instance_noise_end == 4
    tr.set_schedules(4)
    assert float(tr._noise_std) == 0.0
    # A run saved before the end was written down (0 in its files): its checkpoint's steps.
    path, state = ckpt.latest_checkpoint(tmp_path / "run")
    state["config"] = {**state["config"], "instance_noise_end": 0, "steps": 8}
    ckpt.save_checkpoint(path, {k: v for k, v in state.items() if k not in ("format", "version")})
    old = Trainer(tiny_config(steps=12, **kw), tmp_path / "run", tiny_dataset, resume=True)
    assert old.cfg.instance_noise_end == 8
    # A new run resolves it from its own length; an explicit end is kept.
    assert (
        Trainer(tiny_config(steps=5, **kw), tmp_path / "new", tiny_dataset).cfg.instance_noise_end
        == 5
    )
    assert (
        Trainer(
            tiny_config(steps=5, instance_noise=0.5, instance_noise_end=3),
            tmp_path / "n2",
            tiny_dataset,
        ).cfg.instance_noise_end
        == 3
    )


def test_a_resume_with_another_seed_is_refused(tmp_path, tiny_dataset):
    """From Python nothing stopped it (the CLI takes no recipe flags with --resume): the run
    went on drawing another seed's data order and latents under the same name."""
    _train(tiny_config(steps=3, seed=0), tmp_path / "run", tiny_dataset)
    with pytest.raises(CheckpointError, match="seed"):
        Trainer(tiny_config(steps=6, seed=1), tmp_path / "run", dataset=tiny_dataset, resume=True)


def test_other_data_than_the_run_trained_on_is_said(tmp_path, tiny_dataset, caplog):
    """A dataset passed from Python is not what the run records (cfg.data): train() says so;
    a resume that reads other data (a changed folder, the recorded name) says so too."""
    import logging

    from infogan.data import ImageDataset
    from infogan.train import train

    mine = ImageDataset(tiny_dataset.images[:24], None, "my-digits")
    with caplog.at_level(logging.WARNING, logger="infogan"):
        train(tiny_config(steps=3), tmp_path / "run", dataset=mine)
    assert "records data='tiny'" in caplog.text and "my-digits" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="infogan"):
        _train(tiny_config(steps=6), tmp_path / "run", tiny_dataset, resume=True)
    assert "trained on 24 images of 1x28x28 (my-digits)" in caplog.text
    assert f"has {len(tiny_dataset)} images of 1x28x28" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="infogan"):  # the same data: nothing said
        _train(tiny_config(steps=9), tmp_path / "run", tiny_dataset, resume=True)
    assert "resume:" not in caplog.text
    # Other images of the same count and size: told apart by the images' fingerprint.
    caplog.clear()
    flipped = ImageDataset(tiny_dataset.images.flip(-1), None, "tiny")
    with caplog.at_level(logging.WARNING, logger="infogan"):
        _train(tiny_config(steps=12), tmp_path / "run", flipped, resume=True)
    assert "(other images of the same count and size)" in caplog.text
    # Arrays passed from Python, then a resume that reads a dataset by name (the recorded
    # placeholder): refused, not trained on with a warning, of the same size too...
    half = tiny_dataset.images[:32]
    train(tiny_config(steps=3), tmp_path / "arrays", dataset=half)
    for other in (tiny_dataset, ImageDataset(half.flip(-1), None, "tiny")):
        with pytest.raises(CheckpointError, match="32 images of 1x28x28 passed from Python"):
            _train(tiny_config(steps=6), tmp_path / "arrays", other, resume=True)
    # ...while the same arrays go on, and other arrays (a choice made in Python) with a warning.
    train(tiny_config(steps=6), tmp_path / "arrays", dataset=half, resume=True)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="infogan"):
        train(tiny_config(steps=9), tmp_path / "arrays", dataset=half.flip(-1), resume=True)
    assert "other images of the same count and size" in caplog.text


def test_atomic_writes_take_any_valid_file_name(tmp_path):
    """The temporary file beside the target is named after it, plus ~14 characters: a valid
    name of 242-255 characters failed as "File name too long"."""
    from infogan.atomic import atomic_write_bytes

    target = tmp_path / ("a" * 251 + ".png")
    atomic_write_bytes(target, b"x")
    assert target.read_bytes() == b"x" and [p.name for p in tmp_path.iterdir()] == [target.name]


def test_a_full_disk_while_logging_names_metrics_jsonl(tmp_path):
    """The OS's error from flushing a row named no file ("error: No space left on device")."""
    import errno

    from infogan.train import _append

    class Short:  # writes 3 bytes, then the disk is full
        def __init__(self):
            self.got = b""

        def write(self, view):
            if self.got:
                raise OSError(errno.ENOSPC, "No space left on device")
            self.got += bytes(view[:3])
            return 3

    f = Short()
    with pytest.raises(OSError) as e:
        _append(f, b'{"step": 1}\n', tmp_path / "metrics.jsonl")
    assert e.value.filename == str(tmp_path / "metrics.jsonl") and f.got == b'{"s'
    ok = tmp_path / "ok.jsonl"
    with ok.open("ab", buffering=0) as g:
        _append(g, b"row\n", ok)
    assert ok.read_bytes() == b"row\n"


def test_flipped_bytes_are_caught_by_the_checksums(tmp_path, tiny_dataset):
    """torch.load does not check the archive's CRCs: a checkpoint with 4,000 flipped bytes
    loaded, and scored MI bounds of -4e28 and -inf without a word."""
    _train(tiny_config(steps=4, ckpt_every=2), tmp_path / "r", tiny_dataset)
    newest = ckpt.checkpoint_path(tmp_path / "r", 4)
    data = bytearray(newest.read_bytes())
    for i in range(len(data) // 3, len(data) // 3 + 4000):
        data[i] ^= 0x55
    newest.write_bytes(data)
    with pytest.raises(CheckpointError, match="is damaged"):
        ckpt.load_checkpoint(newest)
    path, state = ckpt.latest_checkpoint(tmp_path / "r")  # the one before, with a warning
    assert path.name == "step_0000002.pt" and state["step"] == 2


def test_ctrl_c_in_the_last_step_stops_the_run(tmp_path, tiny_dataset, monkeypatch):
    """The first Ctrl-C only sets a flag checked before each step: one landing in the last step
    was never looked at, and the run went on to its evaluation (or to the next candidate) as if
    it had not come. Now it stops there, the last checkpoint written."""
    import importlib
    import os
    import signal

    train_mod = importlib.import_module("infogan.train")  # infogan.train is also the function

    real = train_mod.make_stepper

    def stepper_that_is_interrupted_at_the_end(trainer):
        s = real(trainer)
        step = s.step

        def last_step_interrupted(i):
            step(i)
            if i == trainer.cfg.steps - 1:
                os.kill(os.getpid(), signal.SIGINT)

        s.step = last_step_interrupted
        return s

    monkeypatch.setattr(train_mod, "make_stepper", stepper_that_is_interrupted_at_the_end)
    tr = Trainer(tiny_config(steps=3, ckpt_every=10), tmp_path / "r", dataset=tiny_dataset)
    with pytest.raises(KeyboardInterrupt, match="stopped at step 3, the last"):
        tr.run()
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path / "r")] == [3]
    assert not (tmp_path / "r" / "report.json").exists()  # no evaluation after the stop


def test_atomic_writes_go_through_links_and_never_replace_a_device(tmp_path, monkeypatch):
    """The rename replaced whatever was at the path: a symbolic link became a file (its target
    untouched), and `--force` onto /dev/null or a FIFO replaced it with a regular file (as
    root, /dev/full was gone). Output paths are checked before the work, too."""
    import os

    from infogan import atomic
    from infogan.atomic import atomic_write_bytes, unwritable

    real = tmp_path / "real.json"
    link = tmp_path / "link.json"
    link.symlink_to(real)
    atomic_write_bytes(link, b"1")
    assert link.is_symlink() and real.read_bytes() == b"1"
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    assert "not a regular file" in unwritable(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        atomic_write_bytes(fifo, b"1")
    assert not fifo.is_file() and fifo.exists()  # still the FIFO
    assert unwritable(tmp_path / "new" / "deeper" / "x.json") is None  # folders to be made
    monkeypatch.setattr(atomic.os, "access", lambda *a: False)  # a read-only folder
    assert unwritable(tmp_path / "x.json") == f"folder {tmp_path} is not writable"


def test_a_worker_outlives_its_parents_repeated_death_signal(monkeypatch):
    """A parent killed outright sends its workers SIGTERM once per thread they are passed on
    through as it dies: the second one, milliseconds later, killed a --ddp run's workers before
    their checkpoint. In a worker, SIGTERMs after the first are ignored; elsewhere a second
    signal goes to the handler from before (the default one kills: "stop now")."""
    import importlib
    import os
    import signal

    train_mod = importlib.import_module("infogan.train")
    before = []
    outer = signal.signal(signal.SIGTERM, lambda *a: before.append(1))
    try:
        for worker in (True, False):
            monkeypatch.setattr(train_mod._GracefulStop, "worker", worker)
            with train_mod._GracefulStop() as stop:
                os.kill(os.getpid(), signal.SIGTERM)
                assert stop.requested and not before
                os.kill(os.getpid(), signal.SIGTERM)
                assert before == ([] if worker else [1])
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN  # restored after
    finally:
        signal.signal(signal.SIGTERM, outer)
