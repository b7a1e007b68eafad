"""
vial-server's OpenAPI 3.1 document (issue 14): GET /openapi.json, built by
libvial from the route table and the routes' docs (src/core/openapi.c).

- An independent validator checks it: @redocly/cli `lint` (npm, locked in
  tests/openapi/package.json) with the strict recommended rules
  (tests/openapi/redocly.yaml).
- Every route the server registers — `vial-server routes` prints the table —
  is in the document under its path and method, with its endpoint as
  operationId and a summary (every vial-server route is described).
- What the document says is what the server does: the request schemas it
  shows are the ones the handlers enforce (a body the schema refuses is a
  400 naming the same field), the answers fit the response schemas it
  declares (python3-jsonschema), path parameters are typed as the router
  matches them, and the /docs page loads Swagger UI from the server itself
  under its Content-Security-Policy.
"""
from __future__ import annotations

import json
import pathlib
import re
import shutil
import subprocess
import time

import pytest
import requests

from conftest import REPO, Server, binary, clean_env, sanitizer_report

OPENAPI_DIR = REPO / "tests" / "openapi"
HTTP_TIMEOUT = 15


def server_args(tmp: pathlib.Path, *extra):
    return ["--workers", "2", "--database-url", f"sqlite:///{tmp}/vial.db", "--migrations-root", str(REPO),
            "--dashboard-templates", str(REPO / "apps" / "dashboard" / "templates"),
            "--static-dir", str(REPO / "static"), *extra]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    d = tmp_path_factory.mktemp("openapi")
    s = Server("vial-server", server_args(d), {"SECRET_KEY": "k" * 48}, d, d, None)
    try:
        s.start()
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    s.tmp = d
    yield s
    problems = s.problems()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def url(s, path):
    return f"http://127.0.0.1:{s.port}{path}"


@pytest.fixture(scope="module")
def doc(srv):
    r = requests.get(url(srv, "/openapi.json"), timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    return r.json()


def routes_table(tmp) -> list[tuple[str, list[str], str]]:
    """(endpoint, methods, rule) for every route, from `vial-server routes`."""
    p = subprocess.run([str(binary("vial-server")), "routes", *server_args(tmp)], capture_output=True,
                       text=True, env=clean_env({"SECRET_KEY": "k" * 48}), cwd=str(tmp), timeout=30)
    rep = sanitizer_report(p.stdout + p.stderr)
    assert not rep, rep
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["Endpoint", "Methods", "Rule"]
    out = []
    for line in lines[2:]:
        m = re.match(r"^(\S+)\s+(\S+(?:, \S+)*)\s+(/\S*)$", line)
        assert m, f"unparsed routes line: {line!r}"
        out.append((m.group(1), m.group(2).split(", "), m.group(3)))
    return out


def template(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([^>]+)>", r"{\1}", rule)


# ---------------------------------------------------------------------------- the validator


def redocly() -> list[str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node/npm not installed (scripts/deps.sh test installs them)")
    cli = OPENAPI_DIR / "node_modules" / "@redocly" / "cli" / "bin" / "cli.js"
    lock = OPENAPI_DIR / "package-lock.json"
    stamp = OPENAPI_DIR / "node_modules" / ".package-lock.json"
    if not cli.is_file() or not stamp.is_file() or lock.stat().st_mtime > stamp.stat().st_mtime:
        p = subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
                           cwd=OPENAPI_DIR, capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, f"npm ci failed in {OPENAPI_DIR}:\n{p.stderr[-2000:]}"
    return [node, str(cli)]


def lint(path: pathlib.Path) -> subprocess.CompletedProcess:
    return subprocess.run([*redocly(), "lint", str(path), "--config", str(OPENAPI_DIR / "redocly.yaml"),
                           "--format", "stylish", "--max-problems", "200"],
                          cwd=OPENAPI_DIR, capture_output=True, text=True, timeout=120,
                          env={**clean_env(), "REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"})


def test_document_passes_redocly_lint(srv, doc, tmp_path):
    f = tmp_path / "openapi.json"
    f.write_text(json.dumps(doc))
    p = lint(f)
    assert p.returncode == 0, f"redocly lint:\n{p.stdout[-6000:]}\n{p.stderr[-3000:]}"
    assert "valid" in p.stdout + p.stderr


def test_validator_catches_a_broken_document(doc, tmp_path):
    """The check can fail: a document with a path parameter that is not
    declared, and an operationId used twice, is refused."""
    bad = json.loads(json.dumps(doc))
    op = bad["paths"]["/api/users/{id}"]["get"]
    op.pop("parameters")
    bad["paths"]["/logs"]["get"]["operationId"] = bad["paths"]["/logs"]["post"]["operationId"]
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(bad))
    p = lint(f)
    assert p.returncode != 0
    out = p.stdout + p.stderr
    assert "path-parameters-defined" in out
    assert "operation-operationId-unique" in out


# ---------------------------------------------------------------------------- coverage


def test_every_registered_route_is_in_the_document(srv, doc):
    table = routes_table(srv.tmp)
    assert len(table) >= 40  # logs, users, dashboard, built-ins, static, docs
    missing, undescribed = [], []
    for endpoint, methods, rule in table:
        item = doc["paths"].get(template(rule))
        documented = [m for m in methods if m not in ("HEAD", "OPTIONS") or "GET" not in methods]
        for m in documented:
            op = item.get(m.lower()) if item else None
            if op is None:
                missing.append(f"{m} {rule} ({endpoint})")
                continue
            want = endpoint if len(documented) == 1 else f"{endpoint}_{m.lower()}"
            assert op["operationId"] == want
            if not op.get("summary") or list(op["responses"]) == ["default"]:
                undescribed.append(f"{m} {rule} ({endpoint})")
    assert not missing, f"routes missing from /openapi.json: {missing}"
    assert not undescribed, f"routes without a summary or responses: {undescribed}"
    # and nothing in the document that the server does not route
    rules = {(template(r), m.lower()) for _, ms, r in table for m in ms}
    for path, item in doc["paths"].items():
        for method in item:
            assert (path, method) in rules, f"{method} {path} is documented but not routed"


def test_builtins_and_blueprints_as_tags(doc):
    for path in ("/health", "/healthz", "/readyz", "/metrics", "/logs/stream", "/openapi.json", "/docs",
                 "/static/{filename}"):
        assert "get" in doc["paths"][path], path
    tags = {t["name"]: t.get("description") for t in doc["tags"]}
    assert set(tags) == {"logs", "users", "dashboard", "music", "chat"}
    assert all(tags.values())
    assert doc["paths"]["/logs/{id}"]["get"]["tags"] == ["logs"]
    assert "tags" not in doc["paths"]["/health"]["get"]
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["title"] == "vial-server"


def test_path_parameters_are_typed_from_the_pattern(doc):
    p = doc["paths"]["/api/users/{id}"]["get"]["parameters"][0]
    assert p == {"name": "id", "in": "path", "required": True, "description": "a user id",
                 "schema": {"type": "integer", "format": "int64", "minimum": 0}}
    rng = {q["name"]: q for q in doc["paths"]["/time_range/{start}/{end}"]["get"]["parameters"]}
    assert rng["start"]["schema"] == {"type": "string", "format": "date-time"}
    assert rng["limit"]["in"] == "query"
    assert rng["limit"]["schema"] == {"type": "integer", "format": "int64", "minimum": 1, "maximum": 10000}


def test_security_schemes_and_requirements(doc):
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                 "description": schemes["bearer"]["description"]}
    assert schemes["api_key"]["in"] == "header" and schemes["api_key"]["name"] == "X-API-Key"
    assert schemes["session"]["in"] == "cookie" and schemes["session"]["name"] == "session"
    assert doc["paths"]["/api/users/{id}"]["get"]["security"] == [{"bearer": []}, {"api_key": []}]
    assert "401" in doc["paths"]["/api/users/{id}"]["get"]["responses"]
    assert doc["paths"]["/api/login"]["post"]["security"] == []
    # the Log API needs credentials only with logs_protect: optional
    assert doc["paths"]["/logs"]["post"]["security"] == [{}, {"bearer": []}, {"api_key": []}]
    assert doc["paths"]["/me"]["get"]["security"] == [{"session": []}]


# ---------------------------------------------------------------------------- the document is the behaviour


def test_users_body_schema_is_the_one_enforced(srv, doc):
    body = doc["paths"]["/api/register"]["post"]["requestBody"]
    assert body["required"] is True
    ref = body["content"]["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert schema["additionalProperties"] is False
    assert sorted(schema["required"]) == ["password", "username"]
    # a body the schema refuses (an unknown member, a missing one) is what the view refuses
    r = requests.post(url(srv, "/api/register"), json={"username": "abc", "nickname": "x"}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 400
    assert r.json()["fields"] == {"password": "required", "nickname": "unknown field"}


def test_logs_body_schema_matches_the_ingest(srv, doc):
    """The log ingest walks bodies with the pull reader rather than through
    vial_validate: the schema in the document restates its rules, so these
    probes check the two agree on what is required, typed and bounded."""
    schemas = doc["components"]["schemas"]
    body = doc["paths"]["/logs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["oneOf"][0] == {"$ref": "#/components/schemas/LogFile"}
    assert body["oneOf"][1]["type"] == "array" and body["oneOf"][1]["minItems"] == 1
    lf, action = schemas["LogFile"], schemas["Action"]
    assert sorted(lf["required"]) == ["actions", "sessionId", "userId"]
    assert sorted(action["required"]) == ["time", "type"]
    good = {"userId": "u1", "sessionId": "s1",
            "actions": [{"time": "2018-10-18T21:37:28-06:00", "type": "CLICK",
                         "properties": {"locationX": 1, "locationY": 2}}]}
    r = requests.post(url(srv, "/logs"), json=good, timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    for change, path in [
        (lambda b: b.pop("sessionId"), "sessionId"),                               # required
        (lambda b: b.update(userId=""), "userId"),                                 # minLength 1
        (lambda b: b.update(actions=[]), "actions"),                               # minItems 1
        (lambda b: b.update(extra=1), "extra"),                                    # additionalProperties
        (lambda b: b["actions"][0].update(time="yesterday"), "actions[0].time"),  # date-time
        (lambda b: b["actions"][0].update(type="x" * 257), "actions[0].type"),    # maxLength 256
        (lambda b: b["actions"][0]["properties"].update(locationX="1"), "actions[0].properties.locationX"),
    ]:
        b = json.loads(json.dumps(good))
        change(b)
        r = requests.post(url(srv, "/logs"), json=b, timeout=HTTP_TIMEOUT)
        assert r.status_code == 400, (path, r.text)
        assert path in r.json()["fields"], (path, r.json())


def test_url_prefix_is_the_server_url(tmp_path):
    s = Server("vial-server", server_args(tmp_path, "--url-prefix", "/MusicGroup"), {"SECRET_KEY": "k" * 48},
               tmp_path, tmp_path, None)
    try:
        s.start()
        d = requests.get(url(s, "/openapi.json"), timeout=HTTP_TIMEOUT).json()
        assert d["servers"] == [{"url": "/MusicGroup"}]
        page = requests.get(url(s, "/MusicGroup/docs"), timeout=HTTP_TIMEOUT).text
        assert 'data-spec="/MusicGroup/openapi.json"' in page
        assert 'src="/MusicGroup/static/vendor/swagger-ui/swagger-ui-bundle.js"' in page
    finally:
        problems = s.problems()
    assert not problems, problems


def test_openapi_command_prints_the_same_document(srv, doc):
    p = subprocess.run([str(binary("vial-server")), "openapi", *server_args(srv.tmp)], capture_output=True,
                       text=True, env=clean_env({"SECRET_KEY": "k" * 48}), cwd=str(srv.tmp), timeout=30)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == doc


# ---------------------------------------------------------------------------- /docs


def test_docs_page_loads_everything_from_the_server(srv):
    r = requests.get(url(srv, "/docs"), timeout=HTTP_TIMEOUT)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html")
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp
    assert "<script>" not in r.text and "style=" not in r.text  # nothing inline for the CSP to refuse
    srcs = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert srcs == ["/static/vendor/swagger-ui/swagger-ui.css", "/openapi.json",
                    "/static/vendor/swagger-ui/swagger-ui-bundle.js", "/docs/init.js"]
    js = requests.get(url(srv, "/docs/init.js"), timeout=HTTP_TIMEOUT)
    assert js.status_code == 200 and js.headers["Content-Type"].startswith("text/javascript")
    assert "SwaggerUIBundle" in js.text
    if not (REPO / "static" / "vendor" / "swagger-ui" / "swagger-ui-bundle.js").is_file():
        pytest.skip("static/vendor/swagger-ui is missing: `make assets` copies it from npm")
    for asset, ctype in (("swagger-ui-bundle.js", "text/javascript"), ("swagger-ui.css", "text/css")):
        a = requests.get(url(srv, f"/static/vendor/swagger-ui/{asset}"), timeout=HTTP_TIMEOUT)
        assert a.status_code == 200 and a.headers["Content-Type"].startswith(ctype), asset


def test_responses_match_their_documented_schemas(srv, doc):
    """What the views answer fits the schemas the document declares for
    those statuses (python3-jsonschema, Draft 2020-12, references resolved
    against the document)."""
    jsonschema = pytest.importorskip("jsonschema", reason="python3-jsonschema (scripts/deps.sh test)")
    resolver = jsonschema.RefResolver.from_schema(doc, id_of=lambda _: "")
    checked = []

    def check(method, path, r, status):
        assert r.status_code == status, (method, path, r.status_code, r.text)
        op = doc["paths"][path][method]
        media = op["responses"][str(status)].get("content", {})
        if status == 204:
            assert not media and not r.content
            return
        schema = media["application/json"]["schema"]
        jsonschema.Draft202012Validator(schema, resolver=resolver).validate(r.json())
        checked.append(f"{method} {path} {status}")

    s = requests.Session()
    name = f"oa_{int(time.time() * 1000) % 10**9}"
    creds = {"username": name, "password": "correct horse battery staple"}
    check("post", "/api/register", s.post(url(srv, "/api/register"), json=creds, timeout=HTTP_TIMEOUT), 201)
    check("post", "/api/register", s.post(url(srv, "/api/register"), json=creds, timeout=HTTP_TIMEOUT), 409)
    check("post", "/api/register", s.post(url(srv, "/api/register"), json={}, timeout=HTTP_TIMEOUT), 400)
    my = s.post(url(srv, "/api/register"), json={**creds, "username": name + "b"},
                timeout=HTTP_TIMEOUT).json()["user_id"]
    r = s.post(url(srv, "/api/login"), json={**creds, "username": name + "b"}, timeout=HTTP_TIMEOUT)
    check("post", "/api/login", r, 200)
    auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
    check("post", "/api/login", s.post(url(srv, "/api/login"), json={**creds, "password": "wrong password"},
                                       timeout=HTTP_TIMEOUT), 401)
    # someone else's account: a 403 in the error shape
    check("get", "/api/users/{id}", s.get(url(srv, f"/api/users/{my - 1}"), headers=auth, timeout=HTTP_TIMEOUT), 403)
    check("get", "/api/users/{id}", s.get(url(srv, f"/api/users/{my}"), headers=auth, timeout=HTTP_TIMEOUT), 200)
    check("get", "/api/users/{id}", s.get(url(srv, "/api/users/1"), timeout=HTTP_TIMEOUT), 401)
    check("put", "/api/users/{id}", s.put(url(srv, f"/api/users/{my}"), headers=auth,
                                            json={"password": "another fine passphrase"}, timeout=HTTP_TIMEOUT), 200)
    check("post", "/api/users/{id}/api-keys", s.post(url(srv, f"/api/users/{my}/api-keys"), headers=auth,
                                                     timeout=HTTP_TIMEOUT), 201)
    check("get", "/api/users", s.get(url(srv, "/api/users"), headers=auth, timeout=HTTP_TIMEOUT), 403)

    body = [{"userId": name, "sessionId": "s", "actions": [
        {"time": "2018-10-18T21:37:28-06:00", "type": "CLICK", "properties": {"locationX": 1, "locationY": 2}},
        {"time": "2018-10-18T21:37:30Z", "type": "VIEW", "properties": {"viewedId": "V"}}]}]
    r = s.post(url(srv, "/logs"), json=body, timeout=HTTP_TIMEOUT)
    check("post", "/logs", r, 201)
    first = r.json()["first_id"]
    check("get", "/logs/{id}", s.get(url(srv, f"/logs/{first}"), timeout=HTTP_TIMEOUT), 200)
    check("get", "/logs/{id}", s.get(url(srv, "/logs/999999999"), timeout=HTTP_TIMEOUT), 404)
    check("get", "/user/{userId}", s.get(url(srv, f"/user/{name}?limit=1"), timeout=HTTP_TIMEOUT), 200)
    check("get", "/time_range/{start}/{end}",
          s.get(url(srv, "/time_range/2018-10-19T00:00:00Z/2018-10-18T00:00:00Z"), timeout=HTTP_TIMEOUT), 400)
    check("delete", "/logs/{id}", s.delete(url(srv, f"/logs/{first}"), timeout=HTTP_TIMEOUT), 200)
    check("delete", "/user/{userId}", s.delete(url(srv, f"/user/{name}"), timeout=HTTP_TIMEOUT), 200)
    check("delete", "/user/{userId}", s.delete(url(srv, f"/user/{name}"), timeout=HTTP_TIMEOUT), 404)
    for path in ("/health", "/healthz", "/readyz"):
        check("get", path, s.get(url(srv, path), timeout=HTTP_TIMEOUT), 200)
    assert len(checked) >= 20


def test_music_and_chat_answers_match_their_documented_schemas(tmp_path):
    """The music and chat blueprints (issues 12 and 11) on a small generated
    catalogue: each documented answer, success and error, fits the schema the
    document declares for its status, and a body the playlist schema refuses
    is refused by the view, naming the same field."""
    jsonschema = pytest.importorskip("jsonschema", reason="python3-jsonschema (scripts/deps.sh test)")
    from music_support import gen

    csv = tmp_path / "songs.csv"
    csv.write_text(gen.text(300, 7))
    p = subprocess.run([str(binary("vial-server")), "import-songs", str(csv), *server_args(tmp_path)],
                       capture_output=True, text=True, env=clean_env({"SECRET_KEY": "k" * 48}), cwd=str(tmp_path),
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert not sanitizer_report(p.stdout + p.stderr)
    s = Server("vial-server", server_args(tmp_path), {"SECRET_KEY": "k" * 48}, tmp_path, tmp_path, None)
    checked = []
    try:
        s.start()
        doc = requests.get(url(s, "/openapi.json"), timeout=HTTP_TIMEOUT).json()
        resolver = jsonschema.RefResolver.from_schema(doc, id_of=lambda _: "")

        def check(method, path, r, status):
            assert r.status_code == status, (method, path, r.status_code, r.text)
            media = doc["paths"][path][method]["responses"][str(status)].get("content", {})
            if status == 204:
                assert not media and not r.content
            else:
                jsonschema.Draft202012Validator(media["application/json"]["schema"],
                                                resolver=resolver).validate(r.json())
            checked.append(f"{method} {path} {status}")
            return r

        h = requests.Session()
        get = lambda path, **kw: h.get(url(s, path), timeout=HTTP_TIMEOUT, **kw)  # noqa: E731
        songs = check("get", "/api/songs", get("/api/songs?limit=20&sort=-tempo&year_min=1990"), 200).json()
        assert songs
        song, album = songs[0], songs[0]["album"]
        check("get", "/api/songs", get("/api/songs?q=" + song["name"].split()[0]), 200)
        check("get", "/api/songs", get("/api/songs?tempo_min=2&tempo_max=1"), 400)
        check("get", "/api/songs/random", get("/api/songs/random?n=50&explicit=false"), 200)
        check("get", "/api/songs/{id}", get(f"/api/songs/{song['id']}"), 200)
        check("get", "/api/songs/{id}", get("/api/songs/nosuchsong"), 404)
        check("get", "/api/albums/{id}", get(f"/api/albums/{album['id']}"), 200)
        check("get", "/api/artists/{id}", get(f"/api/artists/{song['artists'][0]['id']}"), 200)
        check("get", "/api/artists/{id}", get("/api/artists/nobody"), 404)
        check("get", "/api/stats/years", get("/api/stats/years"), 200)
        check("get", "/api/stats/histogram", get("/api/stats/histogram?feature=duration_ms&bins=7"), 200)
        check("get", "/api/stats/histogram", get("/api/stats/histogram?feature=loudness&energy_min=0.5"), 200)
        check("get", "/api/stats/histogram", get("/api/stats/histogram"), 400)

        creds = {"username": f"oam_{int(time.time() * 1000) % 10**9}", "password": "correct horse battery staple"}
        uid = h.post(url(s, "/api/register"), json=creds, timeout=HTTP_TIMEOUT).json()["user_id"]
        token = h.post(url(s, "/api/login"), json=creds, timeout=HTTP_TIMEOUT).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        post = lambda path, body, **kw: h.post(url(s, path), json=body, timeout=HTTP_TIMEOUT, **kw)  # noqa: E731
        check("post", "/api/playlists", post("/api/playlists", {"name": "x"}), 401)
        r = check("post", "/api/playlists", post("/api/playlists", {"name": "x", "colour": 1}, headers=auth), 400)
        assert set(r.json()["fields"]) == {"colour"}  # additionalProperties: false, as documented
        pl = check("post", "/api/playlists", post("/api/playlists", {"name": "Mix"}, headers=auth), 201).json()
        pid = pl["id"]
        check("post", "/api/playlists/{id}/songs", post(f"/api/playlists/{pid}/songs", {"song_id": song["id"]},
                                                        headers=auth), 201)
        check("post", "/api/playlists/{id}/songs", post(f"/api/playlists/{pid}/songs",
                                                        {"song_id": songs[1]["id"], "position": 1}, headers=auth), 201)
        check("post", "/api/playlists/{id}/songs", post(f"/api/playlists/{pid}/songs", {"song_id": "nosuchsong"},
                                                        headers=auth), 400)
        check("patch", "/api/playlists/{id}/songs/{position}",
              h.patch(url(s, f"/api/playlists/{pid}/songs/2"), json={"position": 1}, headers=auth,
                      timeout=HTTP_TIMEOUT), 200)
        check("patch", "/api/playlists/{id}", h.patch(url(s, f"/api/playlists/{pid}"), json={"public": True},
                                                      headers=auth, timeout=HTTP_TIMEOUT), 200)
        check("get", "/api/playlists/{id}", get(f"/api/playlists/{pid}"), 200)
        check("get", "/api/users/{id}/playlists", get(f"/api/users/{uid}/playlists", headers=auth), 200)
        check("delete", "/api/playlists/{id}/songs/{position}",
              h.delete(url(s, f"/api/playlists/{pid}/songs/1"), headers=auth, timeout=HTTP_TIMEOUT), 204)
        check("delete", "/api/playlists/{id}", h.delete(url(s, f"/api/playlists/{pid}"), headers=auth,
                                                        timeout=HTTP_TIMEOUT), 204)
        check("get", "/api/playlists/{id}", get(f"/api/playlists/{pid}"), 404)

        check("post", "/api/chat/channels", post("/api/chat/channels", {"name": "oa"}), 201)
        check("post", "/api/chat/channels", post("/api/chat/channels", {"name": "oa"}), 409)
        check("post", "/api/chat/channels", post("/api/chat/channels", {"name": ""}), 400)
        check("get", "/api/chat/channels", get("/api/chat/channels"), 200)
        check("post", "/api/chat/channels/{name}/messages",
              post("/api/chat/channels/oa/messages", {"name": "bot", "text": "hello"}), 201)
        check("post", "/api/chat/channels/{name}/messages",
              post("/api/chat/channels/oa/messages", {"text": "mine"}, headers=auth), 201)
        check("post", "/api/chat/channels/{name}/messages",
              post("/api/chat/channels/oa/messages", {"name": creds["username"], "text": "impostor"}), 409)
        check("get", "/api/chat/channels/{name}/messages", get("/api/chat/channels/oa/messages?limit=1"), 200)
        check("get", "/api/chat/channels/{name}/messages", get("/api/chat/channels/nowhere/messages"), 404)
        ws = doc["paths"]["/ws/chat"]["get"]
        assert ws["operationId"] == "chat.ws" and "101" in ws["responses"]
    finally:
        problems = s.problems()
    assert not problems, problems
    assert len(checked) >= 35
