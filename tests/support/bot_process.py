"""The bot as a real OS process (``python -m bot run``), configured by environment
variables only, as in production: start it on a free port, wait for ``/readyz`` by
polling, SIGKILL it, start it again. Its stdout and stderr go to one log file that every
start appends to, so a test can read (and scan for secrets) all it ever printed.

The stand-ins it talks to live in the test process (``tests.support.bot_process_world``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import aiohttp

REPOSITORY = Path(__file__).resolve().parents[2]
# Inherited variables that would configure the child behind the test's back.
_OWN_PREFIXES = ("DESKHAND_", "SLACK_", "STRIPE_", "ZENDESK_", "INTERCOM_", "CUSTOM_TICKETING")


@dataclass(frozen=True)
class Secrets:
    """Every secret a bot process is given: random, long, and new for each run."""

    slack_bot_token: str = field(default_factory=lambda: f"xoxb-{secrets.token_hex(32)}")
    slack_signing_secret: str = field(default_factory=lambda: secrets.token_hex(32))
    webhook_secret: str = field(default_factory=lambda: secrets.token_hex(32))
    stripe_api_key: str = field(default_factory=lambda: f"sk_test_{secrets.token_hex(32)}")
    ticketing_token: str = field(default_factory=lambda: secrets.token_hex(32))

    def values(self) -> dict[str, str]:
        return {
            "SLACK_BOT_TOKEN": self.slack_bot_token,
            "SLACK_SIGNING_SECRET": self.slack_signing_secret,
            "DESKHAND_WEBHOOK_SECRET": self.webhook_secret,
            "STRIPE_API_KEY": self.stripe_api_key,
            "CUSTOM_TICKETING_TOKEN": self.ticketing_token,
        }


def leaked_secrets(text: str, given: Secrets) -> list[str]:
    """Names of the secrets whose value (or a long part of one) appears in ``text``."""
    leaked = []
    for name, value in given.values().items():
        # A prefix or suffix of 16 hex characters is as telling as the whole secret.
        tail, head = value[-16:], value.split("_")[-1].split("-")[-1][:16]
        if value in text or tail in text or head in text:
            leaked.append(name)
    return leaked


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def child_environment(settings: dict[str, str]) -> dict[str, str]:
    """The test's environment minus deskhand's own variables, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_PREFIXES)}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPOSITORY), env.get("PYTHONPATH", "")) if p
    )
    env["PYTHONUNBUFFERED"] = "1"  # a SIGKILL must not eat the last log lines
    return env | settings


class BotProcess:
    """One bot process on a fixed port (kept across restarts, so clients keep its URL)."""

    def __init__(self, name: str, settings: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.log_path = workdir / f"{name}.log"
        # cwd is the work directory: the bot reads a `.env` from its cwd, and there is none.
        self._workdir = workdir
        self._env = child_environment(
            settings | {"DESKHAND_HOST": "127.0.0.1", "DESKHAND_PORT": str(self.port)}
        )
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.starts = 0
        self.kills = 0

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.root + path

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        self._close_log()
        self._log = self.log_path.open("ab")
        self._log.write(f"--- start {self.starts + 1} ---\n".encode())
        self._log.flush()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            cwd=self._workdir,
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.starts += 1

    async def wait_ready(self, within: float = 30.0) -> None:
        """Poll ``/readyz`` until it answers 200; fail early if the process exits."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        timeout = aiohttp.ClientTimeout(total=2)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            while True:
                if not self.running:
                    raise AssertionError(f"{self.name} exited: {self.log_tail()}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(self.url("/readyz")) as response:
                        if response.status == 200:
                            return
                if loop.time() > deadline:
                    raise AssertionError(f"{self.name} not ready in {within}s: {self.log_tail()}")
                await asyncio.sleep(0.05)

    async def start_ready(self, within: float = 30.0) -> None:
        self.start()
        await self.wait_ready(within)

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, as in a crash or an OOM kill."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
            self.kills += 1
        self._proc.wait(10)
        self._proc = None

    def stop(self) -> None:
        """SIGTERM and wait (then SIGKILL if it does not go)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)
        self._proc = None
        self._close_log()

    def log_text(self) -> str:
        if self._log is not None:
            self._log.flush()
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
