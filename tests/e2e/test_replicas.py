"""Replicas behind a real load balancer (issue 15, part 9): three gateway processes with one
signing secret behind nginx, round-robin, configured by deploy/nginx/lakeshare.conf as shipped.
A connector read, a paged read, a refresh-token read and an asynchronous query all succeed
with their tokens and URLs crossing replicas; a replica killed in the middle of a read does
not fail it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import deltalake
import delta_sharing
import pytest
import requests

from conftest import Gateway, ROOT, free_port, ndjson, trips_share

TOKEN = "replica-token-0123456789abcdef"
SECRET = "one-signing-secret-for-all-replicas"
UPSTREAM = "X-Lakeshare-Upstream"


def nginx_binary() -> str:
    for candidate in [os.environ.get("LAKESHARE_NGINX"), shutil.which("nginx"), "/usr/sbin/nginx",
                      str(ROOT / ".tools" / "nginx" / "usr" / "sbin" / "nginx")]:
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.fail("nginx is not installed (scripts/setup unpacks Debian's package into the tools folder)")


class Nginx:
    """nginx in the foreground with deploy/nginx/lakeshare.conf, its state in `work`."""

    def __init__(self, work: Path, ports: list[int], port: int):
        self.port = port
        work.mkdir(parents=True, exist_ok=True)
        site = (ROOT / "deploy" / "nginx" / "lakeshare.conf").read_text()
        # The shipped site, with a loopback port and the debugging header that names the
        # replica that answered turned on.
        upstream_header = "# add_header X-Lakeshare-Upstream $upstream_addr always;"
        assert "listen 8080;" in site and upstream_header in site
        site = site.replace("listen 8080;", f"listen 127.0.0.1:{self.port};")
        site = site.replace(upstream_header, upstream_header.lstrip("# "))
        (work / "lakeshare.conf").write_text(site)
        (work / "lakeshare-upstreams.conf").write_text(
            "".join(f"server 127.0.0.1:{p} max_fails=3 fail_timeout=30s;\n" for p in ports))
        temp = "".join(f"{kind}_temp_path {work / kind};\n" for kind in
                       ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"])
        (work / "nginx.conf").write_text(f"""
pid {work / 'nginx.pid'};
error_log {work / 'error.log'} info;
events {{ worker_connections 256; }}
http {{
    access_log {work / 'access.log'};
    {temp}
    include {work / 'lakeshare.conf'};
}}
""")
        self.log = work / "error.log"
        self.process = subprocess.Popen(
            [nginx_binary(), "-p", str(work), "-e", str(work / "error.log"), "-c", str(work / "nginx.conf"),
             "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 20
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/health", timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            if self.process.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"nginx did not start: {self.process.stderr.read().decode()}")
            time.sleep(0.2)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def cluster(demo, tmp_path_factory):
    work = tmp_path_factory.mktemp("replicas")
    trips = demo / "data" / "delta" / "trips"
    # The balancer's port must be known before the replicas start: it is their public URL.
    lb_port = free_port()
    replicas = []
    for i in range(3):
        config = f"""
server:
  listen: "127.0.0.1:{{port}}"
  public_url: "http://127.0.0.1:{lb_port}"
  signing_secrets: ["{SECRET}"]
  trusted_proxies: ["127.0.0.1/32"]
{trips_share(trips)}recipients:
  - {{ name: spread, token: "{TOKEN}", shares: [demo] }}
"""
        replicas.append(Gateway(work / f"replica-{i}", config))
    ports = [r.port for r in replicas]
    lb = Nginx(work / "nginx", ports, lb_port)
    endpoint = f"http://127.0.0.1:{lb.port}/delta-sharing"
    yield {"endpoint": endpoint, "replicas": replicas, "ports": ports, "trips": trips, "work": work, "lb": lb}
    lb.stop()
    for replica in replicas:
        replica.stop()


def headers(**more) -> dict:
    return {"Authorization": f"Bearer {TOKEN}", **more}


def query(cluster, body: dict, **more) -> requests.Response:
    answer = requests.post(cluster["endpoint"] + "/shares/demo/schemas/delta/tables/trips/query",
                           headers=headers(**more), json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer


def want(cluster):
    return deltalake.DeltaTable(str(cluster["trips"])).to_pandas()


def test_requests_are_spread_over_every_replica(cluster):
    served = {requests.get(cluster["endpoint"] + "/shares", headers=headers(), timeout=10).headers[UPSTREAM]
              for _ in range(9)}
    assert served == {f"127.0.0.1:{p}" for p in cluster["ports"]}


def test_the_connector_reads_through_the_balancer(cluster, tmp_path):
    profile = tmp_path / "lb.share"
    profile.write_text(json.dumps({"shareCredentialsVersion": 1, "endpoint": cluster["endpoint"],
                                   "bearerToken": TOKEN}))
    got = delta_sharing.load_as_pandas(f"{profile}#demo.delta.trips")
    assert sorted(got["trip_id"]) == sorted(want(cluster)["trip_id"])
    # In the delta format too (its files are fetched by another client stack).
    got = delta_sharing.load_as_pandas(f"{profile}#demo.delta.trips", use_delta_format=True)
    assert len(got) == len(want(cluster))


def read_pages(cluster, page_size: int, kill_after_first: bool = False) -> tuple[list[dict], set[str]]:
    files, upstreams, token = [], set(), None
    while True:
        answer = query(cluster, {"maxFiles": page_size, **({"pageToken": token} if token else {})})
        upstreams.add(answer.headers[UPSTREAM])
        got = ndjson(answer)
        files += [line["file"] for line in got if "file" in line]
        token = got[-1].get("endStreamAction", {}).get("nextPageToken")
        if kill_after_first:
            kill_after_first = False
            victim = cluster["ports"].index(int(answer.headers[UPSTREAM].rsplit(":", 1)[1]))
            cluster["replicas"][victim].process.send_signal(signal.SIGKILL)
            cluster["replicas"][victim].process.wait(timeout=10)
            cluster["killed"] = victim
        if not token:
            return files, upstreams


def test_a_paged_read_crosses_replicas(cluster):
    files, upstreams = read_pages(cluster, page_size=2)
    assert len(upstreams) >= 2, upstreams
    assert len({f["id"] for f in files}) == len(files) == len(deltalake.DeltaTable(str(cluster["trips"])).file_uris())
    # Every signed URL downloads, whichever replica signed it and whichever serves it.
    for file in files:
        download = requests.get(file["url"], timeout=30)
        assert download.status_code == 200 and len(download.content) == file["size"]


def test_a_refresh_token_from_one_replica_works_on_the_others(cluster):
    first = ndjson(query(cluster, {"includeRefreshToken": True}))
    token = first[-1]["endStreamAction"]["refreshToken"]
    ids = sorted(line["file"]["id"] for line in first if "file" in line)
    seen = set()
    for _ in range(6):
        answer = query(cluster, {"refreshToken": token})
        seen.add(answer.headers[UPSTREAM])
        again = ndjson(answer)
        assert sorted(line["file"]["id"] for line in again if "file" in line) == ids
    assert len(seen) >= 2, seen


def test_an_async_query_is_polled_on_any_replica(cluster):
    submitted = ndjson(query(cluster, {"idempotencyKey": "across"},
                            **{"delta-sharing-capabilities": "asyncquery=true"}))
    query_id = submitted[0]["queryStatus"]["queryId"]
    files, upstreams, token = [], set(), None
    while True:
        answer = requests.post(
            cluster["endpoint"] + f"/shares/demo/schemas/delta/tables/trips/queries/{query_id}",
            headers=headers(), json={"maxFiles": 3, **({"pageToken": token} if token else {})}, timeout=30)
        assert answer.status_code == 200, answer.text
        upstreams.add(answer.headers[UPSTREAM])
        got = ndjson(answer)
        files += [line["file"] for line in got if "file" in line]
        token = got[-1].get("endStreamAction", {}).get("nextPageToken")
        if not token:
            break
    assert len(files) == len(deltalake.DeltaTable(str(cluster["trips"])).file_uris())
    assert len(upstreams) >= 2, upstreams


def test_a_replica_killed_mid_read_does_not_fail_the_read(cluster, tmp_path):
    # Must run last: it kills a replica for good.
    files, _ = read_pages(cluster, page_size=2, kill_after_first=True)
    assert "killed" in cluster
    assert len({f["id"] for f in files}) == len(deltalake.DeltaTable(str(cluster["trips"])).file_uris())
    for file in files:
        assert requests.get(file["url"], timeout=30).status_code == 200
    profile = tmp_path / "lb.share"
    profile.write_text(json.dumps({"shareCredentialsVersion": 1, "endpoint": cluster["endpoint"],
                                   "bearerToken": TOKEN}))
    got = delta_sharing.load_as_pandas(f"{profile}#demo.delta.trips")
    assert sorted(got["trip_id"]) == sorted(want(cluster)["trip_id"])
