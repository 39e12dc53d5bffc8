#!/usr/bin/env python3
"""The soak run's SMTP source and sink (scripts/soak-gateway.sh, BENCHMARKS.md "Soak").

  soak.py sink PORT RECORD             write "ID RCPT" for every recipient of every message
                                       it answered 250 to (written before the 250)
  soak.py source PORT SECONDS SESSIONS ACKS INBOUND_EML
                                       SESSIONS concurrent sessions for SECONDS, mixed traffic;
                                       a 4xx or a lost connection is retried later, as an MTA
                                       does; writes "ID RCPT" for every recipient the gateway
                                       answered 250 for, and latencies to ACKS.latency;
                                       beside it rude clients (class Rude), logged to ACKS.rude
Standard library only (asyncio).
"""
import asyncio
import os
import random
import sys
import time


def form(head):
    """What arrived: enveloped (encrypted), signed (clear or opaque) or plain."""
    h = head.lower().replace(b"\r\n ", b" ").replace(b"\r\n\t", b" ")
    if b"smime-type=enveloped-data" in h or b"smime-type=authenveloped-data" in h:
        return "enveloped"
    if b"multipart/signed" in h or b"smime-type=signed-data" in h:
        return "signed"
    return "plain"


async def sink(port, record):
    out = open(record, "a", buffering=1)
    kinds = open(record + ".kinds", "a", buffering=1)

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
                    ident, in_header, head = "-", True, b""
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
                            head += d
                    kind = form(head)
                    for a in rcpts:
                        out.write(f"{ident} {a}\n")
                        kinds.write(f"{ident} {a} {kind}\n")
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
        self.retried = open(acks + ".retried", "a", buffering=1)
        self.modes = open(acks + ".modes", "a", buffering=1)
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
        return ident, sender, rcpts, data, mode

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

    def again(self, msg):
        """Sends msg again in 5 s, as an MTA would, and notes that it was sent more than once."""
        self.retried.write(f"{msg[0]}\n")
        self.retry.append((time.time() + 5, msg))

    async def send(self, r, w, msg):
        ident, sender, rcpts, data, _mode = msg
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
                self.again(msg)
                return
            w.write(data.replace(b"\r\n.", b"\r\n.."))
            w.write(b"\r\n.\r\n")
            started = time.time()
            await w.drain()
            final = await self.reply(r)
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            self.again(msg)
            raise
        self.lat.write(f"{(time.time() - started) * 1000:.1f} {final[:3]}\n")
        if final.startswith("250"):
            self.counts["acked"] += 1
            for a in rcpts:
                self.acks.write(f"{ident} {a}\n")
            self.modes.write(f"{ident} {msg[4]}\n")
        elif final.startswith("4"):
            self.counts["tempfail"] += 1
            self.again(msg)
        else:
            self.counts["refused"] += 1
            print(f"refused {ident}: {final}", file=sys.stderr)

    async def run(self, rude_log):
        if os.environ.get("SOAK_RUDE", "1") == "1":
            rude = asyncio.ensure_future(Rude(self.port, self.deadline, rude_log).run())
        else:
            rude = asyncio.ensure_future(asyncio.sleep(0))
        await asyncio.gather(*(self.worker() for _ in range(self.sessions)))
        rude.cancel()
        print(" ".join(f"{k}={v}" for k, v in self.counts.items()), f"messages={self.next_id}")


class Rude:
    """Rude clients beside the traffic, the whole run long: one byte a second in DATA, a header
    that never ends, 100,000 RCPT commands, and every two minutes a flood of 150 connections
    that say nothing. Each cut-off is logged as "KIND SECONDS LAST-REPLY" to the rude log."""

    def __init__(self, port, deadline, log):
        self.port, self.deadline = port, deadline
        self.log = open(log, "a", buffering=1)

    async def open(self):
        r, w = await asyncio.open_connection("127.0.0.1", self.port, limit=1 << 20)
        await r.readline()
        return r, w

    async def last_reply(self, r, w, feed):
        """Feed the gateway until it closes the connection; the last reply line it sent."""
        last = b""

        async def read():
            nonlocal last
            while line := await r.readline():
                last = line
        reader = asyncio.ensure_future(read())
        try:
            while not reader.done():
                chunk, pause = feed()
                if not chunk:
                    break  # nothing more to say: wait for the gateway's verdict
                w.write(chunk)
                await w.drain()
                await asyncio.sleep(pause)  # (also lets the others run when pause is 0)
        except (ConnectionError, OSError):
            pass
        try:
            await asyncio.wait_for(reader, 30)
        except (asyncio.TimeoutError, ConnectionError, OSError):
            reader.cancel()
        w.close()
        return last.decode(errors="replace").strip()

    async def one(self, kind):
        started = time.time()
        try:
            r, w = await self.open()
        except OSError:
            await asyncio.sleep(1)
            return
        prologue = b"EHLO rude.example\r\nMAIL FROM:<rude@elsewhere.example>\r\n"
        if kind == "one-byte-a-second":
            w.write(prologue + b"RCPT TO:<a.example@example.org>\r\nDATA\r\n")
            last = await self.last_reply(r, w, lambda: (b"x", 1.0))
        elif kind == "never-ending-header":
            w.write(prologue + b"RCPT TO:<a.example@example.org>\r\nDATA\r\nX-Long: ")
            last = await self.last_reply(r, w, lambda: (b"a" * 65536, 0))
        else:
            w.write(prologue)
            rcpts = iter(range(100_000))
            batch = lambda: (b"".join(b"RCPT TO:<r%d@elsewhere.example>\r\n" % i for _, i in zip(range(500), rcpts)), 0)
            last = await self.last_reply(r, w, batch)
        self.log.write(f"{kind} {time.time() - started:.1f} {last}\n")

    async def loop(self, kind):
        while time.time() < self.deadline:
            await self.one(kind)

    async def flood(self):
        while time.time() + 120 < self.deadline:
            await asyncio.sleep(60)
            started, conns = time.time(), []
            for _ in range(150):
                try:
                    conns.append(await asyncio.open_connection("127.0.0.1", self.port))
                except OSError:
                    pass
            closed = await asyncio.gather(*(r.read() for r, _ in conns), return_exceptions=True)
            for _, w in conns:
                w.close()
            cut = sum(1 for c in closed if not isinstance(c, Exception))
            self.log.write(f"flood {time.time() - started:.1f} {cut}/{len(conns)} idle connections closed by the gateway\n")
            await asyncio.sleep(60)

    async def run(self):
        kinds = ["one-byte-a-second", "never-ending-header", "100000-rcpt"]
        await asyncio.gather(*(self.loop(k) for k in kinds), self.flood())


def main():
    if sys.argv[1] == "sink":
        asyncio.run(sink(int(sys.argv[2]), sys.argv[3]))
    else:
        port, seconds, sessions, acks, inbound = sys.argv[2:7]
        asyncio.run(Source(int(port), float(seconds), int(sessions), acks, inbound).run(acks + ".rude"))


if __name__ == "__main__":
    main()
