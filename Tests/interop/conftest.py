"""Shared helpers for the interop tier: it drives the real `signer` binary and checks its output with independent
Nostr implementations (nostr-sdk, the rust-nostr bindings, and coincurve, the libsecp256k1 bindings for Python)."""

import os
import pathlib
import subprocess
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
