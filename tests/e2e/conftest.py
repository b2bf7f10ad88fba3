"""Shared machinery of the end-to-end tests: the lakeshare binary, running gateways, fixture tables.

Every test here drives the real `delta-sharing` Python connector against a real `lakeshare serve`
process, and checks what it reads against what `deltalake` reads from the same files.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import subprocess
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(os.environ.get("LAKESHARE_FIXTURES", ROOT.parent / "shared" / "fixtures"))

#: Commit `v` of every copied fixture table gets the modification time BASE_TIME + v minutes, so
#: timestamp-based time travel has known answers (Delta uses commit file times for it).
BASE_TIME = datetime(2024, 1, 1, tzinfo=timezone.utc)


def commit_time(version: int) -> datetime:
    return BASE_TIME + timedelta(minutes=version)


def lakeshare_bin() -> Path:
    if "LAKESHARE_BIN" in os.environ:
        path = Path(os.environ["LAKESHARE_BIN"]).resolve()
    else:
        target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
        path = target / "debug" / "lakeshare"
    if not path.exists():
        pytest.fail(f"{path} does not exist: build it with `cargo build -p lakeshare-cli` (scripts/test does)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_healthy(port: int, process: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"lakeshare exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"lakeshare did not become healthy in {timeout}s:\n{log.read_text()}")


class Gateway:
    """A `lakeshare serve` process on a free port, for one configuration."""

    def __init__(self, workdir: Path, config_yaml: str, env: dict | None = None):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}/delta-sharing"
        workdir.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "config.yaml"
        self.config.write_text(config_yaml.replace("{port}", str(self.port)))
        self.log = workdir / "lakeshare.log"
        self.process = subprocess.Popen(
            [str(lakeshare_bin()), "serve", "--config", str(self.config)],
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        wait_until_healthy(self.port, self.process, self.log)

    def profile(self, path: Path, token: str) -> Path:
        path.write_text(
            json.dumps({"shareCredentialsVersion": 1, "endpoint": self.endpoint, "bearerToken": token})
        )
        return path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def trips_share(trips: Path, history: bool = True) -> str:
    """The `shares:` section of a configuration sharing the Delta table at `trips` as
    `demo.delta.trips`, ending with a newline."""
    extra = ", history: true" if history else ""
    return (
        "shares:\n  - name: demo\n    schemas:\n      - name: delta\n        tables:\n"
        f'          - {{ name: trips, location: "{trips}"{extra} }}\n'
    )


def load_when_computed(table_url: str, **kwargs):
    """The connector's read of a table the gateway computes (materialized shares), once its
    first version exists: 503 with Retry-After until then."""
    import delta_sharing

    deadline = time.monotonic() + 180
    while True:
        try:
            return delta_sharing.load_as_pandas(table_url, **kwargs)
        except Exception as error:  # noqa: BLE001 - the connector raises HTTPError
            if "503" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(1)


def ndjson(response) -> list[dict]:
    """The lines of an NDJSON answer."""
    return [json.loads(line) for line in response.text.splitlines() if line]


def copy_delta_fixtures(dest: Path) -> Path:
    """Copies the shared Delta fixtures to `dest`, stamping commit files with known times."""
    source = FIXTURES / "delta"
    if not source.is_dir():
        pytest.skip(f"the shared fixtures are absent ({source}); they come with the project's shared/ folder")
    shutil.copytree(source, dest)
    for log in dest.glob("*/_delta_log"):
        for commit in log.glob("*.json"):
            if commit.stem.isdigit():
                t = commit_time(int(commit.stem)).timestamp()
                os.utime(commit, (t, t))
    return dest


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """`lakeshare demo` on an empty folder, running for the whole session: the folder, with the
    profile at demo.share and the tables under data/."""
    work = tmp_path_factory.mktemp("demo")
    port = free_port()
    log = work / "demo.log"
    process = subprocess.Popen(
        [str(lakeshare_bin()), "demo", "--data-dir", str(work / "data"), "--port", str(port),
         "--profile", str(work / "demo.share")],
        cwd=work,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until_healthy(port, process, log, timeout=300)
        yield work
    finally:
        process.terminate()
        process.wait(timeout=10)


def pytest_terminal_summary(terminalreporter):
    """The pruning tests' figures: how many files each predicate let the gateway skip."""
    pruning = sys.modules.get("test_pruning")
    if pruning is not None and pruning.REPORT:
        terminalreporter.section("files pruned by predicate hints")
        for line in pruning.REPORT:
            terminalreporter.write_line(line)


def pytest_sessionfinish(session, exitstatus):
    """With LAKESHARE_REQUIRE_ALL=1 (CI sets it) a skipped test fails the run: a green run must
    not hide a suite that never ran for a missing tool or fixture."""
    if os.environ.get("LAKESHARE_REQUIRE_ALL") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped:
        if reporter:
            reporter.write_line(f"LAKESHARE_REQUIRE_ALL=1: {skipped} test(s) skipped, which counts as failing", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
