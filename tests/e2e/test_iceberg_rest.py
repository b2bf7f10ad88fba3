"""The gateway as a sidecar to an Iceberg REST catalog: SeaweedFS serves the catalog and S3.

A table created and appended through the catalog with pyiceberg is shared by name; the connector
reads it from pre-signed S3 URLs and must see what pyiceberg reads.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import delta_sharing
import pyarrow as pa
import pyarrow.fs as pafs
import requests
import pytest

from conftest import Gateway
from stores import S3_ACCESS_KEY, S3_SECRET_KEY, SeaweedFS
from test_delta_fixtures import assert_same_frame

pytest.importorskip("pyiceberg", reason="pyiceberg is not installed (tests/requirements.txt)")

from pyiceberg.catalog import load_catalog  # noqa: E402
from pyiceberg.schema import Schema  # noqa: E402
from pyiceberg.types import DoubleType, LongType, NestedField, StringType  # noqa: E402

TOKEN = "iceberg-rest-recipient-token-01"
WAREHOUSE = "warehouse"
SCHEMA = Schema(
    NestedField(1, "id", LongType(), required=False),
    NestedField(2, "name", StringType(), required=False),
    NestedField(3, "score", DoubleType(), required=False),
)


def batch(ids):
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "name": pa.array([f"n{i}" for i in ids], pa.string()),
        "score": pa.array([i / 2 for i in ids], pa.float64()),
    })


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory):
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs-rest"), table_bucket=WAREHOUSE)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def catalog(seaweed):
    # The table bucket appears shortly after the server answers its health check.
    deadline = time.monotonic() + 30
    while True:
        try:
            catalog = load_catalog("rest", **seaweed.rest_catalog_properties())
            catalog.list_namespaces()
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
    catalog.create_namespace("gw")
    table = catalog.create_table("gw.scores", schema=SCHEMA)
    table.append(batch(range(0, 5)))
    table.append(batch(range(5, 12)))
    return catalog


@pytest.fixture(scope="module")
def gateway(seaweed, catalog, tmp_path_factory):
    config = f"""
server: {{ listen: "127.0.0.1:{{port}}" }}
stores:
  - name: tables
    kind: s3
    bucket: {WAREHOUSE}
    endpoint: {seaweed.endpoint}
    public_endpoint: http://localhost:{seaweed.s3_port}
    access_key_id: ${{LAKE_KEY}}
    secret_access_key: ${{LAKE_SECRET}}
catalogs:
  - name: rest
    kind: iceberg-rest
    uri: http://127.0.0.1:{seaweed.iceberg_port}
    warehouse: {WAREHOUSE}
    credential: ${{REST_CREDENTIAL}}
    store: tables
shares:
  - name: lake
    schemas:
      - name: gw
        tables:
          - {{ name: scores, catalog: rest, table: gw.scores, history: true }}
          - {{ name: scores_by_location, location: "s3://{WAREHOUSE}/gw/scores", format: iceberg, history: true }}
          - {{ name: decoy, location: "s3://{WAREHOUSE}/gw/decoy", format: iceberg }}
      - name: everything
        include:
          - {{ catalog: rest, namespace: gw, history: true }}
recipients:
  - {{ name: partner, token: "{TOKEN}", shares: [lake] }}
"""
    work = tmp_path_factory.mktemp("rest-gateway")
    env = {"LAKE_KEY": S3_ACCESS_KEY, "LAKE_SECRET": S3_SECRET_KEY, "REST_CREDENTIAL": f"{S3_ACCESS_KEY}:{S3_SECRET_KEY}"}
    gw = Gateway(work, config, env=env)
    gw.profile_path = gw.profile(work / "profile.share", TOKEN)
    yield gw
    gw.stop()


def url(gateway) -> str:
    return f"{gateway.profile_path}#lake.gw.scores"


def test_catalog_tables_read_as_pyiceberg_reads_them(gateway, catalog):
    table = catalog.load_table("gw.scores")
    for snapshot in sorted(table.snapshots(), key=lambda s: s.sequence_number):
        shared = delta_sharing.load_as_pandas(url(gateway), version=snapshot.sequence_number)
        assert_same_frame(shared, table.scan(snapshot_id=snapshot.snapshot_id).to_arrow().to_pandas())
    assert_same_frame(delta_sharing.load_as_pandas(url(gateway)), table.scan().to_arrow().to_pandas())


def test_a_table_folder_in_a_store_reads_the_same(gateway, catalog):
    # Without the catalog: the newest metadata JSON in the table's folder, listed through the store.
    table = catalog.load_table("gw.scores")
    shared = delta_sharing.load_as_pandas(f"{gateway.profile_path}#lake.gw.scores_by_location")
    assert_same_frame(shared, table.scan().to_arrow().to_pandas())


def test_files_come_from_pre_signed_s3_urls(gateway, seaweed):
    client = delta_sharing.rest_client.DataSharingRestClient(delta_sharing.protocol.DeltaSharingProfile.read_from_file(gateway.profile_path))
    files = client.list_files_in_table(delta_sharing.protocol.Table(name="scores", share="lake", schema="gw")).add_files
    assert files
    for f in files:
        parts = urlsplit(f.url)
        assert (parts.hostname, parts.port) == ("localhost", seaweed.s3_port), f.url
        assert parts.path.startswith(f"/{WAREHOUSE}/gw/scores/data/") and "X-Amz-Signature=" in parts.query


def listed(gateway, schema: str) -> set[str]:
    client = delta_sharing.SharingClient(gateway.profile_path)
    return {t.name for t in client.list_all_tables() if t.schema == schema}


def test_a_table_added_to_an_included_namespace_appears_without_a_restart(gateway, catalog):
    assert "scores" in listed(gateway, "everything")
    assert "late" not in listed(gateway, "everything")
    table = catalog.create_table("gw.late", schema=SCHEMA)
    table.append(batch(range(100, 104)))
    deadline = time.monotonic() + 30
    while "late" not in listed(gateway, "everything"):
        assert time.monotonic() < deadline, "the new table never appeared"
        time.sleep(1)
    shared = delta_sharing.load_as_pandas(f"{gateway.profile_path}#lake.everything.late")
    assert_same_frame(shared, catalog.load_table("gw.late").scan().to_arrow().to_pandas())


def test_a_new_commit_through_the_catalog_appears(gateway, catalog):
    before = delta_sharing.get_table_version(url(gateway))
    catalog.load_table("gw.scores").append(batch(range(12, 15)))
    assert delta_sharing.get_table_version(url(gateway)) == before + 1
    assert len(delta_sharing.load_as_pandas(url(gateway))) == 15


def test_a_table_whose_metadata_points_outside_its_folder_is_refused(gateway, seaweed, catalog):
    # Whoever can write a table's metadata chooses the location it declares. A folder holding
    # metadata copied from gw/scores declares gw/scores: serving it would sign objects outside
    # the configured folder gw/decoy, so it is refused, naming no location.
    host = urlsplit(seaweed.endpoint)
    fs = pafs.S3FileSystem(access_key=S3_ACCESS_KEY, secret_key=S3_SECRET_KEY, region="us-east-1",
                           endpoint_override=host.netloc, scheme=host.scheme)
    listed = fs.get_file_info(pafs.FileSelector(f"{WAREHOUSE}/gw/scores/metadata", recursive=True))
    for info in listed:
        if info.type == pafs.FileType.File:
            fs.copy_file(info.path, info.path.replace("/gw/scores/", "/gw/decoy/"))
    reply = requests.post(f"{gateway.endpoint}/shares/lake/schemas/gw/tables/decoy/query", json={},
                          headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
    assert reply.status_code == 400, reply.text
    body = reply.json()
    assert body["errorCode"] == "UNSUPPORTED_OPERATION", body
    assert "outside the folder this share allows" in body["message"], body
    assert "gw/scores" not in body["message"] and WAREHOUSE not in body["message"], body


# ---------------------------------------------------------------------------------------------
# The gateway's own Iceberg REST catalog for recipients, over these tables


def recipient_catalog(gateway):
    from pyiceberg.catalog.rest import RestCatalog

    return RestCatalog("lake", uri=gateway.endpoint + "/iceberg/", token=TOKEN, warehouse="lake")


def test_catalog_tables_read_through_the_built_in_endpoint_as_pyiceberg_reads_them(gateway, catalog):
    source = catalog.load_table("gw.scores")
    loaded = recipient_catalog(gateway).load_table("gw.scores")
    assert loaded.metadata_location.startswith("s3://lakeshare/tables/lake/gw/scores/")
    by_version = {int(s.summary["lakeshare.source-version"]): s for s in loaded.snapshots()}
    for snapshot in source.snapshots():
        mine = by_version[snapshot.sequence_number]
        got = loaded.scan(snapshot_id=mine.snapshot_id).to_arrow().to_pandas()
        assert_same_frame(got, source.scan(snapshot_id=snapshot.snapshot_id).to_arrow().to_pandas())
