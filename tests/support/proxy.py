"""The deployment as a site runs it: `leadrelay serve` in a subprocess, behind Debian's nginx or Caddy.

The proxies run the `/lr/` routing of examples/deploy/nginx.conf and examples/deploy/Caddyfile,
taken from those files, in front of a test site's static pages. nginx connects to leadrelay from
127.0.0.2 (`proxy_bind`), so that its address and the visitor's (127.0.0.1) differ.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from leadrelay.event import LeadEvent
from leadrelay.sandbox.live import free_port
from leadrelay.store import open_store
from tests.support.waiting import wait_for_count

DEPLOY = Path(__file__).resolve().parents[2] / "examples" / "deploy"
NGINX_ADDRESS = "127.0.0.2"
"""Where nginx connects to leadrelay from."""
CADDY_ADDRESS = "127.0.0.1"
"""Where Caddy connects to leadrelay from (Caddy 2.6 cannot choose)."""
WAIT_S = 15.0


def _wait_for_port(port: int, process: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + WAIT_S
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}: {log.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not listen on {port}: {log.read_text(errors='replace')}") from None
            time.sleep(0.05)


class Child:
    """A server process, started listening on 127.0.0.1:`port`, stopped by stop()."""

    def __init__(self, what: str, argv: list[str], port: int, log: Path, env: dict[str, str] | None = None) -> None:
        self.what, self.port, self.log = what, port, log
        self.url = f"http://127.0.0.1:{port}"
        with log.open("wb") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            _wait_for_port(port, self.process, what, log)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Leadrelay(Child):
    """`leadrelay serve` with a TOML configuration of `settings`, on SQLite in `directory`."""

    def __init__(self, directory: Path, **settings: Any) -> None:
        settings.setdefault("database_url", f"sqlite:///{directory / 'leadrelay.db'}")
        settings.setdefault("worker", False)
        settings.setdefault("rate_limit_per_ip", "1000000/minute")
        settings.setdefault("rate_limit_per_visitor", "1000000/minute")
        self.database_url = settings["database_url"]
        config = directory / "leadrelay.toml"
        config.write_text("".join(f"{name} = {_toml(value)}\n" for name, value in settings.items()))
        env = {name: value for name, value in os.environ.items() if not name.startswith("LEADRELAY_")}
        port = free_port()
        argv = [sys.executable, "-m", "leadrelay", "serve", "--config", str(config), "--port", str(port), "--log-level", "warning"]
        super().__init__("leadrelay serve", argv, port, directory / "leadrelay.log", env)

    def events(self) -> list[LeadEvent]:
        """Stored events, oldest first."""
        store = open_store(self.database_url)
        try:
            return list(reversed(store.list_events(limit=1000)))
        finally:
            store.close()

    def wait_for_events(self, count: int) -> list[LeadEvent]:
        return wait_for_count(self.events, count, "stored events", WAIT_S)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


def _binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if found is None:
        pytest.skip(f"{name} is not installed (./run test installs Debian's {name} as root)")
    return found


def nginx_location() -> str:
    """The `location /lr/ { ... }` block of examples/deploy/nginx.conf."""
    text = (DEPLOY / "nginx.conf").read_text()
    match = re.search(r"^    location /lr/ \{\n.*?^    \}\n", text, re.M | re.S)
    assert match, "examples/deploy/nginx.conf has no `location /lr/` block"
    return match.group(0)


def caddy_route() -> str:
    """The reverse_proxy line of examples/deploy/Caddyfile."""
    [line] = [line.strip() for line in (DEPLOY / "Caddyfile").read_text().splitlines() if line.strip().startswith("reverse_proxy")]
    return line


class Nginx(Child):
    """Debian's nginx, not as a daemon, serving `root` and routing /lr/ as the example does to `upstream`.

    `edit` rewrites the example's location block first (a test's variation of it).
    """

    def __init__(self, directory: Path, root: Path, upstream: Child, edit: dict[str, str] | None = None) -> None:
        binary = _binary("nginx")
        location = nginx_location().replace("127.0.0.1:8000", f"127.0.0.1:{upstream.port}")
        for old, new in (edit or {}).items():
            assert old in location, f"{old!r} is not in the example's location block"
            location = location.replace(old, new)
        port = free_port()
        temp = directory / "nginx"
        temp.mkdir()
        config = temp / "nginx.conf"
        config.write_text(
            f"""daemon off;
master_process off;
pid {temp}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 128; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    types {{ text/html html; }}
    gzip on;  # as sites often have it: it must leave leadrelay's own compression alone
    gzip_types text/javascript application/javascript;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        proxy_bind {NGINX_ADDRESS};
{location}    }}
}}
"""
        )
        argv = [binary, "-p", str(temp), "-c", str(config), "-e", "stderr"]
        super().__init__("nginx", argv, port, temp / "nginx.log")


class Caddy(Child):
    """Debian's Caddy, serving `root` and routing /lr/ as the example does to `upstream`, over plain http."""

    def __init__(self, directory: Path, root: Path, upstream: Child) -> None:
        binary = _binary("caddy")
        route = caddy_route().replace("127.0.0.1:8000", f"127.0.0.1:{upstream.port}")
        port = free_port()
        home = directory / "caddy"
        home.mkdir()
        config = home / "Caddyfile"
        config.write_text(
            f"""{{
\tadmin off
\tauto_https off
}}
http://:{port} {{
\troot * {root}
\t{route}
\tfile_server
}}
"""
        )
        env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / "data"), "XDG_CONFIG_HOME": str(home / "config")}
        argv = [binary, "run", "--config", str(config), "--adapter", "caddyfile"]
        super().__init__("caddy", argv, port, home / "caddy.log", env)


def visitor_client(base_url: str, address: str = "127.0.0.3") -> httpx.Client:
    """An HTTP client that connects from `address`: a visitor the proxy and leadrelay can tell apart."""
    return httpx.Client(base_url=base_url, transport=httpx.HTTPTransport(local_address=address), timeout=WAIT_S)
