"""The CLI as a user runs it: a smoke run producing every output, and clear one-line errors."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_FLAGS
from PIL import Image

from infogan import checkpoint as ckpt
from infogan.cli import main

TINY = [*TINY_FLAGS, "--codes", "cat:4,cont:2"]


@pytest.fixture
def run_dir(tmp_path, tiny_npz):
    out = tmp_path / "run"
    rc = main(
        [
            "train",
            "--data",
            tiny_npz,
            "--steps",
            "6",
            "--out",
            str(out),
            "--log-every",
            "2",
            "--ckpt-every",
            "3",
            "--sample-every",
            "3",
            "--eval-data",
            tiny_npz,
            *TINY,
        ]
    )
    assert rc == 0
    return out


def test_train_writes_every_output(run_dir):
    for name in [
        "config.json",
        "metrics.jsonl",
        "report.json",
        "curves.png",
        "traversal_c1.png",
        "traversal_c2.png",
        "traversal_c3.png",
    ]:
        assert (run_dir / name).is_file(), name
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == [
        "step_0000003.pt",
        "step_0000006.pt",
    ]
    assert sorted(p.name for p in (run_dir / "samples").iterdir()) == [
        "step_0000003.png",
        "step_0000006.png",
    ]
    for png in run_dir.glob("*.png"):
        Image.open(png).verify()
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4, 6]
    assert {"d_loss", "g_loss", "mi/c1", "mi/c2", "mi/c3"} <= set(rows[0])
    rep = json.loads((run_dir / "report.json").read_text())
    c1 = rep["clustering"]["c1"]
    assert {"accuracy", "nmi", "ari", "mapping"} <= set(c1) and 0 <= c1["accuracy"] <= 1
    assert set(rep["mi_bound"]) == {"c1", "c2", "c3"}
    assert rep["mi_bound"]["c1"]["entropy"] == pytest.approx(np.log(4))


def test_evaluate_sample_traverse_encode(run_dir, tiny_npz, tmp_path, capsys):
    assert (
        main(
            [
                "evaluate",
                str(run_dir),
                "--data",
                tiny_npz,
                "--n-mi",
                "200",
                "--metrics",
                "clustering,mi",
            ]
        )
        == 0
    )
    assert (run_dir / "report.html").read_text().count("<table>") >= 2
    assert "c1 as classifier" in capsys.readouterr().out
    # a second call for another metric prints its own results and names the earlier ones
    assert main(["evaluate", str(run_dir), "--n-mi", "200", "--metrics", "mi"]) == 0
    printed = capsys.readouterr().out
    assert "c1 as classifier" not in printed and "MI lower bound" in printed
    assert "also in report.json from earlier evaluations of step" in printed
    assert "clustering" in printed.split("also in report.json")[1], printed
    # --json -: the merged report on stdout, parseable; the table on stderr
    assert main(["evaluate", str(run_dir), "--n-mi", "100", "--metrics", "mi", "--json", "-"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["step"] == 6 and "MI lower bound" in err and not Path("-").exists()
    out = tmp_path / "s.png"
    assert (
        main(
            [
                "sample",
                str(run_dir),
                "--code",
                "c1=3",
                "--code",
                "c2=-1.5",
                "-n",
                "6",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert Image.open(out).size[0] > 28
    assert main(["sample", str(run_dir), "-n", "5", "--out", str(tmp_path / "s.npz")]) == 0
    assert np.load(tmp_path / "s.npz")["images"].shape == (5, 1, 28, 28)
    assert main(["traverse", str(run_dir), "--code", "c2", "--out", str(tmp_path / "t")]) == 0
    assert (tmp_path / "t" / "traversal_c2.png").is_file()
    codes = tmp_path / "codes.csv"
    assert main(["encode", str(run_dir), "--data", tiny_npz, "--out", str(codes)]) == 0
    rows = list(csv.DictReader(codes.open()))
    assert len(rows) == 64
    assert {"c1", "c1_prob", "c1_label", "c2_mean", "c2_std", "c3_mean"} <= set(rows[0])


def _err(capsys, argv):
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert err.startswith("error: ") and "\n" not in err, err
    return err


@pytest.mark.parametrize(
    "codes, part", [("cat:1", "cat:1"), ("cont:0", "cont:0"), ("foo:3", "foo"), ("", "empty")]
)
def test_bad_code_specs(capsys, tmp_path, codes, part):
    err = _err(capsys, ["train", "--codes", codes, "--out", str(tmp_path / "x"), "--steps", "1"])
    assert part in err


def test_bad_data_and_flags(capsys, tmp_path, tiny_npz, run_dir):
    assert "nope" in _err(
        capsys, ["train", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "y")]
    )
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 truncated")
    assert "bad.npz" in _err(capsys, ["train", "--data", str(bad), "--out", str(tmp_path / "z")])
    rgb = tmp_path / "rgb.npz"
    np.savez(rgb, images=np.zeros((16, 32, 32, 3), np.uint8))
    assert "--arch conv32" in _err(
        capsys, ["train", "--data", str(rgb), "--out", str(tmp_path / "w"), *TINY]
    )
    # Refused before anything was written: the corrected command may use the same --out.
    assert not (tmp_path / "w").exists()
    grey32 = tmp_path / "grey32.npz"
    np.savez(grey32, images=np.zeros((16, 32, 32), np.uint8))
    assert "needs 1x28x28; --arch conv32 reads 32x32" in _err(
        capsys, ["train", "--data", str(grey32), "--out", str(tmp_path / "w"), *TINY]
    )
    assert not (tmp_path / "w").exists()
    assert "already holds a run" in _err(
        capsys, ["train", "--data", tiny_npz, "--out", str(run_dir), *TINY]
    )
    assert "--codes" in _err(capsys, ["train", "--resume", str(run_dir), "--codes", "cat:3"])
    assert "batch" in _err(capsys, ["train", "--batch", "1", "--out", str(tmp_path / "b")])
    assert "c1" in _err(capsys, ["sample", str(run_dir), "--code", "c1=9"])
    assert "c9" in _err(capsys, ["sample", str(run_dir), "--code", "c9=0"])
    assert "NAME=VALUE" in _err(capsys, ["sample", str(run_dir), "--code", "c1"])
    assert "does not exist" in _err(capsys, ["evaluate", str(tmp_path / "missing")])
    assert "no checkpoints" in _err(capsys, ["evaluate", str(tmp_path)])
    # What the folder is instead, where that can be told from its files.
    (tmp_path / "sw" / "seed3").mkdir(parents=True)
    (tmp_path / "sw" / "seed3" / "config.json").write_text("{}")
    assert "is a sweep's folder, not a run" in _err(capsys, ["evaluate", str(tmp_path / "sw")])
    (tmp_path / "other" / "checkpoints").mkdir(parents=True)
    err = _err(capsys, ["evaluate", str(tmp_path / "other")])
    assert "holds no checkpoint files" in err
    assert "preset" in _err(capsys, ["train", "--preset", "nope"])
    assert "device" in _err(capsys, ["train", "--device", "tpu", "--out", str(tmp_path / "d")])


def test_argparse_rejects_non_numbers(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--steps", "ten"])
    assert e.value.code == 2


def test_download_offline_is_a_clear_error(capsys, tmp_path, monkeypatch):
    import infogan.data.download as dl

    def no_network(url, dest, timeout=60.0):
        raise OSError("network is unreachable")

    monkeypatch.setattr(dl, "_fetch", no_network)
    err = _err(capsys, ["download", "mnist", "--root", str(tmp_path)])
    assert "mnist" in err
    assert not (tmp_path / "mnist").exists()  # no empty folder left that looks like a dataset


def test_sweep_summarises_seeds_and_reuses_finished_runs(tmp_path, tiny_npz, capsys, monkeypatch):
    import functools

    import infogan.centrality

    out = tmp_path / "sw"
    argv = [
        "sweep",
        "--data",
        tiny_npz,
        "--steps",
        "2",
        "--seeds",
        "0-1",
        "--out",
        str(out),
        "--log-every",
        "1",
        "--eval-data",
        tiny_npz,
        *TINY,
    ]
    assert main(argv) == 0
    res = json.loads((out / "sweep.json").read_text())
    assert res["seeds"] == [0, 1] and set(res["per_seed"]) == {"0", "1"}
    acc = [k for k in res["summary"] if k.endswith("/c1/accuracy")]
    assert acc
    st = res["summary"][acc[0]]
    vals = [res["per_seed"][s][acc[0]] for s in ("0", "1")]
    assert st["min"] == min(vals) and st["max"] == max(vals) and st["n"] == 2
    capsys.readouterr()
    # Again, with ModelCentrality over the two (reused) seeds (fewer votes: a quick check).
    small = functools.partial(
        infogan.centrality.model_centrality, groups=20, group_size=10, n_var=100
    )
    monkeypatch.setattr(infogan.centrality, "model_centrality", small)
    assert main([*argv, "--centrality"]) == 0
    printed = capsys.readouterr().out
    assert "already trained" in printed and "ModelCentrality (no labels) keeps seed" in printed
    assert "held the table" not in printed  # the same steps and seeds: refreshed, not another
    res = json.loads((out / "sweep.json").read_text())
    assert res["centrality"]["runs"] == ["seed0", "seed1"]
    assert res["summary"]["centrality"]["n"] == 2
    # One seed more: the old table's scope is named as it is replaced.
    assert main([*argv[:6], "0-2", *argv[7:]]) == 0
    assert "held the table of 2 steps, seeds [0, 1]; it now holds 2 steps, seeds [0, 1, 2]" in (
        capsys.readouterr().out
    )
    assert "--seeds" in _err(capsys, ["sweep", "--seeds", "a-b", "--out", str(out)])


def test_a_sweep_run_again_scores_finished_seeds_on_new_eval_data(tmp_path, tiny_npz, capsys):
    other = tmp_path / "other.npz"
    other.write_bytes(Path(tiny_npz).read_bytes())
    out = tmp_path / "sw"
    argv = ["sweep", "--data", tiny_npz, "--steps", "2", "--seeds", "0", "--out", str(out)]
    assert main([*argv, *TINY]) == 0
    capsys.readouterr()
    # Reused as it was, the seed's table lacked the new data's rows while sweep.json named it.
    assert main([*argv, "--eval-data", str(other), *TINY]) == 0
    assert "the sweep names other evaluation data; scoring it again" in capsys.readouterr().out
    res = json.loads((out / "sweep.json").read_text())
    assert any(k.endswith("other/c1/accuracy") for k in res["per_seed"]["0"])
    evaluated = json.loads((out / "seed0" / "report.json").read_text())["evaluations"]
    assert any("other" in name for name in evaluated) and any("tiny" in n for n in evaluated)
    # The seed's config names the data its report holds (info's "scored on"): run again, the
    # seed is reused.
    assert json.loads((out / "seed0" / "config.json").read_text())["eval_data"] == str(other)
    assert main([*argv, "--eval-data", str(other), *TINY]) == 0
    assert "reusing its report" in capsys.readouterr().out
    # A damaged report is scored again, not a traceback; without --eval-data, on the seed's own.
    (out / "seed0" / "report.json").write_text("{bad")
    assert main([*argv, *TINY]) == 0
    assert "cannot be read as JSON; scoring it again" in capsys.readouterr().out
    evaluated = json.loads((out / "seed0" / "report.json").read_text())["evaluations"]
    assert any("other" in name for name in evaluated)
    summary = json.loads((out / "sweep.json").read_text())["summary"]
    assert any(k.endswith("other/c1/accuracy") for k in summary)


def test_resuming_a_finished_run_with_new_eval_data_scores_it(tmp_path, tiny_npz, capsys):
    other = tmp_path / "other.npz"
    other.write_bytes(Path(tiny_npz).read_bytes())
    out = tmp_path / "r"
    assert main(["train", "--data", tiny_npz, "--steps", "2", "--out", str(out), *TINY]) == 0
    capsys.readouterr()
    # config.json takes the new --eval-data (info says "scored on" it), so the run is scored.
    assert main(["train", "--resume", str(out), "--eval-data", str(other), "--no-progress"]) == 0
    assert "scoring it on" in capsys.readouterr().out
    rep = json.loads((out / "report.json").read_text())
    assert any("other" in name for name in rep["evaluations"]) and "other" in rep["data"]
    assert "training" in rep  # the report of the training kept, the new scores merged in
    # Once scored, resuming again keeps the report as it is.
    assert main(["train", "--resume", str(out), "--no-progress"]) == 0
    assert "its report is kept" in capsys.readouterr().out


def test_evaluate_says_when_data_given_is_the_training_data(tmp_path, tiny_npz, caplog):
    out = tmp_path / "r"
    assert main(["train", "--data", tiny_npz, "--steps", "2", "--out", str(out), *TINY]) == 0
    copy = tmp_path / "copy.npz"  # the same images under another name: still not held out
    copy.write_bytes(Path(tiny_npz).read_bytes())
    caplog.clear()
    assert main(["evaluate", str(out), "--data", str(copy), "--metrics", "clustering"]) == 0
    assert "holds the images this run trained on" in caplog.text
    with np.load(tiny_npz) as z:
        np.savez(tmp_path / "flipped.npz", images=z["images"][..., ::-1], labels=z["labels"])
    caplog.clear()
    argv = [
        "evaluate",
        str(out),
        "--data",
        str(tmp_path / "flipped.npz"),
        "--metrics",
        "clustering",
    ]
    assert main(argv) == 0
    assert "holds the images this run trained on" not in caplog.text


def test_evaluate_replaces_a_report_it_cannot_merge_into(tmp_path, tiny_npz, capsys, caplog):
    out = tmp_path / "r"
    assert main(["train", "--data", tiny_npz, "--steps", "2", "--out", str(out), *TINY]) == 0
    rep = json.loads((out / "report.json").read_text())
    # Same step and weights, but a clustering entry without its numbers (hand-edited): merged
    # into, it broke report.html with a KeyError after report.json was already rewritten.
    bad = {"step": rep["step"], "weights": rep["weights"], "clustering": {"c1": {"accuracy": "x"}}}
    (out / "report.json").write_text(json.dumps(bad))
    capsys.readouterr()
    assert main(["evaluate", str(out), "--metrics", "mi", "--n-mi", "50"]) == 0
    assert "without accuracy, nmi, ari, n; replacing it" in caplog.text
    merged = json.loads((out / "report.json").read_text())
    assert "clustering" not in merged and "mi_bound" in merged
    assert "L_I" in (out / "report.html").read_text()


def test_bench_writes_json(tmp_path, tiny_npz, capsys):
    out = tmp_path / "b.json"
    assert (
        main(
            [
                "bench",
                "--device",
                "cpu",
                "--batch",
                "8,16",
                "--steps",
                "2",
                "--warmup",
                "1",
                "--width",
                "0.125",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    rows = json.loads(out.read_text())
    assert [r["batch"] for r in rows] == [8, 16]
    for r in rows:
        assert r["steps_per_second"] > 0 and 0 < r["fraction_of_peak"] < 1.5
        assert r["images_per_second"] == pytest.approx(r["steps_per_second"] * r["batch"])
        assert r["flops_per_step"] > 0 and r["peak_kind"] == "fp32 matmul"
        # what was timed: the width (0.125 is no full-width row), the layout actually used
        assert r["width"] == 0.125 and r["codes"] == "cat:10,cont:2"
        assert r["memory_format"] == "channels_last" and r["effective_precision"] == "fp32"
    assert "eager         fp32 channels_last batch     8" in capsys.readouterr().out
    out2 = tmp_path / "t.json"
    assert (
        main(
            [
                "bench",
                "--device",
                "cpu",
                "--batch",
                "8",
                "--width",
                "0.125",
                "--time-to-acc",
                "1.0",
                "--eval-data",
                tiny_npz,
                "--eval-every",
                "2",
                "--max-steps",
                "4",
                "--json",
                str(out2),
            ]
        )
        == 0
    )
    res = json.loads(out2.read_text())
    assert res["reached"] is False and [c["step"] for c in res["curve"]] == [2, 4]
    ph = res["phases"]
    assert {"build_s", "capture_s", "steps_s", "eval_s", "eval_data_s"} <= set(ph)
    assert all(v >= 0 for v in ph.values())
    # the selection path: candidates are built, stepped and scored, each phase timed
    out3 = tmp_path / "t3.json"
    argv = ["bench", "--device", "cpu", "--batch", "8", "--width", "0.125", "--preset", "default"]
    argv += ["--candidates", "2", "--select-steps", "2", "--time-to-acc", "1.0"]
    argv += ["--eval-data", tiny_npz, "--eval-every", "2", "--max-steps", "4", "--json", str(out3)]
    assert main(argv) == 0
    res = json.loads(out3.read_text())
    assert len(res["selection"]) == 2 and [c["step"] for c in res["curve"]] == [4]
    assert {"candidate_steps_s", "assess_s"} <= set(res["phases"])
    # successive halving in the bench: 4 starts scored at step 2, the best 2 again at step 3
    out4 = tmp_path / "t4.json"
    argv = [*argv[: argv.index("--candidates")], "--candidates", "4", "--select-steps", "2,3"]
    argv += ["--time-to-acc", "1.0", "--eval-data", tiny_npz, "--eval-every", "2"]
    argv += ["--max-steps", "5", "--json", str(out4)]
    assert main(argv) == 0
    res = json.loads(out4.read_text())
    assert [c["step"] for c in res["selection"]] == [2, 2, 2, 2, 3, 3]
    assert [c["step"] for c in res["curve"]] == [5]
    assert "--eval-data" in _err(capsys, ["bench", "--time-to-acc", "0.9"])
    # How the steps ran reaches the timed training and its record (--precision was ignored:
    # a time filed as tf32 was fp32).
    out5 = tmp_path / "t5.json"
    base = ["bench", "--device", "cpu", "--batch", "8", "--width", "0.125", "--max-steps", "2"]
    base += ["--time-to-acc", "1.0", "--eval-data", tiny_npz, "--eval-every", "2"]
    argv = [*base, "--precision", "tf32", "--memory-format", "contiguous", "--path", "eager"]
    assert main([*argv, "--json", str(out5)]) == 0
    res = json.loads(out5.read_text())
    assert (res["precision"], res["effective_precision"]) == ("tf32", "fp32")
    assert (res["memory_format"], res["graph"], res["compile"]) == ("contiguous", False, False)
    assert "one value of --precision" in _err(capsys, [*base, "--precision", "fp32,tf32"])
    assert "one value of --batch" in _err(capsys, [*base, "--batch", "8,16"])
    assert "CUDA" in _err(capsys, [*base, "--path", "graph"])
    assert "unknown path" in _err(capsys, [*base, "--path", "fast"])


def test_infogan_cr_flags_reach_the_config_and_the_preset_sets_them():
    from infogan.cli import _recipe_from_args, build_parser

    flags = ["--noise-dist", "uniform", "--sn-scope", "all", "--q-head-step", "d"]
    a = build_parser().parse_args(["train", *flags, "--info-in-d-step", "--cr-pretrain"])
    cfg = _recipe_from_args(a)
    assert (cfg.model.noise_dist, cfg.model.sn_scope, cfg.q_head_step) == ("uniform", "all", "d")
    assert cfg.cr_pretrain and cfg.info_in_d_step
    ds = _recipe_from_args(build_parser().parse_args(["train", "--preset", "dsprites"]))
    assert (ds.model.noise_dist, ds.model.sn_scope, ds.q_head_step) == ("uniform", "all", "d")
    assert not ds.cr_pretrain and ds.model.spectral_norm and ds.info_in_d_step


def test_select_steps_flag_takes_halving_points(capsys, tmp_path):
    from infogan.cli import _recipe_from_args, build_parser

    a = build_parser().parse_args(["train", "--select-steps", "1000,3000"])
    cfg = _recipe_from_args(a)
    assert (cfg.select_steps, cfg.select_later) == (1000, [3000])
    a = build_parser().parse_args(["train", "--select-steps", "500"])
    assert (_recipe_from_args(a).select_steps, _recipe_from_args(a).select_later) == (500, [])
    for bad in ("3000,1000", "1000,x", "0", "1000,1000"):
        with pytest.raises(SystemExit) as e:  # argparse's own usage error
            main(["train", "--select-steps", bad, "--out", str(tmp_path / "r")])
        err = capsys.readouterr().err
        assert e.value.code == 2 and "argument --select-steps" in err and repr(bad) in err
    assert not (tmp_path / "r").exists()


def test_diverging_training_is_a_clear_error(capsys, tmp_path, tiny_npz):
    """A run whose losses go non-finite before its first checkpoint leaves nothing to resume:
    the error says so and the same --out is free again (not "already holds a run")."""
    out = tmp_path / "nan"
    argv = ["train", "--data", tiny_npz, "--out", str(out), "--steps", "4", "--log-every", "2"]
    huge = ["--lr-d", "1e30", "--lr-g", "1e30"]
    err = _err(capsys, [*argv, *huge, *TINY])
    assert "non-finite" in err and "before the first checkpoint" in err and "used again" in err
    assert not (out / "config.json").exists() and (out / "metrics.jsonl").exists()
    assert main([*argv, *TINY]) == 0  # the corrected command runs in the same folder
    assert [s for s, _ in ckpt.list_checkpoints(out)] == [4]


def test_non_finite_weights_are_never_checkpointed(capsys, tmp_path, tiny_npz):
    """With checkpoints more often than logged rows, weights gone NaN between two rows must not
    be saved (pruning would push the good checkpoints out): the newest kept one is finite."""
    out = tmp_path / "nan"
    argv = ["train", "--data", tiny_npz, "--out", str(out), "--steps", "6", "--log-every", "6"]
    # Learning rates that take the weights to NaN at step 2, after the first checkpoint.
    err = _err(capsys, [*argv, "--ckpt-every", "1", "--lr-d", "1e8", "--lr-g", "1e8", *TINY])
    assert "non-finite" in err and "are kept" in err
    kept = ckpt.list_checkpoints(out)
    assert kept, err
    state = ckpt.load_checkpoint(kept[-1][1])
    assert all(torch.isfinite(v).all() for v in state["nets"].values() if v.is_floating_point())


def test_deterministic_flag_is_stored_and_sets_cudnn(tmp_path, tiny_npz):
    import torch

    from infogan.train import _set_precision

    out = tmp_path / "det"
    argv = ["train", "--data", tiny_npz, "--steps", "1", "--out", str(out), *TINY]
    assert main([*argv, "--deterministic"]) == 0
    assert json.loads((out / "config.json").read_text())["deterministic"] is True
    # what it does on CUDA (the flags are plain module settings, so this runs on any machine)
    b = torch.backends
    saved = (b.cudnn.benchmark, b.cudnn.deterministic, b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32)
    try:
        _set_precision("fp32", torch.device("cuda"), deterministic=True)
        assert (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic) == (False, True)
        _set_precision("fp32", torch.device("cuda"))
        assert (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic) == (True, False)
    finally:
        b.cudnn.benchmark, b.cudnn.deterministic, b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32 = (
            saved
        )


def test_sweep_flattens_every_metric_block():
    acc = {"accuracy": 0.9, "nmi": 0.8, "ari": 0.7}
    from infogan.sweep import dataset_keys, flatten_report

    rep = {
        "evaluations": {
            "dsprites": {
                "disentanglement": {"mig": 0.1, "factorvae": 0.6, "oracle": {"mig": 0.9}},
                "code_factor_mi": {"gap": [0.1]},
            },
            "/x/mnist/t10k-images-idx3-ubyte.gz": {
                "clustering": {"c1": {"accuracy": 0.9, "nmi": 0.8, "ari": 0.7}}
            },
        },
        "mi_bound": {"c1": {"bound": -0.2, "bound_fitted_std": 1.1}, "c2": {"bound": 2.0}},
        "quality": {"fid": 3.0, "n_fake": 10, "features": "cnn", "real_vs_real": {"fid": 1.0}},
    }
    assert flatten_report(rep) == {
        "dsprites/mig": 0.1,
        "dsprites/factorvae": 0.6,
        "mnist/t10k/c1/accuracy": 0.9,
        "mnist/t10k/c1/nmi": 0.8,
        "mnist/t10k/c1/ari": 0.7,
        "mi_bound/c1": -0.2,
        "mi_bound_fitted_std/c1": 1.1,
        "mi_bound/c2": 2.0,
        "quality/fid": 3.0,  # n_fake counts samples, not a score: left out
    }
    # Two datasets of one short name keep their full names, decided over all of a sweep's
    # reports, so that one dataset has one name in every seed's row.
    twins = {"evaluations": {f"/{d}/x/data.npz": {"clustering": {"c1": acc}} for d in "ab"}}
    assert sorted(flatten_report(twins)) == [
        f"/{d}/x/data.npz/c1/{k}" for d in "ab" for k in ("accuracy", "ari", "nmi")
    ]
    one = {"evaluations": {"/a/x/data.npz": {"clustering": {"c1": acc}}}}
    assert "x/data/c1/accuracy" in flatten_report(one)
    names = dataset_keys([twins, one])
    assert "/a/x/data.npz/c1/accuracy" in flatten_report(one, names)


def test_an_interrupted_sweep_says_to_run_the_sweep_again(tmp_path, tiny_npz, capsys, monkeypatch):
    import infogan.sweep

    def stop(*args, **kw):
        raise KeyboardInterrupt("stopped at step 1; continue with: infogan train --resume X")

    monkeypatch.setattr(infogan.sweep, "train_selected", stop)
    argv = ["sweep", "--data", tiny_npz, "--steps", "2", "--seeds", "3", *TINY]
    assert main([*argv, "--out", str(tmp_path / "sw")]) == 130
    err = capsys.readouterr().err
    assert "stopped in seed 3" in err and "run the same infogan sweep command again" in err
    assert "infogan train --resume" not in err


def test_a_reader_that_went_away_is_not_an_error(tmp_path, capsys):
    """`infogan info RUN | head -3`: stdout's reader has gone; the command stops quietly
    (it printed "error: Broken pipe" and exit status 2)."""
    import os
    import sys

    r, w = os.pipe()
    os.close(r)  # the reader is gone before the first line
    saved, pipe = sys.stdout, os.fdopen(w, "w", buffering=1)  # each line written at once
    try:
        sys.stdout = pipe
        code = main(["presets"])
    finally:
        sys.stdout = saved
        pipe.close()  # its fd now points at devnull: main gave up the broken pipe quietly
    assert code == 1 and capsys.readouterr().err == ""


def test_the_done_line_names_only_what_the_run_wrote(tmp_path, tiny_npz, capsys):
    """`train --steps 0` draws no sample grid; its last line listed samples/ all the same."""
    out = tmp_path / "zero"
    argv = ["train", *TINY_FLAGS, "--data", tiny_npz, "--steps", "0", "--device", "cpu"]
    assert main([*argv, "--out", str(out)]) == 0
    done = [x for x in capsys.readouterr().out.splitlines() if x.startswith("done:")][-1]
    assert "report.json" in done and "samples/" not in done and not (out / "samples").exists()


def test_a_stop_between_training_loops_says_how_to_go_on(tmp_path, tiny_npz, capsys, monkeypatch):
    """SIGTERM outside a step loop killed the process without a word (exit -15); Ctrl-C there
    printed a bare 'interrupted'. Both now end with the --resume line, exit status 130."""
    import os
    import signal

    from infogan import cli, select

    with pytest.raises(KeyboardInterrupt), cli._terminate_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # given back
    old = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # under nohup: stays ignored
    try:
        with cli._terminate_as_interrupt():
            assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, old)

    def stop_after_config(cfg, run_dir, resume=False, dataset=None):
        run_dir.mkdir(parents=True)
        cfg.save(run_dir / "config.json")
        os.kill(os.getpid(), signal.SIGTERM)  # lands outside any training loop
        raise AssertionError("SIGTERM did not stop it")

    monkeypatch.setattr(select, "train_selected", stop_after_config)
    out = tmp_path / "run"
    argv = ["train", *TINY_FLAGS, "--data", tiny_npz, "--steps", "4", "--out", str(out)]
    assert main(argv) == 130
    assert f"continue with: infogan train --resume {out}" in capsys.readouterr().err


def test_the_package_and_help_load_without_torch():
    """`import infogan` and `infogan --help` imported torch (seconds), and a Ctrl-C then was a
    traceback from inside an import; the public names load on first use, as before."""
    import subprocess
    import sys

    code = (
        "import sys, infogan, infogan.cli\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "import infogan.train\n"
        "from infogan import train, TrainConfig, load_run\n"
        "assert callable(train) and train.__module__ == 'infogan.train'\n"
        "assert infogan.train is train and 'LatentSpec' in dir(infogan)\n"
        "assert callable(infogan.data.load_dataset)  # submodules load on first use too\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_every_command_in_the_readmes_code_blocks_parses():
    """The README's commands are what users paste: a flag renamed or a required one added (three
    quoted `infogan sweep` lines once lacked --out) must fail here, not in a user's shell."""
    import shlex

    from infogan.cli import build_parser

    readme = Path(__file__).resolve().parents[1] / "README.md"
    commands, in_block = [], False
    for line in readme.read_text().splitlines():
        if line.startswith("```"):
            in_block = not in_block
            continue
        if not in_block:
            continue
        for part in line.split("&&"):
            if part.strip().startswith("infogan "):  # not Python's infogan.train(...)
                words = shlex.split(part, comments=True)  # drops the "# what it does" notes
                commands.append(words[1:])
    assert len(commands) >= 30, "the README's command list was not found"
    parser = build_parser()
    for argv in commands:
        try:
            parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"README: `infogan {shlex.join(argv)}` does not parse")
