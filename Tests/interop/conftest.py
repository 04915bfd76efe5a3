"""Shared helpers for the interop tier: it drives the real `signer` binary and checks its output with independent
Nostr implementations (nostr-sdk, the rust-nostr bindings, and coincurve, the libsecp256k1 bindings for Python)."""

import http.client
import json
import os
import pathlib
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass

import pytest

REPOSITORY = pathlib.Path(__file__).resolve().parents[2]


@dataclass
class Result:
    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8")

    @property
    def error_line(self) -> str:
        return self.stderr.decode("utf-8").strip()


class SignerBinary:
    def __init__(self, path: pathlib.Path):
        self.path = path

    def run(self, *arguments: str, stdin: bytes = b"", secret: str | None = None) -> Result:
        environment = {key: value for key, value in os.environ.items() if key != "SIGNER_SECRET"}
        if secret is not None:
            environment["SIGNER_SECRET"] = secret
        completed = subprocess.run(
            [str(self.path), *arguments], input=stdin, capture_output=True, env=environment, timeout=60
        )
        return Result(completed.returncode, completed.stdout, completed.stderr)

    def ok(self, *arguments: str, stdin: bytes = b"", secret: str | None = None) -> Result:
        result = self.run(*arguments, stdin=stdin, secret=secret)
        assert result.returncode == 0, f"signer {' '.join(arguments)} failed: {result.error_line}"
        return result


@pytest.fixture(scope="session")
def signer() -> SignerBinary:
    path = pathlib.Path(os.environ.get("SIGNER_BIN", REPOSITORY / ".build" / "debug" / "signer"))
    if not path.exists():
        pytest.fail(f"signer binary not found at {path}: build it first (make test does)")
    return SignerBinary(path)


POSTGRES_URL = os.environ.get("SIGNER_TEST_POSTGRES_URL")


@pytest.fixture
def postgres_database():
    """A fresh database on the server `make test` starts, dropped afterwards."""
    if POSTGRES_URL is None:
        pytest.fail("SIGNER_TEST_POSTGRES_URL is not set: run the tiers through `make test`")
    name = "it_" + uuid.uuid4().hex
    subprocess.run(["psql", POSTGRES_URL, "-q", "-c", f"CREATE DATABASE {name}"], check=True, timeout=30)
    yield POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    subprocess.run(["psql", POSTGRES_URL, "-q", "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=True, timeout=30)


@dataclass
class Reply:
    status: int
    headers: dict
    body: bytes

    @property
    def json(self):
        return json.loads(self.body)


class Daemon:
    """`signer serve` as a child process on a free loopback port, with its stdout lines parsed."""

    def __init__(self, binary: pathlib.Path, data_dir: pathlib.Path, *arguments: str, environment: dict | None = None):
        env = {key: value for key, value in os.environ.items() if not key.startswith("SIGNER_")}
        env.update(environment or {})
        self.data_dir = data_dir
        self.log_path = data_dir.parent / f"serve-{uuid.uuid4().hex[:8]}.log"
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [str(binary), "serve", "--data-dir", str(data_dir), "--http-port", "0", *arguments],
            stdout=subprocess.PIPE, stderr=self.log, env=env,
        )
        self.admin_token = env.get("SIGNER_ADMIN_TOKEN")
        self.port = None
        deadline = time.monotonic() + 60
        while self.port is None:
            line = self.process.stdout.readline().decode()
            if not line:
                raise AssertionError(f"signer serve exited before listening: {self.log_path.read_text()[-2000:]}")
            if line.startswith("admin token (shown once; store it now): "):
                self.admin_token = line.rsplit(" ", 1)[1].strip()
            elif line.startswith("signer listening on http://127.0.0.1:"):
                self.port = int(line.strip().rsplit(":", 1)[1])
            assert time.monotonic() < deadline, "signer serve did not start within 60 s"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(self, method: str, path: str, body=None, token: str | None = None, timeout: float = 30) -> Reply:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        headers = {"Connection": "close"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            connection.close()

    def admin(self, method: str, path: str, body=None) -> Reply:
        return self.request(method, path, body, token=self.admin_token)

    def rpc(self, token: str, method: str, *params) -> Reply:
        return self.request("POST", "/api/nostr", {"method": method, "params": list(params)}, token=token)

    def stop(self, timeout: float = 40) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self.log.close()

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.log.close()
