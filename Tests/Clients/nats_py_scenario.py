"""A NATS client other than nats.c, unmodified, against Warden: nats.py (PyPI's nats-py).

Run by Tests/WardenProxyTests/OtherClientsTests.swift against a Warden with ProxyHarness's ACLs:
    python3 nats_py_scenario.py URL CERTS_DIR
It does what a service does with nats.py and prints one JSON object of what it observed; the Swift test
asserts on it. Every wait is bounded, and the whole run stops itself after 20 s.
"""

import asyncio
import json
import ssl
import sys

import nats
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NATSTimeout


def tls_for(certs, service):
    folder = f"{certs}/services/{service}"
    context = ssl.create_default_context(cafile=f"{folder}/ca.pem")
    context.load_cert_chain(f"{folder}/cert.pem", f"{folder}/key.pem")
    return context


async def connect(url, certs, service, errors, **options):
    async def on_error(error):
        errors.append(str(error))

    return await nats.connect(
        url, tls=tls_for(certs, service), inbox_prefix=f"_INBOX.{service}".encode(), name=f"nats-py-{service}",
        error_cb=on_error, allow_reconnect=False, connect_timeout=5, **options)


async def barrier(client):
    """Returns once the server has handled everything `client` sent before.

    nats.py writes a flush's PING at once, ahead of commands its flusher task has not written yet, so
    the PONG of the first flush after a subscribe can come back before the server saw the SUB (with
    nats-server alone just as through Warden). By the time that PONG is back the flusher has run, so
    the second flush's PING follows the SUB.
    """
    await client.flush(timeout=5)
    await client.flush(timeout=5)


async def until(condition, timeout=5):
    """Waits (bounded) for nats.py's callbacks, which run in tasks of their own, to make `condition` true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition() and loop.time() < deadline:
        await asyncio.sleep(0.02)


def run_bounded(scenario, seconds=30):
    """Runs `scenario(URL, CERTS_DIR)` from the command line, stopping it after `seconds`, and prints what
    it returned as one JSON object (`{"closed": null, "timeout": true}` when it did not finish)."""

    async def bounded():
        try:
            seen = await asyncio.wait_for(scenario(sys.argv[1], sys.argv[2]), timeout=seconds)
        except asyncio.TimeoutError:
            seen = {"closed": None, "timeout": True}
        print(json.dumps(seen), flush=True)

    asyncio.run(bounded())


async def scenario(url, certs):
    seen = {}
    order_errors, payment_errors = [], []
    # The usual NATS order (INFO in plain text, then TLS) and handshake_first.
    orders = await connect(url, certs, "orders", order_errors)
    payments = await connect(url, certs, "payments", payment_errors, tls_handshake_first=True)
    info = orders._server_info
    seen["info"] = {key: info.get(key) for key in ("headers", "max_payload", "tls_required", "connect_urls")}

    # Request/reply with headers: payments answers rpc.> (allow_responses: one reply per request).
    answered = []

    async def respond(message):
        answered.append(message.headers or {})
        await message.respond(b"sum=" + message.data)
        await message.respond(b"second reply")  # over allow_responses' max: denied

    await payments.subscribe("rpc.>", cb=respond)
    await barrier(payments)
    reply = await orders.request("rpc.add", b"1+2", timeout=5, headers={"Trace-Id": "t-1"})
    seen["reply"] = reply.data.decode()
    await payments.flush(timeout=5)
    await until(lambda: payment_errors)
    await asyncio.sleep(0.2)  # time for a second error, were there one
    seen["responder_headers"] = answered[0].get("Trace-Id") if answered else None
    seen["payment_errors"] = list(payment_errors)

    # No responders, as nats-server answers it (a 503 status message).
    try:
        await orders.request("orders.nobody", b"?", timeout=3)
        seen["no_responders"] = "reply"
    except NoRespondersError:
        seen["no_responders"] = "no responders"
    except NATSTimeout:
        seen["no_responders"] = "timeout"

    # A wildcard subscription overlapping a deny entry: messages on the denied subject are dropped.
    received = []

    async def collect(message):
        received.append(message.subject)

    await orders.subscribe("payments.>", cb=collect)
    await barrier(orders)
    for subject in ("payments.secret", "payments.done"):
        await payments.publish(subject, b"x")
    await payments.flush(timeout=5)
    await orders.flush(timeout=5)
    await until(lambda: "payments.done" in received)
    await asyncio.sleep(0.1)  # payments.secret, were it let through, would have come first
    seen["received"] = received

    # Denials: the connection stays open and keeps working.
    await orders.publish("orders.internal.audit", b"secret")
    await orders.subscribe("bar.>")
    await orders.subscribe("jobs.a", queue="other")
    await orders.subscribe("jobs.a", queue="workers")
    await orders.flush(timeout=5)
    await until(lambda: len(order_errors) >= 3)
    await asyncio.sleep(0.2)  # time for a fourth error, were there one
    seen["order_errors"] = list(order_errors)
    seen["still_connected"] = orders.is_connected and payments.is_connected
    await orders.publish("orders.created", b"after the denials")
    await orders.flush(timeout=5)

    await orders.drain()
    await payments.drain()
    seen["closed_cleanly"] = orders.is_closed and payments.is_closed
    return seen


def main():
    url, certs = sys.argv[1], sys.argv[2]
    seen = asyncio.run(asyncio.wait_for(scenario(url, certs), timeout=20))
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
