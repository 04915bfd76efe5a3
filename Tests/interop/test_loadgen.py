"""The load generator against the real daemon and LocalRelay: its counts must match what the signer itself counted,
so `make bench` figures cannot include a request the signer did not serve."""

import json
import os
import pathlib
import re
import subprocess
import sys

from conftest import REPOSITORY, Daemon
from test_daemon import free_port, wait_for


def metric(text: str, name: str, **labels) -> float:
    """The value of one sample of `name` whose labels include `labels` (0 when there is none)."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line[len(name):line.rindex("}") + 1]))
        if all(found.get(key) == value for key, value in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_mixed_scenario_counts_exactly_what_the_signer_served(signer, tmp_path):
    loadgen = pathlib.Path(os.environ.get("LOADGEN_BIN", signer.path.parent / "loadgen"))
    port = free_port()
    relay = subprocess.Popen(
        [sys.executable, str(REPOSITORY / "Tests" / "interop" / "peers" / "local_relay.py"), str(port), "--unlimited"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    try:
        relay_url = relay.stdout.readline().decode().strip().rstrip("/")
        admin_token = "loadgen-test-" + "ab" * 16
        daemon = Daemon(signer.path, tmp_path / "data", "--relays", relay_url,
                        environment={"SIGNER_ADMIN_TOKEN": admin_token, "SIGNER_ADMIN_REQUESTS_PER_SECOND": "0"})
        try:
            wait_for(lambda: daemon.request("GET", "/healthz/ready").status == 200, 30, "ready with the relay subscribed")
            env = dict(os.environ, SIGNER_ADMIN_TOKEN=admin_token)
            fixture = tmp_path / "grants.json"
            setup = subprocess.run([str(loadgen), "setup", "--server", daemon.url, "--relay", relay_url, "--authorizations", "6",
                                    "--apps", "3", "--fixture", str(fixture)], env=env, capture_output=True, text=True, timeout=120)
            assert setup.returncode == 0, setup.stderr
            assert setup.stdout.startswith(f"6 authorizations written to {fixture} in ")
            # The fixture holds secrets: the owner alone may read it.
            assert fixture.stat().st_mode & 0o777 == 0o600
            assert len(json.loads(fixture.read_text())["grants"]) == 6

            report_path = tmp_path / "report.json"
            run = subprocess.run([str(loadgen), "run", "--scenario", "mixed", "--server", daemon.url, "--relay", relay_url,
                                  "--fixture", str(fixture), "--apps", "3", "--concurrency", "2", "--duration", "2", "--warmup", "0",
                                  "--label", "store=sqlite", "--output", str(report_path)], env=env, capture_output=True, text=True, timeout=120)
            assert run.returncode == 0, run.stderr
            report = json.loads(report_path.read_text())
            assert report["configuration"]["scenario"] == "mixed"
            assert report["configuration"]["store"] == "sqlite"
            operations = report["operations"]
            assert sorted(operations) == ["get_public_key", "nip44_encrypt", "nip46_sign_event", "sign_event"]
            for name, figures in operations.items():
                assert figures["errors"] == {}, name
                assert figures["succeeded"] == figures["requests"] > 0, name
                latency = figures["latency_ms"]
                assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["p99_9"] <= latency["max"], name

            # With no warm-up every request is recorded, so the load generator's counts are the signer's.
            metrics = daemon.request("GET", "/api/metrics").body.decode()
            http_served = sum(operations[name]["succeeded"] for name in ("sign_event", "get_public_key", "nip44_encrypt"))
            assert metric(metrics, "signer_http_requests_total", route="/api/nostr", status="200") == http_served
            assert metric(metrics, "signer_http_requests_total", route="/api/nostr") == http_served
            assert metric(metrics, "signer_nip46_requests_total", method="sign_event") == operations["nip46_sign_event"]["succeeded"]
        finally:
            daemon.stop()
    finally:
        relay.terminate()
        relay.wait()


def test_a_server_that_refuses_is_counted_as_errors_not_throughput(signer, tmp_path):
    loadgen = pathlib.Path(os.environ.get("LOADGEN_BIN", signer.path.parent / "loadgen"))
    admin_token = "loadgen-test-" + "cd" * 16
    # Without the per-address limit on failed authentication, which would soon answer 429 to both lanes.
    daemon = Daemon(signer.path, tmp_path / "data", environment={
        "SIGNER_ADMIN_TOKEN": admin_token, "SIGNER_ADMIN_REQUESTS_PER_SECOND": "0", "SIGNER_FAILED_AUTH_PER_MINUTE": "0"})
    try:
        env = dict(os.environ, SIGNER_ADMIN_TOKEN=admin_token)
        fixture = tmp_path / "grants.json"
        assert subprocess.run([str(loadgen), "setup", "--server", daemon.url, "--authorizations", "2", "--fixture", str(fixture)],
                              env=env, capture_output=True, timeout=60).returncode == 0
        grants = json.loads(fixture.read_text())["grants"]
        assert daemon.admin("DELETE", f"/api/admin/authorizations/{grants[0]['authorization_id']}").status in (200, 204)
        report_path = tmp_path / "report.json"
        run = subprocess.run([str(loadgen), "run", "--scenario", "http-get-public-key", "--server", daemon.url, "--fixture", str(fixture),
                              "--concurrency", "2", "--duration", "1", "--warmup", "0", "--output", str(report_path)],
                             env=env, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        figures = json.loads(report_path.read_text())["operations"]["get_public_key"]
        # Lane 0 uses the revoked authorization only; lane 1 the live one.
        assert set(figures["errors"]) == {"401 unauthorized"}
        assert figures["errors"]["401 unauthorized"] + figures["succeeded"] == figures["requests"]
        assert figures["succeeded"] > 0
        metrics = daemon.request("GET", "/api/metrics").body.decode()
        assert metric(metrics, "signer_http_requests_total", route="/api/nostr", status="200") == figures["succeeded"]
    finally:
        daemon.stop()
