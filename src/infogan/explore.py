"""A live browser explorer of a trained model's codes: ``infogan explore RUN``.

Standard library only (:mod:`http.server`). :class:`Explorer` holds the model and answers requests
as plain data, ``handle("/image.png?seed=3&c1=4") -> Response(status, content_type, body)``, so
all of its logic is testable without a socket; :func:`make_server` and :func:`serve` wrap it in a
:class:`~http.server.ThreadingHTTPServer` bound to 127.0.0.1 unless told otherwise.

Endpoints (GET or HEAD; any other method is 405, unknown paths 404, bad parameters 400):

``/``
    one self-contained page (inline CSS/JS): a control per code, a noise seed, a grid of images
    that follows the controls, and an optional traversal row for one code.
``/spec.json``
    the codes (name, kind, K or slider range) and the limits below, for the page.
``/image.png?seed=S&grid=G&c1=..&c2=..``
    a G x G grid (G in 1..16, default 4) of images with the given codes; codes left out are drawn
    from the prior. ``seed`` (0 <= S < 2**32, default 0) fixes the noise of every cell.
``/traverse.png?seed=S&code=cN&steps=T&c1=..``
    one row: code ``cN`` swept over its K values (categorical; a code of more than 64 values
    shows the 64 around its value in the query: 0-63, 64-127, ...) or ``steps`` (2..16,
    default 9) values in [-2, 2] (continuous), every other input fixed.
``/favicon.ico``
    204, no content: browsers ask for an icon unprompted.

Every parameter is checked strictly: an unknown or repeated name, a value that is not a plain
decimal number, a categorical value that is not an integer in 0..K-1, a continuous value that is
not finite or beyond +-10 are all 400 with a one-line reason. A request costs at most one
generator call of 256 images; calls are serialised by a lock (one model, many handler threads).

The HTTP wrapper answers every error, its own and those of :mod:`http.server` (a malformed request
line, ``HTTP/2.0``, oversized headers), in the same one-line ``text/plain`` form; HTTP/0.9
requests get 505 at once. Bound to a loopback address it also refuses, with 403, a request whose
``Host`` header, or host in an absolute-form target, is not a loopback name (127.0.0.1,
localhost, [::1], any port): a web page cannot then reach it through DNS rebinding.
Bound elsewhere (``--host 0.0.0.0``) the user chose to expose it, and any ``Host`` is served. A
connection that sends nothing for :data:`REQUEST_TIMEOUT` seconds is closed; a client that hangs
up early (a browser cancelling an image during a slider drag) is normal and not logged.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import json
import math
import re
import socket
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import torch
from PIL import Image

from infogan.config import MAX_SEED
from infogan.errors import InfoGANError, SpecError
from infogan.labels import current_labels
from infogan.latent import Categorical, Latent
from infogan.model import MAX_FIGURE_VALUES, InfoGAN, load_run
from infogan.runlock import note_if_training
from infogan.viz import image_grid

__all__ = ["Explorer", "Response", "make_server", "serve"]

#: Largest grid side (a request draws at most MAX_GRID**2 images).
MAX_GRID = 16
#: Grid side when the request names none.
DEFAULT_GRID = 4
#: Largest |value| of a continuous code (the prior is U(-1, 1); the sliders span +-SLIDER_SPAN).
MAX_ABS_CONTINUOUS = 10.0
#: Range of the continuous codes' sliders, as in ``infogan traverse``.
SLIDER_SPAN = 2.0
#: Seeds are ints in [0, SEED_LIMIT): those `infogan sample` and `traverse` take, so an image
#: made there can be found here.
SEED_LIMIT = MAX_SEED + 1
#: Columns of a continuous traversal row: at most this many (and at least 2).
MAX_STEPS = 16
#: Most categories a traversal row shows (one column each), as in ``infogan traverse``.
MAX_ROW_CATEGORIES = MAX_FIGURE_VALUES
#: Longest request target we parse; anything longer is a client bug or abuse.
MAX_TARGET = 4096
#: Seconds a connection may stay silent (mid-request or mid-reply) before it is closed.
REQUEST_TIMEOUT = 30.0

_INT = re.compile(r"[0-9]{1,10}")
# A Host header's optional port: RFC 3986 allows an empty one ("localhost:").
_PORT = re.compile(r"(?::[0-9]{0,5})?")
# Plain decimals only: no "nan", "inf", "1_0", hex or whitespace, all of which float() accepts.
_FLOAT = re.compile(r"[+-]?(?:[0-9]{1,20}(?:\.[0-9]{0,20})?|\.[0-9]{1,20})(?:[eE][+-]?[0-9]{1,3})?")

_TEXT = "text/plain; charset=utf-8"
_PNG = "image/png"
_JSON = "application/json"
_HTML = "text/html; charset=utf-8"


class Response(NamedTuple):
    """One HTTP answer: status code, Content-Type and body bytes."""

    status: int
    content_type: str
    body: bytes


class _BadRequest(Exception):
    """A request parameter is missing, unknown or out of range (answered with 400)."""


class _Closed(Exception):
    """The explorer is stopping: no more images (answered with 503)."""


class Explorer:
    """Request handling of the explorer for one loaded model, independent of any socket.

    Thread-safe: generator calls are serialised by a lock; everything else is read-only.
    """

    def __init__(self, model: InfoGAN) -> None:
        self.model = model
        self._lock = threading.Lock()
        self._closed = False
        self._spec_body = (json.dumps(self.spec(), indent=1) + "\n").encode()
        self._page = _PAGE.encode()

    def spec(self) -> dict[str, Any]:
        """The code spec and limits that the page builds its controls from."""
        spec = self.model.spec
        # What each categorical value stands for, where the run was scored on labelled data.
        named, _ = current_labels(self.model)
        codes: list[dict[str, Any]] = []
        for name, label, code in zip(spec.names, spec.labels, spec.codes, strict=True):
            if isinstance(code, Categorical):
                entry: dict[str, Any] = {
                    "name": name,
                    "label": label,
                    "kind": "categorical",
                    "k": code.k,
                }
                if name in named:
                    entry["labels"] = named[name].shown(np.arange(code.k))
                codes.append(entry)
            else:
                codes.append(
                    {
                        "name": name,
                        "label": label,
                        "kind": "continuous",
                        "min": -SLIDER_SPAN,
                        "max": SLIDER_SPAN,
                        "prior": [-1.0, 1.0],
                    }
                )
        nets = self.model.nets
        return {
            "codes": codes,
            "noise_dim": spec.noise_dim,
            "image_shape": list(nets.image_shape),
            "step": self.model.step,
            "generator": "generator_ema" if nets.generator_ema is not None else "generator",
            "limits": {
                "seed_max": SEED_LIMIT - 1,
                "grid_max": MAX_GRID,
                "continuous_abs_max": MAX_ABS_CONTINUOUS,
                "steps_max": MAX_STEPS,
                "row_categories_max": MAX_ROW_CATEGORIES,
            },
        }

    # ---- dispatch ---------------------------------------------------------------------------
    def handle(self, target: str, method: str = "GET") -> Response:
        """Answer one request; ``target`` is the request line's path with its query string.

        Never raises for bad input: every client error becomes a 4xx response with a one-line
        plain-text reason. HEAD gets the same response as GET (the server drops the body).
        """
        if method not in ("GET", "HEAD"):
            return _text(405, "method not allowed: use GET or HEAD")
        if len(target) > MAX_TARGET:
            return _text(414, f"request target longer than {MAX_TARGET} characters")
        parts = urlsplit(target)
        routes = {
            "/": self._index,
            "/index.html": self._index,
            "/spec.json": self._spec,
            "/image.png": self._image,
            "/traverse.png": self._traverse,
            # Browsers ask for it unprompted: "no content", not a 404 in the terminal's log
            # and the page's console on every load.
            "/favicon.ico": self._no_icon,
        }
        route = routes.get(parts.path)
        if route is None:
            return _text(404, "not found: try / , /spec.json, /image.png or /traverse.png")
        try:
            return route(_parse_query(parts.query))
        except (_BadRequest, SpecError) as e:  # SpecError: the model's own check, a backstop
            return _text(400, f"bad request: {e}")
        except _Closed:
            return _text(503, "the explorer is stopping")

    @contextlib.contextmanager
    def _turn(self) -> Iterator[None]:
        """One request's torch work: one at a time, none once :meth:`close` was called."""
        with self._lock:
            if self._closed:
                raise _Closed
            yield

    def _index(self, params: dict[str, str]) -> Response:
        _allow(params, set())
        return Response(200, _HTML, self._page)

    def _no_icon(self, params: dict[str, str]) -> Response:
        _allow(params, set())
        return Response(204, _TEXT, b"")

    def _spec(self, params: dict[str, str]) -> Response:
        _allow(params, set())
        return Response(200, _JSON, self._spec_body)

    def _image(self, params: dict[str, str]) -> Response:
        names = self.model.spec.names
        _allow(params, {"seed", "grid", *names})
        seed = _seed(params)
        grid = _int("grid", params.get("grid", str(DEFAULT_GRID)), 1, MAX_GRID)
        codes = self._codes(params)
        with self._turn():
            body = self._grid_png(grid, codes, seed)
        return Response(200, _PNG, body)

    def _grid_png(self, grid: int, codes: dict[str, float | int], seed: int) -> bytes:
        # Called under the lock: every tensor is made and freed (as this frame ends) inside it.
        images = self.model.generate(n=grid * grid, codes=codes, seed=seed)
        return _png(images, nrow=grid)

    def _traverse(self, params: dict[str, str]) -> Response:
        spec = self.model.spec
        _allow(params, {"seed", "code", "steps", *spec.names})
        seed = _seed(params)
        if "code" not in params:
            raise _BadRequest(f"code: missing; one of {', '.join(spec.names)}")
        if params["code"] not in spec.names:
            raise _BadRequest(
                f"code: unknown {params['code'][:40]!r}; one of {', '.join(spec.names)}"
            )
        i = spec.names.index(params["code"])
        code = spec.codes[i]
        codes = self._codes(params)
        if isinstance(code, Categorical):
            # A large code: the block of values holding the one chosen on the page, so that
            # choosing a value pages through them (the whole row was once refused with 400).
            # steps is the continuous slider's; the page sends it for every code, so a value
            # it holds for a categorical one is not an error.
            start = int(codes.get(spec.names[i], 0)) // MAX_ROW_CATEGORIES * MAX_ROW_CATEGORIES
            row = (start, min(start + MAX_ROW_CATEGORIES, code.k))
        else:
            row = (_int("steps", params.get("steps", "9"), 2, MAX_STEPS), 0)
        with self._turn():
            body = self._row_png(i, row, codes, seed)
        return Response(200, _PNG, body)

    def _row_png(
        self, i: int, row: tuple[int, int], codes: dict[str, float | int], seed: int
    ) -> bytes:
        """One row of images along code ``i``: categorical values ``range(*row)``, or
        ``row[0]`` steps of the continuous slider. Called under the lock, as _grid_png."""
        kind, j = self.model.spec.slot(i)
        if kind == "cat":
            values = torch.arange(*row)
        else:
            values = torch.linspace(-SLIDER_SPAN, SLIDER_SPAN, row[0])
        one = self.model.latent(1, codes, seed)
        m = len(values)
        lat = Latent(one.z.repeat(m, 1), one.cat.repeat(m, 1), one.cont.repeat(m, 1))
        if kind == "cat":
            lat.cat[:, j] = values.to(lat.cat)
        else:
            lat.cont[:, j] = values.to(lat.cont)
        return _png(self.model.generate(latent=lat), nrow=m)

    def close(self, timeout: float = 30.0) -> bool:
        """Make no more images (requests get 503) and wait, up to ``timeout`` s, for the one
        being made; False on timeout. Part of stopping the server: a process that ended while
        a request's thread was inside torch aborted ("terminate called without an active
        exception", SIGABRT) instead of exiting."""
        self._closed = True
        if not self._lock.acquire(timeout=timeout):
            return False
        self._lock.release()
        return True

    def _codes(self, params: dict[str, str]) -> dict[str, float | int]:
        """The code values named in the query, each checked against its kind."""
        spec = self.model.spec
        out: dict[str, float | int] = {}
        for name, code in zip(spec.names, spec.codes, strict=True):
            if name not in params:
                continue
            text = params[name]
            if isinstance(code, Categorical):
                if not _INT.fullmatch(text) or int(text) >= code.k:
                    raise _BadRequest(
                        f"{name}: categorical value must be an integer in 0..{code.k - 1}, "
                        f"got {text[:40]!r}"
                    )
                out[name] = int(text)
            else:
                out[name] = _float(name, text, MAX_ABS_CONTINUOUS)
        return out


# ---- parameter parsing ----------------------------------------------------------------------------


def _parse_query(query: str) -> dict[str, str]:
    if not query:
        return {}
    try:
        pairs = parse_qsl(
            query, keep_blank_values=True, strict_parsing=True, errors="strict", max_num_fields=64
        )
    except ValueError as e:  # malformed field, bad percent-encoding / UTF-8, too many fields
        raise _BadRequest(f"malformed query string ({str(e)[:80]})") from None
    out: dict[str, str] = {}
    for name, value in pairs:
        if name in out:
            raise _BadRequest(f"{name[:40]!r} given more than once")
        out[name] = value
    return out


def _allow(params: dict[str, str], names: set[str]) -> None:
    unknown = sorted(set(params) - names)
    if unknown:
        allowed = ", ".join(sorted(names)) or "none"
        raise _BadRequest(f"unknown parameter {unknown[0][:40]!r} (allowed: {allowed})")


def _int(name: str, text: str, lo: int, hi: int) -> int:
    if not _INT.fullmatch(text):
        raise _BadRequest(f"{name}: expected an integer in {lo}..{hi}, got {text[:40]!r}")
    v = int(text)
    if not lo <= v <= hi:
        raise _BadRequest(f"{name}: expected an integer in {lo}..{hi}, got {v}")
    return v


def _float(name: str, text: str, bound: float) -> float:
    if not _FLOAT.fullmatch(text):
        raise _BadRequest(f"{name}: expected a number, got {text[:40]!r}")
    v = float(text)
    if not math.isfinite(v) or abs(v) > bound:
        raise _BadRequest(f"{name}: continuous value must be within +-{bound:g}, got {text[:40]!r}")
    return v


def _seed(params: dict[str, str]) -> int:
    return _int("seed", params.get("seed", "0"), 0, SEED_LIMIT - 1)


def _text(status: int, message: str) -> Response:
    return Response(status, _TEXT, (message + "\n").encode())


def _png(images: torch.Tensor, nrow: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image_grid(images.cpu(), nrow=nrow)).save(buf, format="PNG")
    return buf.getvalue()


# ---- the HTTP wrapper -----------------------------------------------------------------------------


#: What a vanished or stalled client raises in a handler thread: normal, not worth a traceback.
_CLIENT_GONE = (ConnectionError, TimeoutError)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a slow client must not keep Ctrl-C from ending the process
    explorer: Explorer
    #: Refuse requests whose Host header is not a loopback name (set when bound to loopback).
    check_host: bool = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Each request's thread and connection, so that stopping can end them (close_requests).
        self._requests: dict[threading.Thread, Any] = {}
        self._requests_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread, args=(request, client_address), daemon=True
        )
        with self._requests_lock:  # started under it: close_requests joins started threads
            self._requests[thread] = request
            thread.start()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._requests_lock:
                self._requests.pop(threading.current_thread(), None)

    def close_requests(self, timeout: float = 10.0) -> None:
        """End every open connection (a browser's idle keep-alive one waits up to
        REQUEST_TIMEOUT for its next request) and wait, up to ``timeout`` s in all, for their
        threads: a thread still running Python code as the interpreter shuts down is killed
        where it stands, and inside torch (a tensor freed by the garbage collector, say) that
        aborts the process."""
        with self._requests_lock:
            requests = dict(self._requests)
        for conn in requests.values():
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for thread in requests:
            thread.join(max(0.0, deadline - time.monotonic()))

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Browsers cancel image requests all the time (each slider move supersedes the last):
        # the write then fails with a broken pipe or reset. Only other errors are real.
        if isinstance(sys.exc_info()[1], _CLIENT_GONE):
            return
        super().handle_error(request, client_address)


class _Server6(_Server):
    address_family = socket.AF_INET6  # an IPv6 literal such as ::1


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    raw_requestline: bytes  # set by http.server's handle_one_request before parse_request
    server_version = "infogan-explore"
    # Socket timeout for every read and write: a half-sent request (or a client that stops
    # reading) would otherwise hold its thread forever.
    timeout = REQUEST_TIMEOUT

    def version_string(self) -> str:
        return self.server_version  # not the Python version: nothing for a client to need

    def parse_request(self) -> bool:
        self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = self.requestline.split()
        if len(words) == 2:
            # HTTP/0.9 ("GET /path", no version): http.server would wait for headers that never
            # come, holding the connection for the whole timeout, and answer with no status line.
            self.command, self.path, self.request_version = words[0], words[1], "HTTP/1.0"
            self.send_error(505, "HTTP/0.9 is not served; send HTTP/1.0 or 1.1")
            return False
        if not super().parse_request():
            return False  # http.server has answered, through send_error
        if self.command not in ("GET", "HEAD"):
            # http.server would answer 501 for a method without a do_* handler; to this server
            # every method but GET and HEAD is the same 405.
            self._not_allowed()
            return False
        return True

    def do_GET(self) -> None:
        self._reply(send_body=True)

    def do_HEAD(self) -> None:
        self._reply(send_body=False)

    def _not_allowed(self) -> None:
        # The request body is never read: close the connection rather than parse it as the next
        # request on a keep-alive connection.
        self.close_connection = True
        self._reply(send_body=True)

    def _reply(self, send_body: bool) -> None:
        # DNS rebinding: a page from attacker.example whose name now resolves to 127.0.0.1 reaches
        # this server, but its requests still say Host: attacker.example. A request with no Host
        # (HTTP/1.0 allows that) comes from no browser, so it is no such page.
        hosts = self.headers.get_all("Host") or []
        # An absolute-form target ("GET http://host/ HTTP/1.1") names the host that a server
        # must take over the Host header (RFC 9112, 3.2.2): check that one too.
        named = urlsplit(self.path).netloc if "://" in self.path.split("?", 1)[0] else None
        if named is not None:
            hosts = [*hosts, named]
        if self.server.check_host and not all(_is_loopback_host(h) for h in hosts):
            shown = hosts[0][:80] if len(hosts) == 1 else f"{len(hosts)} Host headers"
            response = _text(403, f"forbidden: Host {shown!r} is not a loopback name")
        else:
            response = self.server.explorer.handle(self.path, self.command)
        self._send(response, send_body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (bad request line, HTTP/2.0, oversized headers), in the
        module's one-line plain-text form rather than its HTML page."""
        self.log_error("code %d, message %s", code, message)
        phrase = self.responses.get(code, ("error",))[0].lower()
        # The detail goes in the body, not in the status line as http.server puts it: it quotes
        # the request, whose characters a (latin-1) status line may not carry.
        detail = message.splitlines()[0][:200] if message else ""
        self.close_connection = True  # a request not understood: nothing after it can be parsed
        # A request line refused before its version was read leaves the HTTP/0.9 default, which
        # drops the status line and headers: send them, unless it really was an HTTP/0.9 GET.
        if self.request_version == "HTTP/0.9" and self.command != "GET":
            self.request_version = "HTTP/1.0"
        self._send(_text(code, f"{phrase}: {detail}" if detail else phrase), self.command != "HEAD")

    def _send(self, response: Response, send_body: bool) -> None:
        status, ctype, body = response
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if ctype == _HTML:
            self.send_header(
                "Content-Security-Policy",
                "default-src 'none'; img-src 'self' blob:; style-src 'unsafe-inline'; "
                "script-src 'unsafe-inline'; connect-src 'self'",
            )
        if status == 405:
            self.send_header("Allow", "GET, HEAD")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # A slider drag is dozens of requests: log only the failures (and not the 503s of the
        # requests still arriving as Ctrl-C stops the server).
        if str(code).isdigit() and int(code) >= 400 and int(code) != 503:
            super().log_request(code, size)

    def log_error(self, format: str, *args: Any) -> None:
        # http.server logs "Request timed out" when the timeout closes an idle connection, which
        # browsers open ahead of need (preconnect) and then leave unused: normal, not an error.
        if any(isinstance(a, TimeoutError) for a in args):
            return
        super().log_error(format, *args)


def make_server(
    explorer: Explorer, host: str = "127.0.0.1", port: int = 8000
) -> ThreadingHTTPServer:
    """A threading HTTP server for ``explorer`` on ``host:port`` (0 = any free port), not started:
    call ``serve_forever()``, and ``shutdown()`` / ``server_close()`` to stop.

    Bound to a loopback ``host`` it serves only requests that name a loopback Host (DNS
    rebinding); bound to any other address it serves every Host, as its user chose.
    """
    host = _plain_host(host)
    server_cls = _Server6 if ":" in host else _Server
    server = server_cls((host, port), _Handler)
    server.explorer = explorer
    # The address bound, not the name given: "127.1", or a host name that resolves to a
    # loopback address, is bound to loopback too, and must be guarded as such.
    server.check_host = _is_loopback(str(server.server_address[0]))
    return server


def _plain_host(host: str) -> str:
    """``host`` as the socket takes it: an IPv6 address without the brackets of a URL
    (``[::1]`` was "Name or service not known"); an empty one is refused, since it binds every
    interface (an empty ``$HOST`` in a script exposed the server)."""
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:
        raise SpecError(
            "explore: --host is empty (that would listen on every interface); give an address: "
            "127.0.0.1 (the default), or 0.0.0.0 to serve other machines"
        )
    return host


def serve(
    source: str | Path, host: str = "127.0.0.1", port: int = 8000, device: str = "cpu"
) -> None:
    """Load a run and serve its explorer until Ctrl-C; prints the URL first."""
    if not 0 <= port <= 65535:
        raise SpecError(f"explore: port must be in 0..65535, got {port}")
    host = _plain_host(host)
    model = load_run(source, device=device)
    note_if_training(source, model.step, "this shows")
    explorer = Explorer(model)
    try:
        server = make_server(explorer, host, port)
    except (OSError, OverflowError) as e:
        reason = getattr(e, "strerror", None) or str(e)
        raise InfoGANError(f"explore: cannot listen on {host}:{port} ({reason})") from None
    bound_port = server.server_address[1]
    shown = f"[{host}]" if ":" in host else host
    print(f"explore: {source} at http://{shown}:{bound_port}/ (Ctrl-C stops)", flush=True)
    if not server.check_host:  # type: ignore[attr-defined]
        print(f"explore: listening on {host}: anyone who can reach it can use it", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("explore: stopped", flush=True)
    finally:
        explorer.close()
        server.close_requests()  # type: ignore[attr-defined]
        server.server_close()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_loopback_host(value: str) -> bool:
    """Whether a Host header names this machine's loopback: ``localhost``, an IPv4 loopback
    address or a bracketed IPv6 one, each with or without a port.

    Only names no outsider controls: ``localhost.attacker.example`` or ``127.0.0.1.nip.io`` could
    resolve anywhere, so they are refused like any other name.
    """
    value = value.strip()
    if value.startswith("["):  # [::1] or [::1]:8000
        address, bracket, port = value[1:].partition("]")
        if not bracket or ":" not in address:  # unclosed, or not IPv6 ("[127.0.0.1]")
            return False
    else:
        address, colon, port = value.partition(":")
        port = colon + port
        if address.lower() == "localhost":
            return bool(_PORT.fullmatch(port))
    if not _PORT.fullmatch(port):
        return False
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


# ---- the page -------------------------------------------------------------------------------------

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>infogan explore</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 1rem 1.5rem; color: #222; background: #fafafa; }
h1 { font-size: 1.3rem; margin: 0 0 .2rem; }
#info { color: #666; margin: 0 0 1rem; }
main { display: flex; gap: 1.5rem; flex-wrap: wrap; align-items: flex-start; }
#controls { min-width: 20rem; max-width: 28rem; }
fieldset { border: 1px solid #ccc; border-radius: 6px; padding: .4rem .8rem .6rem; margin: 0 0 .7rem; }
legend { font-weight: 600; }
.row { display: flex; align-items: center; gap: .5rem; margin: .35rem 0; flex-wrap: wrap; }
.row > label { min-width: 6.5rem; }
input[type=number] { width: 8rem; }
input[type=range] { width: 11rem; }
output { font-variant-numeric: tabular-nums; min-width: 3rem; }
.cats button { min-width: 2rem; margin: 1px; padding: 2px 6px; border: 1px solid #999;
  background: #fff; border-radius: 3px; cursor: pointer; }
.cats button.on { background: #246; color: #fff; border-color: #246; }
img { image-rendering: pixelated; background: #fff; border: 1px solid #ddd; display: block; }
#travimg { margin-top: 1rem; }
#travcap { color: #555; margin-top: .3rem; max-width: 60rem; overflow-wrap: anywhere; }
#err { color: #b00; min-height: 1.2em; white-space: pre-wrap; }
</style>
</head>
<body>
<h1>infogan explore</h1>
<p id="info">loading the model's codes...</p>
<main>
<section id="controls">
  <fieldset><legend>noise</legend>
    <div class="row"><label for="seed">seed</label>
      <input id="seed" type="number" min="0" step="1" value="0">
      <button id="newnoise" type="button">new noise</button></div>
    <div class="row"><label for="grid">grid</label><select id="grid"></select></div>
    <div class="row"><label for="zoom">zoom</label>
      <input id="zoom" type="range" min="1" max="8" step="1" value="3"></div>
  </fieldset>
  <fieldset id="codes"><legend>codes</legend></fieldset>
  <fieldset><legend>traversal row</legend>
    <div class="row"><label for="tcode">code</label>
      <select id="tcode"><option value="">none</option></select></div>
    <div class="row"><label for="tsteps">steps</label>
      <input id="tsteps" type="number" min="2" step="1" value="9"></div>
  </fieldset>
  <div id="err" role="alert"></div>
</section>
<section>
  <img id="gridimg" alt="images generated from the chosen codes">
  <img id="travimg" alt="traversal of the chosen code" hidden>
  <div id="travcap" hidden></div>
</section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let spec = null;
const state = { seed: 0, codes: {} };
const busy = {}, next = {};
// What is wrong now, by source (each image's last request, the seed field): an image that
// loads clears its own error only. One shared line let the grid's success hide a refused
// traversal (steps out of range) as soon as it was shown.
const errs = {};
function setErr(key, text) {
  if (text) errs[key] = text; else delete errs[key];
  $("err").textContent = Object.values(errs).join("\\n");
}

// One request in flight per image; while it runs only the newest wish is kept, so a slider
// drag neither floods the server nor shows stale frames last.
// shown(): what to do once this image is up (the traversal's caption follows its image, not
// a request the server refused).
function request(imgId, url, shown) {
  if (busy[imgId]) { next[imgId] = [url, shown]; return; }
  busy[imgId] = true;
  const img = $(imgId);
  // An image hidden meanwhile (traversal "none") has nothing to say, even about a refusal.
  const fail = (text) => { setErr(imgId, img.hidden ? "" : text); img.style.opacity = 0.35; };
  fetch(url).then(async (r) => {
    // A refused request leaves the last image up, dimmed: it no longer shows the controls.
    if (!r.ok) { fail(r.status + " " + (await r.text()).trim()); return; }
    const old = img.src;
    img.src = URL.createObjectURL(await r.blob());
    if (old.startsWith("blob:")) URL.revokeObjectURL(old);
    img.style.opacity = "";
    setErr(imgId, "");
    if (shown) shown();
  }).catch((e) => { fail(String(e)); }).finally(() => {
    busy[imgId] = false;
    const queued = next[imgId]; next[imgId] = null;
    if (queued) request(imgId, ...queued);
  });
}

function query(extra) {
  const p = new URLSearchParams();
  p.set("seed", String(state.seed));
  for (const c of spec.codes) p.set(c.name, String(state.codes[c.name]));
  for (const [k, v] of Object.entries(extra)) p.set(k, String(v));
  return p.toString();
}

function refresh() {
  request("gridimg", "image.png?" + query({ grid: $("grid").value }));
  const t = $("tcode").value;
  $("travimg").hidden = $("travcap").hidden = !t;
  if (!t) setErr("travimg", "");
  if (t) {
    const text = caption(spec.codes.find((c) => c.name === t));
    request("travimg", "traverse.png?" + query({ code: t, steps: $("tsteps").value }),
            () => { $("travcap").textContent = text; });
  }
}

// What the traversal row's columns are, left to right (the server's row, see /traverse.png).
function caption(c) {
  if (c.kind !== "categorical") {
    return c.name + " from " + c.min + " to " + c.max + " in " + $("tsteps").value + " steps";
  }
  const block = spec.limits.row_categories_max;
  const start = Math.floor(state.codes[c.name] / block) * block;
  const end = Math.min(start + block, c.k);
  const shown = c.name + " = " + start + ".." + (end - 1);
  return c.labels ? shown + ", labelled " + c.labels.slice(start, end).join(" ") : shown;
}

function zoom() {
  const z = Number($("zoom").value);
  for (const id of ["gridimg", "travimg"]) {
    const img = $(id);
    if (img.naturalWidth) img.style.width = img.naturalWidth * z + "px";
  }
}

function categorical(c, box) {
  state.codes[c.name] = 0;
  const row = document.createElement("div");
  row.className = "row";
  const label = document.createElement("label");
  label.textContent = c.label;
  row.append(label);
  if (c.k <= 20) {
    const group = document.createElement("span");
    group.className = "cats";
    for (let v = 0; v < c.k; v++) {
      const b = document.createElement("button");
      b.type = "button";
      // A saved label mapping names each value ("7", "cat"); the value itself is the tooltip.
      b.textContent = c.labels ? c.labels[v] : String(v);
      b.title = c.name + " = " + v;
      if (v === 0) b.className = "on";
      b.addEventListener("click", () => {
        for (const o of group.children) o.className = "";
        b.className = "on";
        state.codes[c.name] = v;
        refresh();
      });
      group.append(b);
    }
    row.append(group);
  } else {
    const sel = document.createElement("select");
    for (let v = 0; v < c.k; v++) {
      sel.add(new Option(c.labels ? v + ": " + c.labels[v] : String(v), String(v)));
    }
    sel.addEventListener("change", () => { state.codes[c.name] = Number(sel.value); refresh(); });
    row.append(sel);
  }
  box.append(row);
}

function continuous(c, box) {
  state.codes[c.name] = 0;
  const row = document.createElement("div");
  row.className = "row";
  const label = document.createElement("label");
  label.textContent = c.label;
  const slider = document.createElement("input");
  Object.assign(slider, { type: "range", min: c.min, max: c.max, step: 0.05, value: 0 });
  slider.title = "double-click: back to 0";
  const out = document.createElement("output");
  out.textContent = "0.00";
  const set = (v) => { state.codes[c.name] = v; out.textContent = v.toFixed(2); refresh(); };
  slider.addEventListener("input", () => set(Number(slider.value)));
  slider.addEventListener("dblclick", () => { slider.value = 0; set(0); });
  row.append(label, slider, out);
  box.append(row);
}

async function main() {
  const r = await fetch("spec.json");
  spec = await r.json();
  const lim = spec.limits;
  $("info").textContent = spec.codes.map((c) => c.label).join(", ") + " | noise " +
    spec.noise_dim + " | step " + spec.step + " | " + spec.generator;
  $("seed").max = lim.seed_max;
  $("tsteps").max = lim.steps_max;
  for (let g = 1; g <= lim.grid_max; g++) $("grid").add(new Option(g + " x " + g, String(g)));
  $("grid").value = String(Math.min(8, lim.grid_max));
  const box = $("codes");
  for (const c of spec.codes) {
    (c.kind === "categorical" ? categorical : continuous)(c, box);
    $("tcode").add(new Option(c.label, c.name));
  }
  $("seed").addEventListener("change", () => {
    // An empty field (or text, which a number input reports as "") is no seed: Number("") is 0.
    const raw = $("seed").value.trim(), v = Number(raw);
    if (raw !== "" && Number.isInteger(v) && v >= 0 && v <= lim.seed_max) {
      setErr("seed", "");
      state.seed = v;
      refresh();
    } else setErr("seed", "seed: an integer in 0.." + lim.seed_max);
  });
  $("newnoise").addEventListener("click", () => {
    state.seed = Math.floor(Math.random() * (lim.seed_max + 1));
    $("seed").value = state.seed;
    setErr("seed", "");
    refresh();
  });
  for (const id of ["grid", "tcode", "tsteps"]) $(id).addEventListener("change", refresh);
  $("zoom").addEventListener("input", zoom);
  for (const id of ["gridimg", "travimg"]) $(id).addEventListener("load", zoom);
  refresh();
}
main().catch((e) => { setErr("spec", "cannot load spec.json: " + e); });
</script>
</body>
</html>
"""
