"""`signer serve`, the real binary, on PostgreSQL: the operator commands, the HTTP RPC checked by nostr-sdk,
token isolation and revocation, SIGTERM under load, and the database going away and coming back."""

import json
import os
import pathlib
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

import pytest
from nostr_sdk import Event

from conftest import REPOSITORY, Daemon

SERVICES_SCRIPT = os.environ.get("SIGNER_TEST_SERVICES_SCRIPT")


@pytest.fixture
def daemon(signer, tmp_path, postgres_database):
    started = Daemon(signer.path, tmp_path / "data", "--database-url", postgres_database)
    started.database_url = postgres_database
    yield started
    started.kill()


def cli(signer, daemon, *arguments, stdin: bytes = b""):
    """An operator command against `daemon`, finding the admin token in the data directory as on the server's host."""
    return signer.run(*arguments, "--server", daemon.url, "--data-dir", str(daemon.data_dir), stdin=stdin)


def create_key(signer, daemon, label: str) -> dict:
    result = cli(signer, daemon, "keys", "create", "--label", label, "--json")
    assert result.returncode == 0, result.error_line
    return json.loads(result.text)


def create_authorization(signer, daemon, key_id: str, name: str, policy: str = "full") -> dict:
    result = cli(signer, daemon, "authorizations", "create", key_id, "--name", name, "--policy", policy, "--json")
    assert result.returncode == 0, result.error_line
    return json.loads(result.text)


def signed_note(daemon, token: str, content: str) -> dict:
    reply = daemon.rpc(token, "sign_event", {"kind": 1, "content": content, "tags": [], "created_at": int(time.time())})
    assert reply.status == 200, reply.body
    return reply.json["result"]


def audit_entries(signer, daemon, *filters) -> list:
    result = cli(signer, daemon, "audit", "--limit", "1000", "--json", *filters)
    assert result.returncode == 0, result.error_line
    return json.loads(result.text)["entries"]


def test_operator_commands_drive_the_server_and_tokens_act_only_for_their_own_authorization(signer, daemon):
    data = daemon.data_dir
    # The generated admin token was printed once and left for the operator commands, for this user only.
    token_file = data / "admin-token"
    assert token_file.read_text() == daemon.admin_token + "\n"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600

    alice = create_key(signer, daemon, "alice")
    bob = create_key(signer, daemon, "bob")
    listed = cli(signer, daemon, "keys", "list")
    assert listed.returncode == 0
    lines = listed.text.splitlines()
    assert lines[0].split() == ["ID", "NPUB", "LABEL", "CREATED"]
    identity = daemon.request("GET", "/.well-known/nostr.json?name=_").json["names"]["_"]
    keys = {key["pubkey"]: key for key in json.loads(cli(signer, daemon, "keys", "list", "--json").text)["keys"]}
    assert keys[identity]["label"] == "signer identity (NIP-05 names._)"
    assert sorted(line.split()[:3] for line in lines[1:] if keys[identity]["id"] not in line) == sorted(
        [[alice["id"], alice["npub"], "alice"], [bob["id"], bob["npub"], "bob"]]
    )

    first = create_authorization(signer, daemon, alice["id"], "first")
    second = create_authorization(signer, daemon, bob["id"], "second")
    assert first["bunker_url"].startswith("bunker://" + first["bunker_pubkey"] + "?")

    # Each token signs with its own authorization's key and no other, checked by nostr-sdk.
    for authorization, key in ((first, alice), (second, bob)):
        assert daemon.rpc(authorization["access_token"], "get_public_key").json == {"result": key["pubkey"]}
        note = signed_note(daemon, authorization["access_token"], "hello from " + authorization["name"])
        event = Event.from_json(json.dumps(note))
        assert event.verify()
        assert event.author().to_hex() == key["pubkey"]
        assert event.content() == "hello from " + authorization["name"]

    # Revocation through the command takes effect on the very next request; the other authorization is untouched.
    revoked = cli(signer, daemon, "authorizations", "revoke", first["id"])
    assert (revoked.returncode, revoked.text) == (0, f"revoked authorization {first['id']}\n")
    refused = daemon.rpc(first["access_token"], "get_public_key")
    assert (refused.status, refused.json) == (
        401, {"error": "the access token is unknown, revoked, expired or used up", "code": "unauthorized"}
    )
    assert daemon.rpc(second["access_token"], "get_public_key").status == 200

    table = cli(signer, daemon, "authorizations", "list", "--key-id", alice["id"]).text.splitlines()
    assert table[0].split() == ["ID", "NAME", "KEY", "POLICY", "USES", "STATE", "CREATED"]
    assert table[1].split()[:6] == [first["id"], "first", alice["id"], "full", "0", "revoked"]

    # The audit trail names what each authorization did (written in batches, so allow it a moment).
    deadline = time.monotonic() + 10
    while True:
        entries = audit_entries(signer, daemon, "--authorization-id", first["id"])
        methods = sorted(entry["method"] for entry in entries)
        if methods == ["create_authorization", "get_public_key", "revoke_authorization", "sign_event"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert methods == ["create_authorization", "get_public_key", "revoke_authorization", "sign_event"]

    # Errors are one line, with the server's reason.
    assert cli(signer, daemon, "keys", "delete", bob["id"]).error_line == (
        "Error: deleting a key destroys it for good; pass --yes to confirm"
    )
    assert cli(signer, daemon, "keys", "delete", "no-such-key", "--yes").error_line == (
        "Error: the signer refused: key no-such-key does not exist or is already deleted (not_found)"
    )
    deleted = cli(signer, daemon, "keys", "delete", bob["id"], "--yes")
    assert (deleted.returncode, deleted.text) == (0, f"deleted key {bob['id']}\n")
    assert daemon.rpc(second["access_token"], "get_public_key").status == 401
    wrong = signer.run("keys", "list", "--server", daemon.url, "--data-dir", "/nonexistent")
    assert wrong.error_line == (
        "Error: no admin token: set SIGNER_ADMIN_TOKEN, or run where /nonexistent/admin-token holds the one the server generated"
    )
    assert daemon.stop() == 0


def test_sigterm_under_load_answers_every_request_the_server_accepted(signer, daemon):
    key = create_key(signer, daemon, "load")
    token = create_authorization(signer, daemon, key["id"], "load")["access_token"]
    answered: dict[str, str] = {}  # content -> signed event id
    refused = []
    resets = []
    failures = []
    stop = threading.Event()
    lock = threading.Lock()

    def hammer(worker: int):
        sequence = 0
        while not stop.is_set():
            content = f"load {worker} {sequence}"
            sequence += 1
            try:
                reply = daemon.rpc(token, "sign_event", {"kind": 1, "content": content, "tags": [], "created_at": 1700000000})
            except ConnectionRefusedError:
                # The listener is closed: not accepted, so nothing to answer. Done.
                with lock:
                    refused.append(content)
                return
            except (ConnectionResetError, BrokenPipeError):
                # Connected in the kernel's backlog as the listener closed: reset before the server read it. Only
                # acceptable once SIGTERM was sent, and the audit check below proves the server signed none of these.
                with lock:
                    resets.append(time.monotonic())
                return
            except OSError as error:
                with lock:
                    failures.append((content, repr(error)))
                return
            with lock:
                if reply.status == 200:
                    answered[content] = reply.json["result"]["id"]
                else:
                    failures.append((content, reply.status, reply.body))

    workers = [threading.Thread(target=hammer, args=(index,)) for index in range(16)]
    for worker in workers:
        worker.start()
    time.sleep(1.5)
    before = len(answered)
    terminated_at = time.monotonic()
    daemon.process.send_signal(signal.SIGTERM)
    exit_code = daemon.process.wait(timeout=40)
    stop.set()
    for worker in workers:
        worker.join(timeout=30)

    assert exit_code == 0
    assert before > 50
    assert failures == []
    assert all(reset >= terminated_at for reset in resets)
    # Every signature the server made (its audit trail, flushed on the way out) reached its caller, and nothing
    # the callers hold was signed without a record.
    result = subprocess.run(
        ["psql", daemon.database_url, "-At", "-c", "SELECT event_id FROM audit_records WHERE method = 'sign_event' AND outcome = 'ok'"],
        capture_output=True, text=True, check=True, timeout=30,
    )
    assert sorted(result.stdout.split()) == sorted(answered.values())


def wait_for(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {seconds} s"
        time.sleep(0.25)


def test_database_down_cached_keys_keep_signing_ready_goes_false_and_it_recovers(signer, daemon):
    if SERVICES_SCRIPT is None:
        pytest.fail("SIGNER_TEST_SERVICES_SCRIPT is not set: run the tiers through `make test`")
    key = create_key(signer, daemon, "outage")
    token = create_authorization(signer, daemon, key["id"], "outage")["access_token"]
    other = create_authorization(signer, daemon, key["id"], "not yet used")["access_token"]
    signed_note(daemon, token, "before")  # unlocks and caches the key
    assert daemon.request("GET", "/healthz/ready").status == 200

    subprocess.run(["bash", SERVICES_SCRIPT, "stop-postgres"], check=True, timeout=60)
    try:
        ready = daemon.request("GET", "/healthz/ready")
        assert ready.status == 503
        assert ready.json["status"] == "unavailable"
        assert ready.json["checks"]["store"] != "ok"
        assert ready.json["checks"]["startup"] == "ok"
        assert daemon.request("GET", "/health").status == 200
        # The cached key still signs; what needs the database answers 503 and loses nothing.
        event = Event.from_json(json.dumps(signed_note(daemon, token, "during")))
        assert event.verify() and event.content() == "during"
        for reply in (daemon.admin("GET", "/api/admin/keys"), daemon.rpc(other, "get_public_key")):
            assert (reply.status, reply.json) == (
                503, {"error": "the signer's database or key service is unreachable; try again", "code": "unavailable"}
            )
    finally:
        subprocess.run(["bash", SERVICES_SCRIPT, "start-postgres"], check=True, timeout=120)

    # Back without a restart.
    wait_for(lambda: daemon.request("GET", "/healthz/ready").status == 200, 30, "ready again")
    assert daemon.admin("GET", "/api/admin/keys").status == 200
    assert daemon.rpc(other, "get_public_key").json == {"result": key["pubkey"]}
    assert daemon.stop() == 0


SCHEMATHESIS_CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance,response_headers_conformance"


def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_schema(signer, tmp_path, postgres_database):
    # The per-address limits would answer most generated requests with 429 (documented, but it hides the rest).
    started = Daemon(
        signer.path, tmp_path / "data", "--database-url", postgres_database,
        "--failed-auth-per-minute", "0", "--admin-requests-per-second", "0",
        environment={"SIGNER_ADMIN_TOKEN": "schemathesis-admin-token-0123456789"},
    )
    try:
        key = started.admin("POST", "/api/admin/keys", {"label": "schemathesis"}).json
        access = started.admin("POST", f"/api/admin/keys/{key['id']}/authorizations", {"name": "st", "policy": "full"}).json
        config = tmp_path / "schemathesis.toml"
        config.write_text(
            '[auth.openapi.adminToken]\nbearer = "${SIGNER_ADMIN_TOKEN}"\n'
            '[auth.openapi.accessToken]\nbearer = "${SIGNER_ACCESS_TOKEN}"\n'
        )
        environment = dict(os.environ, SIGNER_ADMIN_TOKEN=started.admin_token, SIGNER_ACCESS_TOKEN=access["access_token"])
        schemathesis = pathlib.Path(sys.executable).parent / "schemathesis"
        # Deletions last, so the key and token the other operations use stay alive while they run.
        for selection in (("--exclude-method", "DELETE"), ("--include-method", "DELETE")):
            run = subprocess.run(
                [
                    str(schemathesis), "--config-file", str(config), "run", str(REPOSITORY / "docs" / "openapi.yaml"),
                    "--url", started.url, "--checks", SCHEMATHESIS_CHECKS, "--max-examples", "25", *selection,
                ],
                capture_output=True, text=True, env=environment, timeout=600,
            )
            assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
            assert " passed" in run.stdout and "failure" not in run.stdout.split("SUMMARY")[-1]
        assert started.stop() == 0
    finally:
        started.kill()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_metrics_pass_promtool_and_discovery_names_the_relays(signer, tmp_path):
    port = free_port()
    relay = subprocess.Popen(
        [sys.executable, str(REPOSITORY / "Tests" / "interop" / "peers" / "local_relay.py"), str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    try:
        relay_url = relay.stdout.readline().decode().strip().rstrip("/")
        assert relay_url == f"ws://127.0.0.1:{port}"
        started = Daemon(signer.path, tmp_path / "data", "--relays", relay_url)
        try:
            wait_for(lambda: started.request("GET", "/healthz/ready").status == 200, 30, "ready with the relay subscribed")
            assert started.request("GET", "/healthz/ready").json["checks"]["relays"] == "1 of 1 subscribed"
            # The container's HEALTHCHECK.
            probe = signer.run("probe", "--url", started.url + "/health")
            assert (probe.returncode, probe.text) == (0, "ok\n")
            not_ready = signer.run("probe", "--url", started.url + "/no-such-probe")
            assert (not_ready.returncode, not_ready.error_line) == (1, f"Error: {started.url}/no-such-probe answered 404")
            nobody = signer.run("probe", "--url", f"http://127.0.0.1:{free_port()}/health")
            assert nobody.returncode == 1 and nobody.error_line.endswith("/health did not answer: Connection refused")
            discovery = started.request("GET", "/.well-known/nostr.json?name=_")
            assert discovery.headers["access-control-allow-origin"] == "*"
            assert discovery.json["nip46"] == {"relays": [relay_url]}
            key = started.admin("POST", "/api/admin/keys", {"label": "metrics"}).json
            token = started.admin("POST", f"/api/admin/keys/{key['id']}/authorizations", {"name": "m", "policy": "full"}).json["access_token"]
            signed_note(started, token, "counted")
            assert started.rpc("nsat_wrong", "ping").status == 401

            metrics = started.request("GET", "/api/metrics")
            assert metrics.status == 200
            assert metrics.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
            text = metrics.body.decode()
            assert 'signer_http_requests_total{route="/api/nostr",method="POST",status="200"} 1\n' in text
            assert 'signer_http_requests_total{route="/api/nostr",method="POST",status="401"} 1\n' in text
            assert "# HELP signer_signing_queue_depth Requests (HTTP and NIP-46) waiting for a signing worker, at scrape time.\n" in text
            assert "signer_signing_queue_depth 0.0\n" in text
            check = subprocess.run(["promtool", "check", "metrics"], input=metrics.body, capture_output=True, timeout=30)
            assert (check.returncode, check.stdout, check.stderr) == (0, b"", b"")
            assert started.stop() == 0
        finally:
            started.kill()
    finally:
        relay.kill()
        relay.wait()
