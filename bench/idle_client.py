#!/usr/bin/env python3
"""Opens COUNT keep-alive connections to a server on 127.0.0.1, makes one request on each (the
whole response is read), then keeps them all open and silent: the waiting pollers of
bench/idle.sh. Writes READY_FILE once every connection has had its answer, then waits until
STOP_FILE exists (or MAX_SECONDS pass) and closes everything.

    idle_client.py SCHEME HOST PORT PATH COUNT READY_FILE STOP_FILE [HEADER ...]

SCHEME is http or https (HTTP/1.1 over TLS; the bench's self-signed certificate is not checked).
"""

import asyncio
import os
import ssl
import sys
import time

MAX_SECONDS = 300
OPEN_AT_ONCE = 200


async def one(host, port, request, gate, tls):
    async with gate:
        reader, writer = await asyncio.open_connection(host, port, ssl=tls)
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status = head.split(b" ", 2)[1]
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        if length:
            await reader.readexactly(length)
    return status, writer


async def main():
    scheme, host, port, path, count, ready, stop = sys.argv[1:8]
    headers = "".join(f"{h}\r\n" for h in sys.argv[8:])
    tls = None
    if scheme == "https":
        tls = ssl.create_default_context()
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
        tls.set_alpn_protocols(["http/1.1"])
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{headers}\r\n".encode()
    gate = asyncio.Semaphore(OPEN_AT_ONCE)
    started = time.monotonic()
    results = await asyncio.gather(
        *(one(host, port, request, gate, tls) for _ in range(int(count)))
    )
    statuses = {}
    for status, _ in results:
        statuses[status.decode()] = statuses.get(status.decode(), 0) + 1
    print(
        f"   {len(results)} connections answered {statuses} in "
        f"{time.monotonic() - started:.1f} s, now idle",
        flush=True,
    )
    with open(ready, "w") as f:
        f.write("ready\n")
    deadline = time.monotonic() + MAX_SECONDS
    while not os.path.exists(stop) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    for _, writer in results:
        writer.close()


if __name__ == "__main__":
    asyncio.run(main())
