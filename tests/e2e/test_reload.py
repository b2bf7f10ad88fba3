"""Hot reload (issue 15, part 4): the test edits the configuration under a running gateway. A
new table appears, a revoked token is refused from the next request on, a broken file changes
nothing and is reported with every problem it has, a query started before the reload runs to
its end, SIGHUP reloads too, and the snapshots of unchanged tables stay cached."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import time

import deltalake
import delta_sharing
import pytest
import requests

from conftest import Gateway

KEEP = "keep-token-0123456789abcdef"
REVOKE = "revoke-token-0123456789abcdef"


def config(demo, *, tables: list[str], recipients: list[str], volume=None) -> str:
    """`tables` are names: `trips` (the demo's Delta trips) or `trips_<format>`; `volume` a
    folder shared as volume `big`."""
    def location(name: str):
        kind = name.split("_", 1)[1] if "_" in name else "delta"
        return demo / "data" / kind / "trips"
    rows = "\n".join(f'          - {{ name: {t}, location: "{location(t)}" }}' for t in tables)
    people = "\n".join(recipients)
    volumes = f'        volumes: [{{ name: big, location: "{volume}" }}]' if volume else ""
    return f"""
server: {{ listen: "127.0.0.1:{{port}}", signing_secret: "a-signing-secret-for-reload-tests" }}
shares:
  - name: demo
    schemas:
      - name: delta
        tables:
{rows}
{volumes}
recipients:
{people}
"""


KEEPER = f'  - {{ name: keeper, token: "{KEEP}", shares: [demo] }}'
REVOKED = f'  - {{ name: revoked, token: "{REVOKE}", shares: [demo] }}'


@pytest.fixture
def gateway(demo, tmp_path):
    gw = Gateway(tmp_path / "gw", config(demo, tables=["trips"], recipients=[KEEPER, REVOKED]))
    gw.demo = demo
    yield gw
    gw.stop()


def rewrite(gateway, text: str) -> None:
    # Written aside and renamed over the file, as editors and ConfigMap updates do.
    tmp = gateway.config.with_suffix(".tmp")
    tmp.write_text(text.replace("{port}", str(gateway.port)))
    os.replace(tmp, gateway.config)


def get(gateway, path: str, token: str = KEEP) -> requests.Response:
    return requests.get(gateway.endpoint + path, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def tables(gateway) -> list[str]:
    return sorted(t["name"] for t in get(gateway, "/shares/demo/all-tables").json()["items"])


def wait_for(condition, what: str, timeout: float = 15.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s: {what}")


def metric(gateway, name: str, **labels) -> float:
    text = requests.get(f"http://127.0.0.1:{gateway.port}/metrics", timeout=10).text
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(name + ("{" + want + "}" if want else " ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_new_table_appears_and_a_revoked_token_is_refused(gateway, demo):
    assert tables(gateway) == ["trips"]
    assert get(gateway, "/shares", REVOKE).status_code == 200
    extra = "trips_iceberg"
    rewrite(gateway, config(demo, tables=["trips", extra], recipients=[KEEPER]))
    wait_for(lambda: tables(gateway) == sorted(["trips", extra]), "the new table is listed")
    refused = get(gateway, "/shares", REVOKE)
    assert refused.status_code == 401
    assert get(gateway, "/shares").status_code == 200
    assert metric(gateway, "lakeshare_config_reloads_total", result="applied") >= 1


def test_a_broken_file_changes_nothing_and_is_reported(gateway, demo):
    before = metric(gateway, "lakeshare_config_reloads_total", result="refused")
    rewrite(gateway, "shares: [ this is not yaml\n")
    wait_for(lambda: metric(gateway, "lakeshare_config_reloads_total", result="refused") == before + 1,
             "the broken file is refused")
    assert tables(gateway) == ["trips"]
    assert get(gateway, "/shares", REVOKE).status_code == 200
    # A file that parses but has several problems: every one of them is in the log.
    broken = config(demo, tables=["trips"], recipients=[KEEPER, REVOKED]).replace(
        "shares: [demo] }", "shares: [nope] }", 1) + "  - { name: nobody }\n"
    rewrite(gateway, broken)
    wait_for(lambda: metric(gateway, "lakeshare_config_reloads_total", result="refused") == before + 2,
             "the invalid file is refused")
    log = gateway.log.read_text()
    assert "configuration reload refused" in log
    assert "recipients[0].shares[0]: no share named 'nope'" in log
    assert "recipients[2]: needs token" in log
    assert KEEP not in log and REVOKE not in log
    # Still serving the last good configuration, for both recipients.
    assert get(gateway, "/shares", REVOKE).status_code == 200
    assert get(gateway, "/shares/demo/schemas/delta/tables/trips/version").status_code == 200


def test_a_query_started_before_the_reload_completes(gateway, demo):
    want = deltalake.DeltaTable(str(demo / "data" / "delta" / "trips"))
    files = len(want.file_uris())
    answer = requests.post(
        gateway.endpoint + "/shares/demo/schemas/delta/tables/trips/query",
        headers={"Authorization": f"Bearer {REVOKE}", "Content-Type": "application/json"},
        json={}, stream=True, timeout=30,
    )
    assert answer.status_code == 200
    lines = answer.iter_lines()
    first = json.loads(next(lines))
    assert "protocol" in first
    # Revoke the very token the query runs with, while it runs.
    rewrite(gateway, config(demo, tables=["trips"], recipients=[KEEPER]))
    wait_for(lambda: get(gateway, "/shares", REVOKE).status_code == 401, "the token is revoked")
    rest = [json.loads(line) for line in lines if line]
    served = [line["file"] for line in rest if "file" in line]
    assert len(served) == files
    # Its URLs still download (one signing secret across the reload).
    assert requests.get(served[0]["url"], timeout=30).status_code == 200


def test_sighup_reloads_and_unchanged_tables_keep_their_snapshots(gateway, demo, tmp_path):
    profile = gateway.profile(tmp_path / "keep.share", KEEP)
    want = deltalake.DeltaTable(str(demo / "data" / "delta" / "trips")).to_pandas()
    assert len(delta_sharing.load_as_pandas(f"{profile}#demo.delta.trips")) == len(want)
    misses = metric(gateway, "lakeshare_snapshot_cache_misses_total")
    hits = metric(gateway, "lakeshare_snapshot_cache_hits_total")
    applied = metric(gateway, "lakeshare_config_reloads_total", result="applied")
    # The same file: only a signal reloads it.
    gateway.process.send_signal(signal.SIGHUP)
    wait_for(lambda: metric(gateway, "lakeshare_config_reloads_total", result="applied") == applied + 1,
             "SIGHUP reloads")
    assert re.search(r"configuration reloaded.*kept_open=1", gateway.log.read_text())
    got = delta_sharing.load_as_pandas(f"{profile}#demo.delta.trips")
    assert sorted(got["trip_id"]) == sorted(want["trip_id"])
    assert metric(gateway, "lakeshare_snapshot_cache_misses_total") == misses
    assert metric(gateway, "lakeshare_snapshot_cache_hits_total") > hits


def test_a_download_running_across_a_reload_completes(demo, tmp_path):
    """A response far larger than the socket buffers is still being written when the reload
    lands (the client reads a little, then waits): it finishes on the configuration it
    started with, byte for byte, though the new one no longer shares the volume."""
    folder = tmp_path / "big"
    folder.mkdir()
    payload = os.urandom(64 * 1024 * 1024)
    (folder / "blob.bin").write_bytes(payload)
    gw = Gateway(tmp_path / "gw", config(demo, tables=["trips"], recipients=[KEEPER, REVOKED], volume=folder))
    try:
        signed = requests.post(gw.endpoint + "/shares/demo/schemas/delta/volumes/big/file-urls",
                               headers={"Authorization": f"Bearer {REVOKE}"}, json={"paths": ["blob.bin"]},
                               timeout=30).json()["items"][0]
        download = requests.get(signed["url"], stream=True, timeout=60)
        assert download.status_code == 200
        chunks = download.iter_content(chunk_size=1 << 16)
        got = bytearray(next(chunks))
        rewrite(gw, config(demo, tables=["trips"], recipients=[KEEPER]))
        wait_for(lambda: get(gw, "/shares", REVOKE).status_code == 401, "the token is revoked")
        assert get(gw, "/shares/demo/schemas/delta/volumes/big", KEEP).status_code == 404
        for chunk in chunks:
            got += chunk
        assert len(got) == len(payload) and hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()
    finally:
        gw.stop()
