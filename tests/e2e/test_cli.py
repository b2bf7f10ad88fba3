"""The provider's commands: token, check, profile, and serve refusing a bad configuration."""

from __future__ import annotations

import hashlib
import json
import subprocess

from conftest import copy_delta_fixtures, lakeshare_bin


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(lakeshare_bin()), *args], capture_output=True, text=True, timeout=120, env=env)


def test_token_prints_a_token_and_its_sha256():
    out = run("token")
    assert out.returncode == 0, out.stderr
    fields = dict(line.split(":", 1) for line in out.stdout.strip().splitlines())
    token, digest = fields["token"].strip(), fields["token_sha256"].strip()
    assert len(token) >= 32
    assert hashlib.sha256(token.encode()).hexdigest() == digest


def test_check_opens_every_table_one_line_each(tmp_path):
    tables = copy_delta_fixtures(tmp_path / "delta")
    (tmp_path / "empty").mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(
        f"""
shares:
  - name: s
    schemas:
      - name: d
        tables:
          - {{ name: simple, location: "{tables / 'simple_table'}" }}
          - {{ name: parts, location: "{tables / 'delta-0.8.0-partitioned'}", format: delta }}
          - {{ name: nothing, location: "{tmp_path / 'empty'}" }}
"""
    )
    out = run("check", "--config", str(config))
    assert out.returncode == 1, out.stdout + out.stderr
    lines = out.stdout.strip().splitlines()
    assert "configuration is valid" in lines[0]
    assert lines[1].startswith("ok    s.d.simple  delta version 4, 5 files")
    assert lines[2].startswith("ok    s.d.parts  delta version 0, 6 files")
    assert lines[3].startswith("FAIL  s.d.nothing") and "no table format could be detected" in lines[3]


def test_serve_refuses_a_bad_configuration_naming_the_field(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("shares:\n  - name: s\n    schemas:\n      - name: d\n        tables:\n          - { name: t, locaton: /x }\n")
    out = run("serve", "--config", str(config))
    assert out.returncode != 0
    assert "shares[0].schemas[0].tables[0]" in out.stderr and "locaton" in out.stderr, out.stderr
    assert "line 6" in out.stderr, out.stderr


def test_profile_writes_a_profile_for_a_configured_token(tmp_path):
    token = "a-recipient-token-0123456789"
    config = tmp_path / "config.yaml"
    digest = hashlib.sha256(token.encode()).hexdigest()
    config.write_text(
        f"server: {{ public_url: 'https://share.example.com' }}\n"
        f"shares: [{{ name: s }}]\nrecipients: [{{ name: acme, token_sha256: '{digest}', shares: [s] }}]\n"
    )
    out = run("profile", "--config", str(config), "--token", token, "--out", str(tmp_path / "acme.share"))
    assert out.returncode == 0, out.stderr
    profile = json.loads((tmp_path / "acme.share").read_text())
    assert profile == {
        "shareCredentialsVersion": 1,
        "endpoint": "https://share.example.com/delta-sharing",
        "icebergEndpoint": "https://share.example.com/delta-sharing/iceberg/",
        "bearerToken": token,
    }
    assert (tmp_path / "acme.share").stat().st_mode & 0o077 == 0, "profiles hold secrets: owner-only"
    wrong = run("profile", "--config", str(config), "--token", "someone-elses-token-000000")
    assert wrong.returncode != 0 and "no recipient" in wrong.stderr


def test_hudi_options_are_refused_where_they_cannot_apply(tmp_path):
    """`hudi:` options on a table declared in another format stop the configuration; on a table
    detected as another format, `check` names the mismatch; unknown option keys are refused."""
    tables = copy_delta_fixtures(tmp_path / "delta")
    simple = tables / "simple_table"
    declared = tmp_path / "declared.yaml"
    declared.write_text(
        "shares:\n  - name: s\n    schemas:\n      - name: d\n        tables:\n"
        f'          - {{ name: t, location: "{simple}", format: delta, hudi: {{ read_optimized: true }} }}\n'
    )
    out = run("check", "--config", str(declared))
    assert out.returncode != 0
    assert "shares[0].schemas[0].tables[0].hudi" in out.stderr and "Hudi tables only" in out.stderr, out.stderr

    detected = tmp_path / "detected.yaml"
    detected.write_text(
        "shares:\n  - name: s\n    schemas:\n      - name: d\n        tables:\n"
        f'          - {{ name: t, location: "{simple}", hudi: {{ meta_fields: true }} }}\n'
    )
    out = run("check", "--config", str(detected))
    assert out.returncode == 1
    assert "FAIL  s.d.t" in out.stdout and "hudi: options" in out.stdout and "delta table" in out.stdout, out.stdout

    unknown = tmp_path / "unknown.yaml"
    unknown.write_text(
        "shares:\n  - name: s\n    schemas:\n      - name: d\n        tables:\n"
        f'          - {{ name: t, location: "{simple}", hudi: {{ read_optimised: true }} }}\n'
    )
    out = run("check", "--config", str(unknown))
    assert out.returncode != 0
    assert "read_optimised" in out.stderr, out.stderr
