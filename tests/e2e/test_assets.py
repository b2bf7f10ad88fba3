"""AI assets over plain HTTP: volumes, models and skills of the demo, their governance metadata,
file listings with SHA-256 digests, signed downloads (Range included), skill versions and ETags.

The Python connector reads tables only, so these use `requests`, as any recipient would.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import subprocess
from pathlib import Path

import delta_sharing
import pytest
import requests

from conftest import Gateway, lakeshare_bin

TOKEN = "asset-recipient-token-00000001"


def profile_of(demo: Path) -> dict:
    return json.loads((demo / "demo.share").read_text())


class Client:
    """A recipient holding a profile: GETs and POSTs under its endpoint, with its token."""

    def __init__(self, endpoint: str, token: str):
        self.endpoint = endpoint.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str, expect: int = 200, **kwargs) -> requests.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        r = requests.get(f"{self.endpoint}{path}", headers=headers, timeout=60, **kwargs)
        assert r.status_code == expect, f"{path}: {r.status_code} {r.text}"
        return r

    def post(self, path: str, body: dict | None = None, expect: int = 200) -> requests.Response:
        r = requests.post(f"{self.endpoint}{path}", json=body, headers=self.headers, timeout=60)
        assert r.status_code == expect, f"{path}: {r.status_code} {r.text}"
        return r

    def items(self, path: str) -> list[dict]:
        return self.get(path).json().get("items", [])

    def download(self, base: str, paths: list[str]) -> dict[str, tuple[bytes, dict]]:
        """Signs `paths` under asset `base` and fetches each URL without the bearer token."""
        signed = self.post(f"{base}/file-urls", {"paths": paths}).json()["items"]
        assert [s["path"] for s in signed] == paths
        out = {}
        for s in signed:
            r = requests.get(s["url"], timeout=60)
            assert r.status_code == 200, r.text
            assert len(r.content) == s["size"]
            out[s["path"]] = (r.content, s)
        return out


@pytest.fixture(scope="module")
def client(demo) -> Client:
    profile = profile_of(demo)
    return Client(profile["endpoint"], profile["bearerToken"])


AI = "/shares/demo/schemas/ai"
MODEL = f"{AI}/models/trip-fare"
SKILL = f"{AI}/skills/trip-analyst"
VOLUME = f"{AI}/volumes/docs"


def test_every_asset_type_is_listed_and_got(client, demo):
    volumes = client.items("/shares/demo/all-volumes")
    assert [(v["schema"], v["name"]) for v in volumes] == [("ai", "docs")]
    assert client.items(f"{AI}/volumes") == volumes
    volume = client.get(VOLUME).json()
    assert volume == volumes[0]
    # A folder on the gateway's disk is the gateway's business: no server path reaches recipients.
    assert "storageLocation" not in volume, volume
    assert volume["governance"]["license"] == "CC-BY-4.0"
    assert volume["governance"]["provenance"]["upstream"] == ["demo.delta.trips"]

    models = client.items("/shares/demo/all-models")
    assert [m["name"] for m in models] == ["trip-fare"] and client.items(f"{AI}/models") == models
    model = client.get(MODEL).json()
    assert model["comment"] and model["governance"]["risk"] == ["synthetic", "model-output"]
    versions = client.items(f"{MODEL}/versions")
    assert [(v["version"], v["status"]) for v in versions] == [(2, "READY"), (1, "READY")]
    assert versions[0]["aliases"] == ["champion"] and versions[0]["runId"] == "fit-days-0-9"
    assert client.get(f"{MODEL}/versions/1").json() == versions[1]
    assert client.get(f"{MODEL}/aliases/CHAMPION").json() == versions[0]

    skills = client.items("/shares/demo/all-skills")
    assert [s["name"] for s in skills] == ["trip-analyst"] and client.items(f"{AI}/skills") == skills
    skill = client.get(SKILL).json()
    assert skill == skills[0]
    assert skill["description"].startswith("Answers questions about the lakeshare demo taxi trips")
    assert skill["license"] == "MIT" and skill["allowedTools"] == "Bash(python:*) Read"
    assert skill["metadata"] == {"author": "lakeshare", "domain": "mobility"}
    assert len(skill["version"]) == 32 and skill["governance"]["owner"] == "lakeshare demo team"


def test_model_version_files_download_and_match_their_digests(client):
    for version, features in [(1, 1), (2, 2)]:
        base = f"{MODEL}/versions/{version}"
        files = client.items(f"{base}/files")
        assert [f["path"] for f in files] == ["config.json", "model.safetensors"]
        assert all(len(f["sha256"]) == 64 and f["size"] > 0 and f["modificationTime"] > 0 for f in files)
        downloaded = client.download(base, [f["path"] for f in files])
        for f in files:
            content, signed = downloaded[f["path"]]
            assert hashlib.sha256(content).hexdigest() == f["sha256"] == signed["sha256"]
        # Real weights: a safetensors header naming the tensors, and a fit close to the formula.
        weights = downloaded["model.safetensors"][0]
        (length,) = struct.unpack("<Q", weights[:8])
        header = json.loads(weights[8 : 8 + length])
        assert header["linear.weight"]["shape"] == [1, features]
        slope = struct.unpack("<f", weights[8 + length : 12 + length])[0]
        assert abs(slope - 1.75) < 0.05, slope
        config = json.loads(downloaded["config.json"][0])
        assert config["training_days"] == (5 if version == 1 else 10)


def test_signed_urls_serve_ranges(client):
    signed = client.post(f"{MODEL}/versions/2/file-urls", {"paths": ["model.safetensors"]}).json()["items"][0]
    whole = requests.get(signed["url"], timeout=60).content
    part = requests.get(signed["url"], headers={"Range": "bytes=8-15"}, timeout=60)
    assert part.status_code == 206
    assert part.content == whole[8:16]


def test_skill_downloads_and_revalidates_with_etags(client):
    first = client.get(SKILL)
    etag = first.headers["ETag"]
    again = client.get(SKILL, expect=304, headers={"If-None-Match": etag})
    assert again.content == b"" and again.headers["ETag"] == etag
    listing = client.get(f"{SKILL}/files")
    files = listing.json()["items"]
    assert [f["path"] for f in files] == ["SKILL.md", "references/tables.md", "scripts/verify_download.py"]
    client.get(f"{SKILL}/files", expect=304, headers={"If-None-Match": listing.headers["ETag"]})
    client.get("/shares/demo/all-skills", expect=304,
               headers={"If-None-Match": client.get("/shares/demo/all-skills").headers["ETag"]})
    downloaded = client.download(SKILL, [f["path"] for f in files])
    for f in files:
        assert hashlib.sha256(downloaded[f["path"]][0]).hexdigest() == f["sha256"]
    assert downloaded["SKILL.md"][0].startswith(b"---\nname: trip-analyst\n")


def test_volume_files_page_and_download(client):
    seen, token = [], None
    while True:
        params = {"maxResults": 2, **({"pageToken": token} if token else {})}
        page = client.get(f"{VOLUME}/files", params=params).json()
        seen += [f["path"] for f in page["items"]]
        token = page.get("nextPageToken")
        if not token:
            break
    assert seen == ["README.md", "data-dictionary.md", "images/fare-vs-distance.png", "images/trips-by-vendor.svg"]
    downloaded = client.download(VOLUME, ["images/fare-vs-distance.png", "images/trips-by-vendor.svg"])
    assert downloaded["images/fare-vs-distance.png"][0].startswith(b"\x89PNG\r\n\x1a\n")
    assert b"<svg" in downloaded["images/trips-by-vendor.svg"][0]


def test_asset_errors_are_clear(client):
    def error(r: requests.Response) -> dict:
        body = r.json()
        assert set(body) == {"errorCode", "message"}, body
        return body

    e = error(client.get(f"{MODEL}/versions/two", expect=400))
    assert "'two'" in e["message"]
    assert "no version 9" in error(client.get(f"{MODEL}/versions/9", expect=404))["message"]
    assert "no alias 'best'" in error(client.get(f"{MODEL}/aliases/best", expect=404))["message"]
    assert "not found" in error(client.get(f"{AI}/volumes/nope", expect=404))["message"]
    e = error(client.post(f"{VOLUME}/file-urls", {"paths": ["../secret"]}, expect=404))
    assert "has no file '../secret'" in e["message"]
    e = error(client.post(f"{VOLUME}/file-urls", {"files": []}, expect=400))
    assert "paths" in e["message"]


def test_table_governance_reaches_the_connector_and_get_table(client, demo):
    profile = str(demo / "demo.share")
    metadata = delta_sharing.get_table_metadata(f"{profile}#demo.delta.trips")
    assert metadata.configuration["opensharing.license"] == "CC-BY-4.0"
    assert metadata.configuration["opensharing.owner"] == "lakeshare demo team"
    assert metadata.configuration["opensharing.risk"] == "synthetic"
    table = client.get("/shares/demo/schemas/hudi/tables/trips").json()
    assert table["governance"]["license"] == "CC-BY-4.0" and table["format"] == "hudi"
    listed = client.items("/shares/demo/all-tables")
    assert all(t["governance"]["provenance"]["producer"] == "lakeshare demo" for t in listed)
    # The delta response format carries it too, and still reads.
    for use_delta_format in [False, True]:
        frame = delta_sharing.load_as_pandas(f"{profile}#demo.iceberg.trips", limit=10,
                                             use_delta_format=use_delta_format)
        assert len(frame) == 10


SKILL_CONFIG = """
server: {{ listen: "127.0.0.1:{{port}}" }}
shares:
  - name: s
    schemas:
      - name: x
        skills:
          - {{ name: trip-analyst, location: "{skill}" }}
        volumes:
          - {{ name: docs, location: "{docs}" }}
recipients:
  - {{ name: r, token: "{token}", shares: [s] }}
"""


def test_skill_version_changes_exactly_with_content(demo, tmp_path):
    skill = tmp_path / "skills" / "trip-analyst"
    shutil.copytree(demo / "data" / "ai" / "skills" / "trip-analyst", skill)
    docs = demo / "data" / "ai" / "volumes" / "docs"
    gw = Gateway(tmp_path / "gw", SKILL_CONFIG.format(skill=skill, docs=docs, token=TOKEN))
    try:
        client = Client(gw.endpoint, TOKEN)
        path = "/shares/s/schemas/x/skills/trip-analyst"
        original = client.get(path)
        original_version = original.json()["version"]
        assert original_version == client.get(path).json()["version"]
        script = skill / "scripts" / "verify_download.py"
        text = script.read_text()
        script.write_text(text + "\n# changed\n")
        changed = client.get(path, headers={"If-None-Match": original.headers["ETag"]})
        assert changed.json()["version"] != original_version
        script.write_text(text)
        assert client.get(path).json()["version"] == original_version
        (skill / "scripts" / "extra.py").write_text("print('x')\n")
        assert client.get(path).json()["version"] != original_version
        # A SKILL.md breaking the rules makes the skill unservable, saying why.
        (skill / "scripts" / "extra.py").unlink()
        skill_md = skill / "SKILL.md"
        skill_md.write_text(skill_md.read_text().replace("name: trip-analyst", "name: trip-analyst-2"))
        r = client.get(path, expect=500)
        assert "differs from the skill's folder name" in r.json()["message"]
        assert client.items("/shares/s/all-skills") == []
    finally:
        gw.stop()


def test_digest_command_precomputes_volume_digests(demo, tmp_path):
    docs = tmp_path / "docs"
    shutil.copytree(demo / "data" / "ai" / "volumes" / "docs", docs)
    skill = tmp_path / "trip-analyst"
    shutil.copytree(demo / "data" / "ai" / "skills" / "trip-analyst", skill)
    config = SKILL_CONFIG.format(skill=skill, docs=docs, token=TOKEN)
    gw = Gateway(tmp_path / "before", config)
    try:
        files = Client(gw.endpoint, TOKEN).items("/shares/s/schemas/x/volumes/docs/files")
        assert files and all("sha256" not in f for f in files), "volume digests are not computed on listing"
    finally:
        gw.stop()
    config_file = tmp_path / "digest.yaml"
    config_file.write_text(config.replace("{port}", "0"))
    run = subprocess.run([str(lakeshare_bin()), "digest", "--config", str(config_file)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "ok    volume 's.x.docs'  4 files, 4 newly digested" in run.stdout, run.stdout
    run = subprocess.run([str(lakeshare_bin()), "digest", "--config", str(config_file)],
                         capture_output=True, text=True, timeout=120)
    assert "4 files, 0 newly digested" in run.stdout, run.stdout
    # The gateway reads the same cache (beside its configuration).
    shutil.copy(config_file, tmp_path / "config.yaml")
    gw = Gateway(tmp_path, config)
    try:
        files = Client(gw.endpoint, TOKEN).items("/shares/s/schemas/x/volumes/docs/files")
        for f in files:
            assert f["sha256"] == hashlib.sha256((docs / f["path"]).read_bytes()).hexdigest()
    finally:
        gw.stop()


BAD_CONFIGS = [
    ("skills:\n          - { name: Trip_Analyst, location: skills/Trip_Analyst, governance: { license: MIT, owner: o } }",
     "shares[0].schemas[0].skills[0].name", "Trip_Analyst"),
    ("volumes:\n          - { name: docs, location: docs, governance: { license: Apache-2, owner: o } }",
     "shares[0].schemas[0].volumes[0].governance.license", "volume 's.x.docs': 'Apache-2' is not an SPDX license"),
    ("models:\n          - { name: fare, governance: { license: MIT }, versions: [ { version: 1, location: m } ] }",
     "shares[0].schemas[0].models[0].governance.owner", "model 's.x.fare' has no owner, which share 's' requires"),
]


@pytest.mark.parametrize("assets, field, reason", BAD_CONFIGS, ids=["skill-name", "spdx", "required"])
def test_bad_asset_configs_are_refused_naming_asset_and_field(tmp_path, assets, field, reason):
    config = tmp_path / "bad.yaml"
    config.write_text(
        f"shares:\n  - name: s\n    require: [license, owner]\n    schemas:\n      - name: x\n        {assets}\n"
    )
    for command in ["check", "serve"]:
        run = subprocess.run([str(lakeshare_bin()), command, "--config", str(config)],
                             capture_output=True, text=True, timeout=60)
        assert run.returncode != 0
        assert field in run.stderr and reason in run.stderr, run.stderr


@pytest.mark.parametrize("asset", [VOLUME, SKILL, f"{MODEL}/versions/1"])
def test_assets_on_the_gateways_disk_get_credentials_for_its_built_in_s3_endpoint(client, demo, asset):
    import boto3
    import botocore.exceptions

    kind = {VOLUME: "volume", SKILL: "skill", f"{MODEL}/versions/1": "model-version"}[asset]
    response = client.post(f"{asset}/temporary-{kind}-credentials")
    assert str(demo) not in response.text, "a server path leaked"
    body = response.json()
    aws = body["awsTempCredentials"]
    location = body["storageLocation"]
    assert location.startswith("s3://lakeshare/folders/")
    prefix = location.removeprefix("s3://lakeshare/") + "/"
    s3 = boto3.client("s3", endpoint_url=aws["endpoint"], region_name="us-east-1",
                      aws_access_key_id=aws["accessKeyId"], aws_secret_access_key=aws["secretAccessKey"],
                      aws_session_token=aws["sessionToken"])
    listed = s3.list_objects_v2(Bucket="lakeshare", Prefix=prefix)
    keys = sorted(o["Key"].removeprefix(prefix) for o in listed.get("Contents", []))
    files = sorted(f["path"] for f in client.items(f"{asset}/files"))
    assert keys == files and files
    downloaded = client.download(asset, files[:1])
    content = s3.get_object(Bucket="lakeshare", Key=prefix + files[0])["Body"].read()
    assert content == downloaded[files[0]][0]
    # Scoped to that folder: a table's files are out of reach.
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        s3.list_objects_v2(Bucket="lakeshare", Prefix="tables/demo/delta/trips/files/")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
