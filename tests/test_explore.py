"""``infogan explore``: request handling without a socket, strict parameter checks, a live server."""

from __future__ import annotations

import io
import json
import threading
import urllib.error
import urllib.request

import pytest
from PIL import Image
from test_export import make_run

from infogan import load_run
from infogan.explore import MAX_GRID, Explorer, make_server


@pytest.fixture(scope="module")
def explorer(tmp_path_factory) -> Explorer:
    # c1: cat4, c2/c3: continuous; 28x28 images
    return Explorer(load_run(make_run(tmp_path_factory.mktemp("explore"))))


def _png(body: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(body))
    img.load()  # decodes every byte: a truncated PNG fails here
    return img


def test_image_png_has_the_grid_size(explorer):
    status, ctype, body = explorer.handle("/image.png?seed=3&c1=2&c2=0.5&c3=-1&grid=3")
    assert (status, ctype) == (200, "image/png")
    assert _png(body).size == (3 * 30 + 2, 3 * 30 + 2)  # 28 px cells, 2 px padding
    again = explorer.handle("/image.png?seed=3&c1=2&c2=0.5&c3=-1&grid=3").body
    assert again == body  # seeded: the same request draws the same images
    other = explorer.handle("/image.png?seed=4&c1=2&c2=0.5&c3=-1&grid=3").body
    assert other != body
    # defaults: seed 0, a 4x4 grid, codes not given drawn from the prior; HEAD answers like GET
    assert _png(explorer.handle("/image.png").body).size == (122, 122)
    assert explorer.handle("/image.png", "HEAD").status == 200


def test_traverse_row(explorer):
    status, _, body = explorer.handle("/traverse.png?code=c1&seed=1&c2=0.3")
    assert status == 200 and _png(body).size == (4 * 30 + 2, 32)  # one column per category
    status, _, body = explorer.handle("/traverse.png?code=c3&steps=5")
    assert status == 200 and _png(body).size == (5 * 30 + 2, 32)
    assert explorer.handle("/traverse.png").status == 400  # which code?
    assert explorer.handle("/traverse.png?code=c9").status == 400
    assert explorer.handle("/traverse.png?code=c2&steps=1").status == 400
    assert explorer.handle("/traverse.png?code=c2&steps=17").status == 400


def test_spec_and_page(explorer):
    status, ctype, body = explorer.handle("/spec.json")
    assert (status, ctype) == (200, "application/json")
    spec = json.loads(body)
    assert [(c["name"], c["kind"]) for c in spec["codes"]] == [
        ("c1", "categorical"),
        ("c2", "continuous"),
        ("c3", "continuous"),
    ]
    assert spec["codes"][0]["k"] == 4 and spec["codes"][1]["min"] == -2.0
    assert spec["image_shape"] == [1, 28, 28] and spec["limits"]["grid_max"] == MAX_GRID
    status, ctype, body = explorer.handle("/")
    assert status == 200 and ctype.startswith("text/html")
    assert b"spec.json" in body and b"image.png" in body and b"<script>" in body


@pytest.mark.parametrize(
    "query",
    [
        "bogus=1",  # unknown name
        "C1=1",  # names are exact
        "c2=abc",  # non-numeric
        "c2=nan",
        "c2=inf",
        "c2=-inf",
        "c2=1_0",
        "c2=0x1",
        "c2=",
        "c2=%201",  # whitespace
        "c2=10.5",  # beyond +-10
        "c2=1e300",
        "c1=4",  # categorical out of range
        "c1=-1",
        "c1=1.5",  # categorical not an integer
        "c1=1.0",
        "c1=one",
        "seed=-1",
        "seed=2147483648",  # 2**31
        "seed=1.5",
        "seed=abc",
        "grid=0",
        "grid=17",
        "grid=2.0",
        "c1=1&c1=2",  # repeated
        "c1",  # no value
        "c1=1&&c2=0",  # malformed
        "c2=%ff",  # not UTF-8
    ],
)
def test_bad_parameters_are_400(explorer, query):
    status, ctype, body = explorer.handle(f"/image.png?{query}")
    assert status == 400, query
    assert ctype.startswith("text/plain") and body.count(b"\n") == 1


def test_bad_paths_and_methods(explorer):
    assert explorer.handle("/nope").status == 404
    assert explorer.handle("/image.png/x").status == 404
    assert explorer.handle("/../etc/passwd").status == 404
    assert explorer.handle("/spec.json?x=1").status == 400
    assert explorer.handle("/image.png", "POST").status == 405
    assert explorer.handle("/image.png?" + "c2=1&" * 2000).status == 414
    # the edges of what is allowed
    assert explorer.handle("/image.png?seed=2147483647&c1=3&c2=-10&c3=1e1&grid=1").status == 200


def test_generation_restores_the_model_mode(explorer):
    explorer.model.nets.train()
    try:
        assert explorer.handle("/image.png?grid=1").status == 200
        assert explorer.model.nets.training  # the model's own mode is left as it was
    finally:
        explorer.model.nets.eval()


def test_live_server_on_a_free_port(explorer):
    server = make_server(explorer, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        assert host == "127.0.0.1" and port > 0
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(base + "/", timeout=10) as r:
            assert r.status == 200 and b"infogan explore" in r.read()
            assert "default-src 'none'" in r.headers["Content-Security-Policy"]
        with urllib.request.urlopen(base + "/image.png?seed=1&c1=0&grid=2", timeout=10) as r:
            assert r.headers["Content-Type"] == "image/png"
            assert _png(r.read()).size == (62, 62)
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(base + "/image.png?c1=9", timeout=10)
        assert e.value.code == 400
        req = urllib.request.Request(base + "/image.png", data=b"x", method="POST")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        assert e.value.code == 405 and e.value.headers["Allow"] == "GET, HEAD"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert not thread.is_alive()
