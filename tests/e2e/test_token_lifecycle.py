"""Token lifecycle (issue 15, part 3): several tokens per recipient with their own expiry and
`lakeshare token rotate` to hand a new one over; per-recipient address allow lists (behind a
trusted proxy too); per-recipient rate limits answered with 429 and `Retry-After`, which the
Python connector waits out."""

from __future__ import annotations

import hashlib
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

import deltalake
import delta_sharing
import pytest
import requests

from conftest import Gateway, lakeshare_bin, trips_share

OLD = "old-token-0123456789abcdef"
OFFICE = "office-token-0123456789abcdef"
REMOTE = "remote-token-0123456789abcdef"
BEHIND = "behind-proxy-token-0123456789"
LIMITED = "limited-token-0123456789abcdef"
SLOW = "slow-token-0123456789abcdef"


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def config(trips, rotating: str) -> str:
    return f"""
server: {{ listen: "127.0.0.1:{{port}}", trusted_proxies: ["127.0.0.1/32"] }}
{trips_share(trips, history=False)}recipients:
{rotating}
  - {{ name: office, token_sha256: "{sha(OFFICE)}", shares: [demo], allow_ips: ["127.0.0.0/8", "::1"] }}
  - {{ name: remote, token_sha256: "{sha(REMOTE)}", shares: [demo], allow_ips: ["192.0.2.0/24"] }}
  - {{ name: behind, token_sha256: "{sha(BEHIND)}", shares: [demo], allow_ips: ["203.0.113.0/24"] }}
  - {{ name: limited, token_sha256: "{sha(LIMITED)}", shares: [demo], rate_limit: {{ requests_per_second: 1, burst: 3 }} }}
  - {{ name: slow, token_sha256: "{sha(SLOW)}", shares: [demo], rate_limit: {{ requests_per_second: 2, burst: 1 }} }}
"""


@pytest.fixture(scope="module")
def gateway(demo, tmp_path_factory):
    work = tmp_path_factory.mktemp("tokens-gateway")
    trips = demo / "data" / "delta" / "trips"
    rotating = f'  - {{ name: rotating, token_sha256: "{sha(OLD)}", shares: [demo] }}'
    gw = Gateway(work, config(trips, rotating))
    gw.work, gw.trips = work, trips
    yield gw
    gw.stop()


def get(gateway, token: str, path: str = "/shares", **headers) -> requests.Response:
    return requests.get(gateway.endpoint + path, timeout=10,
                        headers={"Authorization": f"Bearer {token}", **headers})


def test_a_rotated_token_and_its_predecessor_both_work_until_the_grace_ends(gateway, tmp_path):
    out = subprocess.run(
        [str(lakeshare_bin()), "token", "rotate", "--config", str(gateway.config),
         "--recipient", "rotating", "--grace-hours", "1"],
        check=True, capture_output=True, text=True,
    ).stdout
    new = re.search(r"^token: +(\S+)$", out, re.M).group(1)
    assert f'token_sha256: "{sha(new)}"' in out
    old_line = re.search(rf'- {{ token_sha256: "{sha(OLD)}", expires_at: "([^"]+)" }}', out)
    assert old_line, out
    lines = out[out.index("    tokens:"):].rstrip("\n")
    rotated = f"  - name: rotating\n    shares: [demo]\n{lines}"
    gw = Gateway(tmp_path / "rotated", config(gateway.trips, rotated))
    try:
        assert get(gw, new).status_code == 200
        assert get(gw, OLD).status_code == 200
    finally:
        gw.stop()
    # Past the grace window the old token is refused, the new one not.
    expired = rotated.replace(old_line.group(1), "2001-01-01T00:00:00Z")
    gw = Gateway(tmp_path / "expired", config(gateway.trips, expired))
    try:
        assert get(gw, new).status_code == 200
        refused = get(gw, OLD)
        assert refused.status_code == 401 and "expired" in refused.json()["message"]
    finally:
        gw.stop()


def test_calls_from_outside_an_allow_list_are_forbidden(gateway):
    assert get(gateway, OFFICE).status_code == 200
    refused = get(gateway, REMOTE)
    assert refused.status_code == 403
    assert refused.json()["errorCode"] == "PERMISSION_DENIED"
    assert "127.0.0.1" in refused.json()["message"]
    # The Iceberg catalog refuses in its own shape.
    iceberg = get(gateway, REMOTE, "/iceberg/v1/config?warehouse=demo")
    assert iceberg.status_code == 403
    assert iceberg.json()["error"]["type"] == "ForbiddenException"


def test_behind_a_trusted_proxy_the_forwarded_address_counts(gateway):
    # 127.0.0.1 is a trusted proxy here: the address it forwards is the client's.
    assert get(gateway, BEHIND, **{"X-Forwarded-For": "198.51.100.7, 203.0.113.9"}).status_code == 200
    assert get(gateway, BEHIND, **{"X-Forwarded-For": "203.0.113.9, 198.51.100.7"}).status_code == 403
    assert get(gateway, BEHIND).status_code == 403
    # A forwarded address does not get the office past its own list.
    assert get(gateway, OFFICE, **{"X-Forwarded-For": "192.0.2.1"}).status_code == 403


def test_a_burst_over_the_limit_gets_429_and_others_are_unaffected(gateway):
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: get(gateway, LIMITED), range(12)))
    statuses = [a.status_code for a in answers]
    assert statuses.count(200) >= 3 and statuses.count(429) >= 6, statuses
    limited = next(a for a in answers if a.status_code == 429)
    assert limited.json()["errorCode"] == "RESOURCE_EXHAUSTED"
    assert int(limited.headers["Retry-After"]) >= 1
    # Another recipient is served meanwhile.
    assert get(gateway, OFFICE).status_code == 200


def test_the_connector_waits_out_the_limit(gateway, demo, tmp_path):
    profile = gateway.profile(tmp_path / "slow.share", SLOW)
    want = deltalake.DeltaTable(str(demo / "data" / "delta" / "trips")).to_pandas()
    # Listing, metadata and query in a row are over 2 a second with a burst of 1.
    client = delta_sharing.SharingClient(str(profile))
    assert [t.name for t in client.list_all_tables()] == ["trips"]
    got = delta_sharing.load_as_pandas(f"{profile}#demo.delta.trips")
    assert sorted(got["trip_id"]) == sorted(want["trip_id"])
