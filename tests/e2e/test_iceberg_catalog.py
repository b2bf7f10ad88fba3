"""The Iceberg REST catalog recipients read (the profile's `icebergEndpoint`), over the demo's
Delta, Iceberg and Hudi tables, with files read through the gateway's built-in S3 endpoint.

pyiceberg's RestCatalog and polars read every shared snapshot; each must equal the format's own
reader at the same version. Raw HTTP pins the protocol traps, and raw S3 calls the credential's
limits.
"""

from __future__ import annotations

import json

import boto3
import botocore.config
import botocore.exceptions
import deltalake
import delta_sharing
import pandas as pd
import polars as pl
import polars.testing
import pytest
import requests
from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.table import StaticTable

FORMATS = ["delta", "iceberg", "hudi"]


def profile(demo) -> dict:
    return json.loads((demo / "demo.share").read_text())


def catalog(demo) -> RestCatalog:
    p = profile(demo)
    return RestCatalog("demo", uri=p["icebergEndpoint"], token=p["bearerToken"], warehouse="demo")


def rest(demo, path: str, method: str = "GET", **kwargs) -> requests.Response:
    p = profile(demo)
    headers = {"Authorization": f"Bearer {p['bearerToken']}"}
    return requests.request(method, p["icebergEndpoint"] + path, headers=headers, timeout=30, **kwargs)


def sorted_frame(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values("trip_id").reset_index(drop=True)


def native(demo, fmt: str, version: int) -> pd.DataFrame:
    """The table at `version` as its own format's reader (or, for Hudi's past instants, the
    Delta Sharing read the Hudi tests check against hudi's reader) reads it."""
    if fmt == "delta":
        return deltalake.DeltaTable(str(demo / "data" / "delta" / "trips"), version=version).to_pandas()
    if fmt == "iceberg":
        metadata = sorted((demo / "data" / "iceberg" / "trips" / "metadata").glob("*.metadata.json"))[-1]
        table = StaticTable.from_metadata(str(metadata))
        snapshot = next(s for s in table.snapshots() if s.sequence_number == version)
        return table.scan(snapshot_id=snapshot.snapshot_id).to_pandas()
    return delta_sharing.load_as_pandas(f"{demo / 'demo.share'}#demo.hudi.trips", version=version)


def test_the_profile_names_the_catalog(demo):
    p = profile(demo)
    assert p["icebergEndpoint"] == p["endpoint"] + "/iceberg/"


def test_pyiceberg_lists_the_share(demo):
    cat = catalog(demo)
    namespaces = cat.list_namespaces()
    for fmt in FORMATS:
        assert (fmt,) in namespaces
        assert (fmt, "trips") in cat.list_tables(fmt)
    assert cat.list_namespaces(("delta",)) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_pyiceberg_reads_every_shared_version_as_the_native_reader(demo, fmt):
    table = catalog(demo).load_table(f"{fmt}.trips")
    snapshots = list(table.snapshots())
    assert len(snapshots) == 4, [s.summary for s in snapshots]
    assert table.metadata.location.startswith("s3://")
    assert str(demo) not in json.dumps(table.metadata.model_dump(mode="json")), "a server path leaked"
    for snapshot in snapshots:
        version = int(snapshot.summary["lakeshare.source-version"])
        got = table.scan(snapshot_id=snapshot.snapshot_id).to_pandas()
        want = native(demo, fmt, version)
        assert len(got) == len(want), f"version {version}"
        got, want = sorted_frame(got), sorted_frame(want)
        pd.testing.assert_frame_equal(got[want.columns], want, check_dtype=False)


@pytest.mark.parametrize("fmt", FORMATS)
def test_polars_reads_the_loaded_table_as_pyiceberg(demo, fmt):
    table = catalog(demo).load_table(f"{fmt}.trips")
    expected = pl.from_arrow(table.scan().to_arrow()).sort("trip_id")
    # Planning through pyiceberg, polars reads the files with its own reader, which takes the
    # storage settings as options rather than from the table's FileIO.
    options = {k: v for k, v in table.io.properties.items() if k.startswith("s3.")}
    got = pl.scan_iceberg(table, storage_options=options).collect().sort("trip_id")
    polars.testing.assert_frame_equal(got.select(expected.columns), expected)


def test_config_answers_the_exact_endpoints_and_prefix(demo):
    body = rest(demo, "v1/config", params={"warehouse": "demo"}).json()
    assert body["overrides"] == {"prefix": "shares/demo"}
    assert "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}" in body["endpoints"]
    assert "HEAD /v1/{prefix}/namespaces/{namespace}" in body["endpoints"]
    missing = rest(demo, "v1/config", params={"warehouse": "nope"})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == 404
    assert rest(demo, "v1/config").status_code == 400


def test_listings_never_answer_an_empty_next_token_and_parent_is_empty(demo):
    first = rest(demo, "v1/shares/demo/namespaces", params={"pageSize": 1}).json()
    assert len(first["namespaces"]) == 1 and first["next-page-token"]
    seen = list(first["namespaces"])
    token = first["next-page-token"]
    while token:
        page = rest(demo, "v1/shares/demo/namespaces", params={"pageSize": 1, "pageToken": token}).json()
        assert page.get("next-page-token", None) != ""
        seen += page["namespaces"]
        token = page.get("next-page-token")
    assert seen == rest(demo, "v1/shares/demo/namespaces").json()["namespaces"]
    assert "next-page-token" not in rest(demo, "v1/shares/demo/namespaces").json()
    assert rest(demo, "v1/shares/demo/namespaces", params={"parent": "delta"}).json()["namespaces"] == []
    # A page of none would never advance: Iceberg's page size is at least 1.
    empty_page = rest(demo, "v1/shares/demo/namespaces", params={"pageSize": 0})
    assert empty_page.status_code == 400 and "pageSize" in empty_page.json()["error"]["message"]


def test_heads_and_missing_objects_in_icebergs_error_shape(demo):
    assert rest(demo, "v1/shares/demo/namespaces/delta", method="HEAD").status_code == 204
    assert rest(demo, "v1/shares/demo/namespaces/delta/tables/trips", method="HEAD").status_code == 204
    assert rest(demo, "v1/shares/demo/namespaces/delta/tables/nope", method="HEAD").status_code == 404
    missing = rest(demo, "v1/shares/demo/namespaces/delta/tables/nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "NoSuchTableException"
    nested = rest(demo, "v1/shares/demo/namespaces/delta\x1fx")
    assert nested.status_code == 404 and nested.json()["error"]["type"] == "NoSuchNamespaceException"
    other_share = rest(demo, "v1/shares/other/namespaces/delta/tables/trips")
    assert other_share.status_code == 404
    unauthenticated = requests.get(profile(demo)["icebergEndpoint"] + "v1/config?warehouse=demo", timeout=10)
    assert unauthenticated.status_code == 401 and "error" in unauthenticated.json()
    assert rest(demo, "v1/shares/demo/namespaces/delta/tables/trips/metrics", method="POST", json={}).status_code == 204
    # The catalog is read-only: a write is a 405 in Iceberg's error shape.
    dropped = rest(demo, "v1/shares/demo/namespaces/delta/tables/trips", method="DELETE")
    assert dropped.status_code == 405 and dropped.json()["error"]["code"] == 405
    # A path segment that is not UTF-8: the framework's refusal, in Iceberg's shape too.
    undecodable = rest(demo, "v1/shares/demo/namespaces/%FF")
    assert undecodable.status_code == 400
    assert undecodable.json()["error"]["type"] == "BadRequestException"
    # Java's FileIO is told where to refresh credentials.
    loaded = rest(demo, "v1/shares/demo/namespaces/delta/tables/trips").json()
    assert loaded["config"]["client.refresh-credentials-endpoint"] == (
        "v1/shares/demo/namespaces/delta/tables/trips/credentials"
    )


def test_credentials_come_without_the_delegation_header_in_config_and_storage_credentials(demo):
    body = rest(demo, "v1/shares/demo/namespaces/delta/tables/trips").json()
    assert body["config"]["s3.access-key-id"]
    [credential] = body["storage-credentials"]
    assert credential["prefix"] == "s3://lakeshare/tables/demo/delta/trips/"
    assert credential["config"]["s3.session-token"] == body["config"]["s3.session-token"]
    assert body["metadata-location"].startswith(credential["prefix"])
    refreshed = rest(demo, "v1/shares/demo/namespaces/delta/tables/trips/credentials").json()
    assert refreshed["storage-credentials"][0]["prefix"] == credential["prefix"]


def s3_client(config: dict, secret: str | None = None):
    return boto3.client(
        "s3",
        endpoint_url=config["s3.endpoint"],
        aws_access_key_id=config["s3.access-key-id"],
        aws_secret_access_key=secret or config["s3.secret-access-key"],
        aws_session_token=config["s3.session-token"],
        region_name="us-east-1",
        config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def error_code(call) -> tuple[int, str]:
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call()
    return e.value.response["ResponseMetadata"]["HTTPStatusCode"], e.value.response["Error"]["Code"]


def trips_config(location, token: str, *, table: str = ", history: true", server: str = "", top: str = "",
                 recipient: str = "") -> str:
    """A gateway configuration sharing one Delta table as `demo.delta.trips` with one recipient;
    `table`, `server` and `recipient` add to their entries, `top` adds top-level entries."""
    return f"""
server: {{ listen: "127.0.0.1:{{port}}"{server} }}
{top}shares:
  - name: demo
    schemas:
      - name: delta
        tables:
          - {{ name: trips, location: "{location}"{table} }}
recipients:
  - {{ name: r, token: "{token}", shares: [demo]{recipient} }}
"""


def load_trips(gw, token: str) -> requests.Response:
    """`loadTable` of `demo.delta.trips` on gateway `gw`."""
    return requests.get(
        f"{gw.endpoint}/iceberg/v1/shares/demo/namespaces/delta/tables/trips",
        headers={"Authorization": f"Bearer {token}"}, timeout=60,
    )


def test_the_s3_endpoint_holds_a_credential_to_its_table(demo):
    body = rest(demo, "v1/shares/demo/namespaces/delta/tables/trips").json()
    config = body["config"]
    s3 = s3_client(config)
    listed = s3.list_objects_v2(Bucket="lakeshare", Prefix="tables/demo/delta/trips/files/_delta_log/")
    keys = [o["Key"] for o in listed["Contents"]]
    assert "tables/demo/delta/trips/files/_delta_log/00000000000000000000.json" in keys
    first = s3.get_object(Bucket="lakeshare", Key=keys[0], Range="bytes=0-9")["Body"].read()
    assert len(first) == 10
    # Another table's files, a listing outside the prefix, a write: refused.
    assert error_code(lambda: s3.get_object(Bucket="lakeshare", Key="tables/demo/iceberg/trips/files/x"))[0] == 403
    assert error_code(lambda: s3.list_objects_v2(Bucket="lakeshare", Prefix="tables/demo/"))[0] == 403
    assert error_code(lambda: s3.put_object(Bucket="lakeshare", Key=keys[0], Body=b"x"))[0] == 403
    # One altered character of the secret: the signature does not match.
    secret = config["s3.secret-access-key"]
    altered = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    assert error_code(lambda: s3_client(config, altered).get_object(Bucket="lakeshare", Key=keys[0])) == (
        403,
        "SignatureDoesNotMatch",
    )
    # No path of the server in anything the catalog answered.
    assert str(demo) not in json.dumps(body)


def test_replicas_and_restarts_serve_the_same_generated_files(demo, tmp_path):
    """Two gateways with one signing secret and one cache folder: what one generated and
    answered, the other serves (credentials are stateless, names are content addresses, bytes
    are deterministic); and a gateway started later finds the files in the cache folder."""
    from conftest import Gateway

    token = "replica-recipient-token-0123456789"
    cache = tmp_path / "cache"
    config = trips_config(demo / "data" / "delta" / "trips", token,
                          server=', signing_secret: "a-secret-both-replicas-share-0123"',
                          top=f'cache: {{ location: "{cache}" }}\n')
    a = Gateway(tmp_path / "a", config)
    b = Gateway(tmp_path / "b", config)
    try:
        load = lambda gw: load_trips(gw, token).json()  # noqa: E731
        first = load(a)
        kept = sorted(p.name for p in cache.rglob("*") if p.is_file())
        assert any(n.endswith(".metadata.json") for n in kept) and any(n.endswith(".avro") for n in kept)
        # Replica b answers the same document at the same location ...
        second = load(b)
        assert second["metadata-location"] == first["metadata-location"]
        assert second["metadata"] == first["metadata"]
        # ... and serves a's files to a's credentials, byte for byte as a does.
        key = first["metadata-location"].removeprefix("s3://lakeshare/")
        manifest_list = first["metadata"]["snapshots"][-1]["manifest-list"].removeprefix("s3://lakeshare/")
        for target in (a, b):
            config_b = {**first["config"], "s3.endpoint": f"http://127.0.0.1:{target.port}"}
            s3 = s3_client(config_b)
            body = s3.get_object(Bucket="lakeshare", Key=key)["Body"].read()
            assert json.loads(body) == first["metadata"]
            listed = s3.get_object(Bucket="lakeshare", Key=manifest_list)["Body"].read()
            if target is a:
                from_a = listed
        assert listed == from_a
        # A gateway started afresh (no memory of either) reads the same files back.
        b.stop()
        c = Gateway(tmp_path / "c", config)
        try:
            assert load(c)["metadata-location"] == first["metadata-location"]
        finally:
            c.stop()
    finally:
        a.stop()
        b.stop()


def test_built_in_credentials_expire_with_the_recipients_token(demo, tmp_path):
    """A recipient whose token expires in a few seconds gets endpoint credentials that expire
    with it: they read before, and the endpoint refuses them (S3's ExpiredToken) after."""
    import datetime
    import time

    from conftest import Gateway

    token = "short-lived-recipient-token-0123456789"
    expires = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + datetime.timedelta(seconds=6)
    stamp = expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    config = trips_config(demo / "data" / "delta" / "trips", token, table="",
                          recipient=f', expires_at: "{stamp}"')
    gw = Gateway(tmp_path / "gw", config)
    try:
        body = load_trips(gw, token).json()
        expires_ms = int(body["config"]["s3.session-token-expires-at-ms"])
        assert expires_ms <= int(expires.timestamp() * 1000)
        s3 = s3_client(body["config"])
        key = body["metadata-location"].removeprefix("s3://lakeshare/")
        assert json.loads(s3.get_object(Bucket="lakeshare", Key=key)["Body"].read()) == body["metadata"]
        time.sleep(max(0.0, expires_ms / 1000 - time.time()) + 1.5)
        assert error_code(lambda: s3.get_object(Bucket="lakeshare", Key=key)) == (400, "ExpiredToken")
        assert error_code(lambda: s3.list_objects_v2(Bucket="lakeshare", Prefix=key.rsplit("/", 1)[0] + "/"))[1] == (
            "ExpiredToken"
        )
    finally:
        gw.stop()


def test_links_inside_a_table_folder_lead_nowhere(demo, tmp_path):
    """A symlink inside a shared table's folder that points out of it: the built-in endpoint
    neither lists what lies behind it nor serves it, and answers as for a missing key (a
    different answer would tell whether the outside path exists)."""
    import shutil

    from conftest import Gateway

    table = tmp_path / "trips"
    shutil.copytree(demo / "data" / "delta" / "trips", table)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not shared")
    (table / "escape").symlink_to(outside, target_is_directory=True)
    token = "link-recipient-token-0123456789"
    gw = Gateway(tmp_path / "gw", trips_config(table, token))
    try:
        body = load_trips(gw, token)
        assert body.status_code == 200, body.text
        body = body.json()
        s3 = s3_client(body["config"])
        files = "tables/demo/delta/trips/files/"
        assert s3.get_object(Bucket="lakeshare", Key=files + "_delta_log/00000000000000000000.json")["Body"].read()
        assert s3.list_objects_v2(Bucket="lakeshare", Prefix=files + "escape/").get("KeyCount") == 0
        whole = [o["Key"] for o in s3.list_objects_v2(Bucket="lakeshare", Prefix=files)["Contents"]]
        assert whole and not any("escape" in k for k in whole)
        assert error_code(lambda: s3.get_object(Bucket="lakeshare", Key=files + "escape/secret.txt"))[0] == 404
        assert error_code(lambda: s3.get_object(Bucket="lakeshare", Key=files + "escape/absent.txt"))[0] == 404
    finally:
        gw.stop()
