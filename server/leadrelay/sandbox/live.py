"""A real uvicorn server in a background thread: the pytest plugin's sandbox, and the project's integration and browser tests."""

from __future__ import annotations

import random
import socket
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from leadrelay.config import Settings
from leadrelay.serving import uvicorn_config


def free_port() -> int:
    """A free port for a server another process binds later (a subprocess, a restart on the same port).

    Chosen below the kernel's ephemeral range, so no outgoing connection can be given it
    as its own local port in the meantime (port 0 would pick one inside that range).
    """
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    below = range(10000, low)  # empty when the ephemeral range starts lower: port 0 then
    for port in random.sample(below, k=min(200, len(below))):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """Runs an ASGI app on 127.0.0.1:<port> until stop(); `url` is its base URL.

    It runs the uvicorn Config `leadrelay serve` runs (leadrelay.serving), with the limits of
    `settings` (the defaults when None).
    """

    def __init__(self, app: Any, port: int | None = None, settings: Settings | None = None) -> None:
        self.app = app
        # Bind here and hand uvicorn the socket: picking a free port and binding it
        # later races every other connection on the machine for that port.
        self.socket = socket.socket()
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", port or 0))
        self.port = int(self.socket.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn_config(app, settings or Settings.model_construct(), host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
