"""Iceberg tables written by pyiceberg (SqlCatalog on local disk), read through the gateway.

Every snapshot is read with the Python connector and compared with pyiceberg's own
`scan(snapshot_id=…).to_arrow()`. Versions are the snapshots' sequence numbers.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime, timedelta, timezone

import delta_sharing
import pandas as pd
import pyarrow as pa
import pytest
import requests

from conftest import Gateway
from test_delta_fixtures import assert_same_frame, rows

pyiceberg = pytest.importorskip("pyiceberg", reason="pyiceberg is not installed (tests/requirements.txt)")

from pyiceberg.catalog.sql import SqlCatalog  # noqa: E402
from pyiceberg.expressions import EqualTo  # noqa: E402
from pyiceberg.partitioning import PartitionField, PartitionSpec  # noqa: E402
from pyiceberg.schema import Schema  # noqa: E402
from pyiceberg.transforms import DayTransform, IdentityTransform  # noqa: E402
from pyiceberg.types import (  # noqa: E402
    DateType, DoubleType, LongType, NestedField, StringType, StructType, TimestamptzType,
)

TOKEN = "iceberg-recipient-token-000001"
T0 = datetime(2024, 3, 1, tzinfo=timezone.utc)


def orders_batch(ids, city):
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "city": pa.array([city] * len(ids), pa.string()),
        "amount": pa.array([i * 2.5 for i in ids], pa.float64()),
        "ordered_at": pa.array([T0 + timedelta(hours=i) for i in ids], pa.timestamp("us", tz="UTC")),
        "day": pa.array([date(2024, 3, 1) + timedelta(days=i % 3) for i in ids], pa.date32()),
    })


def events_batch(day: int, n: int):
    return pa.table({
        "id": pa.array(range(day * 100, day * 100 + n), pa.int64()),
        "ts": pa.array([T0 + timedelta(days=day, minutes=i) for i in range(n)], pa.timestamp("us", tz="UTC")),
        "kind": pa.array(["click" if i % 2 else "view" for i in range(n)], pa.string()),
    })


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    """A SqlCatalog warehouse with `sales.orders` (identity partitions; append, append, overwrite,
    delete) and `sales.events` (partitioned by day(ts); three appends)."""
    root = tmp_path_factory.mktemp("iceberg")
    catalog = SqlCatalog("default", uri=f"sqlite:///{root}/catalog.db", warehouse=f"file://{root}/wh")
    catalog.create_namespace("sales")
    orders_schema = Schema(
        NestedField(1, "id", LongType(), required=False),
        NestedField(2, "city", StringType(), required=False),
        NestedField(3, "amount", DoubleType(), required=False),
        NestedField(4, "ordered_at", TimestamptzType(), required=False),
        NestedField(5, "day", DateType(), required=False),
    )
    orders = catalog.create_table(
        "sales.orders", schema=orders_schema,
        partition_spec=PartitionSpec(PartitionField(2, 1000, IdentityTransform(), "city")),
        properties={"format-version": "2"},
    )
    orders.append(pa.concat_tables([orders_batch(range(0, 10), "sf"), orders_batch(range(10, 20), "nyc")]))
    orders.append(orders_batch(range(20, 30), "la"))
    orders.overwrite(orders_batch(range(100, 105), "sf"), overwrite_filter=EqualTo("city", "sf"))
    orders.delete(EqualTo("id", 25))
    events_schema = Schema(
        NestedField(1, "id", LongType(), required=False),
        NestedField(2, "ts", TimestamptzType(), required=False),
        NestedField(3, "kind", StringType(), required=False),
    )
    events = catalog.create_table(
        "sales.events", schema=events_schema,
        partition_spec=PartitionSpec(PartitionField(2, 1000, DayTransform(), "ts_day")),
        properties={"format-version": "2"},
    )
    for day in range(3):
        events.append(events_batch(day, 20))
    audit = catalog.create_table("sales.audit", schema=events_schema, properties={"format-version": "2"})
    audit.append(events_batch(0, 5))
    # `geo.shapes`: Iceberg numbers a struct's fields after its siblings (a=1, s=2, b=3, then
    # s.x=4, s.y=5), and a dropped column leaves a gap: ids no depth-first count reproduces.
    catalog.create_namespace("geo")
    shapes = catalog.create_table("geo.shapes", schema=Schema(
        NestedField(1, "a", LongType(), required=False),
        NestedField(2, "s", StructType(
            NestedField(4, "x", LongType(), required=False),
            NestedField(5, "y", LongType(), required=False),
        ), required=False),
        NestedField(3, "b", LongType(), required=False),
    ), properties={"format-version": "2"})
    struct = pa.struct([("x", pa.int64()), ("y", pa.int64())])
    shapes.append(pa.table({
        "a": pa.array([1, 2, 3], pa.int64()),
        "s": pa.array([{"x": 10 * i, "y": 100 * i} for i in (1, 2, 3)], struct),
        "b": pa.array([1000 * i for i in (1, 2, 3)], pa.int64()),
    }))
    with shapes.update_schema() as update:
        update.delete_column("a")
    shapes.append(pa.table({
        "s": pa.array([{"x": 40, "y": 400}], struct),
        "b": pa.array([4000], pa.int64()),
    }))
    # A table whose metadata places it outside the catalog's folder.
    catalog.create_namespace("elsewhere")
    outside = tmp_path_factory.mktemp("outside-the-warehouse")
    escaped = catalog.create_table("elsewhere.escaped", schema=events_schema, location=f"file://{outside}/escaped")
    escaped.append(events_batch(0, 3))
    return {"root": root, "catalog": catalog}


@pytest.fixture(scope="module")
def gateway(warehouse, tmp_path_factory):
    wh = warehouse["root"] / "wh" / "sales"
    metadata_file = sorted((wh / "events" / "metadata").glob("*.metadata.json"))[-1]
    config = f"""
server: {{ listen: "127.0.0.1:{{port}}" }}
shares:
  - name: lake
    schemas:
      - name: sales
        tables:
          - {{ name: orders, location: "{wh / 'orders'}", history: true }}
          - {{ name: events, location: "{wh / 'events'}", format: iceberg, history: true }}
          - {{ name: events_pinned, location: "{metadata_file}" }}
          - {{ name: orders_by_catalog, catalog: lakehouse, table: sales.orders, history: true }}
          - {{ name: audit, catalog: lakehouse, table: sales.audit, history: true }}
          - {{ name: escaped, catalog: lakehouse, table: elsewhere.escaped }}
          - {{ name: shapes, location: "{warehouse['root'] / 'wh' / 'geo' / 'shapes'}", history: true }}
      - name: all_sales
        include:
          - {{ catalog: lakehouse, namespace: sales }}
catalogs:
  - {{ name: lakehouse, kind: iceberg-sql, uri: "sqlite:///{warehouse['root']}/catalog.db", catalog_name: default }}
recipients:
  - {{ name: partner, token: "{TOKEN}", shares: [lake] }}
"""
    work = tmp_path_factory.mktemp("iceberg-gateway")
    gw = Gateway(work, config)
    gw.profile_path = gw.profile(work / "profile.share", TOKEN)
    yield gw
    gw.stop()


def url(gateway, table: str) -> str:
    return f"{gateway.profile_path}#lake.sales.{table}"


def snapshots(table):
    """(version, snapshot id) of the table's snapshots, oldest first."""
    return [(s.sequence_number, s.snapshot_id) for s in sorted(table.snapshots(), key=lambda s: s.sequence_number)]


def pyiceberg_read(table, snapshot_id=None) -> pd.DataFrame:
    return table.scan(snapshot_id=snapshot_id).to_arrow().to_pandas()


@pytest.mark.parametrize("name", ["orders", "events"])
def test_every_snapshot_reads_as_pyiceberg_reads_it(gateway, warehouse, name):
    table = warehouse["catalog"].load_table(f"sales.{name}")
    history = snapshots(table)
    assert len(history) >= 3
    for version, snapshot_id in history:
        shared = delta_sharing.load_as_pandas(url(gateway, name), version=version)
        assert_same_frame(shared, pyiceberg_read(table, snapshot_id))
    latest = delta_sharing.load_as_pandas(url(gateway, name))
    assert_same_frame(latest, pyiceberg_read(table))
    assert delta_sharing.get_table_version(url(gateway, name)) == history[-1][0]


def test_versions_are_sequence_numbers_with_the_snapshot_id_beside_them(gateway, warehouse):
    table = warehouse["catalog"].load_table("sales.orders")
    history = snapshots(table)
    # One commit after another on the main branch: 1, 2, 3, … (pyiceberg's overwrite commits a
    # delete and an append, so there are more snapshots than calls).
    assert [v for v, _ in history] == list(range(1, len(history) + 1))
    assert delta_sharing.get_table_metadata(url(gateway, "orders")).partition_columns == ["city"]
    for version, snapshot_id in history:
        response = requests.get(
            f"{gateway.endpoint}/shares/lake/schemas/sales/tables/orders/metadata?version={version}",
            headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30,
        )
        lines = [json.loads(line) for line in response.text.splitlines()]
        configuration = lines[1]["metaData"]["configuration"]
        assert configuration["iceberg.snapshot-id"] == str(snapshot_id)


def test_a_metadata_file_location_pins_that_metadata(gateway, warehouse):
    table = warehouse["catalog"].load_table("sales.events")
    shared = delta_sharing.load_as_pandas(url(gateway, "events_pinned"))
    assert_same_frame(shared, pyiceberg_read(table))


def test_time_travel_by_timestamp(gateway, warehouse):
    table = warehouse["catalog"].load_table("sales.orders")
    first = sorted(table.snapshots(), key=lambda s: s.sequence_number)[0]
    at = datetime.fromtimestamp(first.timestamp_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    shared = delta_sharing.load_as_pandas(url(gateway, "orders"), timestamp=at)
    assert_same_frame(shared, pyiceberg_read(table, first.snapshot_id))


def query_files(gateway, table: str, hint: dict | None = None) -> list[dict]:
    body = {"jsonPredicateHints": json.dumps(hint)} if hint else {}
    response = requests.post(
        f"{gateway.endpoint}/shares/lake/schemas/sales/tables/{table}/query",
        json=body, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60,
    )
    assert response.status_code == 200, response.text
    return [json.loads(line)["file"] for line in response.text.splitlines() if "file" in json.loads(line)]


def test_identity_partitions_become_partition_values(gateway):
    files = query_files(gateway, "orders")
    assert {f["partitionValues"]["city"] for f in files} == {"sf", "nyc", "la"}
    hint = {"op": "equal", "children": [
        {"op": "column", "name": "city", "valueType": "string"},
        {"op": "literal", "value": "la", "valueType": "string"},
    ]}
    pruned = query_files(gateway, "orders", hint)
    assert pruned and {f["partitionValues"]["city"] for f in pruned} == {"la"}


def test_day_partitions_prune_through_column_bounds(gateway, warehouse):
    everything = query_files(gateway, "events")
    day = T0 + timedelta(days=1)
    hint = {"op": "and", "children": [
        {"op": "greaterThanOrEqual", "children": [
            {"op": "column", "name": "ts", "valueType": "timestamp"},
            {"op": "literal", "value": day.strftime("%Y-%m-%dT%H:%M:%SZ"), "valueType": "timestamp"}]},
        {"op": "lessThan", "children": [
            {"op": "column", "name": "ts", "valueType": "timestamp"},
            {"op": "literal", "value": (day + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"), "valueType": "timestamp"}]},
    ]}
    pruned = query_files(gateway, "events", hint)
    assert len(everything) == 3 and len(pruned) == 1, (len(everything), len(pruned))
    # The file returned holds exactly that day's rows.
    shared = delta_sharing.load_as_pandas(url(gateway, "events"), jsonPredicateHints=json.dumps(hint))
    assert len(shared) == 20
    assert set(pd.to_datetime(shared["ts"], utc=True).dt.date) == {day.date()}


def multiset(df: pd.DataFrame) -> Counter:
    return Counter(rows(df))


@pytest.mark.parametrize("start_index", [0, 1, 2])
def test_change_feed_adds_and_removes_files(gateway, warehouse, start_index):
    table = warehouse["catalog"].load_table("sales.orders")
    history = snapshots(table)
    start, end = history[start_index][0], history[-1][0]
    changes = delta_sharing.load_table_changes_as_pandas(url(gateway, "orders"), starting_version=start, ending_version=end)
    data_columns = ["id", "city", "amount", "ordered_at", "day"]
    inserted = changes[changes["_change_type"] == "insert"][data_columns]
    deleted = changes[changes["_change_type"] == "delete"][data_columns]
    assert set(changes["_commit_version"]) <= {v for v, _ in history[start_index:]}
    # The net effect of the feed from `start` is the difference between the table before
    # `start` and at `end` (files rewritten whole show their unchanged rows on both sides).
    before = pyiceberg_read(table, history[start_index - 1][1]) if start_index else pyiceberg_read(table, history[0][1]).iloc[0:0]
    after = pyiceberg_read(table, history[-1][1])
    net_added = multiset(inserted) - multiset(deleted)
    net_removed = multiset(deleted) - multiset(inserted)
    assert net_added == multiset(after[data_columns]) - multiset(before[data_columns])
    assert net_removed == multiset(before[data_columns]) - multiset(after[data_columns])


def test_sql_catalog_tables_read_as_pyiceberg_reads_them(gateway, warehouse):
    table = warehouse["catalog"].load_table("sales.orders")
    for version, snapshot_id in snapshots(table):
        shared = delta_sharing.load_as_pandas(url(gateway, "orders_by_catalog"), version=version)
        assert_same_frame(shared, pyiceberg_read(table, snapshot_id))


def test_new_commits_in_the_catalog_appear_without_a_restart(gateway, warehouse):
    before = delta_sharing.get_table_version(url(gateway, "audit"))
    assert len(delta_sharing.load_as_pandas(url(gateway, "audit"))) == 5
    table = warehouse["catalog"].load_table("sales.audit")
    table.append(events_batch(1, 7))
    assert delta_sharing.get_table_version(url(gateway, "audit")) == before + 1
    shared = delta_sharing.load_as_pandas(url(gateway, "audit"))
    assert_same_frame(shared, pyiceberg_read(warehouse["catalog"].load_table("sales.audit")))
    assert len(shared) == 12


def test_an_included_namespace_shares_every_table(gateway, warehouse):
    client = delta_sharing.SharingClient(gateway.profile_path)
    names = {t.name for t in client.list_all_tables() if t.schema == "all_sales"}
    assert names == {"orders", "events", "audit"}
    shared = delta_sharing.load_as_pandas(f"{gateway.profile_path}#lake.all_sales.orders")
    assert_same_frame(shared, pyiceberg_read(warehouse["catalog"].load_table("sales.orders")))
    # Included without history: the current snapshot only.
    with pytest.raises(Exception) as refused:
        delta_sharing.load_as_pandas(f"{gateway.profile_path}#lake.all_sales.orders", version=1)
    assert "history" in str(refused.value).lower()


def test_a_table_placed_outside_the_catalog_folder_is_refused(gateway):
    response = requests.post(
        f"{gateway.endpoint}/shares/lake/schemas/sales/tables/escaped/query",
        json={}, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30,
    )
    assert response.status_code == 400, response.text
    assert "outside" in response.json()["message"]


def test_unknown_versions_name_the_range(gateway, warehouse):
    with pytest.raises(Exception) as refused:
        delta_sharing.load_as_pandas(url(gateway, "orders"), version=99)
    assert "version 99 does not exist" in str(refused.value)


def test_the_iceberg_catalog_keeps_the_field_ids_iceberg_files_carry(gateway, warehouse):
    """Served through the gateway's Iceberg catalog (generated metadata: the table is on the
    gateway's disk), every snapshot reads as pyiceberg reads the table itself: columns are
    matched by the ids in the files, so a wrong id would read `b` from `s.y`."""
    from pyiceberg.catalog.rest import RestCatalog

    native = warehouse["catalog"].load_table("geo.shapes")
    shared = RestCatalog("lake", uri=f"{gateway.endpoint}/iceberg/", token=TOKEN, warehouse="lake")
    loaded = shared.load_table("sales.shapes")
    assert len(loaded.snapshots()) == len(native.snapshots()) == 2
    for ours, theirs in zip(snapshots(loaded), snapshots(native)):
        got = loaded.scan(snapshot_id=ours[1]).to_arrow()
        want = native.scan(snapshot_id=theirs[1]).to_arrow()
        key = lambda row: row["b"]  # noqa: E731
        assert sorted(got.to_pylist(), key=key) == sorted(want.to_pylist(), key=key), ours
    current = {f.name: f.field_id for f in loaded.schema().fields}
    assert current == {"s": 2, "b": 3}
