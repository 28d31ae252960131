"""`leadrelay` commands in subprocesses, as an operator runs them: started, waited for, killed, stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import httpx

from tests.support import waiting

WAIT_S = 180.0  # a ceiling for what a subprocess must do (start, work through a load), never asserted as a duration


def wait_until(check: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    """tests.support.waiting's wait_until with the subprocesses' longer ceiling."""
    return waiting.wait_until(check, what, timeout)


def leadrelay_env(**settings: str) -> dict[str, str]:
    """This process's environment without its LEADRELAY_* variables, and `settings` as LEADRELAY_<NAME>."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADRELAY_")}
    env.update({f"LEADRELAY_{k.upper()}": v for k, v in settings.items()})
    return env


class Leadrelay:
    """One `leadrelay` command (`serve` on `port`, `worker`, ...) in a subprocess, its output in `log`."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path, port: int | None = None) -> None:
        self.command, self.env, self.log, self.port = command, env, log, port
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def serve(cls, env: dict[str, str], port: int, log: Path) -> Leadrelay:
        return cls(["serve", "--port", str(port), "--log-level", "warning"], env, log, port)

    @classmethod
    def worker(cls, env: dict[str, str], log: Path) -> Leadrelay:
        return cls(["worker", "--log-level", "warning"], env, log)

    def launch(self) -> Leadrelay:
        """Start the process without waiting for it to be ready."""
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "leadrelay", *self.command], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        return self

    def start(self, timeout: float = 60) -> Leadrelay:
        self.launch()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        """A server answers /healthz with 200; a worker has printed its id."""
        what = "the server to start" if self.port is not None else "the worker to start"
        wait_until(self._ready, what, timeout=timeout)

    def _ready(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, self.log.read_text()[-2000:]
        if self.port is None:
            return self.worker_id is not None
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def worker_id(self) -> str | None:
        """The id a `leadrelay worker` printed on starting (what it writes as `claimed_by`)."""
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("leadrelay worker "):
                return line.split()[2]
        return None

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
