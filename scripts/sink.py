#!/usr/bin/env python3
"""A minimal SMTP next hop for the demo (stands in for Postfix's reinjection port).

Usage: sink.py HOST:PORT DIR -- accepts every message and writes it to DIR/N.eml.
Standard library only, so the README's first command needs nothing installed.
"""
import asyncio
import os
import sys


async def session(reader, writer, out_dir, counter):
    def send(line):
        writer.write(line.encode() + b"\r\n")

    send("220 demo-sink ESMTP")
    await writer.drain()
    rcpts = []
    while True:
        line = await reader.readline()
        if not line:
            break
        cmd = line.decode("utf-8", "replace").strip()
        up = cmd.upper()
        if up.startswith("EHLO"):
            send("250-demo-sink")
            send("250-PIPELINING")
            send("250 8BITMIME")
        elif up.startswith("MAIL FROM:"):
            rcpts = []
            send("250 2.1.0 ok")
        elif up.startswith("RCPT TO:"):
            rcpts.append(cmd[8:].strip())
            send("250 2.1.5 ok")
        elif up == "DATA":
            send("354 go ahead")
            await writer.drain()
            data = bytearray()
            while True:
                l = await reader.readline()
                if not l or l == b".\r\n":
                    break
                data += l[1:] if l.startswith(b".") else l
            counter[0] += 1
            path = os.path.join(out_dir, "%d.eml" % counter[0])
            with open(path, "wb") as f:
                f.write(b"X-Demo-Rcpt: " + ", ".join(rcpts).encode() + b"\r\n" + bytes(data))
            send("250 2.0.0 stored as " + path)
        elif up == "QUIT":
            send("221 bye")
            await writer.drain()
            break
        else:
            send("250 2.0.0 ok")
        await writer.drain()
    writer.close()


async def main():
    host, port = sys.argv[1].rsplit(":", 1)
    out_dir = sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    counter = [0]
    server = await asyncio.start_server(
        lambda r, w: session(r, w, out_dir, counter), host, int(port)
    )
    async with server:
        await server.serve_forever()


asyncio.run(main())
