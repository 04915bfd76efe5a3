"""`signer migrate` and `signer kek rotate` on a real data directory: files, modes, messages, idempotence."""

import os
import stat
import subprocess

import pytest

from conftest import POSTGRES_URL


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_migrate_creates_owner_only_files_and_is_idempotent(signer, tmp_path):
    data = tmp_path / "data"
    first = signer.ok("migrate", "--data-dir", str(data))
    assert first.text == "applied 2 migration(s); schema is at version 2\n"
    assert signer.ok("migrate", "--data-dir", str(data)).text == "schema is up to date (version 2)\n"
    assert mode(data) == 0o700
    assert mode(data / "kek") == 0o600
    assert os.path.getsize(data / "kek") == 32
    assert mode(data / "signer.sqlite") == 0o600


def test_environment_variables_configure_the_location(signer, tmp_path, monkeypatch):
    data = tmp_path / "from-env"
    monkeypatch.setenv("SIGNER_DATA_DIR", str(data))
    monkeypatch.setenv("SIGNER_KEK_PATH", str(tmp_path / "custom-kek"))
    signer.ok("migrate")
    assert (data / "signer.sqlite").exists()
    assert mode(tmp_path / "custom-kek") == 0o600
    result = signer.run("migrate", "--kms", "vault")
    assert result.returncode != 0
    assert result.error_line == 'Error: SIGNER_KMS: unknown KEK backend "vault" (expected file or aws-kms)'


def test_unsafe_missing_and_wrong_kek_are_one_line_errors(signer, tmp_path):
    data = tmp_path / "data"
    signer.ok("migrate", "--data-dir", str(data))
    kek = data / "kek"

    os.chmod(kek, 0o644)
    result = signer.run("migrate", "--data-dir", str(data))
    assert result.returncode != 0
    assert result.error_line == f"Error: KEK file {kek} is accessible to other users (mode 644); run chmod 600 {kek}"
    os.chmod(kek, 0o600)

    other = tmp_path / "other-kek"
    other.write_bytes(os.urandom(32))
    os.chmod(other, 0o600)
    result = signer.run("migrate", "--data-dir", str(data), "--kek-path", str(other))
    assert result.error_line == "Error: KEK does not match the stored keys"

    kek_bytes = kek.read_bytes()
    kek.unlink()
    result = signer.run("migrate", "--data-dir", str(data))
    assert result.error_line == (
        f"Error: KEK file {kek} is missing but the database holds sealed keys; restore the file (a new KEK would not open them)"
    )
    assert not kek.exists()
    kek.write_bytes(kek_bytes)
    os.chmod(kek, 0o600)
    assert signer.ok("migrate", "--data-dir", str(data)).text == "schema is up to date (version 2)\n"


def test_kek_rotate_moves_the_canary_and_is_idempotent(signer, tmp_path):
    data = tmp_path / "data"
    signer.ok("migrate", "--data-dir", str(data))
    new_kek = tmp_path / "new-kek"
    result = signer.ok("kek", "rotate", "--data-dir", str(data), "--from-kek-path", str(data / "kek"), "--kek-path", str(new_kek))
    lines = result.text.splitlines()
    assert lines[0] == f"created KEK file {new_kek}"
    assert lines[1].startswith("re-wrapping data keys from file:") and " to file:" in lines[1]
    assert lines[-1] == "done: scanned 0, re-wrapped 0, already current 0, changed concurrently 0"
    assert mode(new_kek) == 0o600
    # The data now belongs to the new KEK: the old one is refused, the new one accepted.
    assert signer.run("migrate", "--data-dir", str(data)).error_line == "Error: KEK does not match the stored keys"
    assert signer.ok("migrate", "--data-dir", str(data), "--kek-path", str(new_kek)).text == "schema is up to date (version 2)\n"
    again = signer.ok("kek", "rotate", "--data-dir", str(data), "--from-kek-path", str(data / "kek"), "--kek-path", str(new_kek))
    assert again.text.splitlines()[-1] == "done: scanned 0, re-wrapped 0, already current 0, changed concurrently 0"


def test_migrate_and_rotate_on_postgres(signer, tmp_path, postgres_database):
    data = tmp_path / "data"
    arguments = ("--data-dir", str(data), "--database-url", postgres_database)
    assert signer.ok("migrate", *arguments).text == "applied 2 migration(s); schema is at version 2\n"
    assert signer.ok("migrate", *arguments).text == "schema is up to date (version 2)\n"
    assert not (data / "signer.sqlite").exists()
    new_kek = tmp_path / "new-kek"
    rotated = signer.ok("kek", "rotate", *arguments, "--from-kek-path", str(data / "kek"), "--kek-path", str(new_kek))
    assert rotated.text.splitlines()[-1] == "done: scanned 0, re-wrapped 0, already current 0, changed concurrently 0"
    # The canary row moved to the new KEK in PostgreSQL, not in some local file.
    assert signer.run("migrate", *arguments).error_line == "Error: KEK does not match the stored keys"


def test_postgres_url_errors_are_one_line(signer, tmp_path):
    if POSTGRES_URL is None:
        pytest.fail("SIGNER_TEST_POSTGRES_URL is not set: run the tiers through `make test`")
    data = str(tmp_path / "data")
    result = signer.run("migrate", "--data-dir", data, "--database-url", "postgres://signer@127.0.0.1/db?sslmode=maybe")
    assert result.returncode != 0
    assert result.error_line == 'Error: SIGNER_DATABASE_URL: sslmode must be disable, prefer or require'
    # Nothing listens on port 1: a clear error within the operation time-out, not a hang.
    result = signer.run("migrate", "--data-dir", data, "--database-url", "postgres://signer:x@127.0.0.1:1/db")
    assert result.returncode != 0
    assert result.error_line == "Error: PostgreSQL did not answer within 5.0 seconds: cannot connect to 127.0.0.1:1 (Connection refused)"
    # A server that answers but refuses: the server's reason, not just a time-out.
    missing = POSTGRES_URL.rsplit("/", 1)[0] + "/no_such_database"
    result = signer.run("migrate", "--data-dir", data, "--database-url", missing)
    assert result.error_line == (
        'Error: PostgreSQL did not answer within 5.0 seconds: database "no_such_database" does not exist (SQLSTATE 3D000)'
    )


KMS_ENDPOINT = os.environ.get("SIGNER_TEST_KMS_ENDPOINT")


@pytest.fixture
def kms(monkeypatch):
    """The moto KMS `make test` starts: the AWS environment for the signer, and a boto3 client to make keys with."""
    if KMS_ENDPOINT is None:
        pytest.fail("SIGNER_TEST_KMS_ENDPOINT is not set: run the tiers through `make test`")
    import boto3

    for name, value in {
        "AWS_ACCESS_KEY_ID": "AKIDINTEROP",
        "AWS_SECRET_ACCESS_KEY": "interop-secret",
        "AWS_REGION": "us-east-1",
        "SIGNER_KMS_ENDPOINT": KMS_ENDPOINT,
    }.items():
        monkeypatch.setenv(name, value)
    return boto3.client(
        "kms", endpoint_url=KMS_ENDPOINT, region_name="us-east-1",
        aws_access_key_id="AKIDINTEROP", aws_secret_access_key="interop-secret",
    )


def test_migrate_with_aws_kms_and_rotate_file_to_kms_and_back(signer, tmp_path, kms):
    data = tmp_path / "data"
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    assert signer.ok("migrate", "--data-dir", str(data)).text == "applied 2 migration(s); schema is at version 2\n"

    to_kms = signer.ok("kek", "rotate", "--data-dir", str(data), "--from-kek-path", str(data / "kek"), "--kms", "aws-kms", "--kms-key-id", key_id)
    lines = to_kms.text.splitlines()
    assert lines[0].startswith("re-wrapping data keys from file:") and lines[0].endswith(f" to aws-kms:{key_id}")
    assert lines[-1] == "done: scanned 0, re-wrapped 0, already current 0, changed concurrently 0"
    # The canary is now KMS-wrapped: the file KEK no longer matches, the KMS key does.
    assert signer.run("migrate", "--data-dir", str(data)).error_line == "Error: KEK does not match the stored keys"
    assert signer.ok("migrate", "--data-dir", str(data), "--kms", "aws-kms", "--kms-key-id", key_id).text == "schema is up to date (version 2)\n"

    back = signer.ok("kek", "rotate", "--data-dir", str(data), "--from-kms-key-id", key_id, "--kek-path", str(tmp_path / "kek2"))
    assert back.text.splitlines()[0] == f"created KEK file {tmp_path / 'kek2'}"
    assert signer.ok("migrate", "--data-dir", str(data), "--kek-path", str(tmp_path / "kek2")).text == "schema is up to date (version 2)\n"


def test_aws_kms_errors_are_one_line(signer, tmp_path, kms, monkeypatch):
    data = str(tmp_path / "data")
    result = signer.run("migrate", "--data-dir", data, "--kms", "aws-kms")
    assert result.error_line == "Error: SIGNER_KMS_KEY_ID is not set (the aws-kms backend needs the key id or alias to use)"

    result = signer.run("migrate", "--data-dir", data, "--kms", "aws-kms", "--kms-key-id", "alias/does-not-exist")
    assert result.returncode != 0
    assert result.error_line.startswith("Error: AWS KMS refused DescribeKey: NotFoundException")

    result = signer.run("migrate", "--data-dir", data, "--kms", "aws-kms", "--kms-key-id", "k", "--kms-endpoint", "kms.example.com")
    assert result.error_line == "Error: SIGNER_KMS_ENDPOINT must look like https://host[:port]"

    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = signer.run("migrate", "--data-dir", data, "--kms", "aws-kms", "--kms-key-id", "k")
    assert result.error_line == "Error: AWS_SECRET_ACCESS_KEY is not set (the aws-kms backend needs AWS credentials)"

    result = signer.run("kek", "rotate", "--data-dir", data)
    assert "name the current KEK with exactly one of --from-kek-path and --from-kms-key-id" in result.error_line
