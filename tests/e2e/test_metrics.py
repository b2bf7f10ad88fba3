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
import deltalake
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
        else:
            raise AssertionError("prometheus did not become ready in 60 s:\n" + (work / "prometheus.log").read_text())
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


def scraped(demo, name: str) -> float:
    """The gateway's own value of `name` now (summed over its labels)."""
    base = demo_endpoint(demo).rsplit("/delta-sharing", 1)[0]
    total = 0.0
    for line in requests.get(base + "/metrics", timeout=10).text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_prometheus_scrapes_the_counters_of_a_connector_read(demo, prometheus):
    route = "/delta-sharing/shares/{share}/schemas/{schema}/tables/{table}/query"
    queries = f'lakeshare_requests_total{{route="{route}",status="200"}}'
    files_before = scraped(demo, "lakeshare_files_served_total")
    queries_before = eventually(prometheus, queries, 0)
    shared = f"{demo / 'demo.share'}#demo.delta.trips"
    table = delta_sharing.load_as_pandas(shared)
    files = len(deltalake.DeltaTable(str(demo / "data" / "delta" / "trips")).file_uris())
    # The gateway counted this read's files exactly (other tests of the session share it, but
    # none runs concurrently), and Prometheus, scraping every second, sees the query.
    assert scraped(demo, "lakeshare_files_served_total") - files_before == files
    eventually(prometheus, queries, queries_before + 1)
    eventually(prometheus, "lakeshare_files_served_total", files_before + files)
    eventually(prometheus, "lakeshare_urls_signed_total", files)
    eventually(prometheus, "lakeshare_snapshot_cache_entries", 1)
    eventually(prometheus, f'lakeshare_request_duration_seconds_count{{route="{route}"}}', queries_before + 1)
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
    assert "/shares/demo" not in text and "trips" not in text
    # A method no client sends is one label value, whatever its name.
    requests.request("FROBNICATE", base + "/lakeshare/x", timeout=10)
    assert "FROBNICATE" not in requests.get(base + "/metrics", timeout=10).text
