"""An app talking to the signer over NIP-46, for the Swift end-to-end tests. Prints one JSON line per result.

    nip46_app.py bunker <bunker-uri> <operations-json>
        rust-nostr's NostrConnect client with a fresh app key: connects with the URI's secret, then runs the
        operations. Prints {"app_pubkey": …} first, then one line per operation.
    nip46_app.py nostrconnect <relay-url> <operations-json>
        The client-initiated flow: prints {"uri": "nostrconnect://…"} and waits for the signer's connect response,
        then runs the operations.
    nip46_app.py raw <relay-url> <bunker-hex> <client-secret-hex> <nip44|nip04> <plaintext-request>
        Sends one kind-24133 request as written (any JSON, any method) once its reply subscription is in place, and
        prints the decrypted reply, or {"timeout": true} after 10 s.

An operation is [method, args…]: ["get_public_key"], ["sign_event", kind, content], ["nip44_encrypt", pubkey, text],
["nip44_decrypt", pubkey, ciphertext], ["nip04_encrypt", …], ["nip04_decrypt", …]. Each prints {"ok": value} or
{"error": text}; sign_event prints the signed event's JSON and whether rust-nostr verified it."""

import asyncio
import json
import secrets
import sys
from datetime import timedelta
from urllib.parse import quote

from nostr_sdk import (
    Client,
    EventBuilder,
    Filter,
    Keys,
    Kind,
    NostrConnect,
    NostrConnectUri,
    Nip44Version,
    PublicKey,
    RelayUrl,
    ReqTarget,
    SecretKey,
    Tag,
    Timestamp,
    nip04_decrypt,
    nip04_encrypt,
    nip44_decrypt,
    nip44_encrypt,
)


def emit(value) -> None:
    print(json.dumps(value), flush=True)


async def run_operations(signer: NostrConnect, operations) -> None:
    for operation in operations:
        method, *args = operation
        try:
            if method == "get_public_key":
                emit({"ok": (await signer.get_public_key_async()).to_hex()})
            elif method == "sign_event":
                kind, content = args
                user = await signer.get_public_key_async()
                unsigned = EventBuilder(Kind(kind), content).finalize_unsigned(user)
                event = await signer.sign_event_async(unsigned)
                emit({"ok": event.as_json(), "verified": event.verify()})
            elif method in ("nip44_encrypt", "nip44_decrypt", "nip04_encrypt", "nip04_decrypt"):
                peer, text = args
                call = getattr(signer, method + "_async")
                emit({"ok": await call(PublicKey.parse(peer), text)})
            else:
                emit({"error": f"unknown operation {method}"})
        except Exception as error:  # the signer's error text is what the test checks
            emit({"error": str(error)})


async def bunker(uri: str, operations) -> None:
    app_keys = Keys.generate()
    emit({"app_pubkey": app_keys.public_key().to_hex()})
    signer = NostrConnect(NostrConnectUri.parse(uri), app_keys, timedelta(seconds=15), None)
    await run_operations(signer, operations)


async def nostrconnect(relay: str, operations) -> None:
    app_keys = Keys.generate()
    secret = secrets.token_hex(8)
    # rust-nostr 0.45 parses only the legacy form, with the app's name in a `metadata` JSON parameter.
    metadata = json.dumps({"name": "Interop App", "url": "https://app.example"})
    uri = (
        f"nostrconnect://{app_keys.public_key().to_hex()}?relay={quote(relay, safe='')}&secret={secret}"
        f"&perms={quote('sign_event:1,nip44_encrypt', safe='')}&metadata={quote(metadata, safe='')}"
    )
    emit({"uri": uri, "app_pubkey": app_keys.public_key().to_hex()})
    signer = NostrConnect(NostrConnectUri.parse(uri), app_keys, timedelta(seconds=20), None)
    await run_operations(signer, operations)


async def raw(relay: str, bunker_hex: str, client_secret_hex: str, scheme: str, request: str) -> None:
    keys = Keys(SecretKey.parse(client_secret_hex))
    bunker_key = PublicKey.parse(bunker_hex)
    client = Client()
    await client.add_relay(RelayUrl.parse(relay))
    await client.connect(timedelta(seconds=5))
    replies = Filter().kind(Kind(24133)).author(bunker_key).pubkey(keys.public_key()).since(Timestamp.now())
    # On a loaded machine the connection may still be coming up: the request goes out only once the relay has the
    # subscription for its reply.
    for _ in range(100):
        if (await client.subscribe(ReqTarget.auto([replies]))).success:
            break
        await asyncio.sleep(0.1)
    else:
        emit({"error": "could not subscribe"})
        return
    try:
        request_id = json.loads(request).get("id")
    except (ValueError, AttributeError):
        request_id = None
    if scheme == "nip04":
        content = nip04_encrypt(keys.secret_key(), bunker_key, request)
    else:
        content = nip44_encrypt(keys.secret_key(), bunker_key, request, Nip44Version.V2)
    event = EventBuilder(Kind(24133), content).tags([Tag.public_key(bunker_key)]).finalize(keys)
    notifications = client.notifications()
    if not (await client.send_event(event)).success:
        emit({"error": "the relay did not accept the request"})
        return
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            emit({"timeout": True})
            return
        try:
            notification = await asyncio.wait_for(notifications.next(), remaining)
        except asyncio.TimeoutError:
            emit({"timeout": True})
            return
        reply = getattr(notification, "event", None) if notification.is_new_event() else None
        if reply is None or reply.kind().as_u16() != 24133 or reply.author().to_hex() != bunker_hex:
            continue
        text = reply.content()
        scheme_used = "nip04" if "?iv=" in text else "nip44"
        if scheme_used == "nip04":
            decoded = json.loads(nip04_decrypt(keys.secret_key(), bunker_key, text))
        else:
            decoded = json.loads(nip44_decrypt(keys.secret_key(), bunker_key, text))
        # Like a real client, match the reply to the request by id (a request without a readable id gets "").
        if request_id is not None and decoded.get("id") not in (request_id, str(request_id)):
            continue
        emit({"scheme": scheme_used, "reply": decoded})
        return


def main() -> None:
    command, *args = sys.argv[1:]
    if command == "bunker":
        asyncio.run(bunker(args[0], json.loads(args[1])))
    elif command == "nostrconnect":
        asyncio.run(nostrconnect(args[0], json.loads(args[1])))
    elif command == "raw":
        asyncio.run(raw(*args))
    else:
        sys.exit(f"unknown command {command}")


main()
