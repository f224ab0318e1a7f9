"""nats.py's own JetStream and KV API against Warden, unmodified, within and against the ACL.

Run by Tests/WardenProxyTests/OtherClientsTests.swift against a Warden with JetStreamContainmentTests'
ACLs and a JetStream-enabled nats-server:
    python3 nats_py_jetstream.py URL CERTS_DIR
Prints one JSON object of what it observed; the Swift test asserts on it. Every wait is bounded, and the
whole run stops itself after 30 s.
"""

import asyncio
import json
import sys
import time

import nats
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NATSTimeout
from nats.js.errors import APIError

from nats_py_scenario import connect


async def timed(seen, name, action):
    """Runs `action`, recording in `seen[name]` how it ended and how long it took (ms)."""
    start = time.monotonic()
    try:
        result = await action()
        seen[name] = {"ok": True, "result": result}
    except APIError as error:
        seen[name] = {"ok": False, "code": error.code, "description": error.description}
    except NoRespondersError:
        seen[name] = {"ok": False, "error": "no responders"}
    except (NATSTimeout, asyncio.TimeoutError):
        seen[name] = {"ok": False, "error": "timeout"}
    seen[name]["ms"] = round((time.monotonic() - start) * 1000)


async def scenario(url, certs):
    seen = {}
    errors = []
    admin = await connect(url, certs, "admin", [])
    ajs = admin.jetstream(timeout=5)
    await ajs.add_stream(name="SECRET", subjects=["secret.>"], storage="memory", allow_direct=True)
    await ajs.publish("secret.plans", b"classified")
    secret_kv = await ajs.create_key_value(bucket="SECRET", storage="memory")
    await secret_kv.put("launch", b"codes")

    orders = await connect(url, certs, "orders", errors)
    js = orders.jetstream(timeout=5)
    await js.add_stream(name="JOBS", subjects=["jobs.>"], storage="memory")
    for subject in ["jobs.a", "jobs.b"]:
        await js.publish(subject, subject.encode())

    # A durable pull consumer with a wildcard filter: nats.py puts the filter into the API subject.
    async def pull():
        consumer = await js.pull_subscribe("jobs.>", durable="workers")
        messages = await consumer.fetch(2, timeout=5)
        for message in messages:
            await message.ack()
        return sorted(message.subject for message in messages)
    await timed(seen, "pull", pull)

    # A push consumer and an ordered consumer, both delivering to orders' own inbox.
    async def push():
        subscription = await js.subscribe("jobs.a")
        message = await subscription.next_msg(timeout=5)
        await message.ack()
        return message.subject
    await timed(seen, "push", push)

    async def ordered():
        subscription = await js.subscribe("jobs.>", ordered_consumer=True)
        subjects = [(await subscription.next_msg(timeout=5)).subject for _ in range(2)]
        return sorted(subjects)
    await timed(seen, "ordered", ordered)

    # Its own KV bucket: put, get, watch.
    async def kv():
        bucket = await js.create_key_value(bucket="ORDERS", storage="memory")
        await bucket.put("count", b"1")
        watcher = await bucket.watch("count")
        update = await watcher.updates(timeout=5)
        await bucket.put("count", b"2")
        entry = await bucket.get("count")
        await watcher.stop()
        return [update.value.decode(), entry.value.decode()]
    await timed(seen, "kv", kv)

    # Against the ACL: every attempt fails, and fails at once.
    async def spy_consumer():
        await js.pull_subscribe("secret.>", durable="spy", stream="SECRET")
    await timed(seen, "spy_consumer", spy_consumer)

    async def spy_kv():
        bucket = await js.key_value("SECRET")
        return (await bucket.get("launch")).value.decode()
    await timed(seen, "spy_kv", spy_kv)

    async def spy_get():
        js_short = orders.jetstream(timeout=1)
        return (await js_short.get_msg("SECRET", seq=1)).data.decode()
    await timed(seen, "spy_get", spy_get)

    async def forged():
        await orders.request("payments.completed", b"forged", timeout=10)
    await timed(seen, "forged_request", forged)

    async def deliver_elsewhere():
        await js.add_consumer("JOBS", deliver_subject="payments.completed", filter_subject="jobs.a")
    await timed(seen, "deliver_elsewhere", deliver_elsewhere)

    await orders.flush(timeout=5)
    seen["errors"] = errors
    seen["still_connected"] = orders.is_connected
    await orders.drain()
    await admin.drain()
    return seen


async def main():
    url, certs = sys.argv[1], sys.argv[2]
    seen = await asyncio.wait_for(scenario(url, certs), timeout=30)
    print(json.dumps(seen))


if __name__ == "__main__":
    asyncio.run(main())
