"""Runs the `nostr-relay` package (a Python relay, a separate implementation from rust-nostr's) on 127.0.0.1:<port>
in this one process, storing into <directory>; prints its URL once it accepts connections.

    python_relay.py <port> <directory>"""

import pathlib
import socket
import sys
import threading
import time

import yaml


def main() -> None:
    port = int(sys.argv[1])
    directory = pathlib.Path(sys.argv[2])
    directory.mkdir(parents=True, exist_ok=True)
    import nostr_relay

    config = yaml.safe_load((pathlib.Path(nostr_relay.__file__).parent / "config.yaml").read_text())
    config["storage"]["sqlalchemy.url"] = f"sqlite+aiosqlite:///{directory / 'relay.sqlite3'}"
    config["gunicorn"] = {"bind": f"127.0.0.1:{port}", "workers": 1, "loglevel": "warning", "reload": False}
    config["purple"]["port"] = port
    config_file = directory / "config.yaml"
    config_file.write_text(yaml.safe_dump(config))

    from nostr_relay.cli import main as nostr_relay_cli

    def announce_when_listening() -> None:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                print(f"ws://127.0.0.1:{port}", flush=True)
                return
            except OSError:
                time.sleep(0.05)

    # `serve` creates the tables (alembic) and runs uvicorn, which installs signal handlers and so keeps the main
    # thread; one process, so killing it leaves nothing behind.
    threading.Thread(target=announce_when_listening, daemon=True).start()
    nostr_relay_cli(args=["-c", str(config_file), "serve", "--use-uvicorn"], standalone_mode=False)


main()
