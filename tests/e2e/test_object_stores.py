"""Tables in object stores: S3 (SeaweedFS) and Azure Blob (Azurite), started here on loopback.

The tables are written into the stores with the `deltalake` Python package; the gateway reads them
through its configured stores and hands out the stores' own pre-signed URLs, which the Python
connector reads. What it reads is compared with what deltalake reads from the store.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import delta_sharing
from deltalake import DeltaTable
import pandas as pd
import polars_deltalake
import pytest
import requests
from deltalake import DeltaTable

from conftest import FIXTURES, Gateway, lakeshare_bin
from stores import (
    AZURE_CONTAINER, S3_ACCESS_KEY, S3_BUCKET, S3_SECRET_KEY, STS_ROLE, Azurite, SeaweedFS, run_tool,
)
from test_delta_fixtures import assert_same_changes, assert_same_frame

TOKEN = "object-store-recipient-token-0001"
#: A Spark-written table with deletion vectors (persisted in a file), copied into S3 as is.
DV_FIXTURE = FIXTURES / "delta" / "table-with-dv-small"
#: Eleven versions with a checkpoint at 10, copied into S3 as is.
CHECKPOINT_FIXTURE = FIXTURES / "delta" / "simple_table_with_checkpoint"
STORE_TIMEOUT = 3


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory):
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def azurite(tmp_path_factory):
    server = Azurite(tmp_path_factory.mktemp("azurite"))
    yield server
    server.stop()


def write_iceberg_scores(seaweed: SeaweedFS, workdir: Path):
    """An Iceberg table written into the bucket by pyiceberg (SQL catalog on sqlite), two appends."""
    import pyarrow as pa
    from pyiceberg.catalog.sql import SqlCatalog

    catalog = SqlCatalog(
        "writer", uri=f"sqlite:///{workdir / 'catalog.db'}", warehouse=f"s3://{S3_BUCKET}/lake",
        **{"s3.endpoint": seaweed.endpoint, "s3.access-key-id": S3_ACCESS_KEY,
           "s3.secret-access-key": S3_SECRET_KEY, "s3.region": "us-east-1"},
    )
    catalog.create_namespace("gw")
    data = lambda ids: pa.table({"id": pa.array(ids, pa.int64()), "name": [f"n{i}" for i in ids]})  # noqa: E731
    table = catalog.create_table("gw.scores", schema=data([0]).schema, location=f"s3://{S3_BUCKET}/lake/scores")
    table.append(data(list(range(0, 5))))
    table.append(data(list(range(5, 12))))
    return catalog.load_table("gw.scores")


@pytest.fixture(scope="module")
def iceberg_scores(s3_tables):
    return s3_tables["iceberg_scores"]


@pytest.fixture(scope="module")
def s3_tables(seaweed, demo, tmp_path_factory):
    so = seaweed.storage_options()
    trips = run_tool({"op": "write_trips", "source": str(demo / "data" / "delta" / "trips"),
                      "url": f"s3://{S3_BUCKET}/demo/trips", "store": so})
    events = run_tool({"op": "write_events", "url": f"s3://{S3_BUCKET}/sales/events", "store": so})
    assert json.loads(trips.stdout)["version"] == 2
    assert json.loads(events.stdout)["version"] == 3
    tables = {"trips": f"s3://{S3_BUCKET}/demo/trips", "events": f"s3://{S3_BUCKET}/sales/events"}
    # The demo's Hudi table, copied as it is (.hoodie included).
    run_tool({"op": "upload", "source": str(demo / "data" / "hudi" / "trips"),
              "url": f"s3://{S3_BUCKET}/demo/hudi_trips", "store": so})
    tables["hudi_trips"] = f"s3://{S3_BUCKET}/demo/hudi_trips"
    # The demo's AI assets (volume, model versions, skill), copied as they are.
    run_tool({"op": "upload", "source": str(demo / "data" / "ai"), "url": f"s3://{S3_BUCKET}/ai", "store": so})
    for name, fixture in [("dv", DV_FIXTURE), ("checkpointed", CHECKPOINT_FIXTURE)]:
        if fixture.is_dir():
            run_tool({"op": "upload", "source": str(fixture), "url": f"s3://{S3_BUCKET}/fixtures/{name}", "store": so})
            tables[name] = f"s3://{S3_BUCKET}/fixtures/{name}"
    tables["iceberg_scores"] = write_iceberg_scores(seaweed, tmp_path_factory.mktemp("iceberg-writer"))
    return tables


@pytest.fixture(scope="module")
def azure_tables(azurite):
    url = f"az://{AZURE_CONTAINER}/sales/events"
    run_tool({"op": "write_events", "url": url, "store": azurite.storage_options()}, env=azurite.environment())
    return {"events": url}


#: Where the gateway keeps generated Iceberg metadata: a prefix of the S3 store, from which the
#: recipients of that store's tables read it with vended credentials.
CACHE_PREFIX = "lakeshare-cache"


def gateway_config(seaweed: SeaweedFS, azurite: Azurite, demo: Path, url_ttl: int) -> str:
    # The gateway reaches the stores at 127.0.0.1; recipients are handed `localhost` URLs: a
    # distinct public endpoint, which the stores accept because it resolves to them.
    return f"""
server: {{ listen: "127.0.0.1:{{port}}", url_ttl_seconds: {url_ttl} }}
stores:
  - name: lake
    kind: s3
    bucket: {S3_BUCKET}
    endpoint: {seaweed.endpoint}
    public_endpoint: http://localhost:{seaweed.s3_port}
    access_key_id: ${{LAKE_KEY}}
    secret_access_key: ${{LAKE_SECRET}}
    timeout_seconds: {STORE_TIMEOUT}
    sts: {{ role_arn: "{STS_ROLE}", duration_seconds: 900 }}
  - name: blobs
    kind: azure
    container: {AZURE_CONTAINER}
    use_emulator: true
    public_endpoint: http://localhost:{azurite.port}/devstoreaccount1
    timeout_seconds: {STORE_TIMEOUT}
shares:
  - name: stores
    schemas:
      - name: s3
        tables:
          - {{ name: trips, location: "s3://{S3_BUCKET}/demo/trips", history: true }}
          - {{ name: events, store: lake, path: sales/events, history: true }}
          - {{ name: events_latest, store: lake, path: sales/events }}
          - {{ name: dv, store: lake, path: fixtures/dv, format: delta }}
          - {{ name: checkpointed, store: lake, path: fixtures/checkpointed, history: true }}
          - {{ name: hudi_trips, location: "s3://{S3_BUCKET}/demo/hudi_trips", history: true }}
          - {{ name: scores, store: lake, path: lake/scores, format: iceberg, history: true }}
      - name: ai
        volumes:
          - {{ name: docs, store: lake, path: ai/volumes/docs }}
        models:
          - name: trip-fare
            versions:
              - {{ version: 1, location: "s3://{S3_BUCKET}/ai/models/trip-fare/1" }}
              - {{ version: 2, store: lake, path: ai/models/trip-fare/2 }}
            aliases: {{ champion: 2 }}
        skills:
          - {{ name: trip-analyst, store: lake, path: ai/skills/trip-analyst }}
      - name: azure
        tables:
          - {{ name: events, location: "az://{AZURE_CONTAINER}/sales/events", format: delta, history: true }}
      - name: local
        tables:
          - {{ name: trips, location: "{demo / 'data' / 'delta' / 'trips'}", history: true }}
recipients:
  - {{ name: partner, token: "{TOKEN}", shares: [stores] }}
cache: {{ store: lake, path: {CACHE_PREFIX} }}
"""


def gateway_env(azurite: Azurite) -> dict:
    return {"LAKE_KEY": S3_ACCESS_KEY, "LAKE_SECRET": S3_SECRET_KEY, **azurite.environment()}


@pytest.fixture(scope="module")
def gateway(seaweed, azurite, demo, s3_tables, azure_tables, tmp_path_factory):
    work = tmp_path_factory.mktemp("stores-gateway")
    gw = Gateway(work, gateway_config(seaweed, azurite, demo, url_ttl=600), env=gateway_env(azurite))
    gw.profile_path = gw.profile(work / "profile.share", TOKEN)
    yield gw
    gw.stop()


@pytest.fixture(scope="module")
def short_lived(seaweed, azurite, demo, s3_tables, azure_tables, tmp_path_factory):
    """A gateway whose URLs expire after 2 seconds."""
    work = tmp_path_factory.mktemp("short-ttl-gateway")
    gw = Gateway(work, gateway_config(seaweed, azurite, demo, url_ttl=2), env=gateway_env(azurite))
    yield gw
    gw.stop()


def table_url(gateway, schema: str, table: str) -> str:
    return f"{gateway.profile_path}#stores.{schema}.{table}"


def reference(tmp_path, url: str, store: dict, env: dict | None = None, **kwargs) -> pd.DataFrame:
    out = tmp_path / f"reference-{time.monotonic_ns()}.parquet"
    run_tool({"op": "read", "url": url, "store": store, "out": str(out), **kwargs}, env=env)
    frame = pd.read_parquet(out)
    if "_commit_version" in frame:
        frame = frame.astype({"_commit_version": "int64"})
    return frame


def query(gateway, schema: str, table: str, body: dict | None = None, capabilities: str | None = None):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    if capabilities:
        headers["delta-sharing-capabilities"] = capabilities
    return requests.post(
        f"{gateway.endpoint}/shares/stores/schemas/{schema}/tables/{table}/query",
        json=body or {}, headers=headers, timeout=60,
    )


def file_lines(response) -> list[dict]:
    assert response.status_code == 200, response.text
    lines = [json.loads(line) for line in response.text.splitlines()]
    return [line["file"] for line in lines if "file" in line]


def tampered(url: str, key: str) -> str:
    """`url` with the last character of query parameter `key` changed."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    changed = []
    for k, v in query:
        if k == key:
            v = v[:-1] + ("0" if v[-1] != "0" else "1")
        changed.append((k, v))
    return urlunsplit(parts._replace(query=urlencode(changed)))


# ---------------------------------------------------------------------------------------------
# S3


@pytest.mark.parametrize("table", ["trips", "events"])
def test_s3_tables_read_as_deltalake_reads_them(gateway, seaweed, s3_tables, tmp_path, table):
    shared = delta_sharing.load_as_pandas(table_url(gateway, "s3", table))
    expected = reference(tmp_path, s3_tables[table], seaweed.storage_options())
    assert_same_frame(shared, expected)
    assert delta_sharing.get_table_version(table_url(gateway, "s3", table)) == (2 if table == "trips" else 3)


@pytest.mark.parametrize("use_delta_format", [None, True])
@pytest.mark.parametrize("table,version", [("events", 0), ("events", 1), ("events", 2), ("trips", 0), ("trips", 1)])
def test_s3_time_travel(gateway, seaweed, s3_tables, tmp_path, table, version, use_delta_format):
    shared = delta_sharing.load_as_pandas(
        table_url(gateway, "s3", table), version=version, use_delta_format=use_delta_format
    )
    expected = reference(tmp_path, s3_tables[table], seaweed.storage_options(), version=version)
    assert_same_frame(shared, expected)


def test_s3_time_travel_by_timestamp(gateway):
    # Commit times of a table in a store are its commit objects' modification times.
    versions = requests.get(
        f"{gateway.endpoint}/shares/stores/schemas/s3/tables/events/changes?startingVersion=0&endingVersion=3",
        headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60,
    )
    assert versions.status_code == 200, versions.text
    stamps = {}
    for line in versions.text.splitlines():
        action = json.loads(line)
        for kind in ("add", "remove", "cdf"):
            if kind in action:
                stamps[action[kind]["version"]] = action[kind]["timestamp"]
    assert sorted(stamps) == [0, 1, 2, 3]
    at = pd.Timestamp(stamps[1], unit="ms", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    by_time = delta_sharing.load_as_pandas(table_url(gateway, "s3", "events"), timestamp=at)
    assert_same_frame(by_time, delta_sharing.load_as_pandas(table_url(gateway, "s3", "events"), version=1))


def test_s3_paging_returns_every_file_once(gateway):
    unpaged = sorted(f["id"] for f in file_lines(query(gateway, "s3", "trips")))
    paged, token, pages = [], None, 0
    while True:
        body = {"maxFiles": 3, **({"pageToken": token} if token else {})}
        response = query(gateway, "s3", "trips", body)
        assert response.status_code == 200, response.text
        lines = [json.loads(line) for line in response.text.splitlines()]
        paged += [line["file"]["id"] for line in lines if "file" in line]
        token = next(line["endStreamAction"].get("nextPageToken") for line in lines if "endStreamAction" in line)
        pages += 1
        if not token:
            break
    assert sorted(paged) == unpaged and pages > 1


def test_s3_pruned_query_returns_only_the_partition(gateway, seaweed, s3_tables, tmp_path):
    hint = {"op": "equal", "children": [
        {"op": "column", "name": "region", "valueType": "string"},
        {"op": "literal", "value": "us", "valueType": "string"},
    ]}
    everything = file_lines(query(gateway, "s3", "events"))
    pruned = file_lines(query(gateway, "s3", "events", {"jsonPredicateHints": json.dumps(hint)}))
    assert 0 < len(pruned) < len(everything)
    assert {f["partitionValues"]["region"] for f in pruned} == {"us"}
    shared = delta_sharing.load_as_pandas(table_url(gateway, "s3", "events"), jsonPredicateHints=json.dumps(hint))
    expected = reference(tmp_path, s3_tables["events"], seaweed.storage_options())
    assert_same_frame(shared[shared.region == "us"], expected[expected.region == "us"])
    # The hint is best effort: nothing but the partition's rows came back.
    assert set(shared.region) == {"us"}


@pytest.mark.parametrize("use_delta_format", [None, True])
@pytest.mark.parametrize("table,start,end", [("events", 0, 3), ("events", 2, 3), ("trips", 0, 2)])
def test_s3_change_feed_matches_deltalake(gateway, seaweed, s3_tables, tmp_path, table, start, end, use_delta_format):
    shared = delta_sharing.load_table_changes_as_pandas(
        table_url(gateway, "s3", table), starting_version=start, ending_version=end,
        use_delta_format=use_delta_format,
    )
    expected = reference(tmp_path, s3_tables[table], seaweed.storage_options(), cdf=[start, end])
    assert_same_changes(shared, expected)
    if table == "events":
        assert {"update_preimage", "update_postimage", "delete"} <= set(shared["_change_type"])


def test_s3_deletion_vectors_are_signed_and_applied(gateway, seaweed, s3_tables):
    if "dv" not in s3_tables:
        pytest.skip(f"the shared fixtures are absent ({DV_FIXTURE})")
    shared = delta_sharing.load_as_pandas(table_url(gateway, "s3", "dv"), use_delta_format=True)
    assert_same_frame(shared, polars_deltalake.read_delta(str(DV_FIXTURE)).to_pandas())
    lines = [json.loads(line) for line in query(gateway, "s3", "dv", capabilities="responseformat=delta;readerfeatures=deletionvectors").text.splitlines()]
    adds = [line["file"]["deltaSingleAction"]["add"] for line in lines if "file" in line]
    vectors = [a["deletionVector"] for a in adds if a.get("deletionVector")]
    assert any(dv["storageType"] == "p" for dv in vectors), "the fixture has a persisted deletion vector"
    for dv in vectors:
        if dv["storageType"] == "p":
            url = dv["pathOrInlineDv"]
            assert urlsplit(url).hostname == "localhost" and "X-Amz-Signature=" in url, url
            assert requests.get(url, timeout=10).status_code == 200
    # A parquet-only client would get deleted rows back: refused.
    refused = query(gateway, "s3", "dv", capabilities="responseformat=parquet")
    assert refused.status_code == 400 and "deletion vectors" in refused.json()["message"]


def test_s3_deletion_vectors_become_position_deletes_in_the_iceberg_catalog(gateway, s3_tables):
    # Read from the store by the gateway (the kernel, through the store's credentials) and
    # written as a position delete file the built-in endpoint serves.
    loaded = iceberg_catalog(gateway).load_table("s3.dv")
    assert loaded.current_snapshot().summary["total-position-deletes"] == "2"
    got = loaded.scan().to_arrow().to_pandas()
    assert_same_frame(got, polars_deltalake.read_delta(str(DV_FIXTURE)).to_pandas())


@pytest.mark.parametrize("version", [None, 3, 9, 10])
def test_s3_checkpointed_table_reads_every_version(gateway, s3_tables, version):
    if "checkpointed" not in s3_tables:
        pytest.skip(f"the shared fixtures are absent ({CHECKPOINT_FIXTURE})")
    shared = delta_sharing.load_as_pandas(table_url(gateway, "s3", "checkpointed"), version=version)
    assert_same_frame(shared, DeltaTable(str(CHECKPOINT_FIXTURE), version=version).to_pandas())


def test_s3_urls_use_the_public_endpoint_and_serve_ranges(gateway, seaweed):
    files = file_lines(query(gateway, "s3", "events"))
    assert files
    for f in files:
        parts = urlsplit(f["url"])
        assert (parts.hostname, parts.port) == ("localhost", seaweed.s3_port), f["url"]
        assert parts.path.startswith(f"/{S3_BUCKET}/sales/events/")
        assert "X-Amz-Signature=" in parts.query
    url = files[0]["url"]
    whole = requests.get(url, timeout=10)
    assert whole.status_code == 200 and whole.content[:4] == b"PAR1"
    assert len(whole.content) == files[0]["size"]
    head = requests.get(url, headers={"Range": "bytes=0-3"}, timeout=10)
    assert head.status_code == 206 and head.content == b"PAR1"
    tail = requests.get(url, headers={"Range": "bytes=-8"}, timeout=10)
    assert tail.status_code == 206 and tail.content == whole.content[-8:]
    # The expiry the response states is the one the URL carries: signed at X-Amz-Date for
    # X-Amz-Expires seconds (a URL signed by an earlier query is reused while half its life is left).
    params = dict(parse_qsl(urlsplit(url).query))
    assert params["X-Amz-Expires"] == "600"
    signed_at = calendar.timegm(time.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ"))
    # Never later than the real expiry; at most the second boundary crossed while signing earlier.
    assert (signed_at + 599) * 1000 <= files[0]["expirationTimestamp"] <= (signed_at + 600) * 1000
    assert time.time() + 300 - 5 <= files[0]["expirationTimestamp"] / 1000 <= time.time() + 600


def test_s3_refuses_altered_urls(gateway):
    url = file_lines(query(gateway, "s3", "events"))[0]["url"]
    assert requests.get(url, timeout=10).status_code == 200
    forged = requests.get(tampered(url, "X-Amz-Signature"), timeout=10)
    assert forged.status_code == 403, forged.text
    longer = requests.get(tampered(url, "X-Amz-Expires"), timeout=10)
    assert longer.status_code == 403, longer.text


def test_s3_urls_expire_at_the_store(short_lived):
    response = requests.post(
        f"{short_lived.endpoint}/shares/stores/schemas/s3/tables/events/query",
        json={}, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60,
    )
    f = file_lines(response)[0]
    assert f["expirationTimestamp"] <= time.time() * 1000 + 2_500
    assert requests.get(f["url"], timeout=10).status_code == 200
    time.sleep(max(0.0, f["expirationTimestamp"] / 1000 - time.time()) + 1.5)
    expired = requests.get(f["url"], timeout=10)
    assert expired.status_code == 403, expired.text


# ---------------------------------------------------------------------------------------------
# Azure (Azurite)


@pytest.mark.parametrize("use_delta_format", [None, True])
@pytest.mark.parametrize("version", [None, 0, 2])
def test_azure_table_reads_as_deltalake_reads_it(gateway, azurite, azure_tables, tmp_path, version, use_delta_format):
    shared = delta_sharing.load_as_pandas(
        table_url(gateway, "azure", "events"), version=version, use_delta_format=use_delta_format
    )
    expected = reference(tmp_path, azure_tables["events"], azurite.storage_options(),
                         env=azurite.environment(), version=version)
    assert_same_frame(shared, expected)


def test_azure_change_feed_matches_deltalake(gateway, azurite, azure_tables, tmp_path):
    shared = delta_sharing.load_table_changes_as_pandas(
        table_url(gateway, "azure", "events"), starting_version=0, ending_version=3
    )
    expected = reference(tmp_path, azure_tables["events"], azurite.storage_options(),
                         env=azurite.environment(), cdf=[0, 3])
    assert_same_changes(shared, expected)


def test_azure_sas_urls_use_the_public_endpoint_and_are_checked(gateway, azurite, short_lived):
    files = file_lines(query(gateway, "azure", "events"))
    url = files[0]["url"]
    parts = urlsplit(url)
    assert (parts.hostname, parts.port) == ("localhost", azurite.port), url
    assert parts.path.startswith(f"/devstoreaccount1/{AZURE_CONTAINER}/sales/events/")
    params = dict(parse_qsl(parts.query))
    assert params["sp"] == "r" and "sig" in params
    whole = requests.get(url, timeout=10)
    assert whole.status_code == 200 and whole.content[:4] == b"PAR1"
    ranged = requests.get(url, headers={"Range": "bytes=0-3"}, timeout=10)
    assert ranged.status_code == 206 and ranged.content == b"PAR1"
    assert requests.get(tampered(url, "sig"), timeout=10).status_code == 403
    assert requests.get(tampered(url, "se"), timeout=10).status_code == 403
    # Expiry, through the gateway whose URLs live two seconds.
    response = requests.post(
        f"{short_lived.endpoint}/shares/stores/schemas/azure/tables/events/query",
        json={}, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60,
    )
    f = file_lines(response)[0]
    assert requests.get(f["url"], timeout=10).status_code == 200
    time.sleep(max(0.0, f["expirationTimestamp"] / 1000 - time.time()) + 1.5)
    assert requests.get(f["url"], timeout=10).status_code == 403


# ---------------------------------------------------------------------------------------------
# Credential vending (directory access)


def list_tables(gateway) -> dict:
    response = requests.get(
        f"{gateway.endpoint}/shares/stores/all-tables", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    )
    assert response.status_code == 200, response.text
    return {(t["schema"], t["name"]): t for t in response.json()["items"]}


def vend(gateway, schema: str, table: str, body: dict | None = None):
    return requests.post(
        f"{gateway.endpoint}/shares/stores/schemas/{schema}/tables/{table}/temporary-table-credentials",
        json=body, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60,
    )


def test_tables_advertise_their_access_modes_truthfully(gateway):
    tables = list_tables(gateway)
    assert tables[("s3", "events")]["accessModes"] == ["url", "dir"]
    assert tables[("s3", "events")]["location"] == f"s3://{S3_BUCKET}/sales/events"
    # No directory access without history (the log would reveal past versions) or on Azure (no
    # directory-scoped SAS without ADLS Gen2). Tables on the gateway's own disk are read through
    # its built-in S3 endpoint, under a location that names no path of the server.
    for key in [("s3", "events_latest"), ("azure", "events")]:
        assert tables[key]["accessModes"] == ["url"], key
        assert "location" not in tables[key]
    assert tables[("local", "trips")]["accessModes"] == ["url", "dir"]
    assert tables[("local", "trips")]["location"] == "s3://lakeshare/tables/stores/local/trips/files"
    # Existing clients ignore the extra fields.
    assert {t.name for t in delta_sharing.SharingClient(gateway.profile_path).list_all_tables()} >= {"events", "trips"}


def test_vended_credentials_read_the_table_and_nothing_else(gateway, seaweed, s3_tables, tmp_path):
    response = vend(gateway, "s3", "events")
    assert response.status_code == 200, response.text
    credentials = response.json()["credentials"]
    assert credentials["location"] == f"s3://{S3_BUCKET}/sales/events"
    assert credentials["expirationTime"] > time.time() * 1000 + 800_000
    aws = credentials["awsTempCredentials"]
    assert aws["accessKeyId"] != S3_ACCESS_KEY and aws["sessionToken"]
    session = {**seaweed.storage_options(), "AWS_ACCESS_KEY_ID": aws["accessKeyId"],
               "AWS_SECRET_ACCESS_KEY": aws["secretAccessKey"], "AWS_SESSION_TOKEN": aws["sessionToken"]}
    read_with_session = reference(tmp_path, s3_tables["events"], session)
    assert_same_frame(read_with_session, reference(tmp_path, s3_tables["events"], seaweed.storage_options()))
    # The session policy confines them to reading the table's prefix. A sibling whose name
    # starts with the table's must stay invisible too.
    admin = run_tool({"op": "probe", "store": seaweed.storage_options(), "calls": {
        "plant": {"op": "put", "bucket": S3_BUCKET, "key": "sales/events_archive/secret.txt"},
    }})
    assert json.loads(admin.stdout) == {"plant": "ok"}
    probes = json.loads(run_tool({"op": "probe", "store": session, "calls": {
        "inside": {"op": "list", "bucket": S3_BUCKET, "prefix": "sales/events/_delta_log/"},
        "bare_prefix": {"op": "list", "bucket": S3_BUCKET, "prefix": "sales/events"},
        "parent": {"op": "list", "bucket": S3_BUCKET, "prefix": "sales/"},
        "sibling": {"op": "get", "bucket": S3_BUCKET, "key": "sales/events_archive/secret.txt"},
        "other_table": {"op": "get", "bucket": S3_BUCKET, "key": "demo/trips/_delta_log/00000000000000000000.json"},
        "write": {"op": "put", "bucket": S3_BUCKET, "key": "sales/events/planted.txt"},
    }}).stdout)
    assert "sales/events/_delta_log/00000000000000000000.json" in probes["inside"], probes
    assert probes["bare_prefix"] == "AccessDenied", probes
    assert probes["parent"] == "AccessDenied", probes
    assert probes["sibling"] == "AccessDenied", probes
    assert probes["other_table"] == "AccessDenied", probes
    assert probes["write"] == "AccessDenied", probes
    assert body_of(vend(gateway, "s3", "events", {"location": f"s3://{S3_BUCKET}/sales/events/"})).get("credentials")


def body_of(response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("schema,table,needle", [
    ("s3", "events_latest", "without its history"),
    ("azure", "events", "cannot vend temporary credentials"),
])
def test_tables_without_directory_access_get_a_clear_400(gateway, schema, table, needle):
    response = vend(gateway, schema, table)
    assert response.status_code == 400, response.text
    assert response.json()["errorCode"] == "UNSUPPORTED_OPERATION"
    assert needle in response.json()["message"]


def test_local_tables_get_directory_access_through_the_built_in_s3_endpoint(gateway, demo, tmp_path):
    response = vend(gateway, "local", "trips")
    credentials = body_of(response)["credentials"]
    assert str(demo) not in response.text, "a server path leaked"
    assert credentials["location"] == "s3://lakeshare/tables/stores/local/trips/files"
    aws = credentials["awsTempCredentials"]
    assert aws["endpoint"] == f"http://127.0.0.1:{gateway.port}"
    assert credentials["expirationTime"] > time.time() * 1000
    options = {
        "AWS_ENDPOINT_URL": aws["endpoint"], "AWS_ALLOW_HTTP": "true", "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": aws["accessKeyId"], "AWS_SECRET_ACCESS_KEY": aws["secretAccessKey"],
        "AWS_SESSION_TOKEN": aws["sessionToken"],
    }
    shared = reference(tmp_path, credentials["location"], options)
    assert_same_frame(shared, DeltaTable(str(demo / "data" / "delta" / "trips")).to_pandas())
    # The credential covers that table's files and nothing else the endpoint serves.
    import boto3

    s3 = boto3.client("s3", endpoint_url=aws["endpoint"], region_name="us-east-1",
                      aws_access_key_id=aws["accessKeyId"], aws_secret_access_key=aws["secretAccessKey"],
                      aws_session_token=aws["sessionToken"])
    listed = s3.list_objects_v2(Bucket="lakeshare", Prefix="tables/stores/local/trips/files/_delta_log/")
    assert listed["KeyCount"] > 0
    with pytest.raises(Exception) as refused:
        s3.list_objects_v2(Bucket="lakeshare", Prefix="tables/stores/s3/")
    assert "AccessDenied" in str(refused.value)
    assert vend(gateway, "local", "trips", {"location": credentials["location"] + "/"}).status_code == 200


def iceberg_catalog(gateway):
    from pyiceberg.catalog.rest import RestCatalog

    return RestCatalog("stores", uri=gateway.endpoint + "/iceberg/", token=TOKEN, warehouse="stores")


def test_native_iceberg_tables_are_relayed_with_credentials_the_store_vends(gateway, seaweed, iceberg_scores):
    loaded = iceberg_catalog(gateway).load_table("s3.scores")
    # The table's own metadata, snapshot history included, at its own location.
    assert loaded.metadata_location == iceberg_scores.metadata_location
    assert sorted(s.snapshot_id for s in loaded.snapshots()) == sorted(s.snapshot_id for s in iceberg_scores.snapshots())
    config = loaded.io.properties
    assert config["s3.endpoint"] == f"http://localhost:{seaweed.s3_port}"
    assert config["s3.access-key-id"] != S3_ACCESS_KEY and config["s3.session-token"]
    for snapshot in iceberg_scores.snapshots():
        got = loaded.scan(snapshot_id=snapshot.snapshot_id).to_arrow().to_pandas()
        assert_same_frame(got, iceberg_scores.scan(snapshot_id=snapshot.snapshot_id).to_arrow().to_pandas())
    # The vended credentials read that table's folder and nothing else of the bucket.
    import boto3

    s3 = boto3.client("s3", endpoint_url=config["s3.endpoint"], region_name="us-east-1",
                      aws_access_key_id=config["s3.access-key-id"],
                      aws_secret_access_key=config["s3.secret-access-key"],
                      aws_session_token=config["s3.session-token"])
    assert s3.list_objects_v2(Bucket=S3_BUCKET, Prefix="lake/scores/")["KeyCount"] > 0
    with pytest.raises(Exception) as refused:
        s3.get_object(Bucket=S3_BUCKET, Key="sales/events/_delta_log/00000000000000000000.json")
    assert "AccessDenied" in str(refused.value)


def vended_client(config: dict):
    import boto3

    return boto3.client("s3", endpoint_url=config["s3.endpoint"], region_name="us-east-1",
                        aws_access_key_id=config["s3.access-key-id"],
                        aws_secret_access_key=config["s3.secret-access-key"],
                        aws_session_token=config["s3.session-token"])


def test_delta_tables_in_sts_stores_are_read_straight_from_the_store(gateway, seaweed, s3_tables, tmp_path):
    """A Delta table shared with its history in a store that vends credentials, with the cache
    in that store: the generated metadata is kept there, and the recipient reads it and the
    data files from the store's public endpoint with credentials its STS vends for the two."""
    loaded = iceberg_catalog(gateway).load_table("s3.events")
    assert loaded.metadata_location.startswith(f"s3://{S3_BUCKET}/{CACHE_PREFIX}/"), loaded.metadata_location
    assert loaded.metadata.location == s3_tables["events"]
    config = loaded.io.properties
    assert config["s3.endpoint"] == f"http://localhost:{seaweed.s3_port}"
    assert config["s3.access-key-id"] != S3_ACCESS_KEY and config["s3.session-token"]
    by_version = {int(s.summary["lakeshare.source-version"]): s for s in loaded.snapshots()}
    assert sorted(by_version) == [0, 1, 2, 3]
    for version, snapshot in by_version.items():
        assert all(t.file.file_path.startswith(s3_tables["events"] + "/")
                   for t in loaded.scan(snapshot_id=snapshot.snapshot_id).plan_files())
        # Batch by batch: deltalake wrote the later files with string_view columns, which
        # pyiceberg's to_arrow cannot concatenate with the earlier files' strings.
        reader = loaded.scan(snapshot_id=snapshot.snapshot_id).to_arrow_batch_reader()
        got = pd.concat([b.to_pandas() for b in reader], ignore_index=True)
        want = reference(tmp_path, s3_tables["events"], seaweed.storage_options(), version=version)
        assert_same_frame(got[list(want.columns)], want)

    # The credentials read the table's folder and its generated metadata, nothing else.
    s3 = vended_client(config)
    folder = loaded.metadata_location.removeprefix(f"s3://{S3_BUCKET}/").rsplit("/", 1)[0] + "/"
    assert s3.list_objects_v2(Bucket=S3_BUCKET, Prefix=folder)["KeyCount"] > 0
    assert s3.list_objects_v2(Bucket=S3_BUCKET, Prefix="sales/events/")["KeyCount"] > 0
    other = iceberg_catalog(gateway).load_table("s3.checkpointed")
    other_key = other.metadata_location.removeprefix(f"s3://{S3_BUCKET}/")
    assert other_key.startswith(f"{CACHE_PREFIX}/") and not other_key.startswith(folder)
    for key in (other_key, "fixtures/checkpointed/_delta_log/00000000000000000000.json"):
        with pytest.raises(Exception) as refused:
            s3.get_object(Bucket=S3_BUCKET, Key=key)
        assert "AccessDenied" in str(refused.value), key
    with pytest.raises(Exception) as refused:
        s3.list_objects_v2(Bucket=S3_BUCKET, Prefix=f"{CACHE_PREFIX}/")
    assert "AccessDenied" in str(refused.value)
    with pytest.raises(Exception) as refused:
        s3.put_object(Bucket=S3_BUCKET, Key=folder + "x.avro", Body=b"x")
    assert "AccessDenied" in str(refused.value)

    # The refresh endpoint vends for the same two folders.
    refreshed = requests.get(
        gateway.endpoint + "/iceberg/v1/shares/stores/namespaces/s3/tables/events/credentials",
        headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30,
    ).json()["storage-credentials"]
    assert [c["prefix"] for c in refreshed] == [s3_tables["events"] + "/", f"s3://{S3_BUCKET}/{folder}"]


@pytest.mark.parametrize("table", ["trips", "hudi_trips"])
def test_every_format_in_an_sts_store_reads_from_the_store_as_through_delta_sharing(gateway, table):
    loaded = iceberg_catalog(gateway).load_table(f"s3.{table}")
    assert loaded.metadata_location.startswith(f"s3://{S3_BUCKET}/{CACHE_PREFIX}/")
    # Batch by batch, as deltalake wrote some files with string_view columns (see above).
    batches = [b.to_pandas() for b in loaded.scan().to_arrow_batch_reader()]
    got = pd.concat(batches, ignore_index=True).sort_values("trip_id", ignore_index=True)
    shared = delta_sharing.load_as_pandas(table_url(gateway, "s3", table)).sort_values("trip_id", ignore_index=True)
    assert len(got) == len(shared) > 0
    assert got["trip_id"].tolist() == shared["trip_id"].tolist()
    assert got["fare"].astype(float).tolist() == shared["fare"].astype(float).tolist()


def test_a_cache_store_refusing_writes_fails_no_table_read_through_the_gateway(seaweed, demo, tmp_path):
    """The store cache is where store-read tables' recipients read from; for a table read
    through the gateway it is only a second level of cache, so a write it refuses is logged."""
    trips = demo / "data" / "delta" / "trips"
    config = f"""
server: {{ listen: "127.0.0.1:{{port}}" }}
stores:
  - {{ name: refusing, kind: s3, bucket: {S3_BUCKET}, endpoint: {seaweed.endpoint}, access_key_id: nobody, secret_access_key: wrong-secret, timeout_seconds: {STORE_TIMEOUT} }}
shares:
  - name: stores
    schemas:
      - name: local
        tables:
          - {{ name: trips, location: "{trips}", history: true }}
recipients:
  - {{ name: partner, token: "{TOKEN}", shares: [stores] }}
cache: {{ store: refusing, path: {CACHE_PREFIX} }}
"""
    gw = Gateway(tmp_path / "refusing-cache", config)
    try:
        loaded = iceberg_catalog(gw).load_table("local.trips")
        assert loaded.metadata_location.startswith("s3://lakeshare/tables/stores/local/trips/")
        assert len(loaded.scan().to_arrow()) == len(DeltaTable(str(trips)).to_pyarrow_table())
        assert "in the cache's store" in gw.log.read_text()
        assert "wrong-secret" not in gw.log.read_text()
    finally:
        gw.stop()


def test_tables_not_shared_whole_still_read_through_the_built_in_endpoint(gateway):
    # Without its history, the table's folder would reveal the past: no store credentials.
    loaded = iceberg_catalog(gateway).load_table("s3.events_latest")
    assert loaded.metadata_location.startswith("s3://lakeshare/tables/stores/s3/events_latest/")
    assert loaded.io.properties["s3.endpoint"] == gateway.endpoint.split("/delta-sharing")[0]


def built_in_client(config: dict):
    import boto3
    import botocore.config

    return boto3.client(
        "s3", endpoint_url=config["s3.endpoint"], aws_access_key_id=config["s3.access-key-id"],
        aws_secret_access_key=config["s3.secret-access-key"], aws_session_token=config["s3.session-token"],
        region_name="us-east-1",
        config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def refused_with(call) -> int:
    import botocore.exceptions

    with pytest.raises(botocore.exceptions.ClientError) as e:
        call()
    return e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_built_in_endpoint_keys_never_climb_out_of_the_table(gateway, s3_tables):
    """Keys are object paths below the table's root, never URLs resolved against it: an
    encoded `..` (which a URL parser would resolve) names nothing."""
    loaded = iceberg_catalog(gateway).load_table("local.trips")
    s3 = built_in_client(loaded.io.properties)
    inside = "tables/stores/local/trips/files/_delta_log/00000000000000000000.json"
    assert s3.get_object(Bucket="lakeshare", Key=inside)["Body"].read()
    for climb in ("%2e%2e/%2e%2e", ".%2e/%2E.", "%2e%2e/%2e%2e/", "%2E%2E%2F%2E%2E"):
        key = f"tables/stores/local/trips/files/{climb}/hudi/trips/.hoodie/hoodie.properties"
        assert refused_with(lambda: s3.get_object(Bucket="lakeshare", Key=key)) in (403, 404), climb
        assert refused_with(lambda: s3.head_object(Bucket="lakeshare", Key=key)) in (403, 404), climb


def test_a_table_without_history_exposes_only_its_current_data_files(gateway, seaweed, s3_tables, tmp_path):
    """`events_latest` is shared without its history: its Iceberg credentials read the data
    files of the latest version and nothing else of its folder (the log would reveal the past)."""
    loaded = iceberg_catalog(gateway).load_table("s3.events_latest")
    assert len(loaded.snapshots()) == 1
    s3 = built_in_client(loaded.io.properties)
    prefix = "tables/stores/s3/events_latest/files/"
    data = sorted(t.file.file_path.removeprefix("s3://lakeshare/") for t in loaded.scan().plan_files())
    assert data and all(k.startswith(prefix) for k in data)
    assert s3.get_object(Bucket="lakeshare", Key=data[0], Range="bytes=0-3")["Body"].read() == b"PAR1"
    assert refused_with(lambda: s3.get_object(Bucket="lakeshare", Key=prefix + "_delta_log/00000000000000000000.json")) == 404
    listed = s3.list_objects_v2(Bucket="lakeshare", Prefix=prefix)
    assert sorted(o["Key"] for o in listed.get("Contents", [])) == data
    reader = loaded.scan().to_arrow_batch_reader()
    got = pd.concat([b.to_pandas() for b in reader], ignore_index=True)
    want = reference(tmp_path, s3_tables["events"], seaweed.storage_options())
    assert_same_frame(got[list(want.columns)], want)


def test_vending_for_another_location_is_refused(gateway):
    response = vend(gateway, "s3", "events", {"location": f"s3://{S3_BUCKET}/demo/trips"})
    assert response.status_code == 400 and "only location" in response.json()["message"]


# ---------------------------------------------------------------------------------------------
# Checks and outages (last: they stop the S3 server)


def run_check(gateway, azurite) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(lakeshare_bin()), "check", "--config", str(gateway.config)],
        capture_output=True, text=True, timeout=120, env={**__import__("os").environ, **gateway_env(azurite)},
    )


def test_check_reports_every_store(gateway, seaweed, azurite):
    result = run_check(gateway, azurite)
    out = result.stdout
    failures = [line for line in out.splitlines() if line.startswith("FAIL")]
    # Only the fixture copies may fail, when the shared fixtures are absent.
    assert all("stores.s3.dv" in line or "stores.s3.checkpointed" in line for line in failures), out
    assert (result.returncode == 0) == (not failures), out
    assert "ok    store lake  list:" in out and "ok    store blobs  list:" in out, out
    assert f"ok    store lake  sign: signs URLs for http://localhost:{seaweed.s3_port}, and the store accepts them" in out, out
    assert f"ok    store blobs  sign: signs URLs for http://localhost:{azurite.port}, and the store accepts them" in out, out
    assert "ok    stores.s3.events  delta version 3" in out, out


def test_refused_credentials_are_reported_as_such(seaweed, azurite, s3_tables, tmp_path):
    config = f"""
server: {{ listen: "127.0.0.1:{{port}}" }}
stores:
  - {{ name: wrongkey, kind: s3, bucket: {S3_BUCKET}, endpoint: "{seaweed.endpoint}", access_key_id: {S3_ACCESS_KEY}, secret_access_key: not-the-secret, timeout_seconds: {STORE_TIMEOUT} }}
shares:
  - name: stores
    schemas: [{{ name: s3, tables: [{{ name: events, store: wrongkey, path: sales/events }}] }}]
recipients:
  - {{ name: partner, token: "{TOKEN}", shares: [stores] }}
"""
    gw = Gateway(tmp_path / "wrong-key", config)
    try:
        response = query(gw, "s3", "events")
        assert response.status_code == 500, response.text
        assert "refused the gateway's credentials" in response.json()["message"]
        check = subprocess.run([str(lakeshare_bin()), "check", "--config", str(gw.config)],
                               capture_output=True, text=True, timeout=120)
        assert check.returncode == 1
        assert "FAIL  store wrongkey  list:" in check.stdout, check.stdout
        assert "FAIL  store wrongkey  sign: the store refused a URL signed" in check.stdout, check.stdout
    finally:
        gw.stop()


def test_s3_outage_is_a_clear_error_and_service_resumes(gateway, seaweed, azurite, tmp_path):
    url = table_url(gateway, "s3", "events")
    before = delta_sharing.load_as_pandas(url)
    seaweed.stop()
    try:
        started = time.monotonic()
        response = query(gateway, "s3", "events")
        elapsed = time.monotonic() - started
        assert response.status_code == 503, response.text
        assert response.json()["errorCode"] == "INTERNAL_ERROR"
        message = response.json()["message"]
        assert "stores.s3.events" in message and "cannot be reached" in message, message
        assert seaweed.endpoint not in message, "internal addresses stay in the log"
        # Bounded by the store's timeout (retries included), with slack for a loaded machine.
        assert elapsed < 4 * STORE_TIMEOUT, elapsed
        # The rest of the gateway carries on.
        local = delta_sharing.load_as_pandas(table_url(gateway, "local", "trips"), limit=10)
        assert len(local) == 10
        assert len(delta_sharing.load_as_pandas(table_url(gateway, "azure", "events"))) > 0
        check = run_check(gateway, azurite)
        assert check.returncode == 1 and "FAIL  store lake  list:" in check.stdout, check.stdout
    finally:
        # A read started during the outage: the connector retries 5xx answers, and succeeds once
        # the store is back, with no restart of the gateway.
        result: dict = {}

        def read_during_outage():
            try:
                result["frame"] = delta_sharing.load_as_pandas(url)
            except Exception as e:  # noqa: BLE001 - reported by the assertion below
                result["error"] = e

        reader = threading.Thread(target=read_during_outage)
        reader.start()
        time.sleep(2)
        seaweed.start()
        reader.join(timeout=120)
    assert "error" not in result, result.get("error")
    assert_same_frame(result["frame"], before)
    after = query(gateway, "s3", "events")
    assert after.status_code == 200 and file_lines(after)


def test_s3_hudi_table_reads_as_on_local_disk(gateway, seaweed, demo):
    """The demo's Hudi table copied into S3 reads, at every instant, as hudi reads the local copy,
    from pre-signed URLs on the public host."""
    hudi = pytest.importorskip("hudi", reason="the hudi reader is not installed (tests/requirements.txt)")
    import pyarrow as pa

    local = demo / "data" / "hudi" / "trips"
    table = hudi.HudiTable(str(local))
    instants = [i.timestamp for i in table.get_timeline().get_completed_commits(False)]
    assert len(instants) == 4
    url = table_url(gateway, "s3", "hudi_trips")
    assert delta_sharing.get_table_version(url) == int(instants[-1])
    for instant in (instants[0], instants[-1]):
        shared = delta_sharing.load_as_pandas(url, version=int(instant)).sort_values("trip_id").reset_index(drop=True)
        batches = table.read(hudi.HudiReadOptions().with_as_of_timestamp(instant))
        reference = pa.Table.from_batches(batches).to_pandas().sort_values("trip_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(shared, reference[shared.columns], check_dtype=False)
    files = file_lines(query(gateway, "s3", "hudi_trips"))
    assert files and all(f["url"].startswith(f"http://localhost:{seaweed.s3_port}/") for f in files)


# AI assets in S3: the same answers as the demo gives for them on local disk.

def asset_clients(gateway, demo):
    from test_assets import Client, profile_of

    local = profile_of(demo)
    return (Client(gateway.endpoint, TOKEN), "/shares/stores/schemas/ai",
            Client(local["endpoint"], local["bearerToken"]), "/shares/demo/schemas/ai")


def test_s3_assets_match_the_local_ones(gateway, seaweed, demo):
    s3, s3_ai, local, local_ai = asset_clients(gateway, demo)
    for asset in ["models/trip-fare/versions/1", "models/trip-fare/versions/2", "skills/trip-analyst",
                  "volumes/docs"]:
        in_s3 = s3.items(f"{s3_ai}/{asset}/files")
        on_disk = local.items(f"{local_ai}/{asset}/files")
        strip = lambda files: [(f["path"], f["size"], f.get("sha256")) for f in files]  # noqa: E731
        if asset.startswith("volumes"):
            # Volume digests appear once computed; sizes and paths must agree regardless.
            strip = lambda files: [(f["path"], f["size"]) for f in files]  # noqa: E731
        assert strip(in_s3) == strip(on_disk), asset
        paths = [f["path"] for f in in_s3]
        downloaded = s3.download(f"{s3_ai}/{asset}", paths)
        for f in on_disk:
            content, signed = downloaded[f["path"]]
            assert signed["url"].startswith(f"http://localhost:{seaweed.s3_port}/"), signed["url"]
            if "sha256" in f:
                assert hashlib.sha256(content).hexdigest() == f["sha256"]
    # The skill's version depends on its content only, so it is the same wherever it lies.
    skill = s3.get(f"{s3_ai}/skills/trip-analyst")
    assert skill.json()["version"] == local.get(f"{local_ai}/skills/trip-analyst").json()["version"]
    assert skill.json()["storageLocation"] == f"s3://{S3_BUCKET}/ai/skills/trip-analyst/"
    s3.get(f"{s3_ai}/skills/trip-analyst", expect=304, headers={"If-None-Match": skill.headers["ETag"]})
    assert s3.get(f"{s3_ai}/models/trip-fare/aliases/champion").json()["version"] == 2


def test_s3_asset_urls_serve_ranges(gateway, demo):
    s3, s3_ai, _, _ = asset_clients(gateway, demo)
    signed = s3.post(f"{s3_ai}/models/trip-fare/versions/2/file-urls",
                     {"paths": ["model.safetensors"]}).json()["items"][0]
    whole = requests.get(signed["url"], timeout=30).content
    part = requests.get(signed["url"], headers={"Range": "bytes=8-15"}, timeout=30)
    assert part.status_code == 206 and part.content == whole[8:16]


def test_s3_asset_credentials_are_scoped_to_the_asset(gateway, seaweed, demo):
    s3, s3_ai, _, _ = asset_clients(gateway, demo)
    body = s3.post(f"{s3_ai}/models/trip-fare/versions/2/temporary-model-version-credentials").json()
    assert set(body) == {"awsTempCredentials", "expirationTime"}
    aws = body["awsTempCredentials"]
    session = {**seaweed.storage_options(), "AWS_ACCESS_KEY_ID": aws["accessKeyId"],
               "AWS_SECRET_ACCESS_KEY": aws["secretAccessKey"], "AWS_SESSION_TOKEN": aws["sessionToken"]}
    probes = json.loads(run_tool({"op": "probe", "store": session, "calls": {
        "inside": {"op": "get", "bucket": S3_BUCKET, "key": "ai/models/trip-fare/2/model.safetensors"},
        "other_version": {"op": "get", "bucket": S3_BUCKET, "key": "ai/models/trip-fare/1/model.safetensors"},
        "write": {"op": "put", "bucket": S3_BUCKET, "key": "ai/models/trip-fare/2/planted"},
    }}).stdout)
    assert probes == {"inside": "ok", "other_version": "AccessDenied", "write": "AccessDenied"}, probes
    for path in ["volumes/docs/temporary-volume-credentials", "skills/trip-analyst/temporary-skill-credentials"]:
        assert "awsTempCredentials" in s3.post(f"{s3_ai}/{path}").json()
