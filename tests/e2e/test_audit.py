"""The audit log (issue 15, part 6): one JSON line per data access. The Python connector reads
the demo's trips and the log lists the query and every file it downloaded, as that recipient,
from its address; pyiceberg's loadTable and an OAuth token are there too; no line holds a
token, a secret or a path on the gateway's disk."""

from __future__ import annotations

import hashlib
import json
import os
import time

import deltalake
import delta_sharing
import pytest
import requests
from pyiceberg.catalog.rest import RestCatalog

from conftest import Gateway, trips_share

TOKEN = "audit-token-0123456789abcdef"
CLIENT_ID = "audited-app"
SECRET = "audited-secret-0123456789abcdef"


@pytest.fixture(scope="module")
def gateway(demo, tmp_path_factory):
    work = tmp_path_factory.mktemp("audit-gateway")
    trips = demo / "data" / "delta" / "trips"
    config = f"""
server: {{ listen: "127.0.0.1:{{port}}" }}
audit: {{ sink: file, path: audit.jsonl }}
{trips_share(trips)}recipients:
  - {{ name: auditor-test, token: "{TOKEN}", shares: [demo] }}
  - name: app
    oauth: {{ client_id: {CLIENT_ID}, client_secret_sha256: "{hashlib.sha256(SECRET.encode()).hexdigest()}" }}
    shares: [demo]
"""
    gw = Gateway(work, config)
    gw.work, gw.trips = work, trips
    yield gw
    gw.stop()


def relative(uri: str, root) -> str:
    """A file of the table, below its folder: as the audit log names it."""
    from urllib.parse import unquote, urlparse
    path = unquote(urlparse(uri).path) if "://" in uri else uri
    return os.path.relpath(path, os.path.realpath(root))


def lines(gateway) -> list[dict]:
    path = gateway.work / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def wait_lines(gateway, ready, timeout: float = 10.0) -> list[dict]:
    deadline = time.time() + timeout
    while True:
        got = lines(gateway)
        if ready(got) or time.time() > deadline:
            return got
        time.sleep(0.1)


def test_a_connector_read_lists_the_query_and_every_file_downloaded(gateway, tmp_path):
    before = len(lines(gateway))
    profile = gateway.profile(tmp_path / "audit.share", TOKEN)
    table = deltalake.DeltaTable(str(gateway.trips))
    want_files = {relative(uri, gateway.trips) for uri in table.file_uris()}
    got = delta_sharing.load_as_pandas(f"{profile}#demo.delta.trips")
    assert len(got) == len(table.to_pandas())
    events = wait_lines(gateway, lambda got: {e["file"] for e in got[before:] if e["event"] == "file_download"} >= want_files)[before:]
    queries = [e for e in events if e["event"] == "query"]
    assert len(queries) == 1
    query = queries[0]
    assert (query["share"], query["schema"], query["table"]) == ("demo", "delta", "trips")
    assert query["version"] == table.version()
    assert query["files"] == len(want_files) == len(query["file_ids"])
    assert query["bytes"] > 0 and len(query["file_ids_sha256"]) == 64
    downloads = [e for e in events if e["event"] == "file_download"]
    assert {d["file"] for d in downloads} == want_files
    for d in downloads:
        assert d["recipient"] == "auditor-test" and d["object"] == "demo.delta.trips"
        assert d["client"] == "127.0.0.1" and d["bytes"] > 0 and d["status"] in (200, 206)
    for e in events:
        assert e["recipient"] == "auditor-test" and e["client"] == "127.0.0.1" and e["request_id"]


def test_a_request_id_given_is_the_one_logged_and_answered(gateway):
    answer = requests.post(
        gateway.endpoint + "/shares/demo/schemas/delta/tables/trips/query",
        headers={"Authorization": f"Bearer {TOKEN}", "X-Request-Id": "trace-4711"},
        json={"maxFiles": 1}, timeout=30,
    )
    assert answer.status_code == 200
    assert answer.headers["x-request-id"] == "trace-4711"
    events = wait_lines(gateway, lambda got: any(e["request_id"] == "trace-4711" for e in got))
    mine = [e for e in events if e["request_id"] == "trace-4711"]
    assert [e["event"] for e in mine] == ["query"] and mine[0]["files"] == 1
    # An id that is not a plain token is replaced by one of the gateway's.
    other = requests.get(gateway.endpoint + "/shares", timeout=10,
                         headers={"Authorization": f"Bearer {TOKEN}", "X-Request-Id": "bad id\u00e9"})
    replaced = other.headers["x-request-id"]
    assert replaced != "bad id\u00e9" and len(replaced) == 24 and replaced.isalnum()


def test_tokens_issued_and_iceberg_loads_are_audited_without_secrets(gateway, demo):
    catalog = RestCatalog("audit", uri=gateway.endpoint + "/iceberg/", warehouse="demo",
                          credential=f"{CLIENT_ID}:{SECRET}")
    rows = catalog.load_table("delta.trips").scan().to_arrow().num_rows
    assert rows == len(deltalake.DeltaTable(str(gateway.trips)).to_pandas())
    events = wait_lines(gateway, lambda got: any(e["event"] == "iceberg_load_table" for e in got))
    issued = [e for e in events if e["event"] == "token_issued"]
    assert issued and issued[-1]["recipient"] == "app" and issued[-1]["client_id"] == CLIENT_ID
    loads = [e for e in events if e["event"] == "iceberg_load_table"]
    assert loads[-1]["recipient"] == "app" and loads[-1]["table"] == "trips"
    text = (gateway.work / "audit.jsonl").read_text()
    for secret in [TOKEN, SECRET, str(demo), "access_token", "X-Amz-Signature"]:
        assert secret not in text, secret
