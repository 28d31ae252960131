"""`leadrelay serve` itself, in a subprocess: what only a whole process shows, its memory and its open-file limit."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from leadrelay.sandbox.live import free_port
from leadrelay.serving import RESERVED_FILES, open_file_limit
from tests.support.sockets import WAIT_S, answer, connect, request_head


class Served:
    """`leadrelay serve` on a port of its own, started with this open-file limit (soft, hard)."""

    def __init__(self, tmp_path: Path, files: tuple[int, int] | None = None, **settings: str) -> None:
        self.port = free_port()
        self.log = tmp_path / "serve.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEADRELAY_")}
        env.update(
            LEADRELAY_DATABASE_URL=f"sqlite:///{tmp_path / 'serve.db'}",
            LEADRELAY_DEMO="false",
            LEADRELAY_WORKER="false",
            LEADRELAY_SECRET_KEY="serving-test-secret-key-of-32-or-more-characters",
            **{f"LEADRELAY_{k.upper()}": v for k, v in settings.items()},
        )

        def limit_files() -> None:
            if files is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, files)

        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "leadrelay", "serve", "--port", str(self.port), "--log-level", "warning"],
                env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=limit_files,
            )  # fmt: skip
        deadline = time.monotonic() + WAIT_S
        while not self._up():
            assert self.proc.poll() is None and time.monotonic() < deadline, self.log.read_text()[-2000:]
            time.sleep(0.05)

    def _up(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def peak_memory(self) -> int:
        """The most memory the process has held at once, in bytes (VmHWM)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmHWM in /proc/<pid>/status")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[type[Served]]:
    started: list[Served] = []

    class Started(Served):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(tmp_path, *args, **kwargs)  # type: ignore[arg-type]
            started.append(self)

    yield Started
    for server in started:
        server.stop()


def health(port: int) -> int:
    """The status of GET /healthz on a new connection."""
    sock = connect(port)
    try:
        sock.sendall(request_head("GET", "/healthz"))
        return answer(sock).status
    finally:
        sock.close()


def need_files(count: int) -> None:
    if open_file_limit() < count:
        pytest.skip(f"this test opens {count} sockets; the hard open-file limit here is lower")


def test_four_requests_with_64_mb_headers_get_431_and_leave_memory_bounded(served: type[Served]) -> None:
    server = served()
    assert health(server.port) == 200
    before = server.peak_memory()
    megabyte = b"a" * (1 << 20)
    for _ in range(4):
        sock = connect(server.port)
        try:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
            for _ in range(64):
                sock.sendall(megabyte)
            sock.sendall(b"\r\n\r\n")
        except OSError:
            pass  # the server stopped reading: its answer is waiting
        refused = answer(sock)
        sock.close()
        assert refused.status == 431
        assert refused.json()["error"]["code"] == "headers_too_large"
    assert health(server.port) == 200
    grown = server.peak_memory() - before
    assert grown < 32 << 20, f"the server's peak memory grew by {grown >> 20} MB"


def test_a_thousand_idle_sockets_under_a_soft_limit_of_1024_leave_room_for_real_requests(served: type[Served]) -> None:
    need_files(2500)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    server = served(files=(1024, hard), header_timeout_s="300")
    idle = [connect(server.port) for _ in range(1100)]
    try:
        assert [health(server.port) for _ in range(20)] == [200] * 20
    finally:
        for sock in idle:
            sock.close()


def test_under_a_low_hard_limit_the_cap_fits_it_and_idle_sockets_give_way(served: type[Served]) -> None:
    need_files(1000)
    server = served(files=(400, 400), header_timeout_s="300")
    idle = [connect(server.port) for _ in range(600)]
    try:
        assert [health(server.port) for _ in range(20)] == [200] * 20
    finally:
        for sock in idle:
            sock.close()
    assert f"max_connections lowered from 2048 to {400 - RESERVED_FILES}" in server.log.read_text()
