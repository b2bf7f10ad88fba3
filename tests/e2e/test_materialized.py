"""Materialized shares: a filter over data columns, a column subset (one renamed) and a
two-table join view, computed by the gateway into its `cache:` and served like any table.

Reads through the connector and pyiceberg must equal polars running the same SQL over the
format's own reads of the sources, at every source version; a new commit to a source must give
a new materialized version without a restart, and the view's change feed must be the
difference of its versions. The recipient of the derived share must find no way to the
sources' files, rows or columns.
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import subprocess
import time
from collections import Counter
from datetime import date, datetime, timezone
from decimal import Decimal
from urllib.parse import urlsplit

import delta_sharing
import deltalake
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import requests
from pyiceberg.catalog.rest import RestCatalog

from conftest import Gateway, lakeshare_bin, ndjson

SOURCE = "materialized-source-0123456789"
DERIVED = "materialized-derived-012345678"
FARES = "fare > 20 AND payment = 'card'"
SLIM = "SELECT trip_id, vendor, fare AS fare_usd FROM trips"
VIEW = (
    "SELECT v.vendor_name, count(*) AS trips, sum(t.fare) AS fares FROM {trips} t "
    "JOIN {vendors} v ON t.vendor = v.vendor GROUP BY v.vendor_name"
)
# The reference SQL of each derived table, over tables named trips and vendors.
REFERENCE = {
    "big_fares": f"SELECT * FROM trips WHERE {FARES}",
    "slim": SLIM,
    "by_vendor": VIEW.format(trips="trips", vendors="vendors"),
}
VENDORS = {"vendor": ["CMT", "VTS", "DDS"], "vendor_name": ["Creative Mobile", "VeriFone", "Digital Dispatch"]}


@pytest.fixture(scope="module")
def gateway(demo, tmp_path_factory):
    work = tmp_path_factory.mktemp("materialized")
    trips = work / "trips"
    shutil.copytree(demo / "data" / "delta" / "trips", trips)
    vendors = work / "vendors"
    deltalake.write_deltalake(str(vendors), pa.table(VENDORS))
    view = VIEW.format(trips="src.d.trips", vendors="src.d.vendors")
    config = f"""
server: {{ listen: "127.0.0.1:{{port}}" }}
cache: {{ location: "{work / 'cache'}" }}
shares:
  - name: src
    schemas:
      - name: d
        tables:
          - {{ name: trips, location: "{trips}", history: true }}
          - {{ name: vendors, location: "{vendors}", history: true }}
  - name: derived
    schemas:
      - name: d
        tables:
          - {{ name: big_fares, location: "{trips}", history: true, filter: "{FARES}" }}
          - {{ name: slim, location: "{trips}", history: true, columns: [trip_id, vendor, {{ name: fare, as: fare_usd }}] }}
          - {{ name: by_vendor, history: true, view: "{view}" }}
recipients:
  - {{ name: provider, token: "{SOURCE}", shares: [src] }}
  - {{ name: partner, token: "{DERIVED}", shares: [derived] }}
"""
    gw = Gateway(work / "gw", config)
    gw.work, gw.trips, gw.vendors = work, trips, vendors
    gw.profile_path = gw.profile(work / "derived.share", DERIVED)
    for table in REFERENCE:
        wait_for_version(gw, table, 0)
    yield gw
    gw.stop()


def post(gw, token: str, path: str, body: dict | None = None, headers: dict | None = None) -> requests.Response:
    return requests.post(f"{gw.endpoint}/{path}", json=body or {}, timeout=120,
                         headers={"Authorization": f"Bearer {token}", **(headers or {})})


def latest_version(gw, table: str) -> int | None:
    response = requests.get(f"{gw.endpoint}/shares/derived/schemas/d/tables/{table}/version",
                            headers={"Authorization": f"Bearer {DERIVED}"}, timeout=60)
    if response.status_code == 503:
        assert response.headers.get("Retry-After"), response.headers
        return None
    assert response.status_code == 200, response.text
    return int(response.headers["delta-table-version"])


def wait_for_version(gw, table: str, at_least: int, timeout: float = 180) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        version = latest_version(gw, table)
        if version is not None and version >= at_least:
            return version
        time.sleep(0.5)
    raise AssertionError(f"{table} never reached version {at_least}")


def canon(frame: pd.DataFrame) -> tuple[list[str], list[tuple]]:
    """Column names and rows, in one form whatever reader made them: times as UTC instants,
    decimals and floats as rounded floats, missing values as None."""
    def missing(x):
        return x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NaT

    columns = {}
    for name in frame.columns:
        col = frame[name]
        present = col.dropna()
        first = present.iloc[0] if len(present) else None
        if pd.api.types.is_datetime64_any_dtype(col) or isinstance(first, (date, datetime)):
            col = pd.to_datetime(col, utc=True).map(lambda t: None if pd.isna(t) else t.isoformat())
        elif pd.api.types.is_float_dtype(col) or isinstance(first, Decimal):
            col = col.map(lambda x: None if missing(x) else round(float(x), 6))
        else:
            col = col.map(lambda x: None if missing(x) else x)
        columns[name] = list(col)
    names = sorted(frame.columns)
    return names, sorted(zip(*[columns[n] for n in names]), key=repr)


def same_rows(got: pd.DataFrame, want: pd.DataFrame, what: str) -> None:
    got_names, got_rows = canon(got)
    want_names, want_rows = canon(want)
    assert got_names == want_names, f"{what}: columns {got_names} != {want_names}"
    assert len(got_rows) == len(want_rows), f"{what}: {len(got_rows)} rows != {len(want_rows)}"
    assert got_rows == want_rows, f"{what}: rows differ"


def reference(gw, table: str, trips_version: int | None = None, vendors_version: int | None = None) -> pd.DataFrame:
    """The derived table computed by polars from deltalake's own reads of the sources."""
    trips = pl.from_arrow(deltalake.DeltaTable(str(gw.trips), version=trips_version).to_pyarrow_table())
    vendors = pl.from_arrow(deltalake.DeltaTable(str(gw.vendors), version=vendors_version).to_pyarrow_table())
    return pl.SQLContext(trips=trips, vendors=vendors).execute(REFERENCE[table]).collect().to_pandas()


def commit_times(table) -> list[tuple[int, int]]:
    """A Delta table's commits as (version, commit time in ms): its log files' times, as the
    gateway reads them."""
    log = table / "_delta_log"
    return sorted((int(p.stem), p.stat().st_mtime_ns // 1_000_000) for p in log.glob("*.json"))


def view_history(gw) -> list[tuple[dict, int]]:
    """What each version of by_vendor is computed from, and its commit time: the sources as
    they stood at each moment one of them committed (once both have a version), leaving out
    the moments that did not change the view's result."""
    moments = sorted([(ms, "trips", v) for v, ms in commit_times(gw.trips)]
                     + [(ms, "vendors", v) for v, ms in commit_times(gw.vendors)])
    history, at, last = [], {}, None
    for i, (ms, name, version) in enumerate(moments):
        at[name] = version
        if len(at) < 2 or (i + 1 < len(moments) and moments[i + 1][0] == ms):
            continue
        rows = canon(reference(gw, "by_vendor", trips_version=at["trips"], vendors_version=at["vendors"]))
        if rows != last:
            history.append((dict(at), ms))
            last = rows
    return history


def view_reference(gw, history: list[tuple[dict, int]], version: int) -> pd.DataFrame:
    """by_vendor's version `version` computed by polars, `history` being `view_history(gw)`."""
    sources, _ = history[version]
    return reference(gw, "by_vendor", trips_version=sources["trips"], vendors_version=sources["vendors"])


def catalog(gw) -> RestCatalog:
    return RestCatalog("derived", uri=f"{gw.endpoint}/iceberg/", token=DERIVED, warehouse="derived")


# ---------------------------------------------------------------------------------------------
# Reads equal the same SQL over the native reads


@pytest.mark.parametrize("table", ["big_fares", "slim"])
def test_connector_reads_equal_the_sql_at_every_source_version(gateway, table):
    source_versions = deltalake.DeltaTable(str(gateway.trips)).version()
    # Every commit of the demo's trips changes both results, so materialized version v is
    # source version v.
    assert wait_for_version(gateway, table, source_versions) == source_versions
    for version in range(source_versions + 1):
        want = reference(gateway, table, trips_version=version)
        assert 0 < len(want)
        got = delta_sharing.load_as_pandas(f"{gateway.profile_path}#derived.d.{table}", version=version)
        same_rows(got, want, f"{table} version {version}")
    got = delta_sharing.load_as_pandas(f"{gateway.profile_path}#derived.d.{table}", use_delta_format=True)
    same_rows(got, want, f"{table} latest, delta format")


def test_the_join_view_reads_equal_the_sql(gateway):
    got = delta_sharing.load_as_pandas(f"{gateway.profile_path}#derived.d.by_vendor")
    want = reference(gateway, "by_vendor")
    assert len(want) == 3
    same_rows(got, want, "by_vendor")


@pytest.mark.parametrize("table", ["big_fares", "slim", "by_vendor"])
def test_pyiceberg_reads_equal_the_sql(gateway, table):
    loaded = catalog(gateway).load_table(f"d.{table}")
    snapshots = loaded.snapshots()
    assert snapshots
    history = view_history(gateway) if table == "by_vendor" else None
    for snapshot in snapshots:
        version = int(snapshot.summary["lakeshare.source-version"])
        if table == "by_vendor":
            want = view_reference(gateway, history, version)
        else:
            want = reference(gateway, table, trips_version=version)
        got = loaded.scan(snapshot_id=snapshot.snapshot_id).to_pandas()
        same_rows(got, want, f"{table} version {version} through pyiceberg")


def test_the_column_subset_shows_only_its_columns_everywhere(gateway):
    lines = ndjson(post(gateway, DERIVED, "shares/derived/schemas/d/tables/slim/query", {}))
    meta = next(line["metaData"] for line in lines if "metaData" in line)
    fields = [f["name"] for f in json.loads(meta["schemaString"])["fields"]]
    assert fields == ["trip_id", "vendor", "fare_usd"]
    loaded = catalog(gateway).load_table("d.slim")
    assert [f.name for f in loaded.schema().fields] == ["trip_id", "vendor", "fare_usd"]
    for line in lines:
        if "file" in line:
            data = requests.get(line["file"]["url"], timeout=60)
            assert data.status_code == 200
            assert pq.read_table(io.BytesIO(data.content)).column_names == ["trip_id", "vendor", "fare_usd"]


def test_every_byte_of_the_filtered_table_satisfies_the_filter(gateway):
    lines = ndjson(post(gateway, DERIVED, "shares/derived/schemas/d/tables/big_fares/query", {}))
    files = [line["file"] for line in lines if "file" in line]
    assert files
    for entry in files:
        rows = pq.read_table(io.BytesIO(requests.get(entry["url"], timeout=60).content)).to_pandas()
        assert len(rows) and (rows["fare"].map(float) > 20).all() and (rows["payment"] == "card").all()


# ---------------------------------------------------------------------------------------------
# New source versions, and the change feed


def test_a_new_source_commit_makes_new_versions_and_the_feed_is_their_difference(gateway):
    before = {table: wait_for_version(gateway, table, 0) for table in REFERENCE}
    old_view = delta_sharing.load_as_pandas(f"{gateway.profile_path}#derived.d.by_vendor")
    # One vendor renamed, and new card trips over 20: every derived table changes.
    renamed = dict(VENDORS, vendor_name=["Creative Mobile Technologies", "VeriFone", "Digital Dispatch"])
    deltalake.write_deltalake(str(gateway.vendors), pa.table(renamed), mode="overwrite")
    first = deltalake.DeltaTable(str(gateway.trips)).to_pyarrow_table().slice(0, 200)
    card = pc.and_(pc.greater(pc.cast(first["fare"], pa.float64()), 20), pc.equal(first["payment"], "card"))
    extra = first.filter(card)
    extra = extra.set_column(0, "trip_id", pc.add(extra["trip_id"], 10_000_000))
    deltalake.write_deltalake(str(gateway.trips), extra, mode="append")
    # The view has a version for each of the two commits (`view_history`), the others one
    # for the single one to trips.
    expected = {"big_fares": before["big_fares"] + 1, "slim": before["slim"] + 1,
                "by_vendor": len(view_history(gateway)) - 1}
    assert expected["by_vendor"] == before["by_vendor"] + 2
    for table in REFERENCE:
        version = wait_for_version(gateway, table, expected[table])
        got = delta_sharing.load_as_pandas(f"{gateway.profile_path}#derived.d.{table}", version=version)
        same_rows(got, reference(gateway, table), f"{table} after the new commit")
    # The view's feed over its new versions nets to exactly what changed.
    latest = latest_version(gateway, "by_vendor")
    new_view = delta_sharing.load_as_pandas(f"{gateway.profile_path}#derived.d.by_vendor", version=latest)
    old_rows, new_rows = Counter(canon(old_view)[1]), Counter(canon(new_view)[1])
    changes = delta_sharing.load_table_changes_as_pandas(
        f"{gateway.profile_path}#derived.d.by_vendor", starting_version=before["by_vendor"] + 1, ending_version=latest)
    kinds = changes.pop("_change_type")
    changes = changes.drop(columns=[c for c in changes.columns if c.startswith("_")])
    deleted = Counter(canon(changes[kinds.values == "delete"])[1])
    inserted = Counter(canon(changes[kinds.values == "insert"])[1])
    assert deleted - inserted == old_rows - new_rows and inserted - deleted == new_rows - old_rows
    assert deleted - inserted and inserted - deleted


def test_the_view_has_a_version_for_every_moment_a_source_changed_it(gateway):
    """Commits to the view's two sources, interleaved, one of them not changing its result:
    the view has one version per moment that changed it, each equal to the SQL over the
    sources as they stood then (through the connector, by version and by timestamp, and
    through pyiceberg), and the feed of each version is its difference from the one before."""
    before = wait_for_version(gateway, "by_vendor", 0)
    trips = deltalake.DeltaTable(str(gateway.trips)).to_pyarrow_table()
    for i, commit in enumerate([
        lambda: deltalake.write_deltalake(str(gateway.trips), trips.slice(500, 40), mode="append"),
        lambda: deltalake.write_deltalake(str(gateway.vendors), pa.table(VENDORS), mode="overwrite"),
        # A vendor no trip has: the join, so the view, is unchanged.
        lambda: deltalake.write_deltalake(
            str(gateway.vendors), pa.table({"vendor": ["XYZ"], "vendor_name": ["Nobody"]}), mode="append"),
        lambda: deltalake.write_deltalake(str(gateway.trips), trips.slice(600, 70), mode="append"),
    ]):
        commit()
        time.sleep(0.05)
    history = view_history(gateway)
    latest = len(history) - 1
    # Four commits, of which three change the result.
    assert latest == before + 3, history
    assert wait_for_version(gateway, "by_vendor", latest) == latest
    url = f"{gateway.profile_path}#derived.d.by_vendor"
    for version, (sources, ms) in enumerate(history):
        want = view_reference(gateway, history, version)
        same_rows(delta_sharing.load_as_pandas(url, version=version), want, f"by_vendor version {version} ({sources})")
        when = datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        same_rows(delta_sharing.load_as_pandas(url, timestamp=when), want, f"by_vendor at {when}")
        if version == 0:
            continue
        changes = delta_sharing.load_table_changes_as_pandas(url, starting_version=version, ending_version=version)
        kinds = changes.pop("_change_type")
        changes = changes.drop(columns=[c for c in changes.columns if c.startswith("_")])
        old_rows, new_rows = Counter(canon(view_reference(gateway, history, version - 1))[1]), Counter(canon(want)[1])
        assert Counter(canon(changes[kinds.values == "delete"])[1]) == old_rows - new_rows, version
        assert Counter(canon(changes[kinds.values == "insert"])[1]) == new_rows - old_rows, version
    loaded = catalog(gateway).load_table("d.by_vendor")
    shown = sorted(int(s.summary["lakeshare.source-version"]) for s in loaded.snapshots())
    assert shown == list(range(latest + 1))
    for snapshot in loaded.snapshots():
        version = int(snapshot.summary["lakeshare.source-version"])
        got = loaded.scan(snapshot_id=snapshot.snapshot_id).to_pandas()
        same_rows(got, view_reference(gateway, history, version), f"by_vendor version {version} through pyiceberg")


def metric(gw, name: str, labels: str = "") -> float:
    """The gateway's value of `name` now, summed over the series whose labels contain `labels`."""
    text = requests.get(gw.endpoint.rsplit("/delta-sharing", 1)[0] + "/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        if (line.startswith(name + "{") or line.startswith(name + " ")) and labels in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def written_commits(gw) -> list[list[dict]]:
    """The actions of the latest commit of every table the gateway wrote into its cache."""
    latest = []
    for log in sorted((gw.work / "cache" / "materialized").glob("*/_delta_log")):
        last = sorted(log.glob("*.json"))[-1]
        latest.append([json.loads(line) for line in last.read_text().splitlines() if line.strip()])
    return latest


def test_an_append_to_the_source_is_computed_from_the_appended_rows_alone(gateway):
    """The filter and the column subset work row by row: after the source only appended rows,
    their new version is computed from those rows and appended to the written table (no file
    of it rewritten), and reads and the feed still equal the SQL. The view (a join and an
    aggregate) is computed in full."""
    # Both follow trips: caught up, they stand at its version.
    source = deltalake.DeltaTable(str(gateway.trips)).version()
    before = {table: wait_for_version(gateway, table, source) for table in ("big_fares", "slim")}
    appended_before = metric(gateway, "lakeshare_materialized_versions_total", 'how="append"')
    old = deltalake.DeltaTable(str(gateway.trips)).to_pyarrow_table()
    extra = old.slice(200, 300)
    extra = extra.set_column(0, "trip_id", pc.add(extra["trip_id"], 20_000_000))
    deltalake.write_deltalake(str(gateway.trips), extra, mode="append")
    for table in ("big_fares", "slim"):
        version = wait_for_version(gateway, table, before[table] + 1)
        got = delta_sharing.load_as_pandas(f"{gateway.profile_path}#derived.d.{table}", version=version)
        same_rows(got, reference(gateway, table), f"{table} after an append")
        # The feed of that version holds exactly the new rows, all inserts.
        changes = delta_sharing.load_table_changes_as_pandas(
            f"{gateway.profile_path}#derived.d.{table}", starting_version=version, ending_version=version)
        assert set(changes["_change_type"]) == {"insert"}, changes["_change_type"].value_counts()
        new = pl.SQLContext(trips=pl.from_arrow(extra)).execute(REFERENCE[table]).collect().to_pandas()
        same_rows(changes.drop(columns=[c for c in changes.columns if c.startswith("_")]), new,
                  f"{table}'s feed of the append")
    assert metric(gateway, "lakeshare_materialized_versions_total", 'how="append"') >= appended_before + 2
    appends = [c for c in written_commits(gateway)
               if any("add" in a for a in c) and not any("remove" in a for a in c)]
    assert len(appends) >= 2, "no written table's latest commit only added files"
    # Progress is observable: nothing is left to compute once the tables are up to date.
    assert metric(gateway, "lakeshare_materialize_pending_versions") == 0
    assert metric(gateway, "lakeshare_materialized_rows_total") > 0


def test_a_table_without_history_keeps_only_what_its_latest_version_reads(demo, tmp_path):
    """Files of versions a table shared without its history never serves again are deleted
    from the cache once the URLs signed for them have expired (twice url_ttl here), and the
    latest version still reads whole; the log stays."""
    trips = tmp_path / "trips"
    shutil.copytree(demo / "data" / "delta" / "trips", trips)
    config = f"""
server: {{ listen: "127.0.0.1:{{port}}", url_ttl_seconds: 1 }}
cache: {{ location: "{tmp_path / 'cache'}" }}
shares:
  - name: derived
    schemas:
      - name: d
        tables:
          - {{ name: big_fares, location: "{trips}", filter: "{FARES}" }}
recipients:
  - {{ name: partner, token: "{DERIVED}", shares: [derived] }}
"""
    gw = Gateway(tmp_path / "gw", config)
    gw.trips, gw.vendors = trips, tmp_path / "none"
    try:
        profile = gw.profile(tmp_path / "p.share", DERIVED)
        first = wait_for_version(gw, "big_fares", 0)
        folder = next((tmp_path / "cache" / "materialized").iterdir())
        files_of_first = {p.name for p in folder.glob("*.parquet")}
        assert files_of_first
        # A rewrite of the source (not an append): the next version replaces every file.
        table = deltalake.DeltaTable(str(trips)).to_pyarrow_table()
        deltalake.write_deltalake(str(trips), table.slice(0, table.num_rows // 2), mode="overwrite")
        latest = wait_for_version(gw, "big_fares", first + 1)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and files_of_first & {p.name for p in folder.glob("*.parquet")}:
            latest_version(gw, "big_fares")  # reads start the refresh that deletes them
            time.sleep(0.5)
        left = {p.name for p in folder.glob("*.parquet")}
        assert not files_of_first & left, "the replaced version's files are still there"
        # Two written versions (a table without history computes only the source's latest),
        # both still in the log.
        assert left and len(list((folder / "_delta_log").glob("*.json"))) == 2
        assert latest_version(gw, "big_fares") == latest
        got = delta_sharing.load_as_pandas(f"{profile}#derived.d.big_fares")
        want = pl.SQLContext(trips=pl.from_arrow(deltalake.DeltaTable(str(trips)).to_pyarrow_table())) \
            .execute(REFERENCE["big_fares"]).collect().to_pandas()
        same_rows(got, want, "the latest version after eviction")
        assert metric(gw, "lakeshare_materialize_evicted_files_total") >= len(files_of_first)
    finally:
        gw.stop()


def parquet_bytes(folder) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*.parquet"))


def written_folders(cache) -> dict:
    """The folder of each computed table under `cache`, by table: the column subset is the one
    whose schema has fare_usd."""
    folders = {}
    for folder in (cache / "materialized").iterdir():
        first = (folder / "_delta_log" / f"{0:020}.json").read_text()
        folders["slim" if "fare_usd" in first else "big_fares"] = folder
    return folders


def readable_versions(gw, table: str, latest: int) -> list[int]:
    """The versions of `table` a query reads; every other one is refused with a 400 that names
    the versions there are."""
    readable = []
    for version in range(latest + 1):
        response = post(gw, DERIVED, f"shares/derived/schemas/d/tables/{table}/query", {"version": version})
        if response.status_code == 200:
            readable.append(version)
            continue
        assert response.status_code == 400, response.text
        message = response.json()["message"]
        assert f"version {version} does not exist" in message and f"to {latest}" in message, message
    return readable


def test_budgets_drop_the_oldest_versions_and_then_their_files(demo, tmp_path):
    """The cache's `budget` and a table's `cache_budget`: over it, the oldest versions of
    tables shared with their history are dropped (across tables, oldest commit first), refused
    from then on by every endpoint with a 400 naming the versions there are, and their files
    deleted once the URLs signed for them expired; what stays reads as the SQL over the
    source at that version, the latest always stays, and a restart keeps what was dropped
    (the cache's folders do not move when a budget changes)."""
    trips = tmp_path / "trips"
    shutil.copytree(demo / "data" / "delta" / "trips", trips)
    whole = deltalake.DeltaTable(str(trips)).to_pyarrow_table()
    rows = whole.num_rows
    for i in range(4):  # rewrites, each version's files replacing the last's
        deltalake.write_deltalake(str(trips), whole.slice(i * rows // 5, rows // 2), mode="overwrite")
    latest = deltalake.DeltaTable(str(trips)).version()
    cache = tmp_path / "cache"

    def start(name: str, cache_budget: str = "", slim_budget: str = "") -> Gateway:
        config = f"""
server: {{ listen: "127.0.0.1:{{port}}", url_ttl_seconds: 1 }}
cache: {{ location: "{cache}"{cache_budget} }}
shares:
  - name: derived
    schemas:
      - name: d
        tables:
          - {{ name: big_fares, location: "{trips}", history: true, filter: "{FARES}" }}
          - {{ name: slim, location: "{trips}", history: true, columns: [trip_id, vendor, {{ name: fare, as: fare_usd }}]{slim_budget} }}
recipients:
  - {{ name: partner, token: "{DERIVED}", shares: [derived] }}
"""
        gw = Gateway(tmp_path / name, config)
        gw.profile_path = gw.profile(tmp_path / f"{name}.share", DERIVED)
        return gw

    def reads_as_the_sql(gw, table: str, versions: list[int]) -> None:
        for version in versions:
            got = delta_sharing.load_as_pandas(f"{gw.profile_path}#derived.d.{table}", version=version)
            source = pl.from_arrow(deltalake.DeltaTable(str(trips), version=version).to_pyarrow_table())
            want = pl.SQLContext(trips=source).execute(REFERENCE[table]).collect().to_pandas()
            same_rows(got, want, f"{table} at version {version}")

    def settle(gw, within) -> None:
        """Reads (which start the refreshes that evict) until `within()` holds."""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not within():
            for table in ("big_fares", "slim"):
                latest_version(gw, table)
            time.sleep(0.5)
        assert within(), {t: parquet_bytes(f) for t, f in written_folders(cache).items()}

    # Unbounded: every version of both is kept.
    gw = start("unbounded")
    try:
        for table in ("big_fares", "slim"):
            wait_for_version(gw, table, latest)
            assert readable_versions(gw, table, latest) == list(range(latest + 1)), table
    finally:
        gw.stop()
    folders = written_folders(cache)
    unbounded = {table: parquet_bytes(folder) for table, folder in folders.items()}

    # The cache's budget, half of what both take: oldest versions go, across the two tables.
    budget = (unbounded["big_fares"] + unbounded["slim"]) // 2
    gw = start("shared", cache_budget=f", budget: {budget}")
    try:
        settle(gw, lambda: sum(parquet_bytes(f) for f in folders.values()) <= budget)
        assert written_folders(cache) == folders, "a budget moved a table to another folder"
        kept = {}
        for table in ("big_fares", "slim"):
            kept[table] = readable_versions(gw, table, latest)
            assert kept[table] and kept[table] == list(range(kept[table][0], latest + 1)), kept
            reads_as_the_sql(gw, table, kept[table])
            # The change feed and the Iceberg catalog know only what stays.
            first = kept[table][0]
            if first > 0:
                response = requests.get(
                    f"{gw.endpoint}/shares/derived/schemas/d/tables/{table}/changes",
                    params={"startingVersion": first - 1, "endingVersion": latest},
                    headers={"Authorization": f"Bearer {DERIVED}"}, timeout=60)
                assert response.status_code == 400, response.text
                assert f"versions {first} to {latest}" in response.json()["message"]
            changes = delta_sharing.load_table_changes_as_pandas(
                f"{gw.profile_path}#derived.d.{table}", starting_version=first, ending_version=latest)
            assert set(changes["_commit_version"]) <= set(kept[table])
            snapshots = catalog(gw).load_table(f"d.{table}").snapshots()
            assert len(snapshots) == len(kept[table]), (table, len(snapshots), kept[table])
        dropped = sum(latest + 1 - len(v) for v in kept.values())
        assert dropped >= 1 and all(len(v) < latest + 1 for v in kept.values()), kept
        assert metric(gw, "lakeshare_materialize_dropped_versions_total") == dropped
        used = metric(gw, "lakeshare_materialize_cache_budget_used_bytes")
        assert 0 < used <= budget, used
        assert metric(gw, "lakeshare_materialize_over_budget_total") == 0
        log = (tmp_path / "shared" / "lakeshare.log").read_text()
        assert "dropped the oldest versions" in log and str(tmp_path) not in log
    finally:
        gw.stop()

    # A table's own budget, smaller than its latest version: only that is kept, and the table
    # is reported over budget; the other keeps what it kept across the restart.
    gw = start("own", slim_budget=", cache_budget: 1 KiB")
    try:
        settle(gw, lambda: readable_versions(gw, "slim", latest) == [latest])
        reads_as_the_sql(gw, "slim", [latest])
        assert readable_versions(gw, "big_fares", latest) == kept["big_fares"]
        assert metric(gw, "lakeshare_materialize_over_budget_total") >= 1
        settle(gw, lambda: parquet_bytes(folders["slim"]) == only_the_latest(folders["slim"]))
    finally:
        gw.stop()


def only_the_latest(folder) -> int:
    """What the written table at `folder` takes with only its latest version left: that
    version's files, and the files and change data its own commit replaced (they go with the
    next version dropped)."""
    last = sorted((folder / "_delta_log").glob("*.json"))[-1]
    actions = [json.loads(line) for line in last.read_text().splitlines() if line.strip()]
    read = sum(os.path.getsize(urlsplit(uri).path) for uri in deltalake.DeltaTable(str(folder)).file_uris())
    return read + sum(a["remove"].get("size", 0) for a in actions if "remove" in a) + \
        sum(a["cdc"]["size"] for a in actions if "cdc" in a)


# ---------------------------------------------------------------------------------------------
# Nothing of the sources reachable


def test_the_derived_recipient_reaches_nothing_of_the_sources(gateway):
    # Not the source share, whatever the token.
    assert post(gateway, DERIVED, "shares/src/schemas/d/tables/trips/query").status_code in (403, 404)
    # No directory access to a computed table.
    for table in REFERENCE:
        response = post(gateway, DERIVED, f"shares/derived/schemas/d/tables/{table}/temporary-table-credentials")
        assert response.status_code == 400, response.text
    # A page token of the source share does not open the derived table.
    page = ndjson(post(gateway, SOURCE, "shares/src/schemas/d/tables/trips/query", {"maxFiles": 1}))
    token = next(line["endStreamAction"]["nextPageToken"] for line in page if "endStreamAction" in line)
    response = post(gateway, DERIVED, "shares/derived/schemas/d/tables/big_fares/query",
                    {"maxFiles": 1, "pageToken": token})
    assert response.status_code == 400, response.text
    # No served file is a file of a source.
    source_files = {p.name for p in gateway.trips.rglob("*.parquet")} | {p.name for p in gateway.vendors.rglob("*.parquet")}
    for table in REFERENCE:
        for delta_format in (False, True):
            headers = {"delta-sharing-capabilities": "responseformat=delta"} if delta_format else {}
            text = post(gateway, DERIVED, f"shares/derived/schemas/d/tables/{table}/query", {}, headers).text
            assert not any(name in text for name in source_files), table
            for secret in (str(gateway.work), FARES, "src.d."):
                assert secret not in text, (table, secret)
    loaded = catalog(gateway).load_table("d.slim")
    for task in loaded.scan().plan_files():
        parts = urlsplit(task.file.file_path)
        assert parts.netloc == "lakeshare" and parts.path.split("/")[-1] not in source_files


def test_computed_tables_without_a_cache_or_with_a_bad_view_are_refused_clearly(demo, tmp_path):
    trips = demo / "data" / "delta" / "trips"
    config = f"""
server: {{ listen: "127.0.0.1:{{port}}" }}
{{cache}}
shares:
  - name: s
    schemas:
      - name: d
        tables:
          - {{ name: slim, location: "{trips}", columns: [trip_id] }}
          - {{ name: nowhere, view: "SELECT * FROM s.d.missing" }}
recipients:
  - {{ name: r, token: "{DERIVED}", shares: [s] }}
"""
    gw = Gateway(tmp_path / "no-cache", config.replace("{cache}", ""))
    try:
        response = post(gw, DERIVED, "shares/s/schemas/d/tables/slim/query", {})
        assert response.status_code == 400 and "cache:" in response.json()["message"], response.text
    finally:
        gw.stop()
    gw = Gateway(tmp_path / "bad-view", config.replace("{cache}", f'cache: {{ location: "{tmp_path / "cache"}" }}'))
    try:
        response = post(gw, DERIVED, "shares/s/schemas/d/tables/nowhere/query", {})
        assert response.status_code == 400, response.text
        message = response.json()["message"]
        assert "definition cannot be read" in message and "missing" not in message, message
        assert "not a table of the configuration" in (tmp_path / "bad-view" / "lakeshare.log").read_text()
    finally:
        gw.stop()


def test_lakeshare_materialize_brings_every_computed_table_up_to_date(gateway):
    """The job command, on the serving gateway's own configuration and cache: every computed
    table is up to date (the gateway computed them), the stored ones are left alone."""
    done = subprocess.run([str(lakeshare_bin()), "materialize", "--config", str(gateway.config)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith(("ok", "FAIL"))]
    assert sorted(line.split()[1] for line in lines) == sorted(f"derived.d.{t}" for t in REFERENCE), done.stdout
    assert all(line.startswith("ok") for line in lines), done.stdout
    one = subprocess.run([str(lakeshare_bin()), "materialize", "--config", str(gateway.config), "--table",
                          "src.d.trips"], capture_output=True, text=True, timeout=600)
    assert one.returncode != 0 and "not a computed table" in one.stderr + one.stdout
