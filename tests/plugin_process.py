"""A Pulumi plugin started as the CLI starts one: it prints its gRPC port, then serves on it."""

from __future__ import annotations

import select
import subprocess
import tempfile
from pathlib import Path
from typing import Mapping

import grpc


class PluginProcess:
    """A plugin process, the port it announced, a channel to it, and its stderr for messages."""

    def __init__(self, command: list[str], cwd: Path, env: Mapping[str, str], what: str, startup_seconds: float):
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(command, cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=self._stderr)
        ready, _, _ = select.select([self.process.stdout], [], [], startup_seconds)
        line = self.process.stdout.readline().decode().strip() if ready else ""
        if not line.isdigit():
            self.close()
            raise RuntimeError(f"{what} announced no port (got {line!r}); its stderr:\n{self.stderr()}")
        self.port = int(line)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read()

    def close(self) -> None:
        if getattr(self, "channel", None) is not None:
            self.channel.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()
        self._stderr.close()
