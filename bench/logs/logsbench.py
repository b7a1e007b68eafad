#!/usr/bin/python3
"""Helpers of bench/logs.sh, the Log REST API benchmark (issue 4).

  logsbench.py bodies DIR [--count 300] [--actions 10000] [--seed 1]
      Writes DIR/body<k>.json: bodies of exactly ACTIONS actions each, as a
      collector would batch them (an array of 100 log files of users drawn
      from a population of 10,000, time moving forward from body to body; see
      "bodies" below), and DIR/bodies.json describing them.
  logsbench.py ingest URL DIR --requests N [--first F] [--conns C] [--max-seconds S]
                      [--app-pids P,..] [--db-postmaster PID] [--cpus C,S] [--out FILE]
      POSTs bodies F..F+N-1, in order, over C keep-alive connections, stops
      early after S seconds, and measures the window from the first byte sent
      to the last response: wall time, the CPU ticks of the app's processes and
      of the PostgreSQL cluster, both cores' busy ticks and its own ticks.
      Every response must be 201 with "stored" equal to the body's actions.
      Prints one line of key=value; --out keeps the responses for `verify`.
  logsbench.py verify URL DIR RESPONSES [--samples 40]
      vial only: the id blocks of all responses are disjoint and of the right
      size; a sample of stored logs (GET /logs/<id>) equals the actions sent,
      time instant and offset included.
  logsbench.py sql sqlite|postgresql
      The SQL that fills the logs table with N synthetic logs in the
      migrations' schema (see DATA below; the caller drops and recreates the
      secondary indexes around it).
  logsbench.py paths FILE [--count 20000] [--mode range|limit] [--seed 2]
      Query paths /user/<u>/log_type/<t>/time_range/<start>/<end>: in mode
      range the inclusive range holds exactly 100 logs of that user and type;
      in mode limit it holds 150 to 200 of them and the path asks ?limit=100.
  logsbench.py check-query URL FILE [--samples 50]
      A sample of those paths: 200, a JSON array of exactly 100 logs, each of
      the user and type asked, inside the range, ordered by (time, id), and
      equal to the generated row with that id.
"""
import argparse
import datetime as dt
import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.parse

# ---------------------------------------------------------------- DATA
# The 10,000,000-row query data set, a pure function of the row number
# n = 0..N-1 (id n + 1), so that SQLite and PostgreSQL hold the same rows and
# the query paths can be computed:
#   user   u = n % USERS                 ("U00000042"; 1,000 logs per user)
#   k      = n // USERS                  (the user's k-th event, 0..999)
#   type   = PATTERN[k % 20]             (per user: 400 CLICK, 300 VIEW, 200 NAVIGATE,
#                                         50 SCROLL, 50 SEARCH)
#   time   = T0 + n * DT µs              (30 days; one event of a user every 2,592 s)
#   offset = OFFSETS[u % 7]              (the zone the user's front end sent)
#   session "S00000042-012"              (40 events per session)
#   CLICK: locationX/Y; VIEW: viewedId; NAVIGATE: pageFrom/pageTo; others none.
N = 10_000_000
USERS = 10_000
PER_USER = N // USERS
T0 = 1767225600 * 1_000_000          # 2026-01-01T00:00:00Z
DT = 259_201                         # µs between consecutive rows (sub-second times)
PATTERN = ["CLICK", "VIEW", "CLICK", "NAVIGATE", "CLICK", "VIEW", "CLICK", "NAVIGATE", "SCROLL", "CLICK",
           "VIEW", "NAVIGATE", "CLICK", "VIEW", "CLICK", "SEARCH", "VIEW", "NAVIGATE", "CLICK", "VIEW"]
OFFSETS = [-21600, 0, 3600, 19800, -18000, 32400, 7200]
PAGES = ["home", "search", "inventory", "communities", "profile", "cart", "settings"]
QUERY_TYPES = ["CLICK", "VIEW", "NAVIGATE"]
ROWS = 100


def user_id(u):
    return "U%08d" % u


def row_of(n):
    """The generated log with id n + 1, as the API returns it."""
    u, k = n % USERS, n // USERS
    t = PATTERN[k % 20]
    r = {"id": n + 1, "userId": user_id(u), "sessionId": "S%08d-%03d" % (u, k // 40), "log_type": t,
         "time_us": T0 + n * DT, "offset": OFFSETS[u % 7], "locationX": None, "locationY": None,
         "viewedId": None, "pageFrom": None, "pageTo": None}
    if t == "CLICK":
        r["locationX"], r["locationY"] = n * 7919 % 1920, n * 104729 % 1080
    elif t == "VIEW":
        r["viewedId"] = "V%06d" % (n * 7919 % 1000000)
    elif t == "NAVIGATE":
        r["pageFrom"], r["pageTo"] = PAGES[n % 7], PAGES[n // 7 % 7]
    return r


def sql_fill(backend):
    def case(expr, values):
        return "CASE %s %s END" % (expr, " ".join("WHEN %d THEN %s" % (i, v) for i, v in enumerate(values)))
    q = lambda s: "'%s'" % s
    k = "(n / %d)" % USERS
    u = "(n %% %d)" % USERS
    typ = case("%s %% 20" % k, [q(t) for t in PATTERN])
    if backend == "sqlite":
        src = "WITH RECURSIVE c(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM c WHERE n < %d) " % (N - 1)
        uid = "printf('U%%08d', %s)" % u
        sid = "printf('S%%08d-%%03d', %s, %s / 40)" % (u, k)
        vid = "printf('V%06d', n * 7919 % 1000000)"
        tail = " FROM c"
    else:
        src = ""
        uid = "'U' || lpad(%s::text, 8, '0')" % u
        sid = "'S' || lpad(%s::text, 8, '0') || '-' || lpad((%s / 40)::text, 3, '0')" % (u, k)
        vid = "'V' || lpad((n * 7919 % 1000000)::text, 6, '0')"
        tail = " FROM generate_series(0::bigint, %d::bigint) AS n" % (N - 1)
    kind = "%s %% 20" % k
    is_ = lambda t: "%s IN (%s)" % (kind, ", ".join(str(i) for i, p in enumerate(PATTERN) if p == t))
    pages = lambda e: case(e, [q(p) for p in PAGES])
    return (src + "INSERT INTO logs (id, user_id, session_id, time_us, time_offset, log_type, location_x, location_y, "
            "viewed_id, page_from, page_to) SELECT n + 1, %s, %s, %d + n * %d, %s, %s, "
            "CASE WHEN %s THEN n * 7919 %% 1920 END, CASE WHEN %s THEN n * 104729 %% 1080 END, "
            "CASE WHEN %s THEN %s END, CASE WHEN %s THEN %s END, CASE WHEN %s THEN %s END%s;\n"
            % (uid, sid, T0, DT, case("%s %% 7" % u, [str(o) for o in OFFSETS]), typ,
               is_("CLICK"), is_("CLICK"), is_("VIEW"), vid, is_("NAVIGATE"), pages("n % 7"),
               is_("NAVIGATE"), pages("(n / 7 % 7)"), tail))


def fmt_time(us, offset_s, digits=6, z=True):
    """RFC 3339 of the instant `us` (UTC µs) in the zone `offset_s`."""
    local = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=us + offset_s * 1_000_000)
    s = local.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        s += ".%06d" % local.microsecond
        s = s[:len(s) - 6 + digits]
    if offset_s == 0 and z:
        return s + "Z"
    sign = "+" if offset_s >= 0 else "-"
    a = abs(offset_s)
    return s + "%s%02d:%02d" % (sign, a // 3600, a % 3600 // 60)


def parse_time(s):
    """RFC 3339 -> (UTC µs, offset s)."""
    d = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    off = int(d.utcoffset().total_seconds())
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    delta = d - epoch
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds, off


# ---------------------------------------------------------------- paths
def occurrences(t):
    """k values (0..PER_USER-1) at which a user logs type t."""
    return [k for k in range(PER_USER) if PATTERN[k % 20] == t]


def make_paths(count, mode, seed):
    rnd = random.Random(seed)
    occ = {t: occurrences(t) for t in QUERY_TYPES}
    gap = USERS * DT                       # µs between two events of one user
    zones = [0, 0, 3600, -21600, 19800, 7200, -12600]
    out = []
    for _ in range(count):
        u = rnd.randrange(USERS)
        t = rnd.choice(QUERY_TYPES)
        want = ROWS if mode == "range" else rnd.randint(3 * ROWS // 2, 2 * ROWS)
        ks = occ[t]
        j = rnd.randrange(len(ks) - want + 1)
        first = T0 + (ks[j] * USERS + u) * DT
        last = T0 + (ks[j + want - 1] * USERS + u) * DT
        # Widen the bounds by less than one event of that user (minus 2 s for
        # the rounding below): the same logs match.
        start = first - rnd.randrange(gap - 2_000_000)
        end = last + rnd.randrange(gap - 2_000_000)
        bounds = []
        for b, down in ((start, True), (end, False)):
            digits = rnd.choice([0, 3, 6, 6])
            unit = 10 ** (6 - digits)
            b = b - b % unit if down else b + (-b) % unit
            s = fmt_time(b, rnd.choice(zones), digits, z=rnd.random() < 0.7)
            if "+" in s and rnd.random() < 0.3:
                s = s.replace("+", "%2B")
            bounds.append(s)
        path = "/user/%s/log_type/%s/time_range/%s/%s" % (user_id(u), t, bounds[0], bounds[1])
        if mode == "limit":
            path += "?limit=%d" % ROWS
        out.append(path)
    return out


def check_query(url, paths, samples, seed=3):
    """A sample of the paths: 200, exactly ROWS logs, right user/type/range/order and content."""
    p = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(p.hostname, p.port, timeout=30)
    rnd = random.Random(seed)
    links = 0
    for path in rnd.sample(paths, min(samples, len(paths))):
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            return "%s: status %d %s" % (path, r.status, body[:200])
        ctype = r.getheader("Content-Type", "")
        if not ctype.startswith("application/json"):
            return "%s: Content-Type %r" % (path, ctype)
        rows = json.loads(body)
        if not isinstance(rows, list) or len(rows) != ROWS:
            return "%s: %s rows, %d expected" % (path, len(rows) if isinstance(rows, list) else type(rows), ROWS)
        bare, _, query = path.partition("?")
        seg = [urllib.parse.unquote(s) for s in bare.split("/")]
        user, typ, start, end = seg[2], seg[4], parse_time(seg[6])[0], parse_time(seg[7])[0]
        prev = None
        for row in rows:
            us, off = parse_time(row["time"])
            want = row_of(row["id"] - 1)
            got = dict(row, time_us=us, offset=off)
            del got["time"]
            if got != want:
                return "%s: row %s differs from the generated one %s" % (path, row, want)
            if row["userId"] != user or row["log_type"] != typ or not start <= us <= end:
                return "%s: row %s does not match the filters" % (path, row)
            if prev is not None and (us, row["id"]) <= prev:
                return "%s: rows out of order at id %d" % (path, row["id"])
            prev = (us, row["id"])
        if query:
            links += "rel=\"next\"" in (r.getheader("Link") or "")
    if any("?limit=" in x for x in paths) and links == 0:
        return "no Link rel=next on ?limit pages"
    return "ok"


# ---------------------------------------------------------------- bodies
# Ingest bodies as a collector would batch what front ends send: each body an
# array of LOGS_PER_BODY log files (one user session each) of equal size, the
# users drawn from a fixed population, and time moving forward: body k holds
# actions from the window [BODY_T0 + k * WINDOW_US, + WINDOW_US).  No two
# bodies share a (user, time) pair, as with real traffic: re-posting the same
# actions would insert runs of equal keys into the (user_id, time_us) index,
# which costs SQLite many more pages per row than real inserts do.
LOGS_PER_BODY = 100
POPULATION = 10_000
BODY_T0 = 1772323200 * 1_000_000      # 2026-03-01T00:00:00Z
WINDOW_US = 10_000_000                # 10,000 actions every 10 s of event time
TYPES = [("CLICK", 40), ("VIEW", 30), ("NAVIGATE", 20), ("SCROLL", 4), ("SEARCH", 3), ("PURCHASE", 2),
         ("LOGIN", 1)]
ZONES = [-21600, -18000, 0, 0, 3600, 19800, 32400]   # per user: where that user's browser is
DIGITS = [3, 3, 3, 6, 0]                             # per session: ms (JS), µs, whole seconds
SITE_PAGES = PAGES + ["checkout", "orders", "help", "about", "blog", "café", "search/results"]
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def ident(rnd, n=9):
    return "".join(rnd.choice(ALPHABET) for _ in range(n))


def make_body(rnd, k, actions, users):
    """Body number k: LOGS_PER_BODY log files from distinct users, `actions` actions in all."""
    names, weights = zip(*TYPES)
    base = BODY_T0 + k * WINDOW_US
    logs = []
    for j, u in enumerate(rnd.sample(range(len(users)), LOGS_PER_BODY)):
        n = actions // LOGS_PER_BODY + (j < actions % LOGS_PER_BODY)
        off, digits = ZONES[u % len(ZONES)], rnd.choice(DIGITS)
        unit = 10 ** (6 - digits)
        acts = []
        for t, typ in zip(sorted(rnd.randrange(WINDOW_US) for _ in range(n)), rnd.choices(names, weights, k=n)):
            t = base + t - t % unit          # what the client's clock precision lets it send
            a = {"time": fmt_time(t, off, digits), "type": typ}
            if typ == "CLICK":
                a["properties"] = {"locationX": rnd.randrange(1920), "locationY": rnd.randrange(1080)}
            elif typ in ("VIEW", "PURCHASE"):
                a["properties"] = {"viewedId": ident(rnd)}
            elif typ == "NAVIGATE":
                a["properties"] = {"pageFrom": rnd.choice(SITE_PAGES), "pageTo": rnd.choice(SITE_PAGES)}
            elif typ == "SCROLL":
                a["properties"] = {}
            acts.append(a)
        logs.append({"userId": users[u], "sessionId": "%s-%d" % (users[u], k // 30), "actions": acts})
    return logs


def write_bodies(d, count, actions, seed):
    rnd = random.Random(seed)
    users = sorted({ident(rnd) for _ in range(POPULATION * 2)})[:POPULATION]
    rnd.shuffle(users)
    os.makedirs(d, exist_ok=True)
    meta = []
    for k in range(count):
        body = make_body(rnd, k, actions, users)
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        with open(os.path.join(d, "body%d.json" % k), "wb") as f:
            f.write(data)
        meta.append({"file": "body%d.json" % k, "actions": sum(len(l["actions"]) for l in body), "bytes": len(data),
                     "logs": len(body)})
    with open(os.path.join(d, "bodies.json"), "w") as f:
        json.dump(meta, f)
    return meta


def load_bodies(d, first=0, count=None):
    """The bodies' metadata; the data of bodies first..first+count-1 only (a run never needs them all)."""
    with open(os.path.join(d, "bodies.json")) as f:
        meta = json.load(f)
    last = len(meta) if count is None else first + count
    if last > len(meta):
        sys.exit("logsbench.py: bodies %d..%d asked, %s holds %d (raise BODIES)" % (first, last - 1, d, len(meta)))
    for m in meta[first:last]:
        with open(os.path.join(d, m["file"]), "rb") as f:
            m["data"] = f.read()
    return meta


# ---------------------------------------------------------------- /proc
HZ = os.sysconf("SC_CLK_TCK")


def ticks(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    v = s[s.rindex(")") + 2:].split()
    return int(v[11]) + int(v[12])


def children_map():
    kids = {}
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                with open("/proc/%s/stat" % e) as f:
                    s = f.read()
            except OSError:
                continue
            ppid = int(s[s.rindex(")") + 2:].split()[1])
            kids.setdefault(ppid, []).append(int(e))
    return kids


def tree(pid):
    kids, out, todo = children_map(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def tree_ticks(pid):
    """{pid: ticks} of a process and its descendants (PostgreSQL backends come and go)."""
    return {p: t for p in tree(pid) for t in [ticks(p)] if t is not None}


def cpu_busy(cpus):
    busy = {}
    with open("/proc/stat") as f:
        for line in f:
            v = line.split()
            if v[0].startswith("cpu") and v[0][3:] in cpus:
                busy[v[0][3:]] = sum(int(v[i]) for i in (1, 2, 3, 6, 7, 8))
    return [busy.get(c, 0) for c in cpus]


def self_ticks():
    t = os.times()
    return round((t.user + t.system) * HZ)


# ---------------------------------------------------------------- ingest
def ingest(url, bodies, first, requests, conns, max_seconds, app_pids, db_pm, cpus, out):
    p = urllib.parse.urlsplit(url)
    lock = threading.Lock()
    state = {"next": 0, "stop": False}
    results = []                          # (body index, status, response body)
    deadline = [0.0]
    errors = []

    def worker():
        c = http.client.HTTPConnection(p.hostname, p.port, timeout=120)
        while True:
            with lock:
                i = state["next"]
                if i >= requests or state["stop"]:
                    return
                state["next"] = i + 1
            i += first
            b = bodies[i]
            try:
                c.request("POST", "/logs", body=b["data"], headers={"Content-Type": "application/json"})
                r = c.getresponse()
                data = r.read()
                st = r.status
            except (OSError, http.client.HTTPException) as e:
                c.close()
                st, data = 0, repr(e).encode()
            with lock:
                results.append((i, st, data))
                if st == 0:
                    errors.append(data.decode())
                if time.monotonic() > deadline[0]:
                    state["stop"] = True

    app0 = sum(ticks(x) or 0 for x in app_pids)
    db0 = tree_ticks(db_pm) if db_pm else {}
    me0 = self_ticks()
    busy0 = cpu_busy(cpus)
    w0 = time.monotonic()
    deadline[0] = w0 + max_seconds
    th = [threading.Thread(target=worker) for _ in range(conns)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    w1 = time.monotonic()
    busy1 = cpu_busy(cpus)
    me1 = self_ticks()
    db1 = tree_ticks(db_pm) if db_pm else {}
    app1 = sum(ticks(x) or 0 for x in app_pids)
    db = sum(t - db0.get(pid, 0) for pid, t in db1.items())
    sent = sum(bodies[b]["actions"] for b, _, _ in results)
    stored, bad = 0, []
    for b, st, data in results:
        try:
            n = json.loads(data).get("stored") if st == 201 else None
        except ValueError:
            n = None
        if st != 201 or n != bodies[b]["actions"]:
            bad.append("%d %s" % (st, data[:160].decode(errors="replace")))
        else:
            stored += n
    if out:
        with open(out, "w") as f:
            json.dump([{"body": b, "status": st, "response": data.decode(errors="replace")}
                       for b, st, data in results], f)
    el = w1 - w0
    print("requests=%d ok=%d bad=%d actions_sent=%d stored=%d wall_s=%.4f app_ticks=%d db_ticks=%d "
          "client_busy=%d server_busy=%d self_ticks=%d el_ticks=%d first_bad=%s"
          % (len(results), len(results) - len(bad), len(bad), sent, stored, el, app1 - app0, db,
             busy1[0] - busy0[0], busy1[1] - busy0[1], me1 - me0, round(el * HZ),
             json.dumps(bad[0] if bad else "")))


def verify(url, bodies_dir, responses, samples, seed=4):
    """vial's ids: disjoint blocks of the right size; stored logs equal what was sent."""
    p = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(p.hostname, p.port, timeout=30)
    bodies = load_bodies(bodies_dir, 0, 0)
    blocks = []
    for r in responses:
        if r["status"] != 201:
            return "a response was %d" % r["status"]
        d = json.loads(r["response"])
        if d["last_id"] - d["first_id"] + 1 != d["stored"] or d["stored"] != bodies[r["body"]]["actions"]:
            return "response %s does not match its body" % d
        blocks.append((d["first_id"], d["last_id"], r["body"]))
    blocks.sort()
    for a, b in zip(blocks, blocks[1:]):
        if b[0] <= a[1]:
            return "id blocks overlap: %s and %s" % (a[:2], b[:2])
    flat = {}
    rnd = random.Random(seed)
    for first, last, bi in rnd.sample(blocks, min(len(blocks), max(1, samples // 4))):
        if bi not in flat:
            with open(os.path.join(bodies_dir, bodies[bi]["file"]), "rb") as f:
                sent = json.loads(f.read())
            flat[bi] = [(l["userId"], l["sessionId"], a) for l in sent
                        for a in l["actions"]]
        for i in sorted(rnd.sample(range(len(flat[bi])), 4)):
            conn.request("GET", "/logs/%d" % (first + i))
            r = conn.getresponse()
            got = r.read()
            if r.status != 200:
                return "GET /logs/%d: %d %s" % (first + i, r.status, got[:200])
            got = json.loads(got)
            user, sess, a = flat[bi][i]
            pr = a.get("properties", {})
            want = {"id": first + i, "userId": user, "sessionId": sess, "time": parse_time(a["time"]),
                    "log_type": a["type"]}
            for k in ("locationX", "locationY", "viewedId", "pageFrom", "pageTo"):
                want[k] = pr.get(k)
            got["time"] = parse_time(got["time"])
            if got != want:
                return "log %d is %s, sent %s" % (first + i, got, want)
    return "ok"


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("bodies")
    s.add_argument("dir")
    s.add_argument("--count", type=int, default=300)
    s.add_argument("--actions", type=int, default=10_000)
    s.add_argument("--seed", type=int, default=1)
    s = sub.add_parser("ingest")
    s.add_argument("url")
    s.add_argument("dir")
    s.add_argument("--requests", type=int, required=True)
    s.add_argument("--first", type=int, default=0, help="the first body to send (bodies are never sent twice)")
    s.add_argument("--conns", type=int, default=2)
    s.add_argument("--max-seconds", type=float, default=60)
    s.add_argument("--app-pids", default="")
    s.add_argument("--db-postmaster", type=int, default=0)
    s.add_argument("--cpus", default="0,1", help="client CPU,server CPU")
    s.add_argument("--out")
    s = sub.add_parser("verify")
    s.add_argument("url")
    s.add_argument("dir")
    s.add_argument("responses")
    s.add_argument("--samples", type=int, default=40)
    s = sub.add_parser("sql")
    s.add_argument("backend", choices=["sqlite", "postgresql"])
    s = sub.add_parser("paths")
    s.add_argument("file")
    s.add_argument("--count", type=int, default=20000)
    s.add_argument("--mode", choices=["range", "limit"], default="range")
    s.add_argument("--seed", type=int, default=2)
    s = sub.add_parser("check-query")
    s.add_argument("url")
    s.add_argument("file")
    s.add_argument("--samples", type=int, default=50)
    a = ap.parse_args()
    if a.cmd == "bodies":
        for m in write_bodies(a.dir, a.count, a.actions, a.seed):
            print("%s actions=%d logs=%d bytes=%d" % (m["file"], m["actions"], m["logs"], m["bytes"]))
    elif a.cmd == "ingest":
        ingest(a.url, load_bodies(a.dir, a.first, a.requests), a.first, a.requests, a.conns, a.max_seconds,
               [int(x) for x in a.app_pids.split(",") if x], a.db_postmaster, a.cpus.split(","), a.out)
    elif a.cmd == "verify":
        with open(a.responses) as f:
            print(verify(a.url, a.dir, json.load(f), a.samples))
    elif a.cmd == "sql":
        sys.stdout.write(sql_fill(a.backend))
    elif a.cmd == "paths":
        with open(a.file, "w") as f:
            f.write("\n".join(make_paths(a.count, a.mode, a.seed)) + "\n")
    elif a.cmd == "check-query":
        with open(a.file) as f:
            print(check_query(a.url, f.read().split(), a.samples))


if __name__ == "__main__":
    main()
