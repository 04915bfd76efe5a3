"""Runs rust-nostr's LocalRelay (nostr-sdk) on 127.0.0.1:<port> until killed; prints its URL once it listens.

    local_relay.py <port> [--auth] [--unlimited]

--auth makes the relay demand NIP-42 authentication before it delivers events to a subscription.
--unlimited lifts LocalRelay's default rate limit (60 events per minute per connection), for benchmarks."""

import asyncio
import sys

from nostr_sdk import LocalRelayBuilder, LocalRelayBuilderNip42, LocalRelayBuilderNip42Mode, RateLimit


async def main() -> None:
    port = int(sys.argv[1])
    builder = LocalRelayBuilder().addr("127.0.0.1").port(port)
    if "--auth" in sys.argv[2:]:
        builder = builder.nip42(LocalRelayBuilderNip42(mode=LocalRelayBuilderNip42Mode.READ))
    if "--unlimited" in sys.argv[2:]:
        builder = builder.rate_limit(RateLimit(max_reqs=1_000_000, notes_per_minute=100_000_000))
    relay = builder.build()
    await relay.run()
    print(await relay.url(), flush=True)
    await asyncio.Event().wait()


asyncio.run(main())
