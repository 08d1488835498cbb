"""Traversals of codes of any size, as the CLI, the Python API and the explorer draw them; and
the other code-spec audit findings: sample's .npz latents, case-blind --label codes, code keys
of the wrong type, consensus without a categorical code."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_export import make_run

from infogan import load_run, viz
from infogan.cli import main
from infogan.errors import SpecError
from infogan.explore import Explorer
from infogan.model import MAX_FIGURE_VALUES


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A run whose first code has 100 values (more than a figure shows), then a continuous one."""
    return make_run(tmp_path_factory.mktemp("big"), codes="cat:100,cont:1")


def test_a_large_categorical_code_shows_its_first_values_or_those_asked(big):
    model = load_run(big)
    images, rows, cols = model.traverse("c1", rows=2)
    assert images.shape[:2] == (2, MAX_FIGURE_VALUES) and cols[-1] == str(MAX_FIGURE_VALUES - 1)
    images, rows, cols = model.traverse("c2", steps=3)  # rows: values of c1
    assert images.shape[:2] == (MAX_FIGURE_VALUES, 3) and rows[0] == "c1=0"
    images, rows, cols = model.traverse("c1", rows=1, values=np.arange(90, 100))
    assert cols == [str(v) for v in range(90, 100)]
    # the same images as generate() with that value fixed
    want = model.generate(latent=_with_c1(model, 95))
    assert np.allclose(images[0, 5].numpy(), want[0].numpy(), atol=1e-6)
    _, rows, _ = model.traverse("c2", values=[7, 3])
    assert rows == ["c1=7", "c1=3"]
    for bad in ([100], [], list(range(65)), "0-3", [1.5]):
        with pytest.raises(SpecError, match="values"):
            model.traverse("c1", values=bad)


def _with_c1(model, value):
    lat = model.latent(1, seed=0)
    lat.cont.zero_()
    lat.cat[:, 0] = value
    return lat


def test_cli_traverse_takes_values_and_labels_values_as_the_runs_own_figures(
    big, tmp_path, monkeypatch, capsys
):
    report = {
        "step": load_run(big).step,
        "codes": "cat:100,cont:1",
        "clustering": {
            "c1": {"mapping": {str(v): v % 3 for v in range(100)}, "classes": list("xyz")}
        },
    }
    (big / "report.json").write_text(json.dumps(report))
    drawn = {}

    def capture(images, path, rows, cols, title=""):
        drawn[path.name] = (images.shape, rows, cols, title)

    monkeypatch.setattr(viz, "save_traversal_figure", capture)
    argv = ["traverse", str(big), "--out", str(tmp_path), "--values", "0-1,64", "--steps", "3"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "note: --steps applies to continuous codes; c1 shows its values" in out
    shape, rows, cols, title = drawn["traversal_c1.png"]
    assert cols == ["0 → x", "1 → y", "64 → y"] and "matched label" in title
    assert "3 of c1's 100 values shown" in title
    shape, rows, cols, title = drawn["traversal_c2.png"]
    assert rows == ["c1=0 → x", "c1=1 → y", "c1=64 → y"] and len(cols) == 3
    assert "swept from -2 to 2" in title
    for bad in ("0-64", "5-2", "a", "1,1"):
        assert main([*argv[:-4], "--values", bad, "--force"]) == 2
        assert "--values" in capsys.readouterr().err
    # --steps 9 given is noted like any other --steps (it was compared with the default, 9);
    # no --steps, no note.
    assert main([*argv[:-1], "9", "--force"]) == 0
    assert "note: --steps applies" in capsys.readouterr().out
    assert main([*argv[:-2], "--force"]) == 0
    assert "note: --steps applies" not in capsys.readouterr().out


def test_explorer_pages_through_a_large_code_by_its_chosen_value(big):
    ex = Explorer(load_run(big))
    status, _, body = ex.handle("/traverse.png?code=c1")
    assert status == 200  # was 400: more values than a row shows
    first = _width(body)
    status, _, body = ex.handle("/traverse.png?code=c1&c1=70")  # values 64..99
    assert status == 200 and _width(body) < first


def _width(png: bytes) -> int:
    import io

    from PIL import Image

    return Image.open(io.BytesIO(png)).size[0]


def test_sample_npz_holds_the_codes_and_noise_of_each_image(tmp_path, capsys):
    run = make_run(tmp_path, codes="cont:1,cat:4,cont:1")
    out = tmp_path / "d.npz"
    assert main(["sample", str(run), "-n", "6", "--code", "c2=3", "--out", str(out)]) == 0
    got = np.load(out)
    assert sorted(got.files) == ["c1", "c2", "c3", "images", "z"]
    assert got["c2"].tolist() == [3] * 6 and got["c1"].shape == (6,)
    model = load_run(run)
    again = model.generate(n=6, codes={"c1": got["c1"], "c2": 3, "c3": got["c3"]}, seed=0)
    assert np.allclose(again.numpy(), got["images"], atol=1e-6)


def test_label_code_names_are_case_blind_and_code_keys_must_be_names(tmp_path, capsys):
    run = make_run(tmp_path, codes="cont:1,cat:4")
    report = {
        "step": load_run(run).step,
        "codes": "cont:1,cat:4",
        "clustering": {"c2": {"mapping": {"0": 2, "1": 0, "2": 3, "3": 1}}},
    }
    (run / "report.json").write_text(json.dumps(report))
    argv = ["sample", str(run), "-n", "4", "--label", "C2=3", "--out", str(tmp_path / "s.npz")]
    assert main(argv) == 0, capsys.readouterr().err
    assert np.load(tmp_path / "s.npz")["c2"].tolist() == [2] * 4  # the value mapped to 3
    argv[5] = "C9=3"
    assert main([*argv, "--force"]) == 2 and "unknown code 'C9'" in capsys.readouterr().err
    with pytest.raises(SpecError, match="code name like 'c2', got int 2"):
        load_run(run).generate(2, codes={2: 1})


def test_consensus_without_a_categorical_code_is_refused(tmp_path, capsys, tiny_npz):
    from conftest import TINY_FLAGS

    argv = ["train", "--data", tiny_npz, *TINY_FLAGS, "--codes", "cont:2", "--device", "cpu"]
    argv += ["--candidates", "2", "--select-rule", "consensus", "--out", str(tmp_path / "r")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "consensus compares" in err and "use score or centrality" in err
    assert not (tmp_path / "r").exists()


def test_an_encoding_gives_each_code_by_name_whatever_the_spec_order(tmp_path):
    model = load_run(make_run(tmp_path, codes="cont:1,cat:4,cont:1"))
    enc = model.encode(model.generate(n=5, seed=1))
    assert enc["c2"].equal(enc.cat[:, 0]) and enc["C3"].equal(enc.cont_mean[:, 1])
    assert enc["c1"].equal(enc.cont_mean[:, 0])
    with pytest.raises(SpecError, match="unknown code"):
        enc["c4"]


def test_cli_traverse_refuses_before_making_any_folder(big, tmp_path, capsys):
    """A --values the code does not have left an empty folder behind; --out figs/x.png made a
    folder named x.png; --code "" drew every code."""
    run = str(big)
    for argv, why in (
        (["--values", "0-100", "--out", str(tmp_path / "a")], "at most 64 values"),
        (["--values", "99,100", "--out", str(tmp_path / "b")], "c1 has values 0..99, got 100"),
        (["--code", "c2", "--values", "100", "--out", str(tmp_path / "c")], "c1 has values"),
        (["--out", str(tmp_path / "x.png")], "give a folder for the figures"),
        (["--code", "", "--out", str(tmp_path / "d")], "--code: no code named"),
    ):
        assert main(["traverse", run, *argv]) == 2
        assert why in capsys.readouterr().err
        assert not Path(argv[-1]).exists()
    cont_only = make_run(tmp_path / "cont", codes="cont:2")
    out = tmp_path / "e"
    assert main(["traverse", str(cont_only), "--values", "1", "--out", str(out)]) == 2
    assert "continuous and the model has no categorical code" in capsys.readouterr().err
    assert not out.exists()


def test_a_run_draws_the_first_codes_figures_and_says_how_to_draw_the_rest(tmp_path, caplog):
    """``--codes cont:300`` drew 300 traversal figures at the end of training; a run draws the
    first FIGURE_CODES and names the command for the others (resume redraws the same set)."""
    from infogan.report import FIGURE_CODES, restore_artefacts, write_figures

    run = make_run(tmp_path, codes=f"cat:2,cont:{FIGURE_CODES + 2}")
    model = load_run(run)
    with caplog.at_level("INFO", logger="infogan"):
        write_figures(model, run)
    drawn = sorted(p.name for p in run.glob("traversal_*.png"))
    assert len(drawn) == FIGURE_CODES and "traversal_c16.png" in drawn
    assert f"first {FIGURE_CODES} of {FIGURE_CODES + 3} codes" in caplog.text
    assert "infogan traverse" in caplog.text and "--code c17" in caplog.text
    (run / "report.html").write_text("x")
    assert restore_artefacts(run, model, {}) == []  # nothing missing: c17.. are not owed
