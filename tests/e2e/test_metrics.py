"""Prometheus metrics (issue 15, part 5): a real Prometheus server (Debian's `prometheus`)
scrapes the demo gateway's `/metrics` while the Python connector reads a table, and its query
API returns the gateway's counters for that read."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import delta_sharing
import pytest
import requests

from conftest import free_port


def prometheus_binary() -> str:
    found = shutil.which("prometheus") or ("/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None)
    assert found, "prometheus is not installed (scripts/setup installs Debian's package)"
    return found


def demo_endpoint(demo) -> str:
    return json.loads((demo / "demo.share").read_text())["endpoint"]


@pytest.fixture(scope="module")
def prometheus(demo, tmp_path_factory):
    work = tmp_path_factory.mktemp("prometheus")
    gateway = demo_endpoint(demo).split("://", 1)[1].split("/", 1)[0]
    (work / "prometheus.yml").write_text(f"""
global: {{ scrape_interval: 1s, evaluation_interval: 1s }}
scrape_configs:
  - job_name: lakeshare
    metrics_path: /metrics
    static_configs: [{{ targets: ["{gateway}"] }}]
""")
    port = free_port()
    log = (work / "prometheus.log").open("w")
    process = subprocess.Popen(
        [prometheus_binary(), f"--config.file={work / 'prometheus.yml'}",
         f"--storage.tsdb.path={work / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if requests.get(url + "/-/ready", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None, (work / "prometheus.log").read_text()
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def query(prometheus: str, promql: str) -> list:
    answer = requests.get(prometheus + "/api/v1/query", params={"query": promql}, timeout=10).json()
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def eventually(prometheus: str, promql: str, at_least: float, timeout: float = 60) -> float:
    deadline = time.time() + timeout
    value = 0.0
    while time.time() < deadline:
        result = query(prometheus, promql)
        value = sum(float(r["value"][1]) for r in result)
        if value >= at_least:
            return value
        time.sleep(1)
    raise AssertionError(f"{promql} = {value}, wanted at least {at_least}")


def test_prometheus_scrapes_the_counters_of_a_connector_read(demo, prometheus):
    table = delta_sharing.load_as_pandas(f"{demo / 'demo.share'}#demo.delta.trips")
    route = "/delta-sharing/shares/{share}/schemas/{schema}/tables/{table}/query"
    eventually(prometheus, f'lakeshare_requests_total{{route="{route}",status="200"}}', 1)
    eventually(prometheus, "lakeshare_files_served_total", 1)
    eventually(prometheus, "lakeshare_urls_signed_total", 1)
    eventually(prometheus, "lakeshare_snapshot_cache_misses_total", 1)
    eventually(prometheus, "lakeshare_snapshot_cache_entries", 1)
    eventually(prometheus, f'lakeshare_request_duration_seconds_count{{route="{route}"}}', 1)
    assert len(table) > 0
    up = query(prometheus, 'up{job="lakeshare"}')
    assert up and up[0]["value"][1] == "1"


def test_metrics_name_route_templates_never_request_values(demo):
    profile = json.loads((demo / "demo.share").read_text())
    base = demo_endpoint(demo).rsplit("/delta-sharing", 1)[0]
    delta_sharing.SharingClient(str(demo / "demo.share")).list_all_tables()
    text = requests.get(base + "/metrics", timeout=10).text
    assert "lakeshare_requests_total" in text
    assert 'route="/delta-sharing/shares/{share}/all-tables"' in text
    assert profile["bearerToken"] not in text
    assert "trips" not in text
