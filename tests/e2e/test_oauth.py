"""Recipients with OAuth 2.0 client credentials (issue 15, part 1): the Python connector reads
the demo through a version 2 `oauth_client_credentials` profile written by `lakeshare
profile --oauth`, fetching access tokens from the gateway's token endpoint; pyiceberg gets its
own from the Iceberg catalog's token route. Raw HTTP pins RFC 6749's answers."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import time

import deltalake
import delta_sharing
import pandas as pd
import pytest
import requests
from pyiceberg.catalog.rest import RestCatalog

from conftest import Gateway, lakeshare_bin, trips_share

CLIENT_ID = "partner-app"
CLIENT_SECRET = "client-secret-0123456789abcdef"
#: A secret with characters form encoding changes, sent raw in HTTP Basic by some clients.
PLUS_ID = "plus-app"
PLUS_SECRET = "with+plus%2Fand-0123456789"
#: Short, so that a test can outlive a token.
TOKEN_TTL = 5


@pytest.fixture(scope="module")
def gateway(demo, tmp_path_factory):
    work = tmp_path_factory.mktemp("oauth-gateway")
    trips = demo / "data" / "delta" / "trips"
    secret_sha = hashlib.sha256(CLIENT_SECRET.encode()).hexdigest()
    plus_sha = hashlib.sha256(PLUS_SECRET.encode()).hexdigest()
    config = f"""
server: {{ listen: "127.0.0.1:{{port}}", access_token_ttl_seconds: {TOKEN_TTL} }}
{trips_share(trips)}recipients:
  - name: partner
    oauth: {{ client_id: {CLIENT_ID}, client_secret_sha256: "{secret_sha}" }}
    shares: [demo]
  - name: plus
    oauth: {{ client_id: {PLUS_ID}, client_secret_sha256: "{plus_sha}" }}
    shares: [demo]
"""
    gw = Gateway(work, config)
    gw.work = work
    yield gw
    gw.stop()


@pytest.fixture(scope="module")
def profile(gateway) -> str:
    path = gateway.work / "oauth.share"
    subprocess.run(
        [str(lakeshare_bin()), "profile", "--config", str(gateway.config), "--oauth",
         "--client-id", CLIENT_ID, "--out", str(path)],
        env={"LAKESHARE_CLIENT_SECRET": CLIENT_SECRET, "PATH": "/usr/bin:/bin"},
        check=True, capture_output=True,
    )
    return str(path)


def token_endpoint(gateway) -> str:
    return gateway.endpoint + "/oauth/token"


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def ask_token(gateway, **kwargs) -> requests.Response:
    return requests.post(token_endpoint(gateway), timeout=10, **kwargs)


def test_the_profile_is_a_version_two_client_credentials_profile(profile, gateway):
    p = json.loads(open(profile).read())
    assert p["shareCredentialsVersion"] == 2 and p["type"] == "oauth_client_credentials"
    assert p["tokenEndpoint"] == token_endpoint(gateway)
    assert (p["clientId"], p["clientSecret"]) == (CLIENT_ID, CLIENT_SECRET)


def test_the_connector_reads_the_demo_with_access_tokens_it_fetches(profile, demo):
    want = deltalake.DeltaTable(str(demo / "data" / "delta" / "trips")).to_pandas()
    got = delta_sharing.load_as_pandas(f"{profile}#demo.delta.trips")
    assert len(got) == len(want)
    assert sorted(got["trip_id"]) == sorted(want["trip_id"])
    # The tokens live 5 s: a later read works only if the connector fetches a new one.
    time.sleep(TOKEN_TTL + 1)
    tables = delta_sharing.SharingClient(profile).list_all_tables()
    assert [t.name for t in tables] == ["trips"]


def test_an_access_token_works_until_it_expires(gateway):
    answer = ask_token(gateway, data={"grant_type": "client_credentials"},
                       headers={"Authorization": basic(CLIENT_ID, CLIENT_SECRET)})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "Bearer" and 0 < body["expires_in"] <= TOKEN_TTL
    assert answer.headers["Cache-Control"] == "no-store"
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert requests.get(gateway.endpoint + "/shares", headers=headers, timeout=10).status_code == 200
    time.sleep(TOKEN_TTL + 1)
    expired = requests.get(gateway.endpoint + "/shares", headers=headers, timeout=10)
    assert expired.status_code == 401
    assert "expired" in expired.json()["message"]


def test_credentials_in_the_body_work_too(gateway):
    answer = ask_token(gateway, data={"grant_type": "client_credentials", "client_id": CLIENT_ID,
                                      "client_secret": CLIENT_SECRET})
    assert answer.status_code == 200, answer.text


def test_basic_credentials_work_form_encoded_or_as_sent(gateway):
    from urllib.parse import quote_plus

    for client_id, secret in [(PLUS_ID, PLUS_SECRET), (quote_plus(PLUS_ID), quote_plus(PLUS_SECRET))]:
        answer = ask_token(gateway, data={"grant_type": "client_credentials"},
                           headers={"Authorization": basic(client_id, secret)})
        assert answer.status_code == 200, (secret, answer.text)


def test_wrong_client_credentials_are_invalid_client(gateway):
    for client_id, secret in [(CLIENT_ID, "wrong-secret"), ("someone-else", CLIENT_SECRET)]:
        answer = ask_token(gateway, data={"grant_type": "client_credentials"},
                           headers={"Authorization": basic(client_id, secret)})
        assert answer.status_code == 401
        assert answer.json()["error"] == "invalid_client"
        assert answer.headers["WWW-Authenticate"].startswith("Basic")
        assert CLIENT_SECRET not in answer.text
    missing = ask_token(gateway, data={"grant_type": "client_credentials"})
    assert missing.status_code == 401 and missing.json()["error"] == "invalid_client"


def test_malformed_token_requests_are_named(gateway):
    auth = {"Authorization": basic(CLIENT_ID, CLIENT_SECRET)}
    grant = ask_token(gateway, data={"grant_type": "password"}, headers=auth)
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"
    assert "client_credentials" in grant.json()["error_description"]
    no_grant = ask_token(gateway, data={}, headers=auth)
    assert no_grant.status_code == 400 and no_grant.json()["error"] == "invalid_request"
    json_body = ask_token(gateway, json={"grant_type": "client_credentials"}, headers=auth)
    assert json_body.status_code == 400 and json_body.json()["error"] == "invalid_request"
    twice = ask_token(gateway, data={"grant_type": "client_credentials", "client_id": CLIENT_ID,
                                     "client_secret": CLIENT_SECRET}, headers=auth)
    assert twice.status_code == 400 and twice.json()["error"] == "invalid_request"


def test_a_forged_access_token_is_refused(gateway):
    answer = ask_token(gateway, data={"grant_type": "client_credentials"},
                       headers={"Authorization": basic(CLIENT_ID, CLIENT_SECRET)})
    token = answer.json()["access_token"]
    forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    refused = requests.get(gateway.endpoint + "/shares", headers={"Authorization": f"Bearer {forged}"},
                           timeout=10)
    assert refused.status_code == 401


def test_pyiceberg_gets_tokens_from_the_iceberg_token_route(gateway, demo):
    catalog = RestCatalog("demo", uri=gateway.endpoint + "/iceberg/", warehouse="demo",
                          credential=f"{CLIENT_ID}:{CLIENT_SECRET}")
    assert ("delta",) in catalog.list_namespaces()
    table = catalog.load_table("delta.trips")
    got = table.scan().to_pandas()
    want = deltalake.DeltaTable(str(demo / "data" / "delta" / "trips")).to_pandas()
    assert len(got) == len(want)
    # Past the token's life pyiceberg gets a 401, asks for a new token (its session still
    # sending the old one) and carries on.
    time.sleep(TOKEN_TTL + 1)
    assert ("delta", "trips") in catalog.list_tables("delta")
    refused = requests.post(gateway.endpoint + "/iceberg/v1/oauth/tokens", timeout=10,
                            data={"grant_type": "client_credentials", "client_id": CLIENT_ID,
                                  "client_secret": "wrong"})
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
