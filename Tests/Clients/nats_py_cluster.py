"""nats.py services behind Wardens on a nats-server cluster, while a server or a Warden fails.

Run by Tests/WardenCLITests/ClusterEndToEndTests.swift:
    python3 nats_py_cluster.py URL CERTS_DIR
Connects three `payments` subscribers and one `orders` publisher to URL (one Warden), prints
"ready <servers each connection knows>" once subscribed, then publishes every 100 ms. It stops by itself
once every connection that was disconnected has reconnected and every subscriber has received a
message published after the last reconnect, or after 30 s, and prints one JSON object of what it saw.
"""

import asyncio
import time

from nats_py_scenario import run_bounded, tls_for

import nats


async def scenario(url, certs):
    seen = {"disconnects": 0, "reconnects": 0, "reconnected_to": [], "errors": [], "closed": False}
    last_reconnect = [0.0]
    connections = []

    def callbacks(index):
        async def on_disconnect():
            seen["disconnects"] += 1

        async def on_reconnect():
            seen["reconnects"] += 1
            seen["reconnected_to"].append(connections[index].connected_url.netloc)
            last_reconnect[0] = time.monotonic()

        async def on_error(error):
            seen["errors"].append(str(error))

        return {"disconnected_cb": on_disconnect, "reconnected_cb": on_reconnect, "error_cb": on_error}

    async def connect(service):
        index = len(connections)
        connections.append(None)
        connections[index] = await nats.connect(
            url, tls=tls_for(certs, service), inbox_prefix=f"_INBOX.{service}".encode(),
            name=f"nats-py-{service}-{index}", allow_reconnect=True, max_reconnect_attempts=-1,
            reconnect_time_wait=0.5, connect_timeout=2, **callbacks(index))
        return connections[index]

    received = []
    subscribers = []
    for number in range(3):
        received.append(0.0)

        def handler(number):
            async def on_message(message):
                sent = float(message.data.decode())
                received[number] = max(received[number], sent)
            return on_message

        subscriber = await connect("payments")
        await subscriber.subscribe("orders.created", cb=handler(number))
        await subscriber.flush(timeout=5)
        subscribers.append(subscriber)
    orders = await connect("orders")
    # Wait for the INFO updates that name the other Wardens, if there are any.
    await asyncio.sleep(1.5)
    known = sorted({server.uri.netloc for connection in connections for server in connection._server_pool})
    print("ready " + ",".join(known), flush=True)

    while True:
        now = time.monotonic()
        try:
            await orders.publish("orders.created", repr(now).encode())
        except Exception as error:  # a publish while reconnecting may be refused; the next one counts
            seen["errors"].append(f"publish: {error}")
        await asyncio.sleep(0.1)
        settled = seen["disconnects"] > 0 and seen["reconnects"] >= seen["disconnects"]
        if settled and all(time_sent > last_reconnect[0] for time_sent in received):
            break
    seen["closed"] = any(connection.is_closed for connection in connections)
    for connection in connections:
        await connection.close()
    seen["received_after_reconnect"] = True
    return seen


if __name__ == "__main__":
    run_bounded(scenario)
