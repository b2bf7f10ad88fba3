"""Tables with reader features the parquet format cannot carry, written here by deltalake."""

from __future__ import annotations

import datetime
import json

import delta_sharing
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from conftest import Gateway
from test_delta_fixtures import assert_same_frame, server_message

TOKEN = "features-token-0123456789"


@pytest.fixture(scope="module")
def ntz(tmp_path_factory):
    """A table with a timestamp-without-time-zone column: reader feature timestampNtz (3/7)."""
    path = tmp_path_factory.mktemp("ntz") / "events"
    at = [datetime.datetime(2024, 1, 1, 12, 0), None, datetime.datetime(2024, 6, 1, 0, 30, 0, 250)]
    write_deltalake(str(path), pa.table({"id": [1, 2, 3], "at": pa.array(at, pa.timestamp("us"))}))
    write_deltalake(str(path), pa.table({"id": [4], "at": pa.array([datetime.datetime(2025, 2, 3)], pa.timestamp("us"))}), mode="append")
    return path


@pytest.fixture(scope="module")
def profile(tmp_path_factory, ntz):
    config = f"""
server: {{ listen: "127.0.0.1:{{port}}" }}
shares: [{{ name: f, schemas: [{{ name: s, tables: [{{ name: ntz, location: "{ntz}", history: true }}] }}] }}]
recipients: [{{ name: tester, token: "{TOKEN}", shares: [f] }}]
"""
    work = tmp_path_factory.mktemp("gateway")
    gateway = Gateway(work, config)
    yield str(gateway.profile(work / "profile.share", TOKEN))
    gateway.stop()


def test_timestamp_ntz_table_is_read_in_the_delta_format(profile, ntz):
    url = f"{profile}#f.s.ntz"
    protocol = delta_sharing.get_table_protocol(url)
    assert "timestampNtz" in (protocol.reader_features or [])
    for version in (None, 0):
        shared = delta_sharing.load_as_pandas(url, version=version)
        reference = DeltaTable(str(ntz), version=version).to_pandas()
        assert_same_frame(shared, reference)


def test_timestamp_ntz_table_is_refused_in_the_parquet_format(profile):
    with pytest.raises(Exception) as refused:
        delta_sharing.load_as_pandas(f"{profile}#f.s.ntz", use_delta_format=False)
    message = server_message(refused.value)
    assert "400" in message and "timestamp without time zone" in message, message
    schema = json.loads(delta_sharing.get_table_metadata(f"{profile}#f.s.ntz").schema_string)
    assert schema["fields"][1]["type"] == "timestamp_ntz"
