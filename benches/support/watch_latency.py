"""The timing side of `watch_latency_ms` (benches/parts/mail_watch.sh).

  watch_latency.py sink PORT ARRIVALS
      An SMTP sink on 127.0.0.1:PORT that appends "<n> <unix seconds>" to ARRIVALS
      when the end of DATA of "Subject: benchmark message <n>" arrives.
  watch_latency.py drive ARRIVALS COUNT sendmail CMD...
  watch_latency.py drive ARRIVALS COUNT enqueuer CMD...
      Sends COUNT single messages one after the other (the next once the last arrived):
      through CMD as sendmail (the clock starts when it exits), or by writing n to the
      enqueuer's stdin (the clock starts when its enqueue returned: it answers
      "<n> <unix seconds>"). Prints the p50 of enqueue to arrival in ms. The first 5
      messages warm up and are not counted.

Times are the wall clock (CLOCK_REALTIME), which every process on the machine shares.
"""
import asyncio
import os
import re
import statistics
import subprocess
import sys
import time

WARMUP = 5
SUBJECT = re.compile(rb"^Subject: benchmark message (\d+)\r?$", re.IGNORECASE)


async def session(reader, writer, out):
    try:
        await converse(reader, writer, out)
    except ConnectionError:
        pass  # a client that hangs up without QUIT
    writer.close()


async def converse(reader, writer, out):
    writer.write(b"220 sink ESMTP\r\n")
    while True:
        line = await reader.readline()
        if not line:
            break
        verb = line[:4].upper()
        if verb == b"EHLO":
            writer.write(b"250-sink\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
        elif verb == b"DATA":
            writer.write(b"354 go on\r\n")
            await writer.drain()
            number = None
            while True:
                data = await reader.readline()
                if not data or data in (b".\r\n", b".\n"):
                    break
                found = SUBJECT.match(data.rstrip(b"\n"))
                if found and number is None:
                    number = found.group(1).decode()
            if number is not None:
                out.write(f"{number} {time.time():.6f}\n")
                out.flush()
            writer.write(b"250 2.0.0 ok\r\n")
        elif verb == b"QUIT":
            writer.write(b"221 bye\r\n")
            await writer.drain()
            break
        else:
            writer.write(b"250 ok\r\n")
        await writer.drain()


async def sink(port, path):
    out = open(path, "a", buffering=1)
    server = await asyncio.start_server(
        lambda r, w: session(r, w, out), "127.0.0.1", port
    )
    async with server:
        await server.serve_forever()


class Arrivals:
    """Follows the arrivals file."""

    def __init__(self, path):
        self.file = open(path, "a+")
        self.file.seek(0, os.SEEK_END)
        self.seen = {}
        self.partial = ""

    def wait(self, number, limit=60.0):
        deadline = time.time() + limit
        while number not in self.seen:
            chunk = self.file.read()
            if chunk:
                text = self.partial + chunk
                lines = text.split("\n")
                self.partial = lines.pop()
                for line in lines:
                    n, t = line.split()
                    self.seen[n] = float(t)
                continue
            if time.time() > deadline:
                sys.exit(f"message {number} did not arrive within {limit} s")
            time.sleep(0.0002)
        return self.seen[number]


def message(n):
    return (
        "From: bench@example.com\nTo: sink@example.com\n"
        f"Subject: benchmark message {n}\n\n"
        + "The quick brown fox jumps over the lazy dog. " * 40
        + "\n"
    ).encode()


def drive(path, count, mode, cmd):
    arrivals = Arrivals(path)
    enqueuer = None
    if mode == "enqueuer":
        enqueuer = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
    base = int(time.time()) % 100000 * 1000
    latencies = []
    for i in range(count + WARMUP):
        n = str(base + i)
        if enqueuer:
            enqueuer.stdin.write(n + "\n")
            enqueuer.stdin.flush()
            answer = enqueuer.stdout.readline().split()
            if answer[:1] != [n]:
                sys.exit("the enqueuer did not answer")
            sent = float(answer[1])
        else:
            subprocess.run(
                cmd + ["-f", "bench@example.com", "sink@example.com"],
                input=message(n),
                check=True,
            )
            sent = time.time()
        arrived = arrivals.wait(n)
        if i >= WARMUP:
            latencies.append((arrived - sent) * 1000)
    if enqueuer:
        enqueuer.stdin.close()
        enqueuer.wait()
    print(f"{statistics.median(latencies):.2f}")


if __name__ == "__main__":
    if sys.argv[1] == "sink":
        asyncio.run(sink(int(sys.argv[2]), sys.argv[3]))
    else:
        drive(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5:])
