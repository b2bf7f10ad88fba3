"""HTTPS on the listener (issue 15, part 7): a test CA signs the gateway's certificate; the
Python connector reads the demo over https trusting that CA, a client without it is refused,
and a renewed certificate is served after a reload without a restart."""

from __future__ import annotations

import datetime
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from ipaddress import IPv4Address

import deltalake
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import free_port, lakeshare_bin, trips_share

TOKEN = "tls-token-0123456789abcdef"


def name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_ca():
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name("lakeshare test CA")).issuer_name(name("lakeshare test CA"))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def make_leaf(ca_key, ca_cert, serial: int):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name("127.0.0.1")).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(serial)
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return key, cert


def write_pem(path, key=None, cert=None):
    if cert is not None:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    else:
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))


@pytest.fixture(scope="module")
def tls_gateway(demo, tmp_path_factory):
    work = tmp_path_factory.mktemp("tls-gateway")
    ca_key, ca_cert = make_ca()
    write_pem(work / "ca.pem", cert=ca_cert)
    key, cert = make_leaf(ca_key, ca_cert, serial=1001)
    write_pem(work / "server.pem", cert=cert)
    write_pem(work / "server.key", key=key)
    port = free_port()
    trips = demo / "data" / "delta" / "trips"
    (work / "config.yaml").write_text(f"""
server: {{ listen: "127.0.0.1:{port}", tls: {{ cert: server.pem, key: server.key }} }}
{trips_share(trips, history=False)}recipients:
  - {{ name: tls, token: "{TOKEN}", shares: [demo] }}
""")
    log = work / "lakeshare.log"
    process = subprocess.Popen([str(lakeshare_bin()), "serve", "--config", str(work / "config.yaml")],
                               stdout=log.open("w"), stderr=subprocess.STDOUT)
    endpoint = f"https://127.0.0.1:{port}/delta-sharing"
    deadline = time.time() + 60
    while True:
        try:
            if requests.get(f"https://127.0.0.1:{port}/health", verify=str(work / "ca.pem"), timeout=2).ok:
                break
        except requests.RequestException:
            pass
        assert process.poll() is None and time.time() < deadline, log.read_text()
        time.sleep(0.2)
    yield {"work": work, "port": port, "endpoint": endpoint, "process": process, "ca": (ca_key, ca_cert),
           "trips": trips, "log": log}
    process.terminate()
    process.wait(timeout=10)


def served_serial(port: int, ca_file) -> int:
    context = ssl.create_default_context(cafile=str(ca_file))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True)).serial_number


def test_the_connector_reads_over_https_with_the_test_ca(tls_gateway, tmp_path):
    work = tls_gateway["work"]
    profile = tmp_path / "tls.share"
    profile.write_text(json.dumps({"shareCredentialsVersion": 1, "endpoint": tls_gateway["endpoint"],
                                   "bearerToken": TOKEN}))
    # In a process of its own, so that every HTTP stack in it (requests, aiohttp) starts with the CA.
    script = (
        "import delta_sharing, sys\n"
        f"df = delta_sharing.load_as_pandas({str(profile)!r} + '#demo.delta.trips')\n"
        "print(len(df))\n"
    )
    env = {**os.environ, "REQUESTS_CA_BUNDLE": str(work / "ca.pem"), "SSL_CERT_FILE": str(work / "ca.pem")}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    want = len(deltalake.DeltaTable(str(tls_gateway["trips"])).to_pandas())
    assert int(done.stdout.strip()) == want
    # The signed file URLs are https too.
    answer = requests.post(tls_gateway["endpoint"] + "/shares/demo/schemas/delta/tables/trips/query",
                           headers={"Authorization": f"Bearer {TOKEN}"}, json={"maxFiles": 1},
                           verify=str(work / "ca.pem"), timeout=30)
    url = next(json.loads(line)["file"]["url"] for line in answer.text.splitlines() if '"file"' in line)
    assert url.startswith(f"https://127.0.0.1:{tls_gateway['port']}/files/")


def test_a_client_without_the_ca_is_refused(tls_gateway):
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(tls_gateway["endpoint"] + "/shares", headers={"Authorization": f"Bearer {TOKEN}"},
                     timeout=10)
    # Plain HTTP on the TLS port gets no answer from the API.
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://127.0.0.1:{tls_gateway['port']}/health", timeout=10)


def test_a_renewed_certificate_is_served_after_a_reload(tls_gateway):
    work, port = tls_gateway["work"], tls_gateway["port"]
    assert served_serial(port, work / "ca.pem") == 1001
    ca_key, ca_cert = tls_gateway["ca"]
    key, cert = make_leaf(ca_key, ca_cert, serial=2002)
    # The renewal replaces both files in place, as certbot's deploy hooks do; the file watch sees it.
    write_pem(work / "server.key", key=key)
    write_pem(work / "server.pem", cert=cert)
    deadline = time.time() + 15
    while served_serial(port, work / "ca.pem") != 2002:
        assert time.time() < deadline, tls_gateway["log"].read_text()
        time.sleep(0.3)
    # A key that does not fit is refused on reload, and the running certificate stays.
    other_key, _ = make_leaf(ca_key, ca_cert, serial=3003)
    write_pem(work / "server.key", key=other_key)
    tls_gateway["process"].send_signal(signal.SIGHUP)
    deadline = time.time() + 15
    while "server.tls: the key does not fit the certificate" not in tls_gateway["log"].read_text():
        assert time.time() < deadline, tls_gateway["log"].read_text()
        time.sleep(0.3)
    assert served_serial(port, work / "ca.pem") == 2002
    assert requests.get(f"https://127.0.0.1:{port}/health", verify=str(work / "ca.pem"), timeout=5).ok
