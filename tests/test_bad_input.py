"""Bad input found by auditing the CLI as a user: each gets one clear line, before any work is
done where it can be, and never costs a user a finished run or file."""

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from conftest import TINY_FLAGS

from infogan import checkpoint as ckpt
from infogan.cli import main
from infogan.config import TrainConfig
from infogan.errors import SpecError

TINY = [*TINY_FLAGS, "--codes", "cat:4,cont:2", "--device", "cpu"]


def _err(capsys, argv) -> str:
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert err.startswith("error: ") and "\n" not in err, err
    return err


def _usage_error(capsys, argv) -> str:
    """argparse's own refusal of a flag's value (exit 2, the flag named)."""
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    return capsys.readouterr().err


@pytest.fixture(scope="module")
def _finished_once(tmp_path_factory) -> Path:
    """One tiny finished run per module (training it is most of a test's time)."""
    import numpy as np
    from conftest import tiny_images

    base = tmp_path_factory.mktemp("finished")
    images, labels = tiny_images()
    np.savez(base / "tiny.npz", images=images, labels=labels)
    out = base / "done"
    argv = ["train", "--data", str(base / "tiny.npz"), "--steps", "2", "--out", str(out), *TINY]
    assert main(argv) == 0
    return out


@pytest.fixture
def finished(tmp_path, _finished_once) -> Path:
    """A copy of that run of the test's own, free to change."""
    import shutil

    out = tmp_path / "done"
    shutil.copytree(_finished_once, out)
    shutil.copy2(_finished_once.parent / "tiny.npz", tmp_path / "tiny.npz")  # its data, beside
    return out


@pytest.mark.parametrize(
    "field, value, why",
    [
        ("batch", "64", "batch must be a whole number"),
        ("seed", "0", "seed must be a whole number"),
        ("lr_d", "0.001", "lr_d must be a number"),
        ("select_later", 5, "select_later must be a list of a whole number"),
        ("data", None, "data must be a string"),
        ("progress", 1, "progress must be true/false"),
    ],
)
def test_config_files_with_wrong_types_are_refused(field, value, why):
    with pytest.raises(SpecError, match=why):
        TrainConfig.from_dict({field: value})


def test_config_files_that_are_not_objects_or_not_text_are_refused(tmp_path):
    with pytest.raises(SpecError, match="model: field noise_dim must be a whole number"):
        TrainConfig.from_dict({"model": {"noise_dim": 62.5}})
    with pytest.raises(SpecError, match="expected an object, got list"):
        TrainConfig.from_dict([1, 2])  # type: ignore[arg-type]
    binary = tmp_path / "c.json"
    binary.write_bytes(b"\xff\xfe{")
    with pytest.raises(SpecError, match="c.json is not a JSON config but a binary file"):
        TrainConfig.load(binary)  # the codec's "can't decode byte 0xff in position 0" said less
    # Whole numbers are numbers: an int where a float is expected is fine.
    assert TrainConfig.from_dict({"lr_d": 1}).lr_d == 1


def test_infinite_and_out_of_range_numbers_are_refused(capsys, tmp_path):
    out = str(tmp_path / "x")
    for flag in ("--lr-d", "--lambda-cont", "--fixed-std", "--width", "--instance-noise"):
        assert "finite" in _usage_error(capsys, ["train", flag, "inf", "--out", out])
    assert "seed" in _usage_error(capsys, ["train", "--seed", str(2**70), "--out", out])
    assert "seed" in _usage_error(capsys, ["sample", out, "--seed", "-1"])
    assert ">= 50" in _usage_error(capsys, ["evaluate", out, "--n-mi", "0"])
    assert ">= 50" in _usage_error(capsys, ["evaluate", out, "--n-mi", "1"])  # a 1-sample bound
    assert not Path(out).exists()
    cfg = TrainConfig(r1_gamma=float("inf"))
    with pytest.raises(SpecError, match="r1_gamma: must be a finite number"):
        cfg.validate()


def test_empty_data_is_refused(capsys, tmp_path):
    err = _err(capsys, ["train", "--data", "", "--out", str(tmp_path / "e"), *TINY])
    assert "data: empty" in err
    assert not (tmp_path / "e").exists()
    # the folder "run directory:" named before the error is said not to exist
    assert err.endswith(f"(nothing written: {tmp_path / 'e'} was not created)"), err


def test_eval_data_of_the_wrong_size_fails_before_training(capsys, tmp_path, tiny_npz):
    import numpy as np

    s32 = tmp_path / "s32.npz"
    np.savez(s32, images=np.zeros((16, 32, 32), np.uint8))
    out = tmp_path / "ev"
    argv = ["train", "--data", tiny_npz, "--eval-data", str(s32), "--out", str(out)]
    err = _err(capsys, [*argv, "--steps", "2", *TINY])
    assert "eval_data" in err and "s32.npz" in err and "1x32x32" in err
    assert not (out / "checkpoints").exists() and not (out / "config.json").exists()


def test_a_run_records_its_data_path_absolute(tmp_path, tiny_npz, monkeypatch):
    """Resuming from another directory must read the same files, not whatever the relative
    path names there."""
    monkeypatch.chdir(Path(tiny_npz).parent)
    out = tmp_path / "rel"
    assert main(["train", "--data", "tiny.npz", "--steps", "1", "--out", str(out), *TINY]) == 0
    saved = json.loads((out / "config.json").read_text())["data"]
    assert saved == str(Path(tiny_npz).resolve())
    monkeypatch.chdir(tmp_path.parent)
    assert main(["train", "--resume", str(out), "--steps", "2", "--no-progress"]) == 0


def test_resume_with_fewer_steps_than_done_is_refused(capsys, finished):
    before = (finished / "config.json").read_text()
    err = _err(capsys, ["train", "--resume", str(finished), "--steps", "1", "--no-progress"])
    assert "at step 2, past --steps 1" in err
    assert (finished / "config.json").read_text() == before


def test_a_gpu_runs_execution_flags_can_change_on_resume(capsys, tmp_path, tiny_npz):
    """A run started on a GPU with CUDA graphs (or bf16) goes on on a CPU: --graph, --precision
    and --memory-format may be given with --resume (the recipe flags may not); they used to be
    refused, and the run's own --graph on then failed on the CPU with no way round it."""
    out = tmp_path / "gpu"
    assert main(["train", "--data", tiny_npz, "--steps", "2", "--out", str(out), *TINY]) == 0
    saved = json.loads((out / "config.json").read_text())
    # As the run would have been written on a GPU.
    saved.update(graph="on", precision="bf16", memory_format="channels_last")
    (out / "config.json").write_text(json.dumps(saved))
    capsys.readouterr()
    err = _err(capsys, ["train", "--resume", str(out), "--steps", "3", "--no-progress"])
    assert "graph" in err and "CUDA" in err  # the run's own flag, unusable here, is named
    err = _err(capsys, ["train", "--resume", str(out), "--steps", "3", "--lr-d", "1e-4"])
    assert "--lr-d cannot change" in err and "--precision" in err  # the message lists them
    argv = ["train", "--resume", str(out), "--steps", "3", "--no-progress", "--graph", "off"]
    assert main([*argv, "--precision", "fp32", "--memory-format", "contiguous"]) == 0
    now = json.loads((out / "config.json").read_text())
    assert (now["graph"], now["precision"], now["memory_format"]) == ("off", "fp32", "contiguous")
    assert ckpt.list_checkpoints(out)[-1][0] == 3


def test_sweep_refuses_a_seed_folder_of_another_recipe(capsys, tmp_path, tiny_npz):
    out = tmp_path / "sw"
    argv = ["sweep", "--data", tiny_npz, "--seeds", "0", "--out", str(out), *TINY]
    assert main([*argv, "--steps", "2"]) == 0
    saved = (out / "seed0" / "config.json").read_text()
    capsys.readouterr()
    err = _err(capsys, [*argv, "--steps", "3", "--lr-d", "1e-4"])
    assert "another recipe" in err and "lr_d" in err
    assert (out / "seed0" / "config.json").read_text() == saved  # not rewritten
    assert ckpt.list_checkpoints(out / "seed0")[-1][0] == 2  # not trained on
    err = _err(capsys, [*argv, "--steps", "1"])
    assert "past --steps 1" in err
    # A seed folder holding a user's file and no run is refused as `train --out` refuses it,
    # before any seed trains (seed 0's run above is reused, seed 5 would train among the file).
    (out / "seed5").mkdir()
    (out / "seed5" / "mine.txt").write_text("x")
    err = _err(capsys, [*argv[:4], "0,5", *argv[5:], "--steps", "2"])
    assert "sweep: seed 5: " in err and "is not empty (mine.txt)" in err
    assert sorted(p.name for p in (out / "seed5").iterdir()) == ["mine.txt"]


def test_sweep_does_not_table_a_seed_trained_on_meanwhile(capsys, tmp_path, tiny_npz, monkeypatch):
    """A user's `train --resume` of a finished seed while later seeds trained: sweep.json gave
    that seed its old step's numbers, with nothing to show it."""
    from infogan import sweep
    from infogan.train import Trainer

    out = tmp_path / "sw"
    real = sweep.train_selected

    def and_the_user_resumes_seed0(cfg, run_dir, **kw):
        if cfg.seed == 1:  # seed 0 is done: the user trains it on by hand meanwhile
            done = TrainConfig.load(out / "seed0" / "config.json")
            done.steps = 3
            Trainer(done, out / "seed0", resume=True).run(finish=False)
        return real(cfg, run_dir, **kw)

    monkeypatch.setattr(sweep, "train_selected", and_the_user_resumes_seed0)
    argv = ["sweep", "--data", tiny_npz, "--seeds", "0,1", "--steps", "2", "--out", str(out)]
    err = _err(capsys, [*argv, *TINY])
    assert "seed0 is now at step 3, not 2" in err and "sweep.json is not written" in err
    assert not (out / "sweep.json").exists()


def test_evaluate_refuses_to_overwrite_what_is_not_a_json_report(capsys, finished, tmp_path):
    target = ckpt.list_checkpoints(finished)[-1][1]
    before = target.read_bytes()
    err = _err(capsys, ["evaluate", str(finished), "--metrics", "mi", "--json", str(target)])
    assert "--json" in err
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    err = _err(capsys, ["evaluate", str(finished), "--metrics", "mi", "--json", str(notes)])
    assert "not an earlier evaluation report" in err and notes.read_text() == "my notes"
    assert target.read_bytes() == before
    err = _err(capsys, ["evaluate", str(target), "--metrics", "mi"])
    assert "is a file; give its run directory" in err
    assert "device" in _err(capsys, ["evaluate", str(finished), "--device", "bogus"])
    # Valid JSON that is not a report: a user's settings, the run's own config.json (the run
    # could no longer be resumed), another run's report.json (its scores and label mappings
    # would silently become this run's). All were replaced before.
    settings = tmp_path / "settings.json"
    settings.write_text('{"my": 1}')
    other = tmp_path / "other"
    shutil.copytree(finished, other)
    for victim in (settings, finished / "config.json", other / "report.json"):
        kept = victim.read_bytes()
        argv = ["evaluate", str(finished), "--metrics", "mi", "--json", str(victim)]
        err = _err(capsys, argv)
        assert "--json" in err and victim.read_bytes() == kept, err
    earlier = tmp_path / "earlier.json"
    argv = ["evaluate", str(finished), "--metrics", "mi", "--n-mi", "64", "--json", str(earlier)]
    assert main(argv) == 0
    # An earlier report there (perhaps another run's, an hour of measuring) is replaced only
    # with --force, as every other command's output; it was replaced without a word.
    assert "already exists; pass --force" in _err(capsys, argv)
    assert main([*argv, "--force"]) == 0
    assert "mi_bound" in json.loads(earlier.read_text())
    # '-' is evaluate's and info's stdout; bench and centrality wrote a file named '-'.
    for command in (["bench"], ["centrality", str(finished), str(other)]):
        assert "is evaluate's and info's" in _err(capsys, [*command, "--json", "-"])
    assert main(["info", str(finished), "--json", "-"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)[0]["run"] == str(finished) and err.startswith("run:")
    # A run and its newest checkpoint are one model (it was scored as a tie with itself); so
    # is a copy of the run.
    newest = str(ckpt.list_checkpoints(finished)[-1][1])
    assert "the same weights" in _err(capsys, ["centrality", str(finished), newest])
    assert "the same weights" in _err(capsys, ["centrality", str(finished), str(other)])
    assert not Path("-").exists()
    own = ["evaluate", str(finished), "--metrics", "mi", "--n-mi", "64"]
    assert main([*own, "--json", str(finished / "report.json")]) == 0  # where it goes anyway


def test_no_output_flag_replaces_a_runs_own_files_even_with_force(capsys, finished, tmp_path):
    """export --force replaced the run's newest checkpoint with a TorchScript file (that step
    was lost) and could write into its config.json; sample --force into its sample grids, its
    training curves and its traversal figures; traverse --force into those figures."""
    newest = ckpt.list_checkpoints(finished)[-1][1]
    config = finished / "config.json"
    curves, figure = finished / "curves.png", finished / "traversal_c1.png"
    kept = {p: p.read_bytes() for p in (newest, config, curves, figure)}
    for argv in (
        ["export", str(finished), "--out", str(newest), "--force"],
        ["export", str(finished), "--out", str(config), "--format", "safetensors", "--force"],
        ["sample", str(finished), "--out", str(finished / "samples" / "step_0000002.png")],
        ["sample", str(finished), "--out", str(curves)],
        ["sample", str(finished), "--out", str(figure)],
        ["traverse", str(finished), "--code", "c1", "--out", str(finished), "--force"],
    ):
        err = _err(capsys, [*argv, "--force"] if argv[0] == "sample" else argv)
        assert "is a file of the run in" in err, err
    assert all(p.read_bytes() == b for p, b in kept.items())
    assert main(["export", str(finished), "--out", str(finished / "g.safetensors")]) == 0
    # A figure the user deleted: still the run's; the error says how to have it redrawn.
    figure.unlink()
    err = _err(capsys, ["traverse", str(finished), "--code", "c1", "--out", str(finished)])
    assert f"the run redraws a missing one: infogan train --resume {finished}" in err


def test_no_output_flag_replaces_a_sweeps_table_even_with_force(capsys, finished, tmp_path):
    """A sweep's folder has no run config, so its sweep.json (every seed's scores) was open to
    any command's --json/--out --force."""
    sweep_dir = tmp_path / "sweep"
    sweep_dir.mkdir()
    table = sweep_dir / "sweep.json"
    table.write_text(json.dumps({"seeds": [0], "per_seed": {"0": {}}, "summary": {}}))
    kept = table.read_bytes()
    run = str(finished)
    for argv in (
        ["centrality", run, run, "--json", str(table), "--force"],
        ["bench", "--device", "cpu", "--json", str(table), "--force"],
        ["export", run, "--out", str(table), "--format", "safetensors", "--force"],
        ["evaluate", run, "--metrics", "mi", "--n-mi", "64", "--json", str(table)],
    ):
        err = _err(capsys, argv)
        assert f"is a file of the sweep in {sweep_dir}" in err, err
    assert table.read_bytes() == kept
    # A file merely named sweep.json is the user's to replace, as any other.
    other = tmp_path / "sweep.json"
    other.write_text("{}")
    tiny_bench = ["--batch", "8", "--width", "0.125", "--steps", "1", "--warmup", "0"]
    assert main(["bench", "--device", "cpu", *tiny_bench, "--json", str(other), "--force"]) == 0


def test_an_empty_out_is_refused_not_replaced_by_the_default(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert "--out: empty" in _err(capsys, ["train", "--out", " ", "--steps", "1", *TINY])
    assert not (tmp_path / "runs").exists()  # it trained into runs/mnist5k-seed0
    # traverse wrote into the current folder, sweep made it the sweep's root
    assert "--out: empty" in _err(capsys, ["traverse", "no-run", "--out", ""])
    assert "--out: empty" in _err(capsys, ["sweep", "--seeds", "0", "--out", "", *TINY])
    assert "--json: empty" in _err(capsys, ["bench", "--json", ""])
    # download fell back to ~/.cache/infogan
    assert "--root: empty" in _err(capsys, ["download", "mnist", "--root", ""])
    assert list(tmp_path.iterdir()) == []


def test_machine_errors_are_one_line(capsys, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    err = _err(capsys, ["train", "--out", str(afile / "sub"), "--steps", "1", *TINY])
    assert "afile" in err


def test_a_damaged_selection_record_is_redone(tmp_path, capsys):
    from infogan.select import _finished_stages

    progress = tmp_path / "stages.json"
    for text in ('{"stages": [{"step": 2', "{}", '{"stages": [5]}'):
        progress.write_text(text)
        assert _finished_stages(progress) == []
        assert "damaged" in capsys.readouterr().out
    progress.write_text('{"stages": [{"step": 2, "kept": [0], "candidates": []}]}')
    assert _finished_stages(progress)[0]["kept"] == [0]


def test_outputs_are_never_replaced_without_force(capsys, finished, tmp_path):
    notes = tmp_path / "notes.png"
    notes.write_text("my notes")
    run = str(finished)
    assert "already exists; pass --force" in _err(capsys, ["sample", run, "--out", str(notes)])
    assert notes.read_text() == "my notes"
    assert main(["sample", run, "-n", "4", "--out", str(notes), "--force"]) == 0
    assert notes.read_bytes().startswith(b"\x89PNG")
    ck = str(ckpt.list_checkpoints(finished)[-1][1])
    for argv in (
        ["sample", run, "--out", ck],
        ["encode", run, "--data", str(finished / "report.json"), "--out", ck],
        ["centrality", run, run, "--json", ck],
        ["bench", "--device", "cpu", "--json", ck],
    ):
        assert "is a file of the run in" in _err(capsys, argv)  # --force or not
    assert ckpt.load_checkpoint(ck)["step"] == 2
    assert "should end in .png" in _err(capsys, ["sample", run, "--out", str(tmp_path / "a.jpg")])
    assert "is a directory" in _err(capsys, ["encode", run, "--data", "x", "--out", str(tmp_path)])
    assert "folder" in _err(capsys, ["sample", run, "--out", str(tmp_path / "no" / "a.png")])
    figs = tmp_path / "figs"
    assert main(["traverse", run, "--code", "c2", "--code", "c2", "--out", str(figs)]) == 0
    assert [p.name for p in figs.iterdir()] == ["traversal_c2.png"]
    assert "already exists" in _err(capsys, ["traverse", run, "--code", "c2", "--out", str(figs)])
    assert main(["traverse", run, "--code", "c2", "--out", str(figs), "--force"]) == 0


def test_bounded_counts_and_values(capsys, finished):
    run = str(finished)
    assert ">= 1" in _usage_error(capsys, ["sample", run, "-n", "0"])
    assert ">= 1" in _usage_error(capsys, ["sample", run, "--nrow", "0"])
    assert "given twice" in _err(capsys, ["sample", run, "--code", "c1=1", "--code", "c1=2"])
    assert "within" in _err(capsys, ["sample", run, "--code", "c2=1e300", "--out", "x.png"])
    assert "2..100" in _err(capsys, ["traverse", run, "--steps", "20000", "--out", "t"])
    assert "--span" in _err(capsys, ["traverse", run, "--span", "1e40", "--out", "t"])
    assert "--batch" in _err(capsys, ["bench", "--device", "cpu", "--batch", ","])
    assert "--batch" in _err(capsys, ["bench", "--device", "cpu", "--batch", "64,"])
    # the --time-to-acc flags without it were ignored in silence
    for extra in (["--eval-data", "mnist5k"], ["--candidates", "2"], ["--max-steps", "9"]):
        assert "is for --time-to-acc" in _err(capsys, ["bench", "--device", "cpu", *extra])
    argv = ["bench", "--device", "cpu", "--time-to-acc", "2", "--eval-data", "mnist5k"]
    assert "(0, 1]" in _err(capsys, argv)


def test_bench_exits_non_zero_when_a_configuration_fails(capsys):
    argv = ["bench", "--device", "cpu", "--batch", "8", "--width", "0.125", "--steps", "1"]
    err = _err(capsys, [*argv, "--warmup", "1", "--precision", "bf16"])
    assert "1 of 1 configurations failed" in err
    # no precision at all timed nothing and exited 0; --eval-every 0 evaluated step 0 forever
    assert "--precision: none in ','" in _err(capsys, [*argv, "--precision", ","])
    assert "--eval-every" in _usage_error(capsys, [*argv, "--eval-every", "0"])


def test_encode_a_folder_to_npz_and_a_checkpoint_keeps_its_labels(tmp_path, finished):
    import numpy as np
    from PIL import Image

    from infogan.data import load_dataset

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, img in enumerate(load_dataset(str(finished / "../tiny.npz")).images[:5]):
        Image.fromarray(img[0].numpy()).save(folder / f"{i}.png")
    out = tmp_path / "codes.npz"
    assert main(["encode", str(finished), "--data", str(folder), "--out", str(out)]) == 0
    got = np.load(out)
    assert sorted(got["file"]) == [f"{i}.png" for i in range(5)] and len(got["c1"]) == 5
    # A checkpoint file's run (two folders up) has the saved mapping: labels come with it.
    ck = ckpt.list_checkpoints(finished)[-1][1]
    out = tmp_path / "codes.csv"
    assert main(["encode", str(ck), "--data", str(folder), "--out", str(out)]) == 0
    assert "c1_label" in out.read_text().splitlines()[0]


def test_encode_says_why_it_wrote_no_labels_when_the_run_has_no_mapping(tmp_path, finished, capsys):
    (finished / "report.json").unlink()  # no evaluation on labelled data: no mapping
    out = tmp_path / "codes.csv"
    assert (
        main(["encode", str(finished), "--data", str(finished / "../tiny.npz"), "--out", str(out)])
        == 0
    )
    assert "c1_label" not in out.read_text().splitlines()[0]
    assert "no label columns: the run has no code -> label mapping" in capsys.readouterr().out
    # Arrays of another size: said of the images as given (the model's message named them
    # after their channels were converted).
    import numpy as np

    small = tmp_path / "small.npz"
    np.savez(small, images=np.zeros((3, 20, 20), np.uint8))
    err = _err(
        capsys, ["encode", str(finished), "--data", str(small), "--out", str(out), "--force"]
    )
    assert "holds 20x20 images, this model reads 28x28; arrays are not resized" in err


def test_a_one_class_labelled_set_does_not_replace_the_saved_mapping(tmp_path, finished, capsys):
    """One class scores 1.0 whatever the code and maps every value to it: skipped, said why, and
    the run's mapping (what `encode` and `label` read) is kept."""
    import numpy as np

    before = json.loads((finished / "report.json").read_text())["clustering"]
    one = tmp_path / "one.npz"
    np.savez(one, images=np.load(finished / "../tiny.npz")["images"][:5], labels=np.zeros(5, int))
    argv = ["evaluate", str(finished), "--data", str(one), "--metrics", "clustering"]
    assert main(argv) == 0
    assert "one class only" in capsys.readouterr().out
    assert json.loads((finished / "report.json").read_text())["clustering"] == before


def test_the_python_api_refuses_what_it_cannot_use(finished):
    import numpy as np
    import torch

    from infogan.errors import CheckpointError, DataError
    from infogan.model import load_run

    m = load_run(finished)
    with pytest.raises(SpecError, match="one per image"):
        m.generate(n=16, codes={"c1": torch.tensor([1, 2])})
    with pytest.raises(SpecError, match="a number or a tensor"):
        m.generate(codes={"c1": "3"})
    with pytest.raises(SpecError, match="steps >= 2"):
        m.traverse("c2", steps=0)
    with pytest.raises(SpecError, match="batch"):
        m.encode(np.zeros((2, 1, 28, 28), np.uint8), batch=0)
    with pytest.raises(DataError, match=r"\[-1, 1\]"):
        m.encode(np.full((2, 1, 28, 28), 255.0, np.float32))
    with pytest.raises(DataError, match="0..255"):
        m.encode(np.full((2, 1, 28, 28), 300, np.int64))
    assert m.encode(np.full((2, 1, 28, 28), 255, np.int64)).cat.shape == (2, 1)
    with pytest.raises(SpecError, match="n: expected 1"):
        m.mi_bound(n=0)
    state = ckpt.load_checkpoint(ckpt.list_checkpoints(finished)[-1][1])
    for key, bad in (("config", "not a dict"), ("step", "abc")):
        path = finished.parent / f"bad_{key}.pt"
        torch.save({**state, key: bad}, path)
        with pytest.raises(CheckpointError, match="does not hold a usable model"):
            load_run(path)


def test_npz_messages_name_the_real_problem(tmp_path):
    import numpy as np

    from infogan.data import read_npz
    from infogan.errors import DataError

    text = tmp_path / "notzip.npz"
    text.write_text("hello, not an archive")
    with pytest.raises(DataError, match="is not an .npz archive") as err:
        read_npz(text)
    assert "allow_pickle" not in str(err.value)
    wrong = tmp_path / "wrongkey.npz"
    np.savez(wrong, pics=np.zeros((4, 28, 28), np.uint8))
    with pytest.raises(DataError, match=r"no images array.*'pics'") as err:
        read_npz(wrong)
    assert "unreadable" not in str(err.value)
    big = tmp_path / "biglabels.npz"
    np.savez(big, images=np.zeros((2, 28, 28), np.uint8), labels=np.array([2**63, 1], np.uint64))
    with pytest.raises(DataError, match="int64 range"):
        read_npz(big)


def test_seed_ranges_and_late_selection_points_are_explained(capsys, tmp_path, tiny_npz):
    err = _err(capsys, ["sweep", "--seeds", "5-2", "--out", str(tmp_path / "s")])
    assert "runs backwards; write 2-5" in err
    out = tmp_path / "late"
    argv = ["train", "--data", tiny_npz, "--steps", "2", "--out", str(out), *TINY]
    # The largest seed the CLI takes, with candidates: their seeds (seed * 1000 + i) went past
    # the config's bound, which failed after config.json was written and stuck the folder.
    argv += ["--candidates", "2", "--select-steps", "4", "--seed", "4294967295"]
    assert main(argv) == 0
    assert "lie past --steps 2" in capsys.readouterr().out
    assert json.loads((out / "selection.json").read_text())["winner"] in (0, 1)


def test_seeds_and_candidates_past_their_bounds_are_refused_before_anything_is_written(
    tmp_path, tiny_dataset
):
    from conftest import tiny_config

    from infogan.errors import SpecError
    from infogan.select import train_selected

    out = tmp_path / "big"
    cfg = tiny_config(seed=2**32, candidates=2, steps=2)  # a candidate's seed: not a run's
    with pytest.raises(SpecError, match="seed: must be in 0..4294967295 with candidates"):
        train_selected(cfg, out, dataset=tiny_dataset)
    with pytest.raises(SpecError, match="candidates: must be <= 1000"):
        tiny_config(candidates=1001).validate()
    with pytest.raises(SpecError, match="seed: must be in"):
        tiny_config(seed=4294967295 * 1000 + 1000).validate()
    assert not out.exists()


def test_a_resume_that_moves_the_choice_says_so(capsys, tmp_path, tiny_npz, monkeypatch):
    """--resume --steps N of a run stopped in its selection, with N before a selection point,
    moves the choice to N: said, as for a new run (the note was left out on resume)."""
    from infogan import select

    out = tmp_path / "r"
    argv = ["train", "--data", tiny_npz, "--steps", "8", "--out", str(out), *TINY]
    real = select.run_legs

    def stop(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(select, "run_legs", stop)
    assert main([*argv, "--candidates", "2", "--select-steps", "6"]) == 130
    monkeypatch.setattr(select, "run_legs", real)
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--steps", "4", "--no-progress"]) == 0
    assert "selection point(s) 6 lie past --steps 4" in capsys.readouterr().out


def test_evaluate_says_which_metrics_do_not_apply(capsys, finished, tmp_path):
    import numpy as np

    unlabelled = tmp_path / "u.npz"
    np.savez(unlabelled, images=np.zeros((8, 28, 28), np.uint8))
    argv = ["evaluate", str(finished), "--data", str(unlabelled), "--n-mi", "64"]
    assert main([*argv, "--metrics", "clustering,disentanglement,mi"]) == 0
    printed = capsys.readouterr().out
    assert "clustering on" in printed and "skipped (no labels" in printed
    assert "disentanglement on" in printed and "no ground-truth factors" in printed


def test_out_of_memory_and_os_errors_are_one_line(capsys, monkeypatch):
    import infogan.cli as cli

    def oom(_):
        raise RuntimeError(
            "[enforce fail at alloc_cpu.cpp:118] DefaultCPUAllocator: can't allocate memory"
        )

    monkeypatch.setitem(cli._COMMANDS, "presets", oom)
    err = _err(capsys, ["presets"])
    assert "out of memory" in err and "--batch" in err

    def full_disk(_):
        raise OSError(28, "No space left on device", "/runs/x/checkpoints/step_1.pt")

    monkeypatch.setitem(cli._COMMANDS, "presets", full_disk)
    assert _err(capsys, ["presets"]) == (
        "error: /runs/x/checkpoints/step_1.pt: No space left on device"
    )

    def bug(_):
        raise RuntimeError("an ordinary bug keeps its traceback")

    monkeypatch.setitem(cli._COMMANDS, "presets", bug)
    with pytest.raises(RuntimeError, match="ordinary bug"):
        main(["presets"])


def test_a_full_disk_while_saving_a_checkpoint_is_one_line(capsys, tmp_path, tiny_npz, monkeypatch):
    """torch.save reports ENOSPC as a RuntimeError raised while handling the OSError: the
    traceback (exit 1) becomes the README's one line (exit 2), the newer checkpoints kept."""
    import torch

    from infogan import checkpoint

    real_save, calls = torch.save, []

    def save_on_a_full_disk(obj, f):
        calls.append(1)
        if len(calls) < 2:
            return real_save(obj, f)
        try:
            f.write(b"x" * 10)
            raise OSError(28, "No space left on device")
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] unexpected pos") from None

    monkeypatch.setattr(checkpoint.torch, "save", save_on_a_full_disk)
    run = tmp_path / "r"
    argv = ["train", "--data", tiny_npz, *TINY, "--steps", "4", "--ckpt-every", "2"]
    err = _err(capsys, [*argv, "--out", str(run)])
    assert err == f"error: {run / 'checkpoints' / 'step_0000004.pt'}: No space left on device"
    assert [s for s, _ in ckpt.list_checkpoints(run)] == [2]  # no torn file, no .tmp left
    assert not list((run / "checkpoints").glob(".*.tmp"))


def test_a_run_being_trained_elsewhere_is_not_trained_twice(capsys, finished):
    """A second process training in the same run directory (say `--resume` while the run is
    still going) is refused at once; the lock goes with its holder."""
    import fcntl
    import os

    fd = os.open(finished / ".lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as another training process would
        os.ftruncate(fd, 0)
        os.write(fd, b"12345")
        argv = ["train", "--resume", str(finished), "--steps", "3", "--no-progress"]
        err = _err(capsys, argv)
        assert "being trained by another process (pid 12345)" in err
        assert ckpt.list_checkpoints(finished)[-1][0] == 2
    finally:
        os.close(fd)
    assert main(argv) == 0  # once the holder is gone
    assert ckpt.list_checkpoints(finished)[-1][0] == 3


def test_a_run_training_before_its_first_checkpoint_is_reported_as_such(capsys, finished):
    """A resume of a run whose trainer has not yet saved a checkpoint says it is being trained
    (it said "has no checkpoints", which reads as a broken run)."""
    import fcntl
    import os
    import shutil

    shutil.rmtree(finished / "checkpoints")
    fd = os.open(finished / ".lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.ftruncate(fd, 0)
        os.write(fd, b"4567")
        err = _err(capsys, ["train", "--resume", str(finished), "--steps", "3", "--no-progress"])
        assert "being trained by another process (pid 4567)" in err
    finally:
        os.close(fd)


def test_a_run_killed_before_its_first_checkpoint_resumes_from_step_0(tmp_path, tiny_dataset):
    """kill -9 (or an OOM kill) before the first checkpoint left a run that --resume refused
    ("no checkpoints") and a new run refused too ("already holds a run"): resume starts it again,
    and the result is the uninterrupted run's."""
    import shutil

    from conftest import tiny_config

    from infogan.train import Trainer

    cfg = tiny_config(steps=4, ckpt_every=2)
    Trainer(cfg, tmp_path / "ref", dataset=tiny_dataset).run(finish=False)
    killed = tmp_path / "killed"
    Trainer(cfg, killed, dataset=tiny_dataset).run(finish=False)
    shutil.rmtree(killed / "checkpoints")  # what a kill before step 2 leaves: config, a row
    (killed / "metrics.jsonl").write_text('{"step": 1, "d_loss": 9.0}\n')
    Trainer(cfg, killed, dataset=tiny_dataset, resume=True).run(finish=False)
    _, a = ckpt.latest_checkpoint(tmp_path / "ref")
    _, b = ckpt.latest_checkpoint(killed)
    assert a["step"] == b["step"] == 4
    assert all(v.equal(b["nets"][k]) for k, v in a["nets"].items())
    assert 'd_loss": 9.0' not in (killed / "metrics.jsonl").read_text()


# ---- the fourteenth session's audit: finished work is never replaced or mixed up -------------


def test_python_train_refuses_a_folder_that_holds_a_run_or_other_files(tmp_path, tiny_dataset):
    """`train()` guards a finished run as the CLI does; and neither starts a run in a folder
    of the user's own files (training would replace report.html, figures, metrics.jsonl)."""
    from conftest import tiny_config

    from infogan import train

    run = tmp_path / "run"
    train(tiny_config(steps=2), run, dataset=tiny_dataset)
    before = (run / "config.json").read_bytes()
    with pytest.raises(SpecError, match="already holds a run"):
        train(tiny_config(steps=3, seed=5), run, dataset=tiny_dataset)
    assert (run / "config.json").read_bytes() == before
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "report.html").write_text("my notes")
    with pytest.raises(SpecError, match=r"not empty \(report.html\)"):
        train(tiny_config(steps=2), mine, dataset=tiny_dataset)
    assert (mine / "report.html").read_text() == "my notes" and len(list(mine.iterdir())) == 1


def test_python_configs_are_checked_before_anything_is_written(tmp_path, tiny_dataset, capsys):
    """train() of the default recipe with steps=-5 printed notes, wrote config.json and only
    then refused; a field of the wrong kind failed deep inside with a TypeError."""
    import numpy as np
    from conftest import tiny_config

    from infogan import train

    bad = tiny_config(steps=-5, candidates=2)
    with pytest.raises(SpecError, match="steps: must be >= 0"):
        train(bad, tmp_path / "neg", dataset=tiny_dataset)
    assert not (tmp_path / "neg").exists() and capsys.readouterr().out == ""
    wrong = tiny_config(candidates=2)
    wrong.select_steps = "1000,3000"
    with pytest.raises(SpecError, match=r"select_steps: must be .*select_later=\[3000\]"):
        wrong.validate()
    wrong = tiny_config()
    wrong.model.noise_dim = 6.0
    with pytest.raises(SpecError, match="model.noise_dim: must be a whole number"):
        wrong.validate()
    fine = tiny_config(steps=np.int64(2))  # numpy scalars are numbers, paths are paths
    fine.lr_d = np.float32(1e-3)
    fine.data = tmp_path
    assert type(fine.validate().steps) is int and type(fine.lr_d) is float
    assert fine.data == str(tmp_path)


def test_cli_train_refuses_foreign_files_and_resume_elsewhere(capsys, tmp_path, tiny_npz, finished):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "traversal_c1.png").write_bytes(b"mine")
    err = _err(capsys, ["train", "--data", tiny_npz, "--steps", "2", "--out", str(mine), *TINY])
    assert "not empty (traversal_c1.png)" in err
    assert (mine / "traversal_c1.png").read_bytes() == b"mine"
    other = tmp_path / "other"
    err = _err(capsys, ["train", "--resume", str(finished), "--out", str(other), "--steps", "3"])
    assert "--out cannot be given with --resume" in err and not other.exists()
    assert [s for s, _ in ckpt.list_checkpoints(finished)] == [2]


def test_resuming_a_finished_run_keeps_its_report(capsys, finished):
    """Nothing to train: the report (which `evaluate` may have extended, and whose mappings
    label images) is left as it is, not re-made from the training data alone."""
    before = (finished / "report.json").read_bytes()
    assert main(["train", "--resume", str(finished), "--steps", "2", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "already at step 2; its report is kept" in out and "redrew" not in out
    assert re.search(r"done: step 2, [0-9.]+ s of wall time; in ", out), out  # nothing scored
    assert (finished / "report.json").read_bytes() == before
    # a stop after report.json but before report.html (or a deleted figure) is redrawn
    (finished / "report.html").unlink()
    (finished / "traversal_c2.png").unlink()
    assert main(["train", "--resume", str(finished), "--steps", "2", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "redrew the figures and report.html (traversal_c2.png, report.html missing)" in out
    assert (finished / "report.html").exists() and (finished / "traversal_c2.png").exists()
    assert (finished / "report.json").read_bytes() == before
    # A resume that trains on scores again (its choice was made before, by another command).
    assert main(["train", "--resume", str(finished), "--steps", "3", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"done: step 3, [0-9.]+ s of wall time \(evaluation included\); in", out)


def test_a_damaged_newest_checkpoint_is_named(capsys, caplog, tmp_path, tiny_npz):
    out = tmp_path / "r"
    argv = ["train", "--data", tiny_npz, "--steps", "4", "--ckpt-every", "2", "--out", str(out)]
    assert main([*argv, *TINY]) == 0
    newest = ckpt.checkpoint_path(out, 4)
    newest.write_bytes(newest.read_bytes()[:1000])  # a copy cut short
    capsys.readouterr()
    assert main(["sample", str(out), "-n", "2", "--out", str(tmp_path / "s.png")]) == 0
    assert "step_0000004.pt" in caplog.text and "using step_0000002.pt" in caplog.text
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "checkpoint(s) of step 4 do not open" in text and "last checkpoint at step 2" in text


def test_a_checkpoint_of_another_model_in_a_run_is_refused(capsys, tmp_path, tiny_npz, finished):
    """A checkpoint copied in from a run with other codes must not be used under this run's
    config.json, report and labels."""
    from infogan.errors import CheckpointError
    from infogan.model import load_run

    other = tmp_path / "other"
    flags = [*TINY_FLAGS, "--codes", "cat:3,cont:1", "--device", "cpu"]
    assert main(["train", "--data", tiny_npz, "--steps", "2", "--out", str(other), *flags]) == 0
    ckpt.checkpoint_path(finished, 9).write_bytes(ckpt.checkpoint_path(other, 2).read_bytes())
    with pytest.raises(CheckpointError, match="step_0000009.pt is not of the run.*codes"):
        load_run(finished)
    capsys.readouterr()
    err = _err(capsys, ["sample", str(finished), "--out", str(tmp_path / "s.png")])
    assert "'cat:3,cont:1' (run: 'cat:4,cont:2')" in err


def test_sample_counts_that_cannot_be_held_are_refused_before_any_work(capsys, finished, tmp_path):
    err = _err(
        capsys, ["sample", str(finished), "-n", "100000000", "--out", str(tmp_path / "a.npz")]
    )
    assert "GiB" in err and "at most" in err and not (tmp_path / "a.npz").exists()
    err = _err(capsys, ["sample", str(finished), "-n", "10001", "--out", str(tmp_path / "a.png")])
    assert "at most 10000 in a .png" in err


def test_generate_in_chunks_draws_the_same_images(finished, monkeypatch):
    import torch

    import infogan.model
    from infogan.model import load_run

    model = load_run(finished)
    whole = model.generate(n=20, seed=3)
    monkeypatch.setattr(infogan.model, "GENERATE_CHUNK", 7)
    torch.testing.assert_close(model.generate(n=20, seed=3), whole)


def test_usage_errors_are_one_line_and_counts_say_their_minimum(capsys, finished):
    err = _usage_error(capsys, ["sample", str(finished), "-n", "-3"])
    assert err.count("\n") == 1 and ">= 1, got -3" in err and "infogan sample --help" in err
    assert ">= 1" in _usage_error(capsys, ["train", "--candidates", "-2"])
    assert ">= 1" in _usage_error(capsys, ["train", "--batch", "0"])


def test_small_user_slips_get_messages_that_name_them(capsys, tmp_path, finished):
    from PIL import Image

    from infogan.data import load_dataset
    from infogan.errors import DataError

    png = tmp_path / "one.png"
    Image.new("L", (28, 28)).save(png)
    with pytest.raises(DataError, match="one image, not a dataset"):
        load_dataset(png)
    import numpy as np

    np.save(tmp_path / "x.npy", np.zeros((2, 28, 28), np.uint8))  # not read as an IDX file
    with pytest.raises(DataError, match=r"single \.npy array; .*np\.savez"):
        load_dataset(tmp_path / "x.npy")
    err = _err(
        capsys, ["sample", str(finished), "--label", "c9=1", "--out", str(tmp_path / "x.png")]
    )
    assert "unknown code 'c9'" in err
    err = _err(
        capsys,
        ["centrality", str(finished), str(finished) + "/", "--json", str(tmp_path / "c.json")],
    )
    assert "given twice" in err
    assert main(["traverse", str(finished), "--code", "c1,c3", "--out", str(tmp_path / "t")]) == 0
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == [
        "traversal_c1.png",
        "traversal_c3.png",
    ]


@pytest.mark.filterwarnings("ignore:.*torch.jit.load:FutureWarning")
def test_export_to_a_pt_file_is_torchscript(tmp_path, finished):
    import torch

    out = tmp_path / "g.pt"
    assert main(["export", str(finished), "--out", str(out)]) == 0
    assert torch.jit.load(str(out)) is not None  # was safetensors bytes under a .pt name


def test_python_api_arguments_of_the_wrong_kind_are_named(finished):
    import numpy as np
    import torch

    from infogan.errors import DataError
    from infogan.model import load_run

    m = load_run(finished)
    for kw, name in [
        ({"n": 2.5}, "n"),
        ({"n": True}, "n"),
        ({"n": "2"}, "n"),
        ({"seed": "a"}, "seed"),
        ({"seed": 2**70}, "seed"),
        ({"seed": -1}, "seed"),
        ({"codes": [1, 2]}, "codes"),
        ({"latent": torch.zeros(2, 70)}, "latent"),
        ({"codes": {"c1": True}}, "c1"),
        ({"n": 10**9}, "GiB"),  # refused before a byte is drawn
    ]:
        with pytest.raises(SpecError, match=name):
            m.generate(**kw)
    with pytest.raises(SpecError, match="code name"):
        m.traverse(2)
    with pytest.raises(SpecError, match="steps"):
        m.traverse("c2", steps=10**5)
    with pytest.raises(SpecError, match="steps"):
        m.traverse("c2", steps=2.5)
    for bad in ("x.png", None):
        with pytest.raises(DataError, match="expected a tensor or an array"):
            m.encode(bad)
    with pytest.raises(SpecError, match="n"):
        m.mi_bound_fitted_std(n=0)
    assert m.check_count(np.int64(3)) == 3


def test_labels_as_floats_and_names_in_npz_tables(tmp_path):
    import io

    import numpy as np

    from infogan.labels import write_table

    buf = io.BytesIO()
    cols = {"c1": np.array([0, 1]), "c1_label": np.array(["seven", "four"], dtype=object)}
    write_table(buf, cols, "npz")  # object arrays could not be saved without pickle
    assert list(np.load(io.BytesIO(buf.getvalue()))["c1_label"]) == ["seven", "four"]


def test_csv_cells_a_spreadsheet_would_run_are_written_as_text():
    import csv
    import io

    import numpy as np

    from infogan.labels import write_table

    buf = io.BytesIO()
    files = np.array(['=HYPERLINK("http://x")', "+1.png", "@a.png", "-b.png", "ok.png"])
    cols = {
        "file": files,
        "c1": np.array([0, 1, 2, 3, 4]),
        "c1_label": np.array(["-1", "-1", "=2", "x", "3"], dtype=object),
        "c2_mean": np.array([-0.5, 0.25, -1.0, 0.0, 1.0]),
    }
    write_table(buf, cols, "csv")
    rows = list(csv.reader(io.StringIO(buf.getvalue().decode())))[1:]
    assert [r[1] for r in rows] == [
        '\'=HYPERLINK("http://x")',
        "'+1.png",
        "'@a.png",
        "'-b.png",
        "ok.png",
    ]
    assert [r[3] for r in rows] == ["-1", "-1", "'=2", "x", "3"]  # numbers stay numbers
    assert rows[0][4] == "-0.5"


def test_centrality_says_when_its_pick_is_arbitrary():
    from infogan.centrality import CentralityResult, format_centrality

    res = CentralityResult(
        ["a", "b"], [[0.0, 0.0], [0.0, 0.0]], [0.0, 0.0], 0, {"groups": 5, "group_size": 2}
    )
    assert res.tied == [0, 1] and res.to_dict()["tied"] == ["a", "b"]
    assert "arbitrary" in format_centrality(res) and "all scores 0" in format_centrality(res)
    res = CentralityResult(
        ["a", "b"], [[0.9, 0.5], [0.5, 0.8]], [0.7, 0.65], 0, {"groups": 5, "group_size": 2}
    )
    assert res.tied == [] and "arbitrary" not in format_centrality(res)
    # Two runs always tie (the similarity is symmetric); the note says why.
    res = CentralityResult(
        ["a", "b"], [[0.9, 0.5], [0.1, 0.8]], [0.3, 0.3], 0, {"groups": 5, "group_size": 2}
    )
    assert res.tied == [0, 1] and "needs three or more runs" in format_centrality(res)


def test_centrality_takes_the_first_of_runs_tied_to_the_last_bits():
    """0.283 against 0.28300000000000003 was reported as a tie, "the first is taken", and
    np.argmax picked the second."""
    from infogan.centrality import _top

    assert _top([0.1, 0.283, 0.28300000000000003, 0.2]) == [1, 2]
    assert _top([0.5, 0.283]) == [0]


def test_a_metric_of_one_seed_has_no_spread():
    from infogan.sweep import format_summary, summarise

    per_seed = {0: {"a": 1.0, "b": 2.0}, 1: {"a": 3.0}}
    s = summarise(per_seed)
    # the sample std (n - 1) of 1 and 3 is sqrt(2); the population one would be 1
    assert s["a"]["std"] == pytest.approx(2**0.5) and s["b"]["std"] is None and s["b"]["n"] == 1
    table = format_summary(per_seed, s).splitlines()
    assert "-" in table[2]
    assert (
        table[0].split()[-1] == "n" and table[1].split()[-1] == "2" and table[2].split()[-1] == "1"
    )
    # Long names are shown whole (the last 44 characters of two could be alike).
    long = {"x" * 30 + "/first/" + "y" * 40: 1.0, "x" * 31 + "/other/" + "y" * 40: 2.0}
    table = format_summary({0: long}, summarise({0: long})).splitlines()
    assert [row.split()[0] for row in table[1:]] == list(long)
    assert len({len(row) for row in table}) == 1  # the columns line up


def test_info_shows_disentanglement_and_quality(capsys, finished):
    path = finished / "report.json"
    rep = json.loads(path.read_text())
    rep["disentanglement"] = {"mig": 0.25, "factorvae": 0.75, "sap": 0.1}
    rep["quality"] = {"fid": 12.5, "kid": 0.01, "real_vs_real": {}}
    path.write_text(json.dumps(rep))
    assert main(["info", str(finished)]) == 0
    out = capsys.readouterr().out
    assert "mig 0.25, factorvae 0.75" in out and "sap" not in out and "fid 12.5" in out


def test_clustering_of_a_model_without_categorical_codes_is_said_skipped(tmp_path, tiny_dataset):
    from conftest import tiny_config

    from infogan import train

    run = tmp_path / "cont"
    rep = train(tiny_config(codes="cont:2", steps=2), run, dataset=tiny_dataset).report
    assert "categorical" in rep["evaluations"]["tiny"]["skipped"]["clustering"]
    assert "clustering" not in rep and "data" not in rep


def test_a_config_file_that_leaves_fields_out_says_which(tmp_path, capsys):
    """A hand-written --config trained TrainConfig's defaults for what it left out (the paper's
    recipe, not the default preset) without a word."""
    from infogan.cli import _note_missing_fields
    from infogan.config import preset

    full = preset("default").to_dict()
    (tmp_path / "full.json").write_text(json.dumps(full))
    _note_missing_fields(str(tmp_path / "full.json"))
    assert capsys.readouterr().out == ""  # a run's own config.json: nothing to say
    del full["d_translate"], full["model"]["width"]
    (tmp_path / "part.json").write_text(json.dumps(full))
    _note_missing_fields(str(tmp_path / "part.json"))
    out = capsys.readouterr().out
    assert "leaves out d_translate, model.width; they take TrainConfig's defaults" in out


def test_a_cuda_index_past_the_machines_gpus_is_one_line(monkeypatch):
    """cuda:N past the GPUs there are passed the check and failed later ("invalid device
    ordinal", a traceback from the first CUDA call)."""
    from infogan.devices import resolve_device
    from infogan.errors import SpecError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    assert resolve_device("cuda") == torch.device("cuda")
    with pytest.raises(SpecError, match=r"cuda:2 does not exist; this machine has cuda:0..cuda:1"):
        resolve_device("cuda:2")


def test_evaluate_never_replaces_a_later_steps_report(capsys, caplog, finished):
    """An evaluate started while the run trained loaded an older checkpoint and, when it
    ended, replaced the finished run's final report (and the label mappings encode reads)
    with its older step's. It now leaves a later report alone, and says the run is training."""
    import subprocess
    import sys

    report = finished / "report.json"
    later = json.loads(report.read_text())
    later["step"] = 5  # as the run's own report once it trained on to step 5
    report.write_text(json.dumps(later))
    before = report.read_bytes()
    lock = finished / ".lock"
    holder = subprocess.Popen(  # a trainer's flock on the run, as run_lock takes it
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT);"
            "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, str(os.getpid()).encode());"
            "print('held', flush=True); time.sleep(60)",
            str(lock),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["evaluate", str(finished), "--metrics", "mi", "--n-mi", "64"]) == 0
        out, err = capsys.readouterr()
        # A new run into the folder: said to be training, not "resume it" (refused too).
        new = ["train", "--out", str(finished), "--steps", "1"]
        assert f"holds a run that is training now (pid {holder.pid})" in _err(capsys, new)
        # The commands that use the model say which step of the training run they read.
        png = finished.parent / "s.png"
        assert main(["sample", str(finished), "-n", "4", "--out", str(png)]) == 0
        capsys.readouterr()
    finally:
        holder.kill()
        holder.wait()
    said = caplog.text
    assert f"is training (pid {holder.pid}); this evaluates its newest checkpoint, step 2" in said
    assert "is of step 5, later than the step 2 evaluated here" in said
    assert f"is training (pid {holder.pid}); this uses its newest checkpoint, step 2" in said
    assert "MI lower bound" in out and "report:" not in out  # the scores are still shown
    assert report.read_bytes() == before


def test_sweep_keeps_a_users_folder_and_sweep_json(capsys, tmp_path):
    """sweep --out into a user's folder replaced their own sweep.json (JSON or not) and put its
    runs among their files; train refuses such a folder, and now so does sweep."""
    mine = tmp_path / "proj"
    mine.mkdir()
    (mine / "sweep.json").write_text("my own")
    argv = ["sweep", "--seeds", "0", "--steps", "1", "--out", str(mine), *TINY]
    assert "is not a sweep's table" in _err(capsys, argv)
    (mine / "sweep.json").write_text('{"my": 1}')
    assert "is not a sweep's table" in _err(capsys, argv)
    (mine / "sweep.json").unlink()
    (mine / "notes.txt").write_text("notes")
    assert "holds other files (notes.txt)" in _err(capsys, argv)
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert "is a file" in _err(capsys, [*argv[: -len(TINY) - 1], str(afile), *TINY])


def test_sigterm_in_any_command_removes_its_temporary_file(capsys, finished, tmp_path, monkeypatch):
    """Only train and sweep turned SIGTERM into the unwinding Ctrl-C gets: a killed `sample`
    (or encode, export) left its hidden temporary file behind, 150 MB for 100,000 images."""
    import os
    import signal

    import numpy as np

    real = np.savez_compressed

    def killed_midway(f, **arrays):
        f.write(b"partial")
        os.kill(os.getpid(), signal.SIGTERM)  # as `kill PID` from another shell, mid-write
        real(f, **arrays)

    monkeypatch.setattr(np, "savez_compressed", killed_midway)
    out = tmp_path / "s.npz"
    assert main(["sample", str(finished), "-n", "4", "--out", str(out)]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["done", "tiny.npz"]  # no .tmp
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # given back after the command


def test_the_suggested_resume_command_can_be_pasted(tmp_path):
    """A run folder named 'my run' was suggested as `infogan train --resume my run`."""
    import shlex

    from infogan.errors import SpecError
    from infogan.prepare import check_new_run_dir

    run = tmp_path / "my run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    with pytest.raises(SpecError) as e:
        check_new_run_dir(run)
    assert f"infogan train --resume {shlex.quote(str(run))}," in str(e.value)
    assert shlex.split(f"infogan train --resume {shlex.quote(str(run))}")[-1] == str(run)


def test_the_mi_bound_needs_no_training_data(capsys, caplog, tmp_path, tiny_npz):
    """evaluate --metrics mi refused a run whose training data had moved, though the bound
    reads generated images only; other metrics still name the missing data."""
    run = tmp_path / "r"
    assert main(["train", "--data", tiny_npz, "--steps", "1", "--out", str(run), *TINY]) == 0
    Path(tiny_npz).unlink()  # the run's data, gone
    capsys.readouterr()
    assert main(["evaluate", str(run), "--metrics", "mi", "--n-mi", "64"]) == 0
    assert "scoring the MI bound, which needs no images" in caplog.text
    assert "MI lower bound" in capsys.readouterr().out
    err = _err(capsys, ["evaluate", str(run), "--metrics", "clustering"])
    assert "tiny.npz" in err


def test_one_dataset_typed_two_ways_is_one_evaluation(finished, monkeypatch):
    """Evaluations were keyed by the path as typed: one dataset from two working directories
    was listed (and shown by info) as several."""
    data = finished.parent / "tiny.npz"
    argv = ["evaluate", str(finished), "--metrics", "clustering"]
    monkeypatch.chdir(finished.parent)
    assert main([*argv, "--data", "tiny.npz"]) == 0
    monkeypatch.chdir(finished)
    assert main([*argv, "--data", "../tiny.npz"]) == 0
    assert main([*argv, "--data", str(data)]) == 0
    keys = json.loads((finished / "report.json").read_text())["evaluations"]
    assert str(data.resolve()) in keys and "tiny.npz" not in keys and "../tiny.npz" not in keys


def test_a_dangling_link_as_the_run_folder_is_named(capsys, tmp_path):
    link = tmp_path / "dangling"
    link.symlink_to(tmp_path / "nowhere")
    err = _err(capsys, ["train", "--out", str(link), "--steps", "1", *TINY])
    assert "symbolic link to" in err and "nowhere" in err  # it said "File exists"


def test_scores_are_shown_when_the_report_cannot_be_written(capsys, finished, monkeypatch):
    """A full disk at report.html: the scores were measured, then neither shown nor saved."""
    import errno

    from infogan import report_html

    def full(*a, **kw):
        raise OSError(errno.ENOSPC, "No space left on device", str(finished / "report.html"))

    monkeypatch.setattr(report_html, "write_html", full)
    assert main(["evaluate", str(finished), "--metrics", "mi", "--n-mi", "64"]) == 2
    err = capsys.readouterr().err
    assert "MI lower bound" in err and "report.html: No space left on device" in err


def test_run_file_guards_leave_legitimate_outputs_alone(capsys, finished, tmp_path):
    """Review of the guards: a project folder with its own config.json is not a run; an
    evaluation that left out the MI bound is still an earlier report to replace; --json at the
    run's own report.json no longer writes an older step's report over a later one."""
    proj = tmp_path / "proj"
    (proj / "samples").mkdir(parents=True)
    (proj / "config.json").write_text('{"theme": "dark"}')
    assert main(["sample", str(finished), "-n", "4", "--out", str(proj / "samples" / "g.png")]) == 0
    d = tmp_path / "d.json"
    argv = ["evaluate", str(finished), "--metrics", "clustering", "--json", str(d)]
    # its own earlier output, without mi_bound, replaced (with --force, as any output)
    assert main(argv) == 0 and main([*argv, "--force"]) == 0
    report = finished / "report.json"
    later = json.loads(report.read_text())
    later["step"] = 999
    report.write_text(json.dumps(later))
    before = report.read_bytes()
    own = ["evaluate", str(finished), "--metrics", "mi", "--n-mi", "64", "--json", str(report)]
    assert main(own) == 0
    assert report.read_bytes() == before


def test_an_earlier_sweeps_folder_takes_files_added_beside_it(capsys, tmp_path, tiny_npz):
    out = tmp_path / "sw"
    argv = ["sweep", "--data", tiny_npz, "--seeds", "0", "--steps", "1", "--out", str(out)]
    assert main([*argv, *TINY]) == 0
    (out / "centrality.json").write_text("{}")  # a later step's output, saved beside it
    # ... and how the steps run may change, as on train --resume
    assert main([*argv, "--memory-format", "contiguous", *TINY]) == 0
    link = tmp_path / "dangling"
    link.symlink_to(tmp_path / "nowhere")
    err = _err(capsys, ["sweep", "--seeds", "0", "--steps", "1", "--out", str(link), *TINY])
    assert "symbolic link to" in err


def test_resume_refuses_a_config_that_asks_for_candidates_the_run_never_had(capsys, finished):
    """A one-start run whose config.json was edited to ask for candidates, or damaged to `{}`
    (read as the default recipe: 4 starts, full width), was resumed as a new selection from
    step 0, replacing the finished run's report, metrics and figures."""
    config = finished / "config.json"
    saved = json.loads(config.read_text())
    assert saved["candidates"] == 1
    kept = {p: p.read_bytes() for p in finished.rglob("*") if p.is_file()}
    for edited, why in (
        ({**saved, "candidates": 2}, "candidates 1 there, 2 here"),
        ({}, "batch 8 there, 64 here"),
    ):
        config.write_text(json.dumps(edited))
        kept[config] = config.read_bytes()
        err = _err(capsys, ["train", "--resume", str(finished), "--steps", "4"])
        assert "is not the recipe of the run's checkpoints" in err and why in err, err
        assert not (finished / "candidates").exists()
        assert {p: p.read_bytes() for p in finished.rglob("*") if p.is_file()} == kept


@pytest.mark.parametrize(
    "starts", [["--candidates", "1"], ["--candidates", "2", "--select-steps", "2"]]
)
def test_out_of_memory_before_the_first_checkpoint_frees_out(capsys, tmp_path, monkeypatch, starts):
    """Out of memory at the first step left config.json behind, so the corrected command (a
    smaller --width) was refused as "already holds a run", and a resume would repeat the
    recipe that ran out of memory. As a run that diverges before its first checkpoint, it
    now leaves --out free; one that failed after a checkpoint keeps it (tested elsewhere)."""
    import importlib

    from infogan import fastpath

    train_module = importlib.import_module("infogan.train")  # infogan.train is the function
    real = fastpath.make_stepper

    def failing(trainer):
        stepper = real(trainer)

        def boom(step):
            raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")

        stepper.step = boom
        return stepper

    monkeypatch.setattr(train_module, "make_stepper", failing)
    out = tmp_path / "oom"
    argv = ["train", "--steps", "4", "--out", str(out), *TINY, *starts]
    assert main(argv) == 2
    assert "error: out of memory" in capsys.readouterr().err
    assert not (out / "config.json").exists() and not (out / "candidates").exists()
    monkeypatch.setattr(train_module, "make_stepper", real)
    assert main(argv) == 0  # the same --out, now free
    assert ckpt.list_checkpoints(out)[-1][0] == 4


def test_info_on_a_run_whose_every_checkpoint_is_damaged_says_what_works(
    capsys, tmp_path, tiny_npz
):
    """--resume refuses such a run (it would start over the damaged files), so info must not
    suggest it as is; its suggestion, removing them, does start the run again from step 0."""
    out = tmp_path / "r"
    argv = ["train", "--data", tiny_npz, "--steps", "2", "--ckpt-every", "1", "--out", str(out)]
    assert main([*argv, *TINY]) == 0
    (out / "report.json").unlink()
    for path in (out / "checkpoints").glob("*.pt"):
        path.write_bytes(path.read_bytes()[:500])
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "no usable checkpoint" in text and "--resume refuses damaged checkpoints" in text
    assert main(["train", "--resume", str(out)]) == 2
    for path in (out / "checkpoints").glob("*.pt"):
        path.unlink()
    assert main(["train", "--resume", str(out)]) == 0
    assert ckpt.checkpoint_path(out, 2).is_file()


def test_json_nested_too_deeply_is_one_line(tmp_path, capsys, finished):
    """json's decoder recurses per level: 100,000 nested brackets as --config, or as a run's
    report.json, ended in a RecursionError traceback (exit 1)."""
    import shutil

    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    out = str(tmp_path / "x")
    assert "nested too deeply" in _err(capsys, ["train", "--config", str(deep), "--out", out])
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    shutil.copy(deep, run / "report.json")
    assert "nested too deeply" in _err(capsys, ["info", str(run)])


def test_a_huge_value_is_not_echoed_whole(tmp_path, capsys):
    """A 5 MB ``data`` string in a --config file was printed whole in the error line."""
    import json

    cfg = tmp_path / "big.json"
    cfg.write_text(json.dumps({"data": "x" * 5_000_000}))
    err = _err(capsys, ["train", "--config", str(cfg), "--out", str(tmp_path / "r")])
    assert len(err) < 1200 and "characters left out" in err, err[:300]
    assert err.endswith("File name too long")  # the end, which says what is wrong, is kept


def test_a_refused_value_from_a_config_file_says_so(tmp_path, capsys):
    """A ddp run's config.json given to a --parallel 2 run: the refusal of ddp named the field
    as if it had been typed."""
    import json

    from infogan.config import preset

    saved = preset("default").to_dict()
    saved["ddp"] = 2
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(saved))
    out = str(tmp_path / "r")
    err = _err(capsys, ["train", "--config", str(cfg), "--parallel", "2", "--out", out])
    assert err.startswith("error: ddp:") and err.endswith(f"(from {cfg})"), err
    typed = ["train", "--config", str(cfg), "--parallel", "2", "--ddp", "2", "--out", out]
    assert "(from" not in _err(capsys, typed)


def test_a_gpu_recipe_on_the_cpu_names_every_problem_at_once(tmp_path, tiny_dataset):
    """A GPU run (graph on, bf16) resumed with --device cpu named its problems one per try."""
    from conftest import tiny_config

    from infogan import train

    cfg = tiny_config(steps=2, device="cpu", graph="on", precision="bf16")
    with pytest.raises(SpecError, match=r"^graph: CUDA graphs need .*; precision: bf16 on this"):
        train(cfg, tmp_path / "r", dataset=tiny_dataset)
    cfg = tiny_config(steps=2, device="cpu", precision="bf16")
    with pytest.raises(SpecError, match=r"^precision: bf16") as e:
        train(cfg, tmp_path / "r", dataset=tiny_dataset)
    assert "graph" not in str(e.value) and not (tmp_path / "r").exists()


def test_path_arguments_of_the_python_api_name_a_wrong_kind(tmp_path):
    """None as a path was a raw TypeError from os.fspath in each of these; train(resume="no")
    resumed (a truthy string)."""
    from conftest import tiny_config

    from infogan import train
    from infogan.config import TrainConfig
    from infogan.data.npz import read_npz
    from infogan.errors import InfoGANError
    from infogan.export import export_model, load_generator, sidecar_path

    calls = {
        "config": [lambda: TrainConfig.load(None), lambda: tiny_config().save(None)],
        "data": [lambda: read_npz(None)],
        "export": [
            lambda: export_model(None, tmp_path / "g.safetensors"),
            lambda: export_model(tmp_path, None),
            lambda: load_generator(None),
            lambda: sidecar_path(3),
        ],
        "run_dir": [lambda: train(tiny_config(), None)],
    }
    for name, fns in calls.items():
        for fn in fns:
            with pytest.raises(InfoGANError, match=f"^{name}: (source: |out: )?expected a path"):
                fn()
    with pytest.raises(SpecError, match="resume: expected True or False, got 'no'"):
        train(tiny_config(), tmp_path / "r", resume="no")


def test_a_write_failure_at_the_end_says_the_training_is_kept(tmp_path, tiny_dataset, monkeypatch):
    """A folder made read-only before the report: "traversal_c1.png: Operation not permitted"
    alone, not that every step was checkpointed and a resume writes the report."""
    import errno

    from conftest import tiny_config

    from infogan import report
    from infogan.errors import TrainingError
    from infogan.train import Trainer

    def refused(run_dir, *a, **kw):
        raise PermissionError(errno.EPERM, "Operation not permitted", str(run_dir / "x.png"))

    monkeypatch.setattr(report, "finish_run", refused)
    run = tmp_path / "r"
    with pytest.raises(TrainingError, match=r"x.png: Operation not permitted; all 3 steps are"):
        Trainer(tiny_config(steps=3), run, dataset=tiny_dataset).run(finish=True)
    assert ckpt.list_checkpoints(run)[-1][0] == 3


def test_a_sweep_whose_seed_is_training_says_to_run_it_again(capsys, tmp_path):
    """The same sweep started twice: the second printed "seed 0: training in ..." and was
    refused with the trainer's advice to --resume, not to run the sweep again."""
    import subprocess
    import sys

    seed0 = tmp_path / "sw" / "seed0"
    seed0.mkdir(parents=True)
    holder = subprocess.Popen(  # a trainer's flock on the seed's run, as run_lock takes it
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT);"
            "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, str(os.getpid()).encode());"
            "print('held', flush=True); time.sleep(60)",
            str(seed0 / ".lock"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        argv = ["sweep", "--seeds", "0,1", "--steps", "2", "--out", str(tmp_path / "sw"), *TINY]
        err = _err(capsys, argv)
    finally:
        holder.kill()
        holder.wait()
    assert f"seed 0 ({seed0}) is being trained by another process (pid {holder.pid}" in err
    assert "run this sweep again" in err and not (tmp_path / "sw" / "seed1").exists()
