"""Bad input found by auditing the CLI as a user: each gets one clear line, before any work is
done where it can be, and never costs a user a finished run or file."""

import json
from pathlib import Path

import pytest
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


@pytest.fixture
def finished(tmp_path, tiny_npz) -> Path:
    out = tmp_path / "done"
    assert main(["train", "--data", tiny_npz, "--steps", "2", "--out", str(out), *TINY]) == 0
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
    with pytest.raises(SpecError, match="cannot read"):
        TrainConfig.load(binary)
    # Whole numbers are numbers: an int where a float is expected is fine.
    assert TrainConfig.from_dict({"lr_d": 1}).lr_d == 1


def test_infinite_and_out_of_range_numbers_are_refused(capsys, tmp_path):
    out = str(tmp_path / "x")
    for flag in ("--lr-d", "--lambda-cont", "--fixed-std", "--width", "--instance-noise"):
        assert "finite" in _usage_error(capsys, ["train", flag, "inf", "--out", out])
    assert "seed" in _usage_error(capsys, ["train", "--seed", str(2**70), "--out", out])
    assert "seed" in _usage_error(capsys, ["sample", out, "--seed", "-1"])
    assert ">= 1" in _usage_error(capsys, ["evaluate", out, "--n-mi", "0"])
    assert not Path(out).exists()
    cfg = TrainConfig(r1_gamma=float("inf"))
    with pytest.raises(SpecError, match="r1_gamma: must be a finite number"):
        cfg.validate()


def test_empty_data_is_refused(capsys, tmp_path):
    err = _err(capsys, ["train", "--data", "", "--out", str(tmp_path / "e"), *TINY])
    assert "data: empty" in err
    assert not (tmp_path / "e").exists()


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


def test_evaluate_refuses_to_overwrite_what_is_not_a_json_report(capsys, finished, tmp_path):
    target = ckpt.list_checkpoints(finished)[-1][1]
    before = target.read_bytes()
    err = _err(capsys, ["evaluate", str(finished), "--metrics", "mi", "--json", str(target)])
    assert "--json" in err
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    err = _err(capsys, ["evaluate", str(finished), "--metrics", "mi", "--json", str(notes)])
    assert "not a JSON file" in err and notes.read_text() == "my notes"
    assert target.read_bytes() == before
    err = _err(capsys, ["evaluate", str(target), "--metrics", "mi"])
    assert "is a file; give its run directory" in err
    assert "device" in _err(capsys, ["evaluate", str(finished), "--device", "bogus"])
    earlier = tmp_path / "earlier.json"
    earlier.write_text("{}")  # an earlier report may be replaced
    argv = ["evaluate", str(finished), "--metrics", "mi", "--n-mi", "64", "--json", str(earlier)]
    assert main(argv) == 0
    assert "mi_bound" in json.loads(earlier.read_text())


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
