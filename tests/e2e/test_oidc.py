"""OIDC federation (issue 15, part 2): recipients whose own identity provider signs JWTs. The
test starts that provider, an HTTP server publishing a discovery document and a JWKS, signs
tokens with PyJWT, and checks that the gateway accepts the good ones (the Python connector and
pyiceberg read with them) and refuses every forgery with 401."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import deltalake
import delta_sharing
import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pyiceberg.catalog.rest import RestCatalog

from conftest import Gateway, free_port, trips_share

AUDIENCE = "lakeshare-gateway"
SUBJECT = "partner-etl"


class IdentityProvider:
    """A minimal OpenID provider: discovery and JWKS only, keys added while it runs."""

    def __init__(self):
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.keys: dict[str, object] = {}
        self.published: list[str] = []
        self.jwks_fetches = 0
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the http.server API)
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": provider.issuer, "jwks_uri": provider.issuer + "/keys"}
                elif self.path == "/keys":
                    provider.jwks_fetches += 1
                    body = {"keys": [provider.jwk(kid) for kid in provider.published]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add_key(self, kid: str, kind: str, publish: bool = True) -> None:
        if kind == "RS256":
            self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            self.keys[kid] = ec.generate_private_key(ec.SECP256R1())
        if publish:
            self.published.append(kid)

    def jwk(self, kid: str) -> dict:
        key = self.keys[kid]
        alg = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
        algorithm = jwt.algorithms.RSAAlgorithm if alg == "RS256" else jwt.algorithms.ECAlgorithm
        jwk = json.loads(algorithm.to_jwk(key.public_key()))
        return {**jwk, "kid": kid, "alg": alg, "use": "sig"}

    def public_pem(self, kid: str) -> bytes:
        return self.keys[kid].public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def token(self, kid: str = "rsa-1", signer: str | None = None, **claims) -> str:
        key = self.keys[signer or kid]
        alg = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
        now = int(time.time())
        body = {"iss": self.issuer, "aud": AUDIENCE, "sub": SUBJECT, "iat": now, "exp": now + 300}
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, key, algorithm=alg, headers={"kid": kid})

    def stop(self) -> None:
        self.server.shutdown()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def idp():
    provider = IdentityProvider()
    provider.add_key("rsa-1", "RS256")
    provider.add_key("ec-1", "ES256")
    provider.add_key("rogue", "RS256", publish=False)
    yield provider
    provider.stop()


@pytest.fixture(scope="module")
def gateway(demo, idp, tmp_path_factory):
    work = tmp_path_factory.mktemp("oidc-gateway")
    trips = demo / "data" / "delta" / "trips"
    down = f"http://127.0.0.1:{free_port()}"
    config = f"""
server: {{ listen: "127.0.0.1:{{port}}" }}
{trips_share(trips)}  - name: other
recipients:
  - name: partner
    oidc: {{ issuer: "{idp.issuer}", audiences: [{AUDIENCE}, spare], subject: {SUBJECT} }}
    shares: [demo]
  - name: by-client-id
    oidc: {{ issuer: "{idp.issuer}", audiences: [{AUDIENCE}], subject_claim: client_id, subject: "42" }}
    shares: [other]
  - name: unreachable-idp
    oidc: {{ issuer: "{down}", audiences: [{AUDIENCE}], subject: someone }}
    shares: [demo]
"""
    gw = Gateway(work, config)
    gw.work = work
    gw.down_issuer = down
    yield gw
    gw.stop()


def shares(gateway, token: str) -> requests.Response:
    return requests.get(gateway.endpoint + "/shares",
                        headers={"Authorization": f"Bearer {token}"}, timeout=10)


def test_tokens_of_the_federated_provider_are_accepted(gateway, idp):
    for kid in ["rsa-1", "ec-1"]:
        answer = shares(gateway, idp.token(kid))
        assert answer.status_code == 200, (kid, answer.text)
        assert [s["name"] for s in answer.json()["items"]] == ["demo"]
    # Another claim names another recipient; a numeric claim is compared as written.
    other = shares(gateway, idp.token(sub="anyone", client_id=42))
    assert other.status_code == 200, other.text
    assert [s["name"] for s in other.json()["items"]] == ["other"]
    # `aud` may be a list; one accepted audience is enough.
    assert shares(gateway, idp.token(aud=["someone-else", "spare"])).status_code == 200


def test_the_connector_and_pyiceberg_read_with_a_federated_token(gateway, idp, demo, tmp_path):
    token = idp.token()
    profile = gateway.profile(tmp_path / "oidc.share", token)
    want = deltalake.DeltaTable(str(demo / "data" / "delta" / "trips")).to_pandas()
    got = delta_sharing.load_as_pandas(f"{profile}#demo.delta.trips")
    assert sorted(got["trip_id"]) == sorted(want["trip_id"])
    catalog = RestCatalog("oidc", uri=gateway.endpoint + "/iceberg", token=token, warehouse="demo")
    assert ("delta",) in catalog.list_namespaces()
    assert catalog.load_table("delta.trips").scan().to_arrow().num_rows == len(want)


@pytest.mark.parametrize("case", [
    "expired", "not-yet-valid", "wrong-audience", "no-audience", "wrong-issuer", "unknown-kid",
    "wrong-key", "tampered", "wrong-subject", "alg-none", "hs256-with-the-public-key",
])
def test_forged_or_stale_tokens_are_refused(gateway, idp, case):
    now = int(time.time())
    good = idp.token()
    header, payload, signature = good.split(".")
    token = {
        # Past the gateway's 60 s of allowed skew.
        "expired": lambda: idp.token(exp=now - 120),
        "not-yet-valid": lambda: idp.token(nbf=now + 600),
        "wrong-audience": lambda: idp.token(aud="another-service"),
        "no-audience": lambda: idp.token(aud=None),
        "wrong-issuer": lambda: idp.token(iss="http://127.0.0.1:1"),
        "unknown-kid": lambda: idp.token("rogue"),
        "wrong-key": lambda: idp.token("rsa-1", signer="rogue"),
        "tampered": lambda: ".".join([header, b64(json.dumps(
            {**json.loads(base64.urlsafe_b64decode(payload + "==")), "sub": "admin"}).encode()), signature]),
        "wrong-subject": lambda: idp.token(sub="somebody-else"),
        "alg-none": lambda: ".".join([
            b64(json.dumps({"alg": "none", "typ": "JWT", "kid": "rsa-1"}).encode()), payload, ""]),
        "hs256-with-the-public-key": lambda: hs256(idp.public_pem("rsa-1"), payload),
    }[case]()
    answer = shares(gateway, token)
    assert answer.status_code == 401, (case, answer.text)
    assert answer.json()["errorCode"] == "UNAUTHENTICATED"


def hs256(secret: bytes, payload: str) -> str:
    """A token 'signed' with the provider's public key as an HMAC secret: the classic
    algorithm-confusion forgery, which a verifier keyed by the header's alg would accept."""
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
    mac = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(mac)}"


def test_a_small_clock_skew_is_allowed(gateway, idp):
    now = int(time.time())
    assert shares(gateway, idp.token(exp=now - 20)).status_code == 200
    assert shares(gateway, idp.token(nbf=now + 20)).status_code == 200


def test_a_rotated_key_is_fetched_when_a_token_names_it(gateway, idp):
    assert shares(gateway, idp.token()).status_code == 200
    fetches = idp.jwks_fetches
    idp.add_key("rsa-2", "RS256")
    # Fetches of the keys are at most one per 5 s.
    time.sleep(5.2)
    answer = shares(gateway, idp.token("rsa-2"))
    assert answer.status_code == 200, answer.text
    assert idp.jwks_fetches == fetches + 1
    # Known keys are not fetched again.
    for _ in range(5):
        assert shares(gateway, idp.token("rsa-1")).status_code == 200
    assert idp.jwks_fetches == fetches + 1


def test_made_up_key_ids_do_not_hammer_the_provider(gateway, idp):
    time.sleep(5.2)
    fetches = idp.jwks_fetches
    for i in range(20):
        assert shares(gateway, idp.token(f"made-up-{i}", signer="rogue")).status_code == 401
    assert idp.jwks_fetches <= fetches + 1


def test_an_unreachable_provider_is_a_503_not_a_401(gateway, idp):
    key = idp.keys["rsa-1"]
    now = int(time.time())
    token = jwt.encode({"iss": gateway.down_issuer, "aud": AUDIENCE, "sub": "someone", "exp": now + 300},
                       key, algorithm="RS256", headers={"kid": "rsa-1"})
    answer = shares(gateway, token)
    assert answer.status_code == 503, answer.text
    assert "identity provider" in answer.json()["message"]
    assert gateway.down_issuer not in answer.text
