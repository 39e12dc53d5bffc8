#!/usr/bin/env python3
"""The soak run's SMTP source and sink (scripts/soak-gateway.sh, BENCHMARKS.md "Soak").

  soak.py sink PORT RECORD             write "ID RCPT" for every recipient of every message
                                       it answered 250 to (written before the 250)
  soak.py source PORT SECONDS SESSIONS ACKS INBOUND_EML
                                       SESSIONS concurrent sessions for SECONDS, mixed traffic;
                                       a 4xx or a lost connection is retried later, as an MTA
                                       does; writes "ID RCPT" for every recipient the gateway
                                       answered 250 for, and latencies to ACKS.latency
Standard library only (asyncio).
"""
import asyncio
import random
import sys
import time


async def sink(port, record):
    out = open(record, "a", buffering=1)

    async def session(r, w):
        w.write(b"220 soak-sink ESMTP\r\n")
        rcpts = []
        try:
            while True:
                line = await r.readline()
                if not line:
                    break
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    w.write(b"250-soak-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 104857600\r\n")
                elif verb == b"MAIL":
                    rcpts = []
                    w.write(b"250 2.1.0 ok\r\n")
                elif verb == b"RCPT":
                    a = line.split(b"<", 1)[1].split(b">", 1)[0].decode()
                    rcpts.append(a)
                    w.write(b"250 2.1.5 ok\r\n")
                elif verb == b"DATA":
                    w.write(b"354 go\r\n")
                    await w.drain()
                    ident, in_header = "-", True
                    while True:
                        d = await r.readline()
                        if not d:
                            return
                        if d == b".\r\n" or d == b".\n":
                            break
                        if in_header:
                            if d in (b"\r\n", b"\n"):
                                in_header = False
                            elif d.startswith(b"Subject: soak "):
                                ident = d[len(b"Subject: soak "):].strip().decode()
                    for a in rcpts:
                        out.write(f"{ident} {a}\n")
                    w.write(b"250 2.0.0 queued\r\n")
                elif verb == b"QUIT":
                    w.write(b"221 bye\r\n")
                    await w.drain()
                    break
                else:
                    w.write(b"250 ok\r\n")
                await w.drain()
        except (ConnectionError, IndexError):
            pass
        finally:
            w.close()

    server = await asyncio.start_server(session, "127.0.0.1", port, limit=1 << 20, backlog=1024)
    async with server:
        await server.serve_forever()


SIZES = [(10 * 1024, 70), (100 * 1024, 20), (1024 * 1024, 9), (10 * 1024 * 1024, 1)]
MODES = ["sign", "encrypt", "sign+encrypt", "decrypt+verify"]


def body(size):
    line = b"the quick brown fox jumps over the lazy dog 0123456789 soak soak soak soak\r\n"
    return line * (size // len(line) + 1)


class Source:
    def __init__(self, port, seconds, sessions, acks, inbound):
        self.port, self.deadline, self.sessions = port, time.time() + seconds, sessions
        self.acks = open(acks, "a", buffering=1)
        self.lat = open(acks + ".latency", "a", buffering=1)
        raw = open(inbound, "rb").read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        head, _, rest = raw.partition(b"\r\n\r\n")
        head = b"\r\n".join(l for l in head.split(b"\r\n") if not l.lower().startswith(b"subject:"))
        self.inbound = (head, rest)
        self.bodies = {s: body(s) for s, _ in SIZES}
        self.retry = []
        self.next_id = 0
        self.rng = random.Random(15)
        self.counts = {"acked": 0, "tempfail": 0, "refused": 0, "errors": 0}

    def new_message(self):
        self.next_id += 1
        ident = f"{self.next_id:08d}"
        mode = self.rng.choice(MODES)
        size = self.rng.choices([s for s, _ in SIZES], [w for _, w in SIZES])[0]
        n = self.rng.choice([1, 1, 1, 2, 3, 5, 10, 20, 50])
        if mode == "decrypt+verify":
            sender = "partner@example.org"
            rcpts = ["alice@example.com"] + [f"staff{i}@example.com" for i in range(n - 1)]
            head, rest = self.inbound
            data = head + f"\r\nSubject: soak {ident}\r\n\r\n".encode() + rest
        else:
            sender = "bob@example.com" if mode == "encrypt" else "alice@example.com"
            first = "plain0@elsewhere.example" if mode == "sign" else "a.example@example.org"
            rcpts = [first] + [f"plain{i}@elsewhere.example" for i in range(1, n)]
            data = (
                f"From: {sender}\r\nTo: {', '.join(rcpts)}\r\nSubject: soak {ident}\r\n"
                f"Message-ID: <{ident}@soak.example>\r\nMIME-Version: 1.0\r\n"
                "Content-Type: text/plain\r\n\r\n"
            ).encode() + self.bodies[size]
        return ident, sender, rcpts, data

    async def reply(self, r):
        while True:
            line = await r.readline()
            if not line:
                raise ConnectionError("closed")
            if len(line) < 4 or line[3:4] != b"-":
                return line.decode(errors="replace").strip()

    async def worker(self):
        while time.time() < self.deadline or (self.retry and time.time() < self.deadline + 600):
            try:
                r, w = await asyncio.open_connection("127.0.0.1", self.port, limit=1 << 20)
            except OSError:
                await asyncio.sleep(1)
                continue
            try:
                if not (await self.reply(r)).startswith("220"):
                    raise ConnectionError("no greeting")
                w.write(b"EHLO soak.example\r\n")
                await self.reply(r)
                for _ in range(20):
                    due = [m for m in self.retry if m[0] <= time.time()]
                    if due:
                        m = due[0]
                        self.retry.remove(m)
                        msg = m[1]
                    elif time.time() < self.deadline:
                        msg = self.new_message()
                    elif self.retry:
                        await asyncio.sleep(1)
                        continue
                    else:
                        break
                    await self.send(r, w, msg)
                w.write(b"QUIT\r\n")
                await w.drain()
            except (ConnectionError, OSError, asyncio.IncompleteReadError):
                self.counts["errors"] += 1
            finally:
                w.close()

    async def send(self, r, w, msg):
        ident, sender, rcpts, data = msg
        try:
            w.write(f"MAIL FROM:<{sender}>\r\n".encode())
            w.write(b"".join(f"RCPT TO:<{a}>\r\n".encode() for a in rcpts))
            w.write(b"DATA\r\n")
            await w.drain()
            ok = (await self.reply(r)).startswith("250")
            taken = [a for a in rcpts if (await self.reply(r)).startswith("250")]
            go = (await self.reply(r)).startswith("354")
            if not (ok and go and taken == rcpts):
                # Something was refused before the data: start over later, whole.
                w.write(b".\r\n" if go else b"RSET\r\n")
                await self.reply(r)
                if go:
                    w.write(b"RSET\r\n")
                    await self.reply(r)
                self.counts["tempfail"] += 1
                self.retry.append((time.time() + 5, msg))
                return
            w.write(data.replace(b"\r\n.", b"\r\n.."))
            w.write(b"\r\n.\r\n")
            started = time.time()
            await w.drain()
            final = await self.reply(r)
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            self.retry.append((time.time() + 5, msg))
            raise
        self.lat.write(f"{(time.time() - started) * 1000:.1f} {final[:3]}\n")
        if final.startswith("250"):
            self.counts["acked"] += 1
            for a in rcpts:
                self.acks.write(f"{ident} {a}\n")
        elif final.startswith("4"):
            self.counts["tempfail"] += 1
            self.retry.append((time.time() + 5, msg))
        else:
            self.counts["refused"] += 1
            print(f"refused {ident}: {final}", file=sys.stderr)

    async def run(self):
        await asyncio.gather(*(self.worker() for _ in range(self.sessions)))
        print(" ".join(f"{k}={v}" for k, v in self.counts.items()), f"messages={self.next_id}")


def main():
    if sys.argv[1] == "sink":
        asyncio.run(sink(int(sys.argv[2]), sys.argv[3]))
    else:
        port, seconds, sessions, acks, inbound = sys.argv[2:7]
        asyncio.run(Source(int(port), float(seconds), int(sessions), acks, inbound).run())


if __name__ == "__main__":
    main()
