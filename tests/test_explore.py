"""``infogan explore``: request handling without a socket, strict parameter checks, a live server."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import socket
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from PIL import Image
from test_export import make_run

from infogan import load_run
from infogan.errors import SpecError
from infogan.explore import (
    MAX_GRID,
    REQUEST_TIMEOUT,
    Explorer,
    _Handler,
    _is_loopback_host,
    make_server,
)


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
    # steps is the continuous slider's: the page sends it with a categorical code too
    assert explorer.handle("/traverse.png?code=c1&steps=1").status == 200
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
        "seed=4294967296",  # 2**32
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


def test_favicon_is_no_content(explorer):
    """Browsers ask for /favicon.ico on every page load: 204, not a 404 that the terminal logs
    and the page's console shows as an error."""
    status, _, body = explorer.handle("/favicon.ico")
    assert (status, body) == (204, b"")
    assert explorer.handle("/favicon.ico?x=1").status == 400


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to parse JavaScript")
def test_the_pages_script_parses(explorer, tmp_path):
    """The page's script lives in a Python string: an escape slip (a "\\n" that became a line
    break inside a JavaScript string) broke the whole page while every server test passed."""
    page = explorer.handle("/").body.decode()
    script = page.split("<script>", 1)[1].split("</script>", 1)[0]
    (tmp_path / "page.js").write_text(script)
    check = subprocess.run(
        ["node", "--check", str(tmp_path / "page.js")], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr


def test_bad_paths_and_methods(explorer):
    assert explorer.handle("/nope").status == 404
    assert explorer.handle("/image.png/x").status == 404
    assert explorer.handle("/../etc/passwd").status == 404
    assert explorer.handle("/spec.json?x=1").status == 400
    assert explorer.handle("/image.png", "POST").status == 405
    assert explorer.handle("/image.png?" + "c2=1&" * 2000).status == 414
    # the edges of what is allowed
    assert explorer.handle("/image.png?seed=4294967295&c1=3&c2=-10&c3=1e1&grid=1").status == 200


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


# ---- the HTTP wrapper: hang-ups, error form, Host check, timeout ----------------------------------


@contextlib.contextmanager
def _live(explorer: Explorer, host: str = "127.0.0.1") -> Iterator[tuple[int, threading.Semaphore]]:
    """A running server: yields its port and a semaphore released as each connection ends."""
    server = make_server(explorer, host, 0)
    done = threading.Semaphore(0)
    shutdown_request = server.shutdown_request

    def counted(request):  # the last step of every handler thread, error or not
        shutdown_request(request)
        done.release()

    server.shutdown_request = counted
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], done
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _raw(port: int, data: bytes) -> tuple[str, dict[str, str], bytes]:
    """Send raw bytes; (status line, headers, body) of the reply, read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return status, headers, body


def _get(port: int, path: str = "/spec.json", host: str | None = None) -> tuple[str, bytes]:
    host_line = "" if host is None else f"Host: {host}\r\n"
    status, _, body = _raw(port, f"GET {path} HTTP/1.1\r\n{host_line}\r\n".encode("latin-1"))
    return status, body


def _reset_mid_request(server_port: int, data: bytes, gate: threading.Event) -> None:
    """Send ``data`` and reset the connection (a browser cancelling a request), then open the
    gate that holds the server's handler, so that it meets the closed connection."""
    s = socket.create_connection(("127.0.0.1", server_port), timeout=10)
    s.sendall(data)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST on close
    s.close()
    time.sleep(0.05)  # let the reset arrive
    gate.set()


def test_client_hang_ups_are_not_logged(explorer, monkeypatch, capsys):
    # A reset while the handler computes (its write fails) and while it reads (a half-sent
    # request): both once printed a ~25-line traceback per cancelled image.
    gate = threading.Event()
    handle = explorer.handle

    def held(*args, **kw):
        gate.wait(10)
        return handle(*args, **kw)

    monkeypatch.setattr(explorer, "handle", held)
    with _live(explorer) as (port, done):
        full = f"GET /image.png?grid=16 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
        for data in (full, full, b"GET /image.png?grid=16 HTT"):
            gate.clear()
            _reset_mid_request(port, data, gate)
            assert done.acquire(timeout=10)
        assert _get(port, "/spec.json")[0].endswith(" 200 OK")  # still serving
        assert done.acquire(timeout=10)
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Error" not in err, err


def test_real_errors_still_print(explorer, monkeypatch, capsys):
    def broken(*args, **kw):
        raise RuntimeError("a real bug")

    monkeypatch.setattr(explorer, "handle", broken)
    with _live(explorer) as (port, done):
        with pytest.raises(OSError):  # no reply at all: the handler died
            urllib.request.urlopen(f"http://127.0.0.1:{port}/spec.json", timeout=10)
        assert done.acquire(timeout=10)
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: a real bug" in err


def test_every_error_is_one_line_of_text(explorer):
    with _live(explorer) as (port, _):
        host = f"Host: 127.0.0.1:{port}\r\n"
        cases = [
            (f"FOO /spec.json HTTP/1.1\r\n{host}\r\n", 405),  # unknown method: was 501, HTML
            (f"get /spec.json HTTP/1.1\r\n{host}\r\n", 405),  # methods are case-sensitive
            (f"DELETE /spec.json HTTP/1.1\r\n{host}\r\n", 405),
            (f"GET /spec.json HTTP/2.0\r\n{host}\r\n", 505),  # was HTML with no status line
            (f"GET /spec.json HTTP/x\r\n{host}\r\n", 400),
            ("NONSENSE\r\n\r\n", 400),
            ("GET /spec.json\r\n", 505),  # HTTP/0.9: was held for the whole timeout
            ("HEAD /spec.json\r\n", 505),
            (f"GET /spec.json HTTP/1.1\r\n{host}X: {'y' * 70000}\r\n\r\n", 431),
            (f"GET /nope HTTP/1.1\r\n{host}\r\n", 404),
        ]
        for request, code in cases:
            status, headers, body = _raw(port, request.encode())
            assert status.split()[1] == str(code), (request[:40], status)
            assert headers["Content-Type"] == "text/plain; charset=utf-8", request[:40]
            if not request.startswith("HEAD"):
                assert body.count(b"\n") == 1 and len(body) < 300 and b"<" not in body, body
            if code == 405:
                assert headers["Allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1:8000",
        "127.0.0.1",
        "127.0.0.2:1",
        "localhost:8000",
        "localhost",
        "LocalHost:",
        "[::1]:8000",
        "[::1]",
    ],
)
def test_loopback_host_names(host):
    assert _is_loopback_host(host)


@pytest.mark.parametrize(
    "host",
    [
        "attacker.example",
        "attacker.example:8000",
        "localhost.attacker.example",
        "127.0.0.1.nip.io",
        "10.0.0.1:8000",
        "0.0.0.0",
        "::1",  # IPv6 only in brackets
        "[::1",
        "[127.0.0.1]",
        "127.0.0.1:x",
        "localhost:8000:1",
        "",
    ],
)
def test_other_host_names(host):
    assert not _is_loopback_host(host)


def test_loopback_server_refuses_foreign_host_headers(explorer):
    # DNS rebinding: a page of attacker.example, its name re-pointed at 127.0.0.1, once got 200.
    with _live(explorer) as (port, _):
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", None):
            assert _get(port, host=host)[0].endswith(" 200 OK"), host
        for host in ("attacker.example", f"attacker.example:{port}", f"127.0.0.1.nip.io:{port}"):
            status, body = _get(port, host=host)
            assert status.split()[1] == "403", host
            assert body.startswith(b"forbidden: Host") and body.count(b"\n") == 1
        two = f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nHost: attacker.example\r\n\r\n"
        assert _raw(port, two.encode())[0].split()[1] == "403"
        # an absolute-form target names the host that counts (RFC 9112): it is checked too
        local = f"Host: 127.0.0.1:{port}\r\n\r\n"
        for target, code in [
            ("http://attacker.example/spec.json", "403"),
            (f"http://127.0.0.1:{port}/spec.json", "200"),
        ]:
            status = _raw(port, f"GET {target} HTTP/1.1\r\n{local}".encode())[0]
            assert status.split()[1] == code, (target, status)
        with urllib.request.urlopen(f"http://localhost:{port}/spec.json", timeout=10) as r:
            assert r.status == 200  # what a browser opening the printed URL sends


def test_server_bound_beyond_loopback_serves_any_host(explorer):
    # --host 0.0.0.0 is a choice to expose the explorer (serve warns): no Host check then.
    with _live(explorer, "0.0.0.0") as (port, _):
        assert _get(port, host="attacker.example")[0].endswith(" 200 OK")


def test_loopback_spelled_otherwise_is_guarded_and_an_empty_host_refused(explorer):
    # 127.1 binds 127.0.0.1: the Host check follows the address bound, not the name typed (it
    # was off, and serve warned that anyone could reach it).
    server = make_server(explorer, "127.1", 0)
    try:
        assert server.server_address[0] == "127.0.0.1" and server.check_host
    finally:
        server.server_close()
    for host in ("", "  ", "[]"):  # "" binds every interface: an empty $HOST exposed it
        with pytest.raises(SpecError, match="--host is empty"):
            make_server(explorer, host, 0)
    try:
        server = make_server(explorer, "[::1]", 0)  # as in a URL: the brackets are dropped
    except OSError:
        pytest.skip("no IPv6 loopback here")
    try:
        assert server.check_host
    finally:
        server.server_close()


def test_close_waits_for_the_image_being_made_and_makes_no_more(tmp_path):
    # Its own explorer: a closed one answers 503 from then on.
    explorer = Explorer(load_run(make_run(tmp_path)))
    done = []
    with explorer._lock:  # an image being made
        closer = threading.Thread(target=lambda: done.append(explorer.close(timeout=10)))
        closer.start()
        time.sleep(0.2)
        assert not done  # close waits for it
    closer.join(10)
    assert done == [True]
    status, _, body = explorer.handle("/image.png")
    assert (status, body) == (503, b"the explorer is stopping\n")
    assert explorer.handle("/traverse.png?code=c2").status == 503
    assert explorer.handle("/spec.json").status == 200  # no torch: still answered


def test_stopping_ends_idle_connections(explorer):
    # A client that connected and has not sent its request yet holds a thread waiting up to
    # REQUEST_TIMEOUT (30 s); stopping ends it at once rather than leaving it to be killed
    # where it stands as the process exits.
    server = make_server(explorer, "127.0.0.1", 0)
    runner = threading.Thread(target=server.serve_forever, daemon=True)
    runner.start()
    try:
        port = server.server_address[1]
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET /spec.json HTTP/1.1\r\n")  # and nothing more
            deadline = time.monotonic() + 10
            while not server._requests:
                assert time.monotonic() < deadline, "the connection was never accepted"
                time.sleep(0.01)
            (thread,) = server._requests
            start = time.monotonic()
            server.close_requests(timeout=10)
            assert not thread.is_alive() and time.monotonic() - start < 5
    finally:
        server.shutdown()
        server.server_close()


def test_silent_connections_time_out(explorer, monkeypatch, capsys):
    assert _Handler.timeout == REQUEST_TIMEOUT and 0 < REQUEST_TIMEOUT <= 60
    monkeypatch.setattr(_Handler, "timeout", 0.3)
    with _live(explorer) as (port, done):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET /spec.json HTTP/1.1\r\n")  # and nothing more
            start = time.monotonic()
            assert s.recv(100) == b""  # the server closed the connection
            assert time.monotonic() - start < 5
        assert done.acquire(timeout=10)
    assert capsys.readouterr().err == ""  # an idle connection closing is not an error


def test_categorical_values_are_named_by_the_saved_mapping(tmp_path, explorer):
    """A run scored on labelled data names each value of c1 in the page (class names from
    class folders here); a run never scored keeps the bare values."""
    assert "labels" not in explorer.spec()["codes"][0]
    run = make_run(tmp_path)
    step = load_run(run).step
    report = {
        "step": step,
        "codes": "cat:4,cont:2",
        "clustering": {
            "c1": {"mapping": {"0": 2, "1": 0, "2": 3, "3": 1}, "classes": ["a", "b", "c", "d"]}
        },
    }
    (run / "report.json").write_text(json.dumps(report))
    named = Explorer(load_run(run))
    assert named.spec()["codes"][0]["labels"] == ["c", "a", "d", "b"]
    assert b"c.labels ? c.labels[v]" in named.handle("/")[2]  # the page shows them


@pytest.mark.slow
def test_ctrl_c_with_images_being_made_exits_cleanly(tmp_path):
    """Ctrl-C while requests' threads were inside torch aborted the process (SIGABRT,
    "terminate called without an active exception") in 3 of 4 tries with 8 big grids in
    flight; now the explorer stops making images, ends the connections and waits for them."""
    import os
    import signal
    import sys

    run = make_run(tmp_path)
    for _ in range(3):
        with socket.socket() as s:  # a free port
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc = subprocess.Popen(
            [sys.executable, "-m", "infogan.cli", "explore", str(run), "--port", str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "OMP_NUM_THREADS": "2"},
        )
        assert "Ctrl-C stops" in proc.stdout.readline()

        def get(seed: int, port: int = port) -> None:
            url = f"http://127.0.0.1:{port}/image.png?grid={MAX_GRID}&seed={seed}"
            # the server ends these connections as it stops: any client error is expected
            with contextlib.suppress(Exception):
                urllib.request.urlopen(url, timeout=60).read()

        clients = [threading.Thread(target=get, args=(i,), daemon=True) for i in range(8)]
        for c in clients:
            c.start()
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=60)[0]
        assert proc.returncode == 0, out
        assert out.strip() == "explore: stopped", out
