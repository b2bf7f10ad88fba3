"""Partition-restricted shares (`filter:` on a table): the demo's Delta, Iceberg and Hudi trips
shared whole to one recipient and filtered to another.

Every way the filtered recipient can reach a file is enumerated (queries in both response
formats at every version, paged reads, the change feed, the Iceberg REST catalog and the
built-in S3 endpoint behind it, directory access) and must give exactly the files whose
partition values satisfy the filter; reads through the connector and pyiceberg must equal the
format's own reader with the same filter applied. Tokens, page tokens and credentials of the
wider share must open no way to the rest.
"""

from __future__ import annotations

import io
import json
import subprocess
from datetime import date
from urllib.parse import urlsplit

import deltalake
import delta_sharing
import hudi
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests
from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.table import StaticTable

from conftest import Gateway, lakeshare_bin, ndjson
from test_iceberg_catalog import error_code, s3_client

WIDE = "partition-filter-wide-0123456789"
NARROW = "partition-filter-narrow-0123456"
FORMATS = ["delta", "iceberg", "hudi"]
FIRST, END = date(2024, 3, 4), date(2024, 3, 8)
FILTERS = {
    "delta": f"pickup_date >= '{FIRST}' AND pickup_date < '{END}'",
    "iceberg": f"pickup_date >= DATE '{FIRST}' AND pickup_date < DATE '{END}'",
    "hudi": "vendor IN ('CMT', 'DDS')",
}


def partition_ok(fmt: str, value) -> bool:
    """The filter, in Python, on one partition value (as the protocol writes it, or as read)."""
    if value is None or value == "":
        return False
    if fmt == "hudi":
        return value in ("CMT", "DDS")
    day = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    return FIRST <= day < END


def column(fmt: str) -> str:
    return "vendor" if fmt == "hudi" else "pickup_date"


def rows_ok(fmt: str, frame: pd.DataFrame) -> pd.Series:
    return frame[column(fmt)].map(lambda v: partition_ok(fmt, v))


@pytest.fixture(scope="module")
def gateway(demo, tmp_path_factory):
    data = demo / "data"

    def tables(filtered: bool) -> str:
        return "".join(
            f'          - {{ name: {fmt}, location: "{data / fmt / "trips"}", format: {fmt}, history: true'
            + (f', filter: "{FILTERS[fmt]}"' if filtered else "")
            + " }\n"
            for fmt in FORMATS
        )

    config = f"""
server: {{ listen: "127.0.0.1:{{port}}" }}
shares:
  - name: wide
    schemas:
      - name: s
        tables:
{tables(False)}  - name: narrow
    schemas:
      - name: s
        tables:
{tables(True)}recipients:
  - {{ name: everything, token: "{WIDE}", shares: [wide] }}
  - {{ name: part, token: "{NARROW}", shares: [narrow] }}
"""
    work = tmp_path_factory.mktemp("partition-filter")
    gw = Gateway(work, config)
    gw.wide_profile = gw.profile(work / "wide.share", WIDE)
    gw.narrow_profile = gw.profile(work / "narrow.share", NARROW)
    yield gw
    gw.stop()


def post(gw, token: str, path: str, body: dict | None = None, headers: dict | None = None) -> requests.Response:
    return requests.post(
        f"{gw.endpoint}/{path}", json=body or {}, timeout=60,
        headers={"Authorization": f"Bearer {token}", **(headers or {})},
    )


def get(gw, token: str, path: str) -> requests.Response:
    return requests.get(f"{gw.endpoint}/{path}", timeout=60, headers={"Authorization": f"Bearer {token}"})


def table_path(share: str, fmt: str) -> str:
    return f"shares/{share}/schemas/s/tables/{fmt}"


def file_lines(lines: list[dict]) -> list[dict]:
    """The file entries of an answer in either response format, each with id, url and
    partitionValues."""
    files = []
    for line in lines:
        if "file" in line:
            entry = line["file"]
            if "deltaSingleAction" in entry:
                action = entry["deltaSingleAction"]
                inner = action.get("add") or action.get("remove") or action.get("cdc")
                entry = {**entry, "partitionValues": inner["partitionValues"]}
            files.append(entry)
        for kind in ("add", "remove", "cdf"):
            if kind in line:
                files.append(line[kind])
    return files


def versions(gw, fmt: str) -> list[int]:
    """The versions recipients can read: the Iceberg catalog's history of the wide table."""
    table = catalog(gw, WIDE, "wide").load_table(f"s.{fmt}")
    return sorted(int(s.summary["lakeshare.source-version"]) for s in table.snapshots())


def query(gw, token: str, share: str, fmt: str, version: int, delta_format: bool = False, **body) -> list[dict]:
    headers = {"delta-sharing-capabilities": "responseformat=delta"} if delta_format else {}
    response = post(gw, token, f"{table_path(share, fmt)}/query", {"version": version, **body}, headers)
    assert response.status_code == 200, response.text
    return ndjson(response)


def catalog(gw, token: str, share: str) -> RestCatalog:
    return RestCatalog(share, uri=f"{gw.endpoint}/iceberg/", token=token, warehouse=share)


# ---------------------------------------------------------------------------------------------
# The files reachable through the Delta Sharing API


@pytest.mark.parametrize("fmt", FORMATS)
def test_queries_at_every_version_list_exactly_the_filtered_files(gateway, fmt):
    for version in versions(gateway, fmt):
        for delta_format in (False, True):
            wide = file_lines(query(gateway, WIDE, "wide", fmt, version, delta_format))
            narrow_lines = query(gateway, NARROW, "narrow", fmt, version, delta_format)
            narrow = file_lines(narrow_lines)
            want = {f["id"] for f in wide if partition_ok(fmt, f["partitionValues"].get(column(fmt)))}
            assert 0 < len(want) < len(wide), "the filter must keep some files and drop others"
            assert {f["id"] for f in narrow} == want, f"version {version}, delta format {delta_format}"
            # What the metadata line counts is the filtered table too.
            meta = next(line["metaData"] for line in narrow_lines if "metaData" in line)
            assert meta.get("numFiles", len(want)) == len(want)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_byte_served_holds_only_rows_inside_the_filter(gateway, fmt):
    version = versions(gateway, fmt)[-1]
    for entry in file_lines(query(gateway, NARROW, "narrow", fmt, version)):
        data = requests.get(entry["url"], timeout=60)
        assert data.status_code == 200
        frame = pq.read_table(io.BytesIO(data.content)).to_pandas()
        if column(fmt) in frame.columns:
            assert rows_ok(fmt, frame).all(), entry["id"]
        else:  # Delta leaves partition columns out of its files: the value is the file's.
            assert partition_ok(fmt, entry["partitionValues"][column(fmt)])


@pytest.mark.parametrize("fmt", FORMATS)
def test_paging_and_hints_never_reach_past_the_filter(gateway, fmt):
    version = versions(gateway, fmt)[-1]
    whole = {f["id"] for f in file_lines(query(gateway, NARROW, "narrow", fmt, version))}
    paged, token = set(), None
    for _ in range(len(whole) + 2):
        body = {"maxFiles": 2, **({"pageToken": token} if token else {})}
        lines = query(gateway, NARROW, "narrow", fmt, version, **body)
        paged |= {f["id"] for f in file_lines(lines)}
        token = next((line["endStreamAction"].get("nextPageToken") for line in lines if "endStreamAction" in line), None)
        if not token:
            break
    assert paged == whole
    # A hint that matches rows outside the filter only narrows further; a limit never widens.
    outside = "VTS" if fmt == "hudi" else "2024-03-01"
    hint = {"op": "equal", "children": [
        {"op": "column", "name": column(fmt), "valueType": "string" if fmt == "hudi" else "date"},
        {"op": "literal", "value": outside, "valueType": "string" if fmt == "hudi" else "date"}]}
    hinted = file_lines(query(gateway, NARROW, "narrow", fmt, version, jsonPredicateHints=json.dumps(hint)))
    assert {f["id"] for f in hinted} <= whole
    limited = file_lines(query(gateway, NARROW, "narrow", fmt, version, limitHint=1_000_000))
    assert {f["id"] for f in limited} == whole


def test_page_tokens_of_the_wider_share_are_refused(gateway):
    lines = query(gateway, WIDE, "wide", "delta", 3, maxFiles=1)
    token = next(line["endStreamAction"]["nextPageToken"] for line in lines if "endStreamAction" in line)
    response = post(gateway, NARROW, f"{table_path('narrow', 'delta')}/query",
                    {"version": 3, "maxFiles": 1, "pageToken": token})
    assert response.status_code == 400, response.text
    assert response.json()["errorCode"] == "INVALID_PARAMETER_VALUE"
    # And the filtered recipient cannot address the wide share at all.
    assert post(gateway, NARROW, f"{table_path('wide', 'delta')}/query", {}).status_code == 404


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_change_feed_holds_only_changes_inside_the_filter(gateway, fmt):
    path = f"changes?startingVersion={versions(gateway, fmt)[0]}"
    wide = get(gateway, WIDE, f"{table_path('wide', fmt)}/{path}")
    narrow = get(gateway, NARROW, f"{table_path('narrow', fmt)}/{path}")
    assert wide.status_code == 200, wide.text
    assert narrow.status_code == 200, narrow.text
    wide_files = file_lines(ndjson(wide))
    narrow_files = file_lines(ndjson(narrow))
    assert narrow_files, "the filter keeps changes of some partitions"
    assert all(partition_ok(fmt, f["partitionValues"].get(column(fmt))) for f in narrow_files)
    assert {f["id"] for f in narrow_files} <= {f["id"] for f in wide_files}
    # The connector's change feed is the wide one's changes inside the filter.
    if fmt == "delta":
        got = delta_sharing.load_table_changes_as_pandas(
            f"{gateway.narrow_profile}#narrow.s.delta", starting_version=0)
        everything = delta_sharing.load_table_changes_as_pandas(
            f"{gateway.wide_profile}#wide.s.delta", starting_version=0)
        want = everything[rows_ok(fmt, everything)]
        key = ["trip_id", "_change_type", "_commit_version"]
        assert len(got) == len(want) > 0
        pd.testing.assert_frame_equal(
            got.sort_values(key).reset_index(drop=True)[want.columns],
            want.sort_values(key).reset_index(drop=True), check_dtype=False)


def test_directory_access_is_refused_for_filtered_tables(gateway):
    for fmt in FORMATS:
        response = post(gateway, NARROW, f"{table_path('narrow', fmt)}/temporary-table-credentials")
        assert response.status_code == 400, response.text
        assert "filter" in response.json()["message"]
        assert FILTERS[fmt] not in response.text
    listed = get(gateway, NARROW, "shares/narrow/all-tables").json()
    assert all("location" not in t for t in listed["items"]), listed


# ---------------------------------------------------------------------------------------------
# Reads equal the format's own reader, filtered the same way


def native(demo, fmt: str, version: int, instant: str | None) -> pd.DataFrame:
    path = demo / "data" / fmt / "trips"
    if fmt == "delta":
        return deltalake.DeltaTable(str(path), version=version).to_pandas()
    if fmt == "iceberg":
        metadata = sorted((path / "metadata").glob("*.metadata.json"))[-1]
        table = StaticTable.from_metadata(str(metadata))
        snapshot = next(s for s in table.snapshots() if s.sequence_number == version)
        return table.scan(snapshot_id=snapshot.snapshot_id).to_pandas()
    table = hudi.HudiTable(str(path))
    batches = table.read(hudi.HudiReadOptions().with_as_of_timestamp(instant))
    frame = pa.Table.from_batches(batches).to_pandas()
    return frame[[c for c in frame.columns if not c.startswith("_hoodie_")]]


def same_rows(got: pd.DataFrame, want: pd.DataFrame, what: str) -> None:
    assert len(got) == len(want), what
    got = got.sort_values("trip_id").reset_index(drop=True)
    want = want.sort_values("trip_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got[want.columns], want, check_dtype=False, obj=what)


@pytest.mark.parametrize("fmt", FORMATS)
def test_connector_reads_equal_the_native_reader_filtered(gateway, demo, fmt):
    for version in versions(gateway, fmt):
        meta = next(line["metaData"] for line in query(gateway, NARROW, "narrow", fmt, version) if "metaData" in line)
        instant = meta.get("configuration", {}).get("hudi.instant")
        reference = native(demo, fmt, version, instant)
        want = reference[rows_ok(fmt, reference)]
        assert 0 < len(want) < len(reference)
        got = delta_sharing.load_as_pandas(f"{gateway.narrow_profile}#narrow.s.{fmt}", version=version)
        same_rows(got, want, f"{fmt} version {version}")
    got = delta_sharing.load_as_pandas(f"{gateway.narrow_profile}#narrow.s.{fmt}", use_delta_format=True)
    same_rows(got, want, f"{fmt} latest, delta format")


@pytest.mark.parametrize("fmt", FORMATS)
def test_pyiceberg_reads_every_version_equal_to_the_native_reader_filtered(gateway, demo, fmt):
    table = catalog(gateway, NARROW, "narrow").load_table(f"s.{fmt}")
    for snapshot in table.snapshots():
        version = int(snapshot.summary["lakeshare.source-version"])
        instant = None
        if fmt == "hudi":
            meta = next(line["metaData"] for line in query(gateway, NARROW, "narrow", fmt, version) if "metaData" in line)
            instant = meta["configuration"]["hudi.instant"]
        reference = native(demo, fmt, version, instant)
        same_rows(table.scan(snapshot_id=snapshot.snapshot_id).to_pandas(), reference[rows_ok(fmt, reference)],
                  f"{fmt} version {version} through pyiceberg")


# ---------------------------------------------------------------------------------------------
# The Iceberg REST catalog and the built-in S3 endpoint behind it


def status_of(call) -> int:
    return error_code(call)[0]


def load(gw, token: str, share: str, fmt: str) -> dict:
    response = requests.get(
        f"{gw.endpoint}/iceberg/v1/shares/{share}/namespaces/s/tables/{fmt}",
        headers={"Authorization": f"Bearer {token}"}, timeout=60,
    )
    assert response.status_code == 200, response.text
    return response.json()


def data_keys(gw, token: str, share: str, fmt: str) -> set[str]:
    """The S3 keys of the data files pyiceberg plans over every snapshot of the table."""
    table = catalog(gw, token, share).load_table(f"s.{fmt}")
    keys = set()
    for snapshot in table.snapshots():
        for task in table.scan(snapshot_id=snapshot.snapshot_id).plan_files():
            parts = urlsplit(task.file.file_path)
            assert parts.scheme == "s3" and parts.netloc == "lakeshare", task.file.file_path
            keys.add(parts.path.lstrip("/"))
    return keys


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_built_in_endpoint_serves_only_the_filtered_files(gateway, fmt):
    narrow_keys = data_keys(gateway, NARROW, "narrow", fmt)
    wide_keys = data_keys(gateway, WIDE, "wide", fmt)
    assert narrow_keys, "the filtered table has data files"
    prefix = f"tables/narrow/s/{fmt}/files/"
    assert all(k.startswith(prefix) for k in narrow_keys)
    narrow_rel = {k.removeprefix(prefix) for k in narrow_keys}
    wide_rel = {k.removeprefix(f"tables/wide/s/{fmt}/files/") for k in wide_keys}
    hidden = wide_rel - narrow_rel
    assert hidden and narrow_rel < wide_rel

    config = load(gateway, NARROW, "narrow", fmt)["config"]
    s3 = s3_client(config)
    listed = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="lakeshare", Prefix=prefix):
        listed |= {o["Key"].removeprefix(prefix) for o in page.get("Contents", [])}
    assert listed == narrow_rel, "the folder listing is the filtered files, and nothing else of the folder"
    some = sorted(narrow_rel)[0]
    assert s3.get_object(Bucket="lakeshare", Key=prefix + some)["Body"].read(4) == b"PAR1"
    for rel in sorted(hidden)[:5]:
        assert status_of(lambda: s3.get_object(Bucket="lakeshare", Key=prefix + rel)) in (403, 404)
        assert status_of(lambda: s3.head_object(Bucket="lakeshare", Key=prefix + rel)) in (403, 404)
    # The table's log and metadata are not files of the filtered table either.
    for meta in ("_delta_log/00000000000000000000.json", ".hoodie/hoodie.properties"):
        assert status_of(lambda: s3.get_object(Bucket="lakeshare", Key=prefix + meta)) in (403, 404)

    # Credentials of the wider share open its own prefix only, never the filtered table's.
    wide_s3 = s3_client(load(gateway, WIDE, "wide", fmt)["config"])
    assert status_of(lambda: wide_s3.get_object(Bucket="lakeshare", Key=prefix + some)) == 403
    # And the filtered recipient's credentials do not open the wide table's prefix.
    wide_prefix = f"tables/wide/s/{fmt}/files/"
    assert status_of(lambda: s3.get_object(Bucket="lakeshare", Key=wide_prefix + sorted(hidden)[0])) == 403


def test_the_filter_and_the_server_paths_never_reach_the_recipient(gateway, demo):
    for fmt in FORMATS:
        body = json.dumps(load(gateway, NARROW, "narrow", fmt))
        assert str(demo) not in body
        assert FILTERS[fmt] not in body
        lines = json.dumps(query(gateway, NARROW, "narrow", fmt, versions(gateway, fmt)[-1]))
        assert FILTERS[fmt] not in lines and str(demo) not in lines


# ---------------------------------------------------------------------------------------------
# A filter that cannot be applied


def test_filters_that_cannot_be_applied_are_refused_clearly(demo, tmp_path):
    trips = demo / "data" / "delta" / "trips"

    def config(filter_sql: str) -> str:
        return f"""
server: {{ listen: "127.0.0.1:{{port}}" }}
shares:
  - name: s
    schemas:
      - name: d
        tables:
          - {{ name: t, location: "{trips}", history: true, filter: "{filter_sql}" }}
recipients:
  - {{ name: r, token: "{NARROW}", shares: [s] }}
"""

    # A syntax error refuses the configuration, naming the field.
    bad = tmp_path / "syntax.yaml"
    bad.write_text(config("pickup_date >= ").replace("{port}", "0"))
    checked = subprocess.run([str(lakeshare_bin()), "check", "--config", str(bad)], capture_output=True, text=True)
    assert checked.returncode != 0
    assert "shares[0].schemas[0].tables[0].filter" in checked.stdout + checked.stderr

    # A filter on a data column makes the table computed, which needs a cache: without one,
    # `check` says so; recipients get a 400 that does not quote the filter.
    on_data = "fare > 10"
    work = tmp_path / "data-column"
    work.mkdir()
    (work / "c.yaml").write_text(config(on_data).replace("{port}", "0"))
    checked = subprocess.run([str(lakeshare_bin()), "check", "--config", str(work / "c.yaml")], capture_output=True,
                             text=True)
    assert checked.returncode != 0
    assert "needs a cache:" in checked.stdout, checked.stdout
    gw = Gateway(tmp_path / "served", config(on_data))
    try:
        response = post(gw, NARROW, "shares/s/schemas/d/tables/t/query", {})
        assert response.status_code == 400, response.text
        message = response.json()["message"]
        assert "filter" in message and on_data not in message and "fare" not in message
        assert post(gw, NARROW, "shares/s/schemas/d/tables/t/temporary-table-credentials").status_code == 400
    finally:
        gw.stop()
