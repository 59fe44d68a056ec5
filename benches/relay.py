#!/usr/bin/env python3
"""A delaying TCP relay on loopback, for benches/wan.sh: the kernel here has no `netem` qdisc.

    relay.py LISTEN_BASE TARGET_BASE COUNT RTT_MS

Listens on 127.0.0.1:LISTEN_BASE+i and forwards to 127.0.0.1:TARGET_BASE+i (i = 1..COUNT). Every
chunk read in either direction is written on after half the round-trip time, in order, so each
direction has a one-way delay of RTT/2 and a request/answer costs one RTT, as on a WAN link
(bandwidth is not limited). Prints "ready" once every port listens. With RELAY_TRACE=FILE, writes
one line per chunk read ("seconds-since-start connection direction bytes"), to count a tool's round
trips: each run of chunks in one direction after the other's is one exchange.
"""

import asyncio
import itertools
import os
import sys
import time

TRACE = open(os.environ["RELAY_TRACE"], "a", buffering=1) if os.environ.get("RELAY_TRACE") else None
START = time.monotonic()
IDS = itertools.count(1)


async def pipe(reader, writer, delay, label):
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def send():
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if data is None:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    sender = asyncio.create_task(send())
    try:
        while True:
            data = await reader.read(65536)
            if TRACE:
                TRACE.write(f"{time.monotonic() - START:.4f} {label} {len(data)}\n")
            queue.put_nowait((loop.time() + delay, data or None))
            if not data:
                break
        await sender
    except (ConnectionError, asyncio.CancelledError):
        sender.cancel()
    finally:
        writer.close()


async def main():
    listen_base, target_base, count, rtt_ms = (int(a) for a in sys.argv[1:5])
    delay = rtt_ms / 2000.0

    def handler(target):
        async def handle(c_reader, c_writer):
            try:
                s_reader, s_writer = await asyncio.open_connection("127.0.0.1", target)
            except OSError:
                c_writer.close()
                return
            conn = next(IDS)
            await asyncio.gather(
                pipe(c_reader, s_writer, delay, f"{conn} >"),
                pipe(s_reader, c_writer, delay, f"{conn} <"),
                return_exceptions=True,
            )

        return handle

    servers = []
    for i in range(1, count + 1):
        servers.append(
            await asyncio.start_server(handler(target_base + i), "127.0.0.1", listen_base + i, backlog=1024)
        )
    print("ready", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
