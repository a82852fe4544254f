"""Run the real app (`python -m bot ...`) as a child process and watch what it logs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO


class BotProcess:
    """`python -m bot ARGS` with its stdout and stderr collected line by line."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "BOT_"))}
        full_env.update(env)
        full_env["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", *args],
            cwd=cwd,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._cond = threading.Condition()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        for stream, lines in ((self.proc.stdout, self.stdout), (self.proc.stderr, self.stderr)):
            threading.Thread(target=self._pump, args=(stream, lines), daemon=True).start()

    def _pump(self, stream: IO[str], lines: list[str]) -> None:
        for line in stream:
            with self._cond:
                lines.append(line)
                self._cond.notify_all()

    def wait_for_log(self, fragment: str, timeout: float = 20.0, *, count: int = 1) -> str:
        """Block until `count` stderr lines hold `fragment`; return the last of them."""

        def found() -> list[str]:
            return [line for line in self.stderr if fragment in line]

        with self._cond:
            if not self._cond.wait_for(
                lambda: len(found()) >= count or self.proc.poll() is not None, timeout
            ):
                raise AssertionError(f"no log line with {fragment!r} in {timeout}s:\n{self.log}")
            if len(found()) < count:
                raise AssertionError(
                    f"the bot exited ({self.proc.returncode}) before {fragment!r}:\n{self.log}"
                )
            return found()[-1]

    def wait_for_output(self, fragment: str, timeout: float = 20.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: fragment in "".join(self.stdout), timeout):
                raise AssertionError(f"no {fragment!r} on stdout in {timeout}s:\n{self.log}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"the bot did not stop within {timeout}s:\n{self.log}") from None
        time.sleep(0.05)  # let the pump threads drain the pipes
        return code

    @property
    def log(self) -> str:
        with self._cond:
            return "".join(self.stderr)

    @property
    def output(self) -> str:
        with self._cond:
            return "".join(self.stdout)
