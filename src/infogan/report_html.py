"""``report.html``: one self-contained page (images inlined) summarising a run's report.

Tables for every metric block present in ``report.json`` (clustering, MI bound, disentanglement
beside the ground-truth oracle, sample quality beside real-vs-real), the traversal figures, the
training curves, the newest sample grid and per-code histograms of Q's estimates on the data.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from infogan.atomic import atomic_write_bytes
from infogan.runinfo import noise_use_of

__all__ = ["render_html", "write_html"]

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;border:1px solid #ddd;margin:.3em 0}h2{border-bottom:1px solid #ddd}
.grid{display:flex;flex-wrap:wrap;gap:1em}.grid figure{margin:0}
"""


def _esc(x: Any) -> str:
    return html.escape(str(x))


def _num(v: Any) -> str:
    """Four decimals, except for small or large magnitudes (a KID of 3.2e-04, a candidate's
    score of 1.2e-05 read as 0.0000), which keep three significant digits."""
    if not isinstance(v, float):
        return _esc(v)
    return f"{v:.4f}" if v == 0 or 1e-3 <= abs(v) < 1e5 else f"{v:.3g}"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{_num(c)}</td>' if isinstance(c, int | float) else f"<td>{_esc(c)}</td>"
            for c in row
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{_esc(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _histograms(usage: dict[str, Any]) -> bytes:
    n = len(usage)
    fig = Figure(figsize=(3.2 * n, 2.4))
    FigureCanvasAgg(fig)
    for i, (code, u) in enumerate(usage.items()):
        ax = fig.add_subplot(1, n, i + 1)
        if "counts" in u:
            ax.bar(range(len(u["counts"])), u["counts"], color="#4477aa")
            ax.set_xlabel(f"{code} value (argmax q)")
        else:
            edges = u["edges"]
            ax.stairs(u["hist"], edges, fill=True, color="#aa7744")
            ax.set_xlabel(f"{code} mean of q")
        ax.set_ylabel("images")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return buf.getvalue()


def _breakdown(data: str, b: dict[str, Any] | None) -> list[str]:
    """The code x factor matrix of normalised MI as a table, each cell shaded by its value."""
    if not isinstance(b, dict):
        return []
    try:
        factors, codes = list(b["factors"]), list(b["codes"])
        cells = [[float(v) for v in row] for row in b["normalized_mi"]]
        gaps = [float(g) for g in b["gap"]]
    except (TypeError, KeyError, ValueError):
        return []  # absent or malformed: the page must still render

    def cell(v: float) -> str:
        if not math.isfinite(v):  # 0/0: a factor constant in MIG's sample (tiny --scale)
            return f'<td class="n">{v}</td>'
        shade = round(255 - 150 * min(max(v, 0.0), 1.0))
        return f'<td class="n" style="background:rgb({shade},{shade},255)">{v:.3f}</td>'

    head = "".join(f"<th>{_esc(f)}</th>" for f in ["code", *factors])
    body = "".join(
        f"<tr><td>{_esc(c)}</td>" + "".join(cell(v) for v in row) + "</tr>"
        for c, row in zip(codes, cells, strict=False)
    )
    body += "<tr><td>MIG gap</td>" + "".join(f'<td class="n">{g:.3f}</td>' for g in gaps)
    return [
        f"<h2>Which code holds which factor on {_esc(data)}</h2>",
        "<p>I(code; factor) / H(factor), on MIG's sample and bins; the last row is each "
        "factor's gap between its top two codes (their mean is MIG).</p>",
        f"<table><tr>{head}</tr>{body}</tr></table>",
    ]


def _mappings(rep: dict[str, Any]) -> list[str]:
    """Which class each value of a categorical code stands for (the mapping ``encode``,
    ``sample --label`` and the figures use), from the report's primary evaluation."""
    rows = []
    for code, r in (rep.get("clustering") or {}).items():
        mapping, classes = r.get("mapping") if isinstance(r, dict) else None, r.get("classes")
        if not isinstance(mapping, dict):
            continue
        unseen = r.get("unseen")
        unseen = set(unseen) if isinstance(unseen, list) else set()
        try:
            pairs = sorted(((int(v), int(c)) for v, c in mapping.items()), key=lambda t: t[0])
            named = [
                f"{v} → {classes[c] if isinstance(classes, list) and 0 <= c < len(classes) else c}"
                # A value no labelled image took: its class is the most frequent one, a guess.
                + (" (unseen)" if v in unseen else "")
                for v, c in pairs
            ]
        except (TypeError, ValueError):
            continue
        rows.append([code, ", ".join(named)])
    if not rows:
        return []
    return [
        "<p>Each value's matched class (for labelling new images):</p>",
        _table(["code", "value → class"], rows),
    ]


def _selection(run_dir: Path) -> list[str]:
    """The candidate selection of the run (``selection.json``), one row per candidate and point;
    nothing for a run without one (or with an unreadable one: the page must still render)."""
    try:
        sel = json.loads((run_dir / "selection.json").read_text())
        stages = sel.get("stages") or [
            {"step": sel["select_steps"], "candidates": sel["candidates"], "kept": [sel["winner"]]}
        ]
        rows = [
            [
                st["step"],
                c["candidate"] + 1,
                c["seed"],
                c["score"],
                c.get("agreement", ""),
                "kept" if c["candidate"] in st["kept"] else "",
            ]
            for st in stages
            for c in st["candidates"]
        ]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [
        "<h2>Candidate selection (no labels)</h2>",
        f"<p>{_esc(sel.get('rule', ''))}; winner: candidate {_esc(sel['winner'] + 1)} "
        f"(seed {_esc(sel['winner_seed'])})</p>",
        _table(["step", "candidate", "seed", "score", "agreement", "kept"], rows),
    ]


def render_html(run_dir: str | Path, rep: dict[str, Any]) -> str:
    """The page for ``rep`` (a merged report.json) with the figures found in ``run_dir``."""
    run_dir = Path(run_dir)
    parts = [
        f"<!doctype html><meta charset='utf-8'><title>infogan report: {_esc(run_dir.name)}"
        f"</title><style>{_CSS}</style><h1>infogan report: {_esc(run_dir.name)}</h1>",
        f"<p>step {_esc(rep.get('step', '?'))}, codes <code>{_esc(rep.get('codes', '?'))}"
        f"</code>, noise {_esc(rep.get('noise_dim', '?'))}</p>",
    ]
    rows = [
        [data, code, r["accuracy"], r["nmi"], r["ari"], r["n"]]
        for data, ev in rep.get("evaluations", {}).items()
        for code, r in ev.get("clustering", {}).items()
    ]
    if rows:
        parts.append("<h2>Categorical codes as classifiers (Hungarian-matched)</h2>")
        parts.append(_table(["data", "code", "accuracy", "NMI", "ARI", "n"], rows))
        parts += _mappings(rep)
    parts += _selection(run_dir)
    if "mi_bound" in rep:
        parts.append("<h2>Mutual-information lower bound L<sub>I</sub> per code (nats)</h2>")
        parts.append(
            _table(
                ["code", "kind", "L_I", "H(c)", "std", "L_I, fitted std", "fitted std"],
                [
                    [
                        c,
                        r["kind"],
                        r["bound"],
                        r["entropy"],
                        r.get("std", ""),
                        r.get("bound_fitted_std", ""),
                        r.get("fitted_std", ""),
                    ]
                    for c, r in rep["mi_bound"].items()
                ],
            )
        )
    use = noise_use_of(rep.get("noise_use"))
    if use is not None:
        from infogan.config import NOISE_USE_WARN

        parts.append(
            f"<p>Noise use: {use:.3f} (images of one code setting differ by "
            "this share of what images of different settings differ by; near 0: G ignores z)"
            + (
                ". <b>G draws nearly one image per code setting: its samples lack variety.</b>"
                if use < NOISE_USE_WARN
                else ""
            )
            + "</p>"
        )
    if "disentanglement" in rep:
        d = rep["disentanglement"]
        parts.append("<h2>Disentanglement (Q's code estimate vs ground-truth oracle)</h2>")
        parts.append(
            _table(
                ["metric", "model", "oracle"],
                [[k, d[k], d.get("oracle", {}).get(k, "")] for k in sorted(d) if k != "oracle"],
            )
        )
    for data, ev in rep.get("evaluations", {}).items():
        parts += _breakdown(data, ev.get("code_factor_mi"))
    if "quality" in rep and "skipped" in rep["quality"]:
        parts.append(f"<h2>Sample quality</h2><p>skipped: {_esc(rep['quality']['skipped'])}</p>")
    elif "quality" in rep:
        q = rep["quality"]
        r = q["real_vs_real"]
        parts.append(f"<h2>Sample quality ({_esc(q['features'])} features)</h2>")
        if "warning" in q:
            parts.append(f"<p>warning: {_esc(q['warning'])}</p>")
        parts.append(
            _table(
                ["metric", f"model (n={q['n_fake']})", f"real vs real ({r['what']})"],
                [
                    [k, q[k], r[k]]
                    for k in ("fid", "kid", "precision", "recall", "density", "coverage")
                ],
            )
        )
    for data, ev in rep.get("evaluations", {}).items():
        if ev.get("code_usage"):
            parts.append(f"<h2>Q's codes on {_esc(data)}</h2>")
            parts.append(_img(_histograms(ev["code_usage"]), f"code histograms on {data}"))
    figures = sorted(run_dir.glob("traversal_*.png"))
    if figures:
        parts.append("<h2>Latent traversals</h2><div class='grid'>")
        parts += [
            f"<figure>{_img(p.read_bytes(), p.stem)}<figcaption>{_esc(p.stem)}"
            "</figcaption></figure>"
            for p in figures
        ]
        parts.append("</div>")
    if (run_dir / "curves.png").exists():
        parts.append(
            "<h2>Training curves</h2>"
            + _img((run_dir / "curves.png").read_bytes(), "training curves")
        )
    samples = sorted((run_dir / "samples").glob("step_*.png"))
    if samples:
        parts.append(
            f"<h2>Samples ({_esc(samples[-1].stem)})</h2>"
            + _img(samples[-1].read_bytes(), "samples")
        )
    return "\n".join(parts) + "\n"


def write_html(run_dir: str | Path, rep: dict[str, Any]) -> Path:
    """Write ``run_dir/report.html`` atomically; return its path."""
    path = Path(run_dir) / "report.html"
    atomic_write_bytes(path, render_html(run_dir, rep).encode())
    return path
