"""`xch report serve`: the built site over HTTP on a loopback address, for a quick look.

Loopback only (127.0.0.1): the site may hold evidence paths and logs that are not for the network.
Files are served as they are (`.log.txt` as text/plain), with `nosniff` so a browser never guesses
HTML from a log.
"""

from __future__ import annotations

import functools
import http.server
from pathlib import Path

from harness.core.errors import InfraError, InputError

HOST = "127.0.0.1"


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".txt": "text/plain; charset=utf-8",
                      ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                      ".css": "text/css; charset=utf-8"}

    def end_headers(self) -> None:
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, fmt: str, *args: object) -> None:  # quieter than the default: one short line
        print(f"{self.address_string()} {fmt % args}", flush=True)


def make_server(directory: Path, port: int) -> http.server.ThreadingHTTPServer:
    if not (directory / "index.html").is_file():
        raise InputError(f"--dir {directory}: no index.html; build the site first (xch report build --out {directory})")
    if not 0 <= port <= 65535:
        raise InputError(f"--port {port}: expected 0-65535 (0 = any free port)")
    handler = functools.partial(_Handler, directory=str(directory))
    try:
        return http.server.ThreadingHTTPServer((HOST, port), handler)
    except OSError as exc:
        raise InfraError(f"cannot listen on {HOST}:{port}: {exc.strerror or exc}") from None
