#!/usr/bin/python3
"""bench/scaling.py: the per-request costs docs/SCALING.md is computed from.

    VIAL_BUILD_DIR=build bench/scaling.py [--duration 5] [--json OUT]

One vial-server (--workers 1, pinned to CPU $SERVER_CPU, default 1) on a
throwaway PostgreSQL cluster (scripts/pg.sh) and a throwaway Redis
(scripts/redis.sh), both in a temporary directory and removed at the end,
loaded by `wrk -t1 -c$CONNS` pinned to CPU $CLIENT_CPU (default 0) for each
seed workload in turn: log ingest (1 and 100 actions per request), log
queries (a user's page of 50, one log by id), an authenticated JSON call
(JWT), a login (argon2id), and a log ingest while a live tail listens (the
insert + Redis PUBLISH path a chat message takes).

For each workload, around the measured run (after a 1 s warm-up):
- app CPU per request: utime+stime of the vial-server process (all its
  threads) from /proc/PID/stat, divided by the requests wrk completed;
- PostgreSQL CPU per request: the same over the postmaster and every
  process under it (backends, WAL writer, checkpointer...);
- Redis round trips per request: Redis's own total_commands_processed
  and the commands by name, from MONITOR over 20 requests (the commands a
  script runs inside EVAL are not round trips); Redis CPU per command from
  its own used_cpu_user+sys over 100,000 commands of redis-benchmark;
- database queries and database time per request from vial's own
  /metrics (vial_db_queries_total, vial_db_query_duration_seconds_sum).
CPU time is what a request costs whatever else runs on the machine; the
requests/s column depends on the machine's load and is shown for context.

Every process is started here and stopped by PID.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
BUILD = pathlib.Path(os.environ.get("VIAL_BUILD_DIR") or REPO / "build").resolve()
TICK = os.sysconf("SC_CLK_TCK")
SECRET = "scaling-bench-secret-0123456789abcdef0123456789"


def log(*a):
    print("scaling:", *a, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
    except (OSError, IndexError, ValueError):
        return 0.0


def tree(pid: int) -> list[int]:
    out = [pid]
    try:
        kids = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout.split()
    except OSError:
        kids = []
    for k in kids:
        out += tree(int(k))
    return out


def request(port, method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    h = dict(headers or {})
    if body is not None:
        body = json.dumps(body)
        h["Content-Type"] = "application/json"
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def redis_info(port) -> dict:
    out = subprocess.run(["redis-cli", "-p", str(port), "info", "all"], capture_output=True, text=True).stdout
    info = {}
    for line in out.splitlines():
        if ":" in line and not line.startswith("#"):
            k, _, v = line.strip().partition(":")
            info[k] = v
    return info


def redis_commands(info: dict) -> dict[str, int]:
    out = {}
    for k, v in info.items():
        if k.startswith("cmdstat_"):
            m = re.search(r"calls=(\d+)", v)
            if m:
                out[k[8:]] = int(m.group(1))
    return out


def metric_sum(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def a_log(user, n):
    return {"userId": user, "sessionId": "bench-session", "actions": [
        {"time": "2018-10-18T21:37:28-06:00", "type": "CLICK", "properties": {"locationX": i, "locationY": 7}}
        for i in range(n)]}


class Monitor:
    """Redis MONITOR on a socket of our own: every command a client sent,
    and the ones a script ran inside EVAL marked "[0 lua]" (not round
    trips).  (redis-cli monitor into a pipe buffers, and loses the end.)"""

    def __init__(self, rport):
        self.sock = socket.create_connection(("127.0.0.1", rport))
        self.sock.sendall(b"MONITOR\r\n")
        self.buf = b""
        self.lines: list[str] = []
        self.running = True
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        self.sock.settimeout(0.2)
        while self.running:
            try:
                d = self.sock.recv(1 << 16)
            except socket.timeout:
                continue
            if not d:
                break
            self.buf += d
            *done, self.buf = self.buf.split(b"\r\n")
            self.lines += [x.decode("utf-8", "replace") for x in done]

    def stop(self):
        time.sleep(0.3)
        self.running = False
        self.t.join(5)
        self.sock.close()
        return self.lines


def round_trips(rport, port, method, path, body, auth, k=20):
    """Redis round trips per request, exactly: k requests one after another
    under MONITOR, outside the timed run (MONITOR slows Redis down)."""
    mon = Monitor(rport)
    time.sleep(0.3)
    data = json.loads(pathlib.Path(body).read_text()) if body else None
    for _ in range(k):
        request(port, method, path, data, {"Authorization": f"Bearer {auth}"} if auth else None)
    cmds: dict[str, float] = {}
    n = 0
    for line in mon.stop():
        m = re.match(r'^\+[\d.]+ \[\d+ ([^\]]+)\] "([^"]+)"', line)
        if not m or m.group(1) == "lua":
            continue
        n += 1
        c = m.group(2).lower()
        cmds[c] = cmds.get(c, 0) + 1
    return n / k, {c: round(v / k, 2) for c, v in cmds.items()}


def redis_cpu(rport) -> float:
    i = redis_info(rport)
    return float(i["used_cpu_user"]) + float(i["used_cpu_sys"])


def redis_capacity(rport) -> dict[str, float]:
    """Redis CPU per command for what vial sends most: PUBLISH (a stored log
    or chat message, no subscriber here) and an EVAL of the shape of the
    token bucket (TIME, HMGET, HSET, PEXPIRE in one script), from Redis's
    own CPU time over 100,000 commands of redis-benchmark: a figure that
    does not depend on how busy the machine is, unlike requests/s."""
    script = ("local t = redis.call('TIME') local v = redis.call('HMGET', KEYS[1], 't', 'n') "
              "redis.call('HSET', KEYS[1], 't', t[1], 'n', 1) redis.call('PEXPIRE', KEYS[1], 60000) return 1")
    out = {}
    n = 100000
    for name, cmd in (("PUBLISH", ["PUBLISH", "vial:bench", "x" * 300]),
                      ("EVAL token bucket", ["EVAL", script, "1", "rl:__rand_int__"])):
        c0 = redis_cpu(rport)
        subprocess.run(["redis-benchmark", "-p", str(rport), "-q", "-n", str(n), "-c", "50", "-r", "100000", *cmd],
                       capture_output=True, text=True)
        out[name] = 1e6 * (redis_cpu(rport) - c0) / n
    return out


class Tail:
    """A live-tail client (GET /logs/stream) reading until stopped."""

    def __init__(self, port):
        self.port, self.events, self.running = port, 0, True
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        c.request("GET", "/logs/stream")
        r = c.getresponse()
        while self.running:
            line = r.fp.readline()
            if not line:
                break
            if line.startswith(b"data:"):
                self.events += 1
        c.close()

    def stop(self):
        self.running = False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=int(os.environ.get("DURATION", "5")))
    ap.add_argument("--json", help="write the results here too")
    args = ap.parse_args()
    server_cpu = os.environ.get("SERVER_CPU", "1")
    client_cpu = os.environ.get("CLIENT_CPU", "0")
    vial_bin = BUILD / "vial-server"
    for tool in ("wrk", "redis-cli", "taskset"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found (scripts/deps.sh bench)")
    if not vial_bin.exists():
        sys.exit(f"{vial_bin} not found: build first")

    work = pathlib.Path(tempfile.mkdtemp(prefix="vial-scaling-"))
    work.chmod(0o755)
    procs = []
    pg_dir, redis_dir = work / "pg", work / "redis"
    try:
        pg_url = subprocess.run([str(REPO / "scripts/pg.sh"), "start", str(pg_dir)], capture_output=True, text=True,
                                check=True).stdout.strip()
        redis_url = subprocess.run([str(REPO / "scripts/redis.sh"), "start", str(redis_dir)], capture_output=True,
                                   text=True, check=True).stdout.strip()
        rport = int((redis_dir / "port").read_text())
        postmaster = int((pg_dir / "data/postmaster.pid").read_text().split()[0])
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIAL_")}
        env.update(SECRET_KEY=SECRET)
        errlog = open(work / "vial.err", "wb")
        srv = subprocess.Popen(["taskset", "-c", server_cpu, str(vial_bin), "run", "--port", str(port),
                                "--workers", "1", "--database-url", pg_url, "--redis-url", redis_url,
                                "--migrations-root", str(REPO), "--log-file", str(work / "vial.log"),
                                # limits stay on (their Redis round trips are part of the cost), out of reach
                                "--ratelimit-api", "100000000:100000000", "--ratelimit-login", "100000000:100000000"],
                               stdout=errlog, stderr=errlog, env=env, cwd=work, start_new_session=True)
        procs.append(srv)
        for _ in range(300):
            try:
                if request(port, "GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            sys.exit("vial-server did not start: " + (work / "vial.log").read_text()[-2000:])
        log(f"vial-server pid {srv.pid} on :{port}, PostgreSQL {pg_url}, Redis {redis_url}")

        # seed: an account, a token, 10,000 logs of one user
        assert request(port, "POST", "/api/register", {"username": "bench", "password": "a bench password 1"})[0] == 201
        tok = json.loads(request(port, "POST", "/api/login", {"username": "bench",
                                                               "password": "a bench password 1"})[1])["access_token"]
        for _ in range(100):
            assert request(port, "POST", "/logs", a_log("bench-user", 100))[0] == 201
        bodies = {}
        for name, body in (("one", a_log("ingest-user", 1)), ("hundred", a_log("ingest-user", 100)),
                           ("login", {"username": "bench", "password": "a bench password 1"})):
            bodies[name] = work / f"{name}.json"
            bodies[name].write_text(json.dumps(body))

        workloads = [
            # name, method, path, body, auth, connections, per-request unit
            ("log ingest, 1 action", "POST", "/logs", bodies["one"], "", 16, 1),
            ("log ingest, 100 actions", "POST", "/logs", bodies["hundred"], "", 16, 100),
            ("log query, a user's page of 50", "GET", "/user/bench-user?limit=50", None, "", 16, 1),
            ("log by id", "GET", "/logs/5000", None, "", 16, 1),
            ("JSON API call with a JWT", "GET", "/api/users/1", None, tok, 16, 1),
            ("login (argon2id)", "POST", "/api/login", bodies["login"], "", 2, 1),
            ("log ingest with a live tail listening (chat-like: insert + PUBLISH)", "POST", "/logs", bodies["one"], "",
             16, 1),
        ]
        results = []
        for name, method, path, body, auth, conns, unit in workloads:
            tail = Tail(port) if "live tail" in name else None
            wenv = dict(os.environ, SCALE_METHOD=method, SCALE_BODY=str(body or ""), SCALE_AUTH=auth)
            wrk = ["taskset", "-c", client_cpu, "wrk", "-t1", f"-c{conns}", "-s", str(HERE / "scaling.lua")]
            url = f"http://127.0.0.1:{port}{path}"
            subprocess.run(wrk + ["-d1s", url], env=wenv, capture_output=True)  # warm-up
            pg_pids = tree(postmaster)
            before = dict(app=cpu_seconds(srv.pid), pg=sum(cpu_seconds(p) for p in pg_pids),
                          redis=redis_info(rport), metrics=request(port, "GET", "/metrics")[1].decode())
            out = subprocess.run(wrk + [f"-d{args.duration}s", url], env=wenv, capture_output=True, text=True).stdout
            pg_pids = sorted(set(pg_pids) | set(tree(postmaster)))
            after = dict(app=cpu_seconds(srv.pid), pg=sum(cpu_seconds(p) for p in pg_pids),
                         redis=redis_info(rport), metrics=request(port, "GET", "/metrics")[1].decode())
            trips, trip_cmds = round_trips(rport, port, method, path, body, auth)
            if tail:
                tail.stop()
            n = int(re.search(r"(\d+) requests in", out).group(1))
            secs = float(re.search(r"requests in ([\d.]+)s", out).group(1))
            bad = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
            rb, ra = before["redis"], after["redis"]
            cmds = int(ra["total_commands_processed"]) - int(rb["total_commands_processed"]) - 1  # our INFO
            rcpu = (float(ra["used_cpu_user"]) + float(ra["used_cpu_sys"]) -
                    float(rb["used_cpu_user"]) - float(rb["used_cpu_sys"]))
            cb, ca = redis_commands(rb), redis_commands(ra)
            by_cmd = {k: ca[k] - cb.get(k, 0) for k in ca if k != "info" and ca[k] - cb.get(k, 0) > 0}
            q = metric_sum(after["metrics"], "vial_db_queries_total") - metric_sum(before["metrics"],
                                                                                   "vial_db_queries_total")
            dbt = (metric_sum(after["metrics"], "vial_db_query_duration_seconds_sum") -
                   metric_sum(before["metrics"], "vial_db_query_duration_seconds_sum"))
            r = dict(workload=name, requests=n, seconds=secs, rps=n / secs, non_2xx=bad, units_per_request=unit,
                     app_cpu_us=1e6 * (after["app"] - before["app"]) / n,
                     pg_cpu_us=1e6 * (after["pg"] - before["pg"]) / n,
                     redis_cmds=cmds / n, redis_by_cmd={k: round(v / n, 3) for k, v in by_cmd.items()},
                     redis_round_trips=trips, redis_trip_cmds=trip_cmds, redis_cpu_us=1e6 * rcpu / n,
                     db_queries=q / n, db_time_us=1e6 * dbt / n,
                     tail_events=tail.events if tail else None)
            results.append(r)
            log(f"{name}: {n} requests ({bad} non-2xx), app {r['app_cpu_us']:.0f} µs, PostgreSQL "
                f"{r['pg_cpu_us']:.0f} µs, Redis {trips:.2f} round trips {trip_cmds}, "
                f"{r['db_queries']:.2f} queries")
        print("| workload | req/s (1 worker) | app CPU µs/req | PostgreSQL CPU µs/req | DB queries/req | "
              "DB time µs/req | Redis round trips/req | Redis CPU µs/req |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for r in results:
            cmds = ", ".join(f"{k} {v:g}" for k, v in sorted(r["redis_trip_cmds"].items()))
            print(f"| {r['workload']} | {r['rps']:.0f} | {r['app_cpu_us']:.0f} | {r['pg_cpu_us']:.0f} | "
                  f"{r['db_queries']:.2f} | {r['db_time_us']:.0f} | {r['redis_round_trips']:.2f} ({cmds or 'none'}) | "
                  f"{r['redis_cpu_us']:.1f} |")
        cap = redis_capacity(rport)
        print()
        for k, v in cap.items():
            print(f"Redis CPU per command (redis-benchmark, 50 clients, no pipelining): {k}: {v:.1f} µs "
                  f"(= {1e6 / v:,.0f} per second per core)")
        if args.json:
            pathlib.Path(args.json).write_text(json.dumps({"workloads": results, "redis_capacity": cap}, indent=2))
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
        subprocess.run([str(REPO / "scripts/redis.sh"), "stop", str(redis_dir)], capture_output=True)
        subprocess.run([str(REPO / "scripts/pg.sh"), "destroy", str(pg_dir)], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
