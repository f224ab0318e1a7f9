"""nats.py services behind Warden while nats-server is killed and restarted.

Run by Tests/WardenProxyTests/UpstreamLossTests.swift:
    python3 nats_py_reconnect.py URL CERTS_DIR
Prints "ready" once subscribed, "disconnected" when the connection drops, and at the end one JSON object
of what it observed. It publishes every 100 ms and stops by itself once a message published after
reconnecting has arrived, or after 30 s.
"""

import asyncio

from nats_py_scenario import run_bounded, tls_for

import nats


async def scenario(url, certs):
    seen = {"reconnects": 0, "received_after_restart": False, "errors": []}
    disconnected = asyncio.Event()
    reconnected = asyncio.Event()

    async def on_disconnect():
        if not disconnected.is_set():
            disconnected.set()
            print("disconnected", flush=True)

    async def on_reconnect():
        seen["reconnects"] += 1
        reconnected.set()

    async def on_error(error):
        seen["errors"].append(str(error))

    async def connect(service, **callbacks):
        return await nats.connect(
            url, tls=tls_for(certs, service), inbox_prefix=f"_INBOX.{service}".encode(), name=f"nats-py-{service}",
            allow_reconnect=True, max_reconnect_attempts=-1, reconnect_time_wait=0.5, connect_timeout=2,
            error_cb=on_error, **callbacks)

    payments = await connect("payments", disconnected_cb=on_disconnect, reconnected_cb=on_reconnect)
    orders = await connect("orders")
    arrived = asyncio.Event()

    async def on_message(message):
        if reconnected.is_set() and message.data == b"after":
            arrived.set()

    await payments.subscribe("orders.created", cb=on_message)
    await payments.flush(timeout=5)
    await payments.flush(timeout=5)
    print("ready", flush=True)

    while not arrived.is_set():
        body = b"after" if reconnected.is_set() else b"before"
        try:
            await orders.publish("orders.created", body)
        except Exception as error:  # a publish while reconnecting may be refused; the next one counts
            seen["errors"].append(f"publish: {error}")
        await asyncio.sleep(0.1)
    seen["received_after_restart"] = True
    seen["closed"] = payments.is_closed or orders.is_closed
    await orders.drain()
    await payments.drain()
    return seen


if __name__ == "__main__":
    run_bounded(scenario)
