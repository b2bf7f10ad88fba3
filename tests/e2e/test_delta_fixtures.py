"""The Python connector against Delta tables written by Spark and Databricks.

For each table and each of its versions, `load_as_pandas` through lakeshare must give the same
rows and columns as `deltalake` reading the same files at the same version.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date, datetime, timedelta
from decimal import Decimal

import delta_sharing
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import polars as pl
import polars_deltalake
from deltalake import DeltaTable

from conftest import Gateway, commit_time, copy_delta_fixtures

TOKEN = "fixtures-token-0123456789"

#: table → versions to read (every version each table has).
READABLE = {
    "simple_table": range(0, 5),
    "simple_table_with_checkpoint": range(0, 11),
    "delta-0.8.0-partitioned": range(0, 1),
    "delta-0.8.0-null-partition": range(0, 1),
    "delta-1.2.1-only-struct-stats": range(0, 13),
}
#: table → the feature the parquet response format cannot represent; these are read in the delta
#: response format and compared with polars-deltalake (delta-kernel-rs), since the deltalake
#: Python package refuses deletion vectors.
DELTA_ONLY = {
    "table-with-dv-small": "deletion vectors",
    "table_with_column_mapping": "column mapping",
}


#: Tables with the change data feed on: table → its versions.
CHANGE_FEED = {"cdf-table": range(0, 4)}


def share_name(table: str) -> str:
    return table.replace(".", "_")


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    return copy_delta_fixtures(tmp_path_factory.mktemp("fixtures") / "delta")


@pytest.fixture(scope="module")
def profile(tables, tmp_path_factory):
    entries = "\n".join(
        f"          - {{ name: {share_name(t)}, location: \"{tables / t}\", history: true }}"
        for t in [*READABLE, *DELTA_ONLY, *CHANGE_FEED]
    )
    config = f"""
server: {{ listen: "127.0.0.1:{{port}}" }}
shares:
  - name: fixtures
    schemas:
      - name: delta
        tables:
{entries}
recipients:
  - {{ name: tester, token: "{TOKEN}", shares: [fixtures] }}
"""
    work = tmp_path_factory.mktemp("gateway")
    gateway = Gateway(work, config)
    yield str(gateway.profile(work / "profile.share", TOKEN))
    gateway.stop()


def url(profile: str, table: str) -> str:
    return f"{profile}#fixtures.delta.{share_name(table)}"


# ---------------------------------------------------------------------------------------------
# Comparing frames


def canonical(value):
    """A JSON-able, order-independent form of one cell, equal for equal values whatever the reader."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        return canonical(value.item())
    if isinstance(value, pd.Timestamp):
        if value.tzinfo is not None:
            value = value.tz_convert("UTC").tz_localize(None)
        return value.isoformat()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [canonical(v) for v in value]
    if isinstance(value, float):
        # A nullable int column comes back as floats from one reader and ints from the other.
        return int(value) if value.is_integer() else repr(value)
    return value


def rows(df: pd.DataFrame) -> list[str]:
    return sorted(
        json.dumps([canonical(v) for v in row], sort_keys=True, default=str)
        for row in df.itertuples(index=False, name=None)
    )


def assert_same_frame(shared: pd.DataFrame, reference: pd.DataFrame) -> None:
    assert list(shared.columns) == list(reference.columns), "column names or order differ"
    for column in shared.columns:
        a, b = shared[column].dtype, reference[column].dtype
        if a == b:
            continue
        # Three differences come from the readers, not the server (the values are still compared
        # below): the connector reads timestamps from the parquet files as written (naive or UTC),
        # and fills a column missing from older files with Python None, which turns the whole
        # column into objects where deltalake keeps its type.
        both_times = pd.api.types.is_datetime64_any_dtype(a) and pd.api.types.is_datetime64_any_dtype(b)
        filled_by_connector = a == object and shared[column].isna().any()
        # An empty result from the connector's delta path has untyped (object) columns.
        empty = len(shared) == 0 and len(reference) == 0
        assert both_times or filled_by_connector or empty, f"column {column!r}: {a} through lakeshare, {b} from deltalake"
    assert len(shared) == len(reference)
    assert rows(shared) == rows(reference)


def server_message(error: Exception) -> str:
    """The connector's error text with the server's JSON message rejoined: it pretty-prints the
    body and splits long strings across lines ('…uses column '\n 'mapping…')."""
    return re.sub(r"['\"]\s*\n\s*['\"]", "", str(error))


# ---------------------------------------------------------------------------------------------
# Tests


def test_list_all_tables_names_every_table(profile):
    client = delta_sharing.SharingClient(profile)
    names = sorted(t.name for t in client.list_all_tables())
    assert names == sorted(share_name(t) for t in [*READABLE, *DELTA_ONLY, *CHANGE_FEED])
    assert {(t.share, t.schema) for t in client.list_all_tables()} == {("fixtures", "delta")}


@pytest.mark.parametrize("table", READABLE)
def test_latest_version_matches_deltalake(profile, tables, table):
    shared = delta_sharing.load_as_pandas(url(profile, table))
    assert_same_frame(shared, DeltaTable(str(tables / table)).to_pandas())
    assert delta_sharing.get_table_version(url(profile, table)) == DeltaTable(str(tables / table)).version()


@pytest.mark.parametrize("table,version", [(t, v) for t, vs in READABLE.items() for v in vs])
def test_every_version_matches_deltalake(profile, tables, table, version):
    shared = delta_sharing.load_as_pandas(url(profile, table), version=version)
    reference = DeltaTable(str(tables / table), version=version).to_pandas()
    assert_same_frame(shared, reference)


@pytest.mark.parametrize("table,version", [(t, v) for t, vs in READABLE.items() for v in vs])
def test_timestamp_reads_the_version_current_then(profile, tables, table, version):
    # Thirty seconds after commit `version`, before the next one.
    when = commit_time(version) + timedelta(seconds=30)
    reference_table = DeltaTable(str(tables / table))
    reference_table.load_as_version(when)
    assert reference_table.version() == version, "deltalake disagrees on the version at that time"
    shared = delta_sharing.load_as_pandas(url(profile, table), timestamp=when.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert_same_frame(shared, reference_table.to_pandas())


@pytest.mark.parametrize("table", READABLE)
def test_limit_returns_that_many_of_the_tables_rows(profile, tables, table):
    full = DeltaTable(str(tables / table)).to_pandas()
    limit = max(1, len(full) // 2)
    shared = delta_sharing.load_as_pandas(url(profile, table), limit=limit)
    assert len(shared) == limit
    assert set(rows(shared)) <= set(rows(full))


def test_starting_timestamp_gives_the_first_version_at_or_after_it(profile):
    table = url(profile, "simple_table")
    after_v2 = (commit_time(2) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert delta_sharing.get_table_version(table, starting_timestamp=after_v2) == 3
    exactly_v2 = commit_time(2).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert delta_sharing.get_table_version(table, starting_timestamp=exactly_v2) == 2


def test_metadata_and_schema_are_the_tables(profile, tables):
    for table in READABLE:
        metadata = delta_sharing.get_table_metadata(url(profile, table))
        reference = DeltaTable(str(tables / table))
        assert json.loads(metadata.schema_string) == json.loads(reference.schema().to_json())
        assert list(metadata.partition_columns) == reference.metadata().partition_columns
        assert metadata.id == reference.metadata().id


@pytest.mark.parametrize("table,version", [(t, v) for t, vs in READABLE.items() for v in vs])
def test_delta_response_format_matches_deltalake(profile, tables, table, version):
    shared = delta_sharing.load_as_pandas(url(profile, table), version=version, use_delta_format=True)
    reference = DeltaTable(str(tables / table), version=version).to_pandas()
    assert_same_frame(shared, reference)


@pytest.mark.parametrize("table", DELTA_ONLY)
@pytest.mark.parametrize("use_delta_format", [None, True])
def test_delta_only_tables_read_as_a_deletion_vector_aware_reader_does(profile, tables, table, use_delta_format):
    # None: the connector asks /metadata which format to use and must be told delta.
    shared = delta_sharing.load_as_pandas(url(profile, table), use_delta_format=use_delta_format)
    reference = polars_deltalake.read_delta(str(tables / table)).to_pandas()
    assert_same_frame(shared, reference)


@pytest.mark.parametrize("table,feature", DELTA_ONLY.items())
def test_parquet_only_reads_of_delta_only_tables_are_refused(profile, table, feature):
    with pytest.raises(Exception) as refused:
        delta_sharing.load_as_pandas(url(profile, table), use_delta_format=False)
    message = server_message(refused.value)
    assert "400" in message and "UNSUPPORTED_OPERATION" in message, message
    assert feature in message and "delta response format" in message, message


def test_unknown_version_is_a_clear_400(profile):
    with pytest.raises(Exception) as refused:
        delta_sharing.load_as_pandas(url(profile, "simple_table"), version=99)
    message = server_message(refused.value)
    assert "400" in message and "version 99 does not exist" in message, message


def reference_changes(path, start: int, end: int) -> pd.DataFrame:
    """deltalake's change feed over the same range, in the connector's column order."""
    changes = pa.table(DeltaTable(str(path)).load_cdf(starting_version=start, ending_version=end)).to_pandas()
    # deltalake types the version as unsigned; the protocol's versions are longs.
    return changes.astype({"_commit_version": "int64"})


def assert_same_changes(shared: pd.DataFrame, reference: pd.DataFrame) -> None:
    # Commit timestamps are compared separately: deltalake takes them from commitInfo, the
    # protocol from the commit files' times.
    columns = [c for c in shared.columns if c != "_commit_timestamp"]
    assert sorted(columns) == sorted(c for c in reference.columns if c != "_commit_timestamp")
    assert_same_frame(shared[columns], reference[columns])


@pytest.mark.parametrize("use_delta_format", [None, True])
@pytest.mark.parametrize("start,end", [(0, 3), (1, 3), (2, 2), (0, 0)])
def test_change_feed_matches_deltalake(profile, tables, start, end, use_delta_format):
    shared = delta_sharing.load_table_changes_as_pandas(
        url(profile, "cdf-table"), starting_version=start, ending_version=end, use_delta_format=use_delta_format
    )
    assert_same_changes(shared, reference_changes(tables / "cdf-table", start, end))
    assert set(shared["_commit_version"]) <= set(range(start, end + 1))


def test_change_feed_by_timestamps(profile, tables):
    start = (commit_time(1) - timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (commit_time(2) + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    shared = delta_sharing.load_table_changes_as_pandas(
        url(profile, "cdf-table"), starting_timestamp=start, ending_timestamp=end
    )
    assert_same_changes(shared, reference_changes(tables / "cdf-table", 1, 2))
    expected_ms = {int(commit_time(v).timestamp() * 1000) for v in (1, 2)}
    assert set(shared["_commit_timestamp"].astype("int64")) == expected_ms


def test_change_feed_needs_the_feed_on(profile):
    with pytest.raises(Exception) as refused:
        delta_sharing.load_table_changes_as_pandas(url(profile, "simple_table"), starting_version=0)
    message = server_message(refused.value)
    assert "400" in message and "enableChangeDataFeed" in message, message


# ---------------------------------------------------------------------------------------------
# The same tables through the Iceberg REST catalog (pyiceberg), every shared snapshot


def iceberg_catalog(profile: str):
    from pyiceberg.catalog.rest import RestCatalog

    p = json.loads(open(profile).read())
    return RestCatalog("fixtures", uri=p["endpoint"] + "/iceberg/", token=p["bearerToken"], warehouse="fixtures")


def iceberg_snapshots(profile: str, table: str):
    """(source version, rows as pandas) of every snapshot the catalog serves for `table`."""
    loaded = iceberg_catalog(profile).load_table(f"delta.{share_name(table)}")
    for snapshot in loaded.snapshots():
        version = int(snapshot.summary["lakeshare.source-version"])
        yield version, loaded.scan(snapshot_id=snapshot.snapshot_id).to_arrow()


def as_reference_frame(arrow: pa.Table, reference: pd.DataFrame) -> pd.DataFrame:
    """pyiceberg's rows with deltalake's column order and types where only the reader's
    representation differs (Iceberg has no 8- or 16-bit integers; timestamps come as UTC)."""
    df = arrow.to_pandas()[list(reference.columns)]
    for column in reference.columns:
        want = reference[column].dtype
        if pd.api.types.is_integer_dtype(want) and pd.api.types.is_integer_dtype(df[column].dtype):
            df[column] = df[column].astype(want)
    return df


@pytest.mark.parametrize("table", [*READABLE, *CHANGE_FEED])
def test_iceberg_catalog_reads_every_version_as_deltalake(profile, tables, table):
    versions = {**READABLE, **CHANGE_FEED}[table]
    seen = []
    for version, arrow in iceberg_snapshots(profile, table):
        reference = DeltaTable(str(tables / table), version=version).to_pandas()
        assert_same_frame(as_reference_frame(arrow, reference), reference)
        seen.append(version)
    assert seen == list(versions)


def test_iceberg_catalog_reads_column_mapping_as_the_kernel(profile, tables):
    table = "table_with_column_mapping"
    [*snapshots] = iceberg_snapshots(profile, table)
    version, arrow = snapshots[-1]
    assert version == DeltaTable(str(tables / table)).version()
    reference = polars_deltalake.read_delta(str(tables / table)).to_pandas()
    assert_same_frame(as_reference_frame(arrow, reference), reference)


def test_iceberg_catalog_applies_deletion_vectors_as_position_deletes(profile, tables):
    table = "table-with-dv-small"
    loaded = iceberg_catalog(profile).load_table(f"delta.{table}")
    seen = []
    for snapshot in loaded.snapshots():
        version = int(snapshot.summary["lakeshare.source-version"])
        arrow = loaded.scan(snapshot_id=snapshot.snapshot_id).to_arrow()
        reference = polars_deltalake.read_delta(str(tables / table), version=version).to_pandas()
        assert_same_frame(as_reference_frame(arrow, reference), reference)
        seen.append(version)
    assert seen == [0, 1]
    # Version 1 deleted the values 0 and 9 through a deletion vector, one position delete file.
    current = loaded.current_snapshot()
    assert current.summary["total-position-deletes"] == "2", current.summary
    assert current.summary["total-delete-files"] == "1", current.summary
    assert sorted(loaded.scan().to_arrow().column("value").to_pylist()) == list(range(1, 9))

    # polars plans through pyiceberg and applies the delete file with its own reader.
    options = {k: v for k, v in loaded.io.properties.items() if k.startswith("s3.")}
    got = pl.scan_iceberg(loaded, storage_options=options).collect().to_pandas()
    reference = polars_deltalake.read_delta(str(tables / table)).to_pandas()
    assert_same_frame(as_reference_frame(pa.Table.from_pandas(got), reference), reference)