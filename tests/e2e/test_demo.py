"""`lakeshare demo` on an empty folder, read with the README's own snippet."""

from __future__ import annotations

import json
import re
import subprocess

import delta_sharing
import pandas as pd
import pyarrow as pa
import pytest
from deltalake import DeltaTable

from conftest import ROOT, load_when_computed


def readme_snippet() -> str:
    """The Python block after the `demo-snippet` marker in README.md."""
    text = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- demo-snippet -->\s*```python\n(.*?)```", text, re.S)
    assert match, "README.md has no ```python block after <!-- demo-snippet -->"
    return match.group(1)


def test_demo_prints_a_working_profile(demo):
    output = (demo / "demo.log").read_text()
    assert str(demo / "demo.share") in output
    profile = json.loads((demo / "demo.share").read_text())
    assert profile["shareCredentialsVersion"] == 1
    assert profile["endpoint"].endswith("/delta-sharing")
    assert len(profile["bearerToken"]) >= 32


def test_demo_output_reads_as_a_success_and_says_where_the_token_is(demo):
    # Issue 13, point 10: the first run logged a kernel ERROR while creating the Delta table,
    # and printed curl examples with $TOKEN without saying where the token is.
    output = (demo / "demo.log").read_text()
    assert " ERROR " not in output and "No files in log segment" not in output, output
    export = next(line.strip() for line in output.splitlines() if "export TOKEN=" in line)
    command = export.removeprefix("export TOKEN=").strip("$()")
    token = subprocess.run(command, shell=True, capture_output=True, text=True, check=True).stdout.strip()
    assert token == json.loads((demo / "demo.share").read_text())["bearerToken"]


def test_readme_snippet_reads_the_trips_without_deleted_rows(demo, monkeypatch):
    monkeypatch.chdir(demo)
    namespace: dict = {}
    exec(readme_snippet(), namespace)
    trips = DeltaTable(str(demo / "data" / "delta" / "trips"))
    assert trips.version() == 3
    before_delete = DeltaTable(str(demo / "data" / "delta" / "trips"), version=2).to_pandas()
    deleted = int((before_delete["passengers"] == 0).sum())
    assert deleted > 0
    df = namespace["df"]
    assert len(df) == 100_000 - deleted
    assert (df["passengers"] > 0).all()
    expected = trips.to_pandas().sort_values("trip_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(df.sort_values("trip_id").reset_index(drop=True), expected[df.columns])


def test_demo_versions_are_insert_append_update_delete(demo):
    url = f"{demo / 'demo.share'}#demo.delta.trips"
    sizes = [len(delta_sharing.load_as_pandas(url, version=v)) for v in range(4)]
    v3 = len(delta_sharing.load_as_pandas(url))
    assert sizes[:3] == [50_000, 100_000, 100_000] and sizes[3] == v3 < 100_000
    before = delta_sharing.load_as_pandas(url, version=1).set_index("trip_id")["fare"]
    after = delta_sharing.load_as_pandas(url, version=2).set_index("trip_id")["fare"]
    changed = (before != after.loc[before.index])
    assert set(changed[changed].index) == {i for i in range(0, 100_000, 100)}
    assert delta_sharing.SharingClient(str(demo / "demo.share")).list_all_tables()[0].name == "trips"
    metadata = delta_sharing.get_table_metadata(url)
    assert metadata.partition_columns == ["pickup_date"]
    assert metadata.configuration.get("enableChangeDataFeed") == "true"


@pytest.mark.parametrize("use_delta_format", [None, True])
def test_demo_change_feed_matches_deltalake(demo, use_delta_format):
    url = f"{demo / 'demo.share'}#demo.delta.trips"
    shared = delta_sharing.load_table_changes_as_pandas(url, starting_version=1, ending_version=3, use_delta_format=use_delta_format)
    path = str(demo / "data" / "delta" / "trips")
    reference = pa.table(DeltaTable(path).load_cdf(starting_version=1, ending_version=3)).to_pandas()
    counts = shared["_change_type"].value_counts().to_dict()
    assert counts == reference["_change_type"].value_counts().to_dict()
    assert counts["update_preimage"] == counts["update_postimage"] == 1_000
    assert counts["insert"] == 50_000
    key = ["trip_id", "_change_type", "_commit_version"]
    a = shared.sort_values(key).reset_index(drop=True)
    b = reference.sort_values(key).reset_index(drop=True)
    for column in ["trip_id", "_change_type", "_commit_version", "passengers", "vendor", "distance_km"]:
        assert a[column].tolist() == b[column].tolist(), column
    assert [str(x) for x in a["fare"]] == [str(x) for x in b["fare"]]


def test_demo_iceberg_trips_read_as_the_delta_trips(demo):
    """The Iceberg demo table has the Delta one's data and history: Delta version v is Iceberg
    version v + 1 (Iceberg sequence numbers start at 1)."""
    delta_url = f"{demo / 'demo.share'}#demo.delta.trips"
    iceberg_url = f"{demo / 'demo.share'}#demo.iceberg.trips"
    assert delta_sharing.get_table_version(iceberg_url) == delta_sharing.get_table_version(delta_url) + 1
    for version in range(4):
        delta = delta_sharing.load_as_pandas(delta_url, version=version).sort_values("trip_id").reset_index(drop=True)
        iceberg = delta_sharing.load_as_pandas(iceberg_url, version=version + 1).sort_values("trip_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(iceberg[delta.columns], delta)
    # And Iceberg's own reader reads it as the gateway serves it.
    from pyiceberg.table import StaticTable

    metadata = sorted((demo / "data" / "iceberg" / "trips" / "metadata").glob("*.metadata.json"))[-1]
    table = StaticTable.from_metadata(str(metadata))
    assert sorted(s.sequence_number for s in table.snapshots()) == [1, 2, 3, 4]
    reference = table.scan().to_arrow().to_pandas().sort_values("trip_id").reset_index(drop=True)
    shared = delta_sharing.load_as_pandas(iceberg_url).sort_values("trip_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(shared, reference[shared.columns], check_dtype=False)


def test_demo_hudi_trips_read_as_the_delta_trips(demo):
    """The Hudi demo table, written with hudi's own writer, has the Delta one's data and history:
    its four instants are Delta versions 0-3, and hudi's reader reads it as the gateway serves it."""
    import hudi

    delta_url = f"{demo / 'demo.share'}#demo.delta.trips"
    hudi_url = f"{demo / 'demo.share'}#demo.hudi.trips"
    table = hudi.HudiTable(str(demo / "data" / "hudi" / "trips"))
    instants = [i.timestamp for i in table.get_timeline().get_completed_commits(False)]
    assert len(instants) == 4
    assert delta_sharing.get_table_version(hudi_url) == int(instants[-1])
    for version, instant in enumerate(instants):
        delta = delta_sharing.load_as_pandas(delta_url, version=version).sort_values("trip_id").reset_index(drop=True)
        shared = delta_sharing.load_as_pandas(hudi_url, version=int(instant)).sort_values("trip_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(shared[delta.columns], delta)
    latest = delta_sharing.load_as_pandas(hudi_url).sort_values("trip_id").reset_index(drop=True)
    batches = table.read()
    reference = pa.Table.from_batches(batches).to_pandas().sort_values("trip_id").reset_index(drop=True)
    assert not any(c.startswith("_hoodie_") for c in latest.columns)
    pd.testing.assert_frame_equal(latest, reference[latest.columns], check_dtype=False)


def test_demo_merge_on_read_trips_are_served_merged_as_hudi_reads_them(demo):
    """The demo's merge-on-read Hudi trips, written with hudi's own writer, hold the upsert and
    the delete as log blocks, which the file protocol cannot express; the demo shares them with
    `materialize: auto`, so every instant, those with log files included, reads as hudi's
    merged snapshot read of it, through the connector and through the Iceberg catalog."""
    import hudi
    from pyiceberg.catalog.rest import RestCatalog

    path = str(demo / "data" / "hudi" / "trips_mor")
    table = hudi.HudiTable(path)
    timeline = table.get_timeline()
    instants = sorted(i.timestamp for i in timeline.get_completed_commits(False)
                      + timeline.get_completed_deltacommits(False))
    assert len(instants) == 4, instants
    url = f"{demo / 'demo.share'}#demo.hudi.trips_mor"
    # Log files by the instant that wrote them (hudi's writer names them so from table version 8;
    # hudi 0.5.0's file slices as of an instant list later log files too).
    logs = sorted(f.name.split("_")[1].split(".")[0] for f in (demo / "data" / "hudi" / "trips_mor").glob("*/.*.log.*"))
    assert logs, "the upsert and the delete wrote log files"
    with_logs = 0
    for instant in instants:
        options = hudi.HudiReadOptions().with_as_of_timestamp(instant)
        with_logs += any(written <= instant for written in logs)
        reference = pa.Table.from_batches(table.read(options)).to_pandas()
        reference = reference[[c for c in reference.columns if not c.startswith("_hoodie_")]]
        shared = load_when_computed(url, version=int(instant))
        pd.testing.assert_frame_equal(
            shared.sort_values("trip_id").reset_index(drop=True),
            reference[shared.columns].sort_values("trip_id").reset_index(drop=True),
            check_dtype=False,
        )
    assert with_logs == 2, "the upsert and the delete are log files"
    # The merged latest is the Delta trips' latest, as the copy-on-write table's is.
    delta = delta_sharing.load_as_pandas(f"{demo / 'demo.share'}#demo.delta.trips")
    latest = load_when_computed(url)
    assert delta_sharing.get_table_version(url) == int(instants[-1])
    pd.testing.assert_frame_equal(
        latest[delta.columns].sort_values("trip_id").reset_index(drop=True),
        delta.sort_values("trip_id").reset_index(drop=True),
    )
    profile = json.loads((demo / "demo.share").read_text())
    catalog = RestCatalog("demo", uri=profile["endpoint"] + "/iceberg/", token=profile["bearerToken"],
                          warehouse="demo")
    scanned = catalog.load_table("hudi.trips_mor").scan().to_pandas()
    pd.testing.assert_frame_equal(
        scanned[delta.columns].sort_values("trip_id").reset_index(drop=True),
        delta.sort_values("trip_id").reset_index(drop=True),
        check_dtype=False,
    )


def test_demo_hudi_trips_prune_by_column_statistics(demo):
    """hudi's writer keeps column statistics in the metadata table; the gateway serves them as
    Delta statistics, so a predicate on a data column skips the second append's files."""
    import requests

    profile = json.loads((demo / "demo.share").read_text())
    url = f"{profile['endpoint']}/shares/demo/schemas/hudi/tables/trips/query"
    headers = {"Authorization": f"Bearer {profile['bearerToken']}"}

    def files(hint=None):
        body = {"jsonPredicateHints": json.dumps(hint)} if hint else {}
        response = requests.post(url, json=body, headers=headers, timeout=60)
        assert response.status_code == 200, response.text
        return [json.loads(line)["file"] for line in response.text.splitlines() if '"file"' in line]

    every = files()
    early = files({"op": "lessThan", "children": [
        {"op": "column", "name": "trip_id", "valueType": "long"},
        {"op": "literal", "value": "1000", "valueType": "long"},
    ]})
    assert 0 < len(early) < len(every)
    for f in every:
        stats = json.loads(f["stats"])
        assert stats["numRecords"] > 0
        assert {"trip_id", "pickup_date"} <= set(stats["minValues"])
    # Every trip with a small id is in a file the gateway kept.
    kept = {f["id"] for f in early}
    assert all(json.loads(f["stats"])["minValues"]["trip_id"] >= 1000 for f in every if f["id"] not in kept)
