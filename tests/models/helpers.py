"""Test helpers for the model registry: a real local HTTP server and ONNX files built from a signature."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from obs_faceswap.models.session import TensorSpec

# ----------------------------------------------------------------------------- HTTP server


@dataclass
class Route:
    """What the server answers for one path."""

    body: bytes = b""
    status: int = 200
    honour_range: bool = True  # False: ignore Range and always send the whole body with 200
    truncate_at: int | None = None  # send only this many body bytes, then close (Content-Length stays full)
    truncate_times: int = 1  # how many requests get truncated before the route behaves
    content_length: int | None = None  # lie about the length
    send_length: bool = True  # False: no Content-Length, the body ends when the connection closes


@dataclass
class ServerLog:
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)
    bytes_sent: int = 0


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - keep the test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        srv = self.server
        rng = self.headers.get("Range")
        srv.log.requests.append((self.path, rng))
        route = srv.routes.get(self.path)
        if route is None or route.status != 200:
            self.send_error(route.status if route else 404)
            return
        body, start = route.body, 0
        m = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if m and route.honour_range:
            start = int(m.group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        length = route.content_length if route.content_length is not None else len(payload)
        if route.send_length:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        if route.truncate_at is not None and route.truncate_times > 0:
            route.truncate_times -= 1
            payload = payload[: route.truncate_at]
            self.close_connection = True
        self.wfile.write(payload)
        self.wfile.flush()
        srv.log.bytes_sent += len(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    routes: dict[str, Route]
    log: ServerLog


@dataclass
class LocalServer:
    base: str
    routes: dict[str, Route]
    log: ServerLog

    def url(self, path: str) -> str:
        return self.base + path


@contextmanager
def local_server() -> Iterator[LocalServer]:
    """A threaded HTTP/1.0 server on 127.0.0.1 (random port) with Range support."""
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.routes = {}
    srv.log = ServerLog()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield LocalServer(f"http://127.0.0.1:{srv.server_address[1]}", srv.routes, srv.log)
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


# ----------------------------------------------------------------------------- stand-in ONNX files

_DT = {"float32": TensorProto.FLOAT, "float64": TensorProto.DOUBLE, "int64": TensorProto.INT64,
       "float16": TensorProto.FLOAT16}
_NP = {"float32": np.float32, "float64": np.float64, "int64": np.int64, "float16": np.float16}


def _dims(shape: Sequence[int | str | None]) -> list[int | str | None]:
    return [d if isinstance(d, int) else (d if isinstance(d, str) else None) for d in shape]


def build_onnx(path: Path, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec]) -> Path:
    """An ONNX file with exactly these inputs/outputs (positional specs get names in0/out0...).

    Each output is a zero tensor Expand-ed to its shape (dynamic axes become 1), so the file is tiny
    whatever the declared sizes.
    """
    g_in = [helper.make_tensor_value_info(s.name or f"in{i}", _DT[s.dtype], _dims(s.shape))
            for i, s in enumerate(inputs)]
    nodes, g_out = [], []
    for j, s in enumerate(outputs):
        name = s.name or f"out{j}"
        concrete = np.array([d if isinstance(d, int) else 1 for d in s.shape], np.int64)
        nodes.append(helper.make_node("Constant", [], [f"_shape{j}"], value=numpy_helper.from_array(concrete)))
        nodes.append(helper.make_node("Constant", [], [f"_zero{j}"],
                                      value=numpy_helper.from_array(np.array(0, _NP[s.dtype]))))
        nodes.append(helper.make_node("Expand", [f"_zero{j}", f"_shape{j}"], [name]))
        g_out.append(helper.make_tensor_value_info(name, _DT[s.dtype], _dims(s.shape)))
    model = helper.make_model(helper.make_graph(nodes, "standin", g_in, g_out),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path
