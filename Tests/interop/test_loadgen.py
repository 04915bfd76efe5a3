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


def start_relay():
    port = free_port()
    relay = subprocess.Popen(
        [sys.executable, str(REPOSITORY / "Tests" / "interop" / "peers" / "local_relay.py"), str(port), "--unlimited"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    return relay, relay.stdout.readline().decode().strip().rstrip("/")


def run_loadgen(loadgen, env, tmp_path, *arguments) -> dict:
    report_path = tmp_path / f"report-{free_port()}.json"
    run = subprocess.run([str(loadgen), "run", *arguments, "--output", str(report_path)], env=env, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr
    return json.loads(report_path.read_text())


def test_seeded_authorizations_are_served_cold_on_both_paths_without_being_loaded_at_start(signer, tmp_path):
    """`signer seed` writes straight to the store; the daemon started on it serves the sample's tokens over HTTP and
    its bunkers over NIP-46, each request the first for its authorization."""
    loadgen = pathlib.Path(os.environ.get("LOADGEN_BIN", signer.path.parent / "loadgen"))
    data = tmp_path / "data"
    sample = tmp_path / "sample.json"
    seeded = signer.ok("seed", "--data-dir", str(data), "--authorizations", "300", "--keys", "7", "--sample", "12",
                       "--sample-file", str(sample), "--sample-apps", "3", "--batch-size", "64")
    assert re.fullmatch(r"seeded 300 authorizations over 7 keys in \d+\.\d s \(\d+ authorizations/s\)\n", seeded.text), seeded.text
    assert sample.stat().st_mode & 0o777 == 0o600
    grants = json.loads(sample.read_text())["grants"]
    assert len(grants) == 12 and all(set(grant) == {"authorization_id", "user", "access_token", "bunker", "client_secret"} for grant in grants)

    relay, relay_url = start_relay()
    admin_token = "loadgen-test-" + "ef" * 16
    daemon = Daemon(signer.path, data, "--relays", relay_url, environment={"SIGNER_ADMIN_TOKEN": admin_token})
    try:
        wait_for(lambda: daemon.request("GET", "/healthz/ready").status == 200, 30, "ready with the relay subscribed")
        assert len(daemon.admin("GET", "/api/admin/authorizations").json["authorizations"]) == 300
        env = dict(os.environ, SIGNER_ADMIN_TOKEN=admin_token)
        http = run_loadgen(loadgen, env, tmp_path, "--scenario", "http-sign-event", "--server", daemon.url, "--fixture", str(sample),
                           "--cache", "cold", "--concurrency", "2", "--duration", "30", "--warmup", "0")
        assert http["operations"]["sign_event"]["errors"] == {}
        assert http["operations"]["sign_event"]["succeeded"] == 12
        daemon.stop()
        # Restarted, so each NIP-46 request is its bunker's first again.
        daemon = Daemon(signer.path, data, "--relays", relay_url, environment={"SIGNER_ADMIN_TOKEN": admin_token})
        wait_for(lambda: daemon.request("GET", "/healthz/ready").status == 200, 30, "ready again")
        nip46 = run_loadgen(loadgen, env, tmp_path, "--scenario", "nip46-sign-event", "--server", daemon.url, "--relay", relay_url,
                            "--fixture", str(sample), "--apps", "3", "--cache", "cold", "--duration", "30", "--warmup", "0")
        assert nip46["operations"]["nip46_sign_event"]["errors"] == {}
        assert nip46["operations"]["nip46_sign_event"]["succeeded"] == 12
        metrics = daemon.request("GET", "/api/metrics").body.decode()
        assert metric(metrics, "signer_nip46_requests_total", method="sign_event", outcome="ok") == 12
    finally:
        daemon.stop()
        relay.terminate()
        relay.wait()


def test_a_second_answer_to_a_request_counts_as_an_error(signer, tmp_path, postgres_database):
    """Two instances on one database and relay: without Redis both answer every request, and loadgen counts each
    second answer as `duplicate_reply`; as a cluster of two, each request is answered once."""
    from test_cluster import RedisServer

    loadgen = pathlib.Path(os.environ.get("LOADGEN_BIN", signer.path.parent / "loadgen"))
    relay, relay_url = start_relay()
    redis = RedisServer(tmp_path)
    admin_token = "loadgen-test-" + "12" * 16
    env = dict(os.environ, SIGNER_ADMIN_TOKEN=admin_token)
    fixture = tmp_path / "grants.json"
    daemons = []

    def start(name, clustered):
        environment = {"SIGNER_ADMIN_TOKEN": admin_token}
        if clustered:
            environment.update(SIGNER_REDIS_URL=f"redis://127.0.0.1:{redis.port}/0", SIGNER_CLUSTER_MEMBER_ID=name,
                               SIGNER_CLUSTER_HEARTBEAT_MS="500", SIGNER_CLUSTER_EXPIRY_MS="1500")
        daemon = Daemon(signer.path, tmp_path / name, "--database-url", postgres_database, "--relays", relay_url,
                        "--kek-path", str(tmp_path / "kek"), environment=environment)
        daemons.append(daemon)
        wait_for(lambda: daemon.request("GET", "/healthz/ready").status == 200, 30, f"{name} ready")
        return daemon

    # One app, one request every 500 ms: every answer to a request comes before the next request is sent.
    schedule = ["--scenario", "nip46-sign-event", "--relay", relay_url, "--fixture", str(fixture), "--apps", "1",
                "--nip46-rate", "2", "--duration", "2", "--warmup", "0"]
    try:
        first = start("a", clustered=False)
        setup = subprocess.run([str(loadgen), "setup", "--server", first.url, "--relay", relay_url, "--authorizations", "1", "--apps", "1",
                                "--fixture", str(fixture)], env=env, capture_output=True, text=True, timeout=60)
        assert setup.returncode == 0, setup.stderr
        # Started after the authorization exists, so its start-up load finds the bunker.
        start("b", clustered=False)
        doubled = run_loadgen(loadgen, env, tmp_path, "--server", first.url, *schedule)["operations"]["nip46_sign_event"]
        assert doubled["succeeded"] == 4
        assert doubled["errors"] == {"duplicate_reply": 4}
        for daemon in daemons:
            daemon.stop()
        daemons.clear()

        first = start("a", clustered=True)
        second = start("b", clustered=True)
        for name, daemon in (("a", first), ("b", second)):
            wait_for(lambda: daemon.request("GET", "/healthz/ready").json["checks"]["cluster"].startswith(f"member {name} of 2,"), 30, "a ring of two")
        once = run_loadgen(loadgen, env, tmp_path, "--server", first.url, *schedule)["operations"]["nip46_sign_event"]
        assert once["succeeded"] == 4
        assert once["errors"] == {}
    finally:
        for daemon in daemons:
            daemon.stop()
        redis.kill()
        relay.terminate()
        relay.wait()
