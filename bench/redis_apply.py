#!/usr/bin/env python3
"""How long one `apply` script of the Redis sink holds Redis (design §5, "The Redis sink's
commit"): stages ROUNDS chunks of N entries (values of V bytes) into a fresh redis-server
(`scripts/services/redis.sh start`), applies each with the sink's own Lua (read from
node/src/sinks/redis/scripts.rs) and prints Redis's own time per call (`INFO commandstats`,
usec_per_call of EVALSHA) for each (N, V).

    bench/redis_apply.py            # N in 256, 1024; V in 150, 2000; 50 rounds each
"""
import os
import re
import socket
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROUNDS = 50


def lua(name):
    src = open(os.path.join(ROOT, "node/src/sinks/redis/scripts.rs")).read()
    return re.search(r'const %s: &str = r"\n(.*?)\n";' % name, src, re.S).group(1)


def resp(*args):
    out = "*%d\r\n" % len(args)
    for a in args:
        a = str(a)
        out += "$%d\r\n%s\r\n" % (len(a.encode()), a)
    return out


def main():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = str(sock.getsockname()[1])
    sock.close()
    work = tempfile.mkdtemp()
    pid = subprocess.run([os.path.join(ROOT, "scripts/services/redis.sh"), "start", work, port],
                         capture_output=True, text=True, check=True).stdout.strip()
    try:
        cli = lambda *a: subprocess.run(["redis-cli", "-p", port, *a], capture_output=True,
                                        text=True, check=True).stdout.strip()
        claim = cli("SCRIPT", "LOAD", lua("CLAIM"))
        apply = cli("SCRIPT", "LOAD", lua("FENCE") + "\n" + lua("APPLY"))
        cli("EVALSHA", claim, "2", "owner", "index", "1", "1")
        print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
        print("entries  value_bytes  usec_per_apply")
        for n in (256, 1024):
            for v in (150, 2000):
                cli("FLUSHALL")
                cli("EVALSHA", claim, "2", "owner", "index", "1", "1")
                value = "x" * v
                pipe = "".join(
                    resp("HSET", "chunk%d" % r, *[f for i in range(n) for f in ("k%d:%d" % (r, i), value)])
                    + resp("SADD", "index", "m%d" % r)
                    for r in range(ROUNDS))
                subprocess.run(["redis-cli", "-p", port, "--pipe"], input=pipe,
                               capture_output=True, text=True, check=True)
                cli("CONFIG", "RESETSTAT")
                for r in range(ROUNDS):
                    applied = cli("EVALSHA", apply, "3", "owner", "index", "chunk%d" % r,
                                  "1", "1", "m%d" % r, "0")
                    assert applied == str(n), applied
                stat = [l for l in cli("INFO", "commandstats").splitlines() if "evalsha" in l][0]
                usec = re.search(r"usec_per_call=([0-9.]+)", stat).group(1)
                print("%7d  %11d  %14s" % (n, v, usec))
    finally:
        subprocess.run(["kill", pid])


if __name__ == "__main__":
    sys.exit(main())
