"""Faults between the gateway and its object store (SeaweedFS behind `faults.FaultProxy`): resets,
a store that never answers, a store answering 500s, latency and a thin pipe. Each query gets
either the right answer (the one the healthy store gives) or a clear error (a 5xx in the
protocol's shape, naming no secret, endpoint or path) within the request timeout; never a
partial or wrong answer. Once the store is healthy again the same gateway serves again, without
a restart.
"""

from __future__ import annotations

import json
import time

import pytest
import requests

from conftest import Gateway, ndjson
from faults import FaultProxy
from stores import S3_ACCESS_KEY, S3_BUCKET, S3_SECRET_KEY, SeaweedFS, run_tool

TOKEN = "fault-test-recipient-token-000001"
STORE_TIMEOUT = 2
REQUEST_TIMEOUT = 6
QUERY = "shares/s/schemas/d/tables/trips/query"


@pytest.fixture(scope="module")
def store(demo, tmp_path_factory):
    seaweed = SeaweedFS(tmp_path_factory.mktemp("seaweedfs-faults"))
    run_tool({"op": "write_trips", "source": str(demo / "data" / "delta" / "trips"),
              "url": f"s3://{S3_BUCKET}/demo/trips", "store": seaweed.storage_options()})
    proxy = FaultProxy("127.0.0.1", seaweed.s3_port)
    yield seaweed, proxy
    proxy.stop()
    seaweed.stop()


def config(seaweed: SeaweedFS, proxy: FaultProxy) -> str:
    # The gateway reaches the store through the proxy; recipients get URLs of the store itself.
    return f"""
server: {{ listen: "127.0.0.1:{{port}}", request_timeout_seconds: {REQUEST_TIMEOUT} }}
stores:
  - {{ name: lake, kind: s3, bucket: {S3_BUCKET}, endpoint: {proxy.endpoint}, public_endpoint: {seaweed.endpoint},
       access_key_id: {S3_ACCESS_KEY}, secret_access_key: {S3_SECRET_KEY}, timeout_seconds: {STORE_TIMEOUT} }}
shares:
  - name: s
    schemas:
      - name: d
        tables:
          - {{ name: trips, location: "s3://{S3_BUCKET}/demo/trips", history: true }}
recipients:
  - {{ name: r, token: "{TOKEN}", shares: [s] }}
"""


def query(gw: Gateway) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = requests.post(f"{gw.endpoint}/{QUERY}", json={}, timeout=120,
                             headers={"Authorization": f"Bearer {TOKEN}"})
    return response, time.monotonic() - started


def answer(response: requests.Response) -> tuple:
    """What a query answer says, signed URLs aside: its metadata and its files."""
    lines = ndjson(response)
    meta = next(line["metaData"] for line in lines if "metaData" in line)
    files = sorted((f["file"]["id"], f["file"]["size"]) for f in lines if "file" in f)
    return meta["id"], meta["schemaString"], tuple(files)


@pytest.fixture(scope="module")
def healthy(store, tmp_path_factory):
    """The answer the healthy store gives."""
    seaweed, proxy = store
    proxy.set("pass")
    gw = Gateway(tmp_path_factory.mktemp("faults-healthy"), config(seaweed, proxy))
    try:
        response, _ = query(gw)
        assert response.status_code == 200, response.text
        want = answer(response)
        assert want[2], "the table has files"
        return want
    finally:
        gw.stop()


def right_or_clear(response: requests.Response, elapsed: float, want: tuple, fault: str) -> str:
    """Checks `response` is the right answer or a clear error in time; says which."""
    assert elapsed < REQUEST_TIMEOUT + 3, f"{fault}: answered after {elapsed:.1f} s"
    if response.status_code == 200:
        assert answer(response) == want, f"{fault}: a wrong or partial answer"
        return "right"
    assert response.status_code in (502, 503, 504), f"{fault}: {response.status_code} {response.text}"
    body = response.json()
    assert set(body) >= {"errorCode", "message"}, body
    text = json.dumps(body)
    for secret in (S3_SECRET_KEY, S3_ACCESS_KEY, "127.0.0.1", "/tmp", "/root"):
        assert secret not in text, f"{fault}: the error names {secret!r}: {text}"
    if response.status_code == 503:
        assert response.headers.get("Retry-After"), response.headers
    return "error"


@pytest.mark.parametrize("fault", ["reset", "hang", "http500"])
def test_a_failing_store_gets_a_clear_error_in_time_and_the_gateway_recovers(store, healthy, fault, tmp_path):
    """The store fails from the start: the first query cannot be answered from anything cached,
    so it must fail, clearly and in time; after the store heals the same gateway answers."""
    seaweed, proxy = store
    proxy.set(fault)
    gw = Gateway(tmp_path / "gw", config(seaweed, proxy))
    try:
        response, elapsed = query(gw)
        assert right_or_clear(response, elapsed, healthy, fault) == "error"
        assert gw.process.poll() is None
        proxy.set("pass")
        deadline = time.monotonic() + 30
        while True:
            response, elapsed = query(gw)
            if response.status_code == 200 or time.monotonic() > deadline:
                break
            right_or_clear(response, elapsed, healthy, f"{fault}, healed")
            time.sleep(1)
        assert response.status_code == 200, f"no recovery after {fault}: {response.text}"
        assert answer(response) == healthy
        log = (tmp_path / "gw" / "lakeshare.log").read_text()
        assert S3_SECRET_KEY not in log
    finally:
        proxy.set("pass")
        gw.stop()


@pytest.mark.parametrize("fault,delay,rate", [("latency", 0.05, 0), ("bandwidth", 0.0, 4096)])
def test_a_slow_store_gives_right_answers_or_clear_errors(store, healthy, fault, delay, rate, tmp_path):
    """A slow store (50 ms per chunk; 4 KiB/s): each query, on a gateway starting cold and then
    warm, is answered right or refused clearly within the request timeout."""
    seaweed, proxy = store
    proxy.set(fault, delay=delay, rate=rate or 1 << 30)
    gw = Gateway(tmp_path / "gw", config(seaweed, proxy))
    try:
        outcomes = [right_or_clear(*query(gw), healthy, fault) for _ in range(3)]
        assert gw.process.poll() is None
        proxy.set("pass")
        response, elapsed = query(gw)
        assert right_or_clear(response, elapsed, healthy, f"{fault}, healed") == "right", outcomes
    finally:
        proxy.set("pass")
        gw.stop()
