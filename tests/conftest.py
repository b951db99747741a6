"""Shared fixtures: the real local stack (started by deploy/local/stack), unique names, workers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from streams.settings import Settings

REPO = Path(__file__).resolve().parent.parent
# The Greek Almaty sample story: from the shared samples folder beside the checkout when there is
# one, else the byte-identical copy the package bundles (tests/unit/test_devset.py checks it).
SAMPLE_STORY = next(
    (path for path in (REPO.parent / "shared" / "samples" / "almaty-2022-01-el.txt",
                       Path("/work/shared/samples/almaty-2022-01-el.txt")) if path.exists()),
    REPO / "streams" / "samples" / "almaty-2022-01-el.txt",
)
STACK = REPO / "deploy" / "local" / "stack"


@dataclass
class Stack:
    """The running local stack, as the project's own script started it."""

    settings: Settings
    state_dir: Path

    @property
    def kafka(self) -> str:
        return self.settings.kafka_bootstrap

    @property
    def es_url(self) -> str:
        return self.settings.es_url

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.prometheus_port}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.alertmanager_port}"

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(STACK), *args], capture_output=True, text=True,
                              timeout=timeout, cwd=REPO)

    def restart(self, service: str) -> None:
        down = self.run("down", service)
        assert down.returncode == 0, down.stderr
        up = self.run("up", service)
        assert up.returncode == 0, f"{service} did not come back:\n{up.stdout}\n{up.stderr}"


@pytest.fixture(scope="session")
def stack() -> Stack:
    """Bring the stack up (idempotent) and fail, never skip, when a service cannot start."""
    settings = Settings.from_env()
    proc = subprocess.run([sys.executable, str(STACK), "up"], capture_output=True, text=True,
                          timeout=900, cwd=REPO)
    if proc.returncode != 0:
        pytest.fail(
            "the local stack did not come up, so the integration tests cannot run:\n"
            f"{proc.stdout}\n{proc.stderr}", pytrace=False,
        )
    state = Path(os.environ.get("WIREWATCH_STATE_DIR") or REPO / ".state").resolve()
    return Stack(settings=settings, state_dir=state)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def alive(pid: int | str) -> bool:
    """True while the process exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def uid() -> str:
    """A short unique suffix for topics, indices and consumer groups of one test."""
    return uuid.uuid4().hex[:10]


@dataclass
class WorkerProcess:
    """A real `wirewatch worker` in a subprocess with its own topics, indices and ports."""

    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    settings: Settings = field(init=False)

    def __post_init__(self) -> None:
        self.settings = Settings.from_env(self.env)

    def start(self, timeout: float = 90) -> WorkerProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker", "--loglevel", "info"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.log()}")
            if "Ready" in self.log() and self._assigned():
                return self
            time.sleep(0.5)
        raise AssertionError(f"worker not ready after {timeout}s:\n{self.log()[-4000:]}")

    def _assigned(self) -> bool:
        # Faust logs the partitions it was given once the group has joined.
        return "Assigned" in self.log() or "assigned" in self.log()

    def child_pids(self) -> list[int]:
        """Processes the worker started (its tagging processes among them)."""
        assert self.proc is not None
        pid = self.proc.pid
        try:
            return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            return []

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

    def metrics(self) -> str:
        import urllib.request

        url = f"http://127.0.0.1:{self.settings.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            return str(resp.read().decode())


@dataclass
class Pipeline:
    """Names of one test's private pipeline (topics, indices, group) and a way to start workers."""

    uid: str
    stack: Stack
    tmp: Path
    rules_file: Path | None = None
    workers: list[WorkerProcess] = field(default_factory=list)

    @property
    def base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WIREWATCH_")}
        env.update({
            "WIREWATCH_KAFKA_BOOTSTRAP": self.stack.kafka,
            "WIREWATCH_ES_URL": self.stack.es_url,
            "WIREWATCH_APP_ID": f"ww-test-{self.uid}",
            "WIREWATCH_TOPIC_RAW": f"t-{self.uid}-raw",
            "WIREWATCH_TOPIC_TAGGED": f"t-{self.uid}-tagged",
            "WIREWATCH_TOPIC_ALERTS": f"t-{self.uid}-alerts",
            "WIREWATCH_TOPIC_DEADLETTER": f"t-{self.uid}-deadletter",
            "WIREWATCH_STORIES_INDEX": f"t-{self.uid}-stories",
            "WIREWATCH_ALERTS_INDEX": f"t-{self.uid}-alerts",
            "WIREWATCH_STATE_DIR": str(self.tmp / "state"),
            "PYTHONUNBUFFERED": "1",
        })
        if self.rules_file is not None:
            env["WIREWATCH_RULES_FILE"] = str(self.rules_file)
        return env

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.base_env)

    def worker(self, **overrides: str) -> WorkerProcess:
        env = self.base_env
        env["WIREWATCH_WEB_PORT"] = str(free_port())
        env["WIREWATCH_METRICS_PORT"] = str(free_port())
        env.update(overrides)
        w = WorkerProcess(env=env, log_path=self.tmp / f"worker-{len(self.workers)}.log")
        self.workers.append(w)
        return w


@pytest.fixture
def pipeline(stack: Stack, uid: str, tmp_path: Path) -> Iterator[Pipeline]:
    p = Pipeline(uid=uid, stack=stack, tmp=tmp_path)
    yield p
    for w in p.workers:
        w.stop()


@pytest.fixture
async def es(stack: Stack) -> AsyncIterator[object]:
    from elasticsearch import AsyncElasticsearch

    client = AsyncElasticsearch(stack.es_url, request_timeout=30)
    yield client
    await client.close()


def write_json(path: Path, obj: object) -> Path:
    path.write_text(json.dumps(obj, ensure_ascii=False))
    return path
