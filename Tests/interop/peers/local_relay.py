"""Runs rust-nostr's LocalRelay (nostr-sdk) on 127.0.0.1:<port> until killed; prints its URL once it listens.

    local_relay.py <port> [--auth]

--auth makes the relay demand NIP-42 authentication before it delivers events to a subscription."""

import asyncio
import sys

from nostr_sdk import LocalRelayBuilder, LocalRelayBuilderNip42, LocalRelayBuilderNip42Mode


async def main() -> None:
    port = int(sys.argv[1])
    builder = LocalRelayBuilder().addr("127.0.0.1").port(port)
    if "--auth" in sys.argv[2:]:
        builder = builder.nip42(LocalRelayBuilderNip42(mode=LocalRelayBuilderNip42Mode.READ))
    relay = builder.build()
    await relay.run()
    print(await relay.url(), flush=True)
    await asyncio.Event().wait()


asyncio.run(main())
