"""The Log REST API of vial-server (issue 4), on SQLite and on PostgreSQL.

Every test runs once per backend against a vial-server of its own on a fresh
database (a new SQLite file, or a new PostgreSQL database on the cluster of
VIAL_TEST_PG_URL), started with --workers 2 and the repository's migrations.
"""
from __future__ import annotations

import json
import os
import random
import sqlite3
import threading
import time

import pytest

from conftest import REPO, Server, assert_error, sanitized_build, sanitizer_report
from logs_support import (Api, Database, PgCluster, action, assert_rows, bad_fields, enc, error,
                          expected_rows, fmt_time, log, next_link, ordered, parse_time, pg_admin_url,
                          server_args, server_env, sigkill, start_server)

BACKENDS = ("sqlite", "postgresql")

# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request):
    """The backend name; for PostgreSQL also the cluster handle (created once)."""
    if request.param == "sqlite":
        yield "sqlite", None
        return
    cluster = PgCluster(pg_admin_url())
    yield "postgresql", cluster
    cluster.close()


@pytest.fixture
def database(backend, tmp_path):
    name, cluster = backend
    db = Database(name, tmp_path, cluster)
    yield db
    db.close()


class Servers:
    """Starts vial-server processes on the test's database; at teardown each
    one still running is stopped with SIGTERM and must exit 0 without a
    sanitizer report.  `kill9` is the separate path for servers killed on
    purpose."""

    def __init__(self, db, tmp_path):
        self.db, self.tmp_path = db, tmp_path
        self.started, self.apis = [], []

    def start(self, *extra):
        srv = start_server(self.db, self.tmp_path, *extra)
        self.started.append(srv)
        return srv

    def api(self, *extra, keep_extra=False) -> Api:
        a = Api(self.start(*extra), keep_extra=keep_extra)
        self.apis.append(a)
        health = a.get("/health").json()
        assert health["database"] == self.db.backend, health  # really the backend under test
        return a

    def stop(self, srv):
        """A graceful stop, checked now (restart tests)."""
        self.started.remove(srv)
        problems = srv.problems(0)
        assert not problems, "\n".join(problems)

    def kill9(self, srv):
        self.started.remove(srv)
        sigkill(srv)

    def close(self):
        for a in self.apis:
            a.close()
        problems = []
        for srv in self.started:
            problems += srv.problems(0)
        return problems


@pytest.fixture
def servers(database, tmp_path):
    s = Servers(database, tmp_path)
    yield s
    problems = s.close()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def api(servers) -> Api:
    """A vial-server with the default configuration on a fresh database."""
    return servers.api()


@pytest.fixture(scope="module")
def refuser(backend, tmp_path_factory) -> Api:
    """One default vial-server per backend and module, on a database of its
    own, shared by the tests whose every request must be refused: each of
    them checks that it is still empty afterwards (nothing ever stored)."""
    d = tmp_path_factory.mktemp("refuser")
    db = Database(backend[0], d, backend[1])
    s = Servers(db, d)
    try:
        yield s.api()
        problems = s.close()
    finally:
        db.close()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


# ---------------------------------------------------------------------------- data

ISSUE_EXAMPLE = {
    "userId": "ABC123XYZ", "sessionId": "XYZ456ABC",
    "actions": [
        {"time": "2018-10-18T21:37:28-06:00", "type": "CLICK", "properties": {"locationX": 52, "locationY": 11}},
        {"time": "2018-10-18T21:37:30-06:00", "type": "VIEW", "properties": {"viewedId": "FDJKLHSLD"}},
        {"time": "2018-10-18T21:37:30-06:00", "type": "NAVIGATE",
         "properties": {"pageFrom": "communities", "pageTo": "inventory"}}]}

T0 = parse_time("2018-10-18T21:37:28-06:00")[0]  # an instant, microseconds
SEC = 1_000_000
OFFSETS = (-360, 0, 330, 345, -570, 840, -720, 60)  # minutes east: -06:00 Z +05:30 +05:45 -09:30 +14:00 ...

U1, U2, U3 = "ABC123XYZ", "Zoë/ユーザー", "100% a+b/c"
TYPES = ("CLICK", "VIEW", "NAVIGATE", "SCROLL ü/%")


def dataset(seed=4, n_logs=12, per_log=5):
    """An array body: several users, types, offsets, equal instants."""
    rnd = random.Random(seed)
    body = []
    for i in range(n_logs):
        acts = []
        for j in range(per_log):
            t = T0 + rnd.choice((0, 1, 2, 30, 31, 3600)) * SEC + rnd.choice((0, 0, 1, 999_999))
            typ = rnd.choice(TYPES)
            props = {}
            if typ == "CLICK":
                props = {"locationX": rnd.randint(-5, 2000), "locationY": rnd.randint(0, 900)}
            elif typ == "VIEW":
                props = {"viewedId": f"V{i}{j}"}
            elif typ == "NAVIGATE":
                props = {"pageFrom": "communities", "pageTo": "inventory/ü"}
            acts.append(action(fmt_time(t, rnd.choice(OFFSETS)), typ, **props))
        body.append(log((U1, U2, U3)[i % 3], f"S{i}", *acts))
    return body


def route(user=None, typ=None, rng=None) -> str:
    if user is None and typ is None and rng is None:
        return "/logs"
    p = ""
    if user is not None:
        p += "/user/" + enc(user)
    if typ is not None:
        p += "/log_type/" + enc(typ)
    if rng is not None:
        p += f"/time_range/{rng[0]}/{rng[1]}"  # a literal '+' in a path is a plus
    return p


def matching(rows, user=None, typ=None, rng=None):
    out = []
    for r in rows:
        t = parse_time(r["time"])[0]
        if user is not None and r["userId"] != user:
            continue
        if typ is not None and r["log_type"] != typ:
            continue
        if rng is not None and not parse_time(rng[0])[0] <= t <= parse_time(rng[1])[0]:
            continue
        out.append(r)
    return ordered(out)


def store_all(api, body, keep_extra=False):
    j = api.store(body)
    return expected_rows(body, j["first_id"], keep_extra)


# ---------------------------------------------------------------------------- ingest


def test_issue_example_is_stored_and_returned_with_its_offsets(api):
    j = api.store(ISSUE_EXAMPLE)
    assert j["stored"] == 3
    rows = api.rows("/logs")
    assert rows == [
        {"id": j["first_id"], "userId": "ABC123XYZ", "sessionId": "XYZ456ABC", "time": "2018-10-18T21:37:28-06:00",
         "log_type": "CLICK", "locationX": 52, "locationY": 11, "viewedId": None, "pageFrom": None,
         "pageTo": None},
        {"id": j["first_id"] + 1, "userId": "ABC123XYZ", "sessionId": "XYZ456ABC",
         "time": "2018-10-18T21:37:30-06:00", "log_type": "VIEW", "locationX": None, "locationY": None,
         "viewedId": "FDJKLHSLD", "pageFrom": None, "pageTo": None},
        {"id": j["last_id"], "userId": "ABC123XYZ", "sessionId": "XYZ456ABC", "time": "2018-10-18T21:37:30-06:00",
         "log_type": "NAVIGATE", "locationX": None, "locationY": None, "viewedId": None,
         "pageFrom": "communities", "pageTo": "inventory"}]
    for row in rows:
        r = api.get(f"/logs/{row['id']}")
        assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
        assert r.json() == row


def test_post_array_body_stores_every_action_with_one_id_block(api):
    body = dataset(n_logs=5, per_log=3)
    want = store_all(api, body)
    assert_rows(api.rows("/logs"), ordered(want))
    # id order is body order
    for w in want:
        assert_rows([api.get(f"/logs/{w['id']}").json()], [w])


def test_id_blocks_are_disjoint_and_increasing(api):
    last = 0
    for n in (1, 7, 1, 250):
        j = api.store(log("u", "s", *[action(fmt_time(T0 + i), "T") for i in range(n)]))
        assert j["first_id"] > last
        last = j["last_id"]
    assert len(api.rows("/logs")) == 259


def test_concurrent_posts_get_disjoint_blocks_and_all_rows_are_stored(servers):
    api = servers.api()
    results, errors = {}, []

    def worker(k):
        a = Api(api.srv)
        try:
            for p in range(4):
                sid = f"s{k}-{p}"
                body = log(f"user{k}", sid, *[action(fmt_time(T0 + 1000 * p + i, -360), "CLICK",
                                                     locationX=i) for i in range(100)])
                r = a.post(body)
                if r.status_code != 201:
                    errors.append((sid, r.status_code, r.text[:300]))
                else:
                    results[sid] = r.json()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append((k, repr(e)))
        finally:
            a.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:5]
    blocks = sorted((j["first_id"], j["last_id"]) for j in results.values())
    for (a1, b1), (a2, _) in zip(blocks, blocks[1:]):
        assert b1 < a2, blocks
    rows = api.rows("/logs")
    assert len(rows) == 2400
    assert len({r["id"] for r in rows}) == 2400
    for r in rows:
        j = results[r["sessionId"]]
        assert r["id"] - j["first_id"] == r["locationX"], r


def test_any_log_type_is_stored(api):
    types = ["SCROLL", "purchase", "ünïcödé ✓", "a/b%c+d e", "T" * 256]
    want = store_all(api, log("u", "s", *[action(fmt_time(T0 + i), t) for i, t in enumerate(types)]))
    assert_rows(api.rows("/logs"), want)


def test_blank_properties_are_null(api):
    body = log("u", "s",
               action(fmt_time(T0), "A"),
               {"time": fmt_time(T0 + 1), "type": "B", "properties": None},
               {"time": fmt_time(T0 + 2), "type": "C", "properties": {}},
               action(fmt_time(T0 + 3), "D", locationX=None, locationY=0, viewedId=None, pageFrom="p"),
               action(fmt_time(T0 + 4), "E", locationX=-2 ** 63, locationY=2 ** 63 - 1))
    j = api.store(body)
    rows = api.rows("/logs")
    assert [(r["locationX"], r["locationY"], r["viewedId"], r["pageFrom"], r["pageTo"]) for r in rows] == [
        (None, None, None, None, None), (None, None, None, None, None), (None, None, None, None, None),
        (None, 0, None, "p", None), (-2 ** 63, 2 ** 63 - 1, None, None, None)]
    assert [r["id"] for r in rows] == list(range(j["first_id"], j["last_id"] + 1))


# ---------------------------------------------------------------------------- validation


def assert_nothing_stored(api):
    assert api.rows("/logs") == []


def test_all_or_nothing_single_object_names_the_bad_action(refuser):
    acts = [action(fmt_time(T0 + i, -360), "CLICK", locationX=i, locationY=i) for i in range(6)]
    acts[3]["time"] = "2018-10-18T21:37:28"  # no offset
    fields = bad_fields(refuser.post(log("u", "s", *acts)))
    assert set(fields) == {"actions[3].time"}, fields
    assert_nothing_stored(refuser)


def test_all_or_nothing_array_body_reports_every_bad_field_by_path(refuser):
    body = dataset(n_logs=3, per_log=5)
    body[0]["actions"][1]["properties"] = {"locationX": 1.5, "locationY": 3}
    body[2]["actions"][3]["time"] = "2018-10-18T21:37:28"
    del body[1]["userId"]
    fields = bad_fields(refuser.post(body))
    assert set(fields) == {"[0].actions[1].properties.locationX", "[2].actions[3].time", "[1].userId"}, fields
    assert_nothing_stored(refuser)


def test_one_bad_action_among_ten_thousand_stores_nothing(refuser):
    acts = [action(fmt_time(T0 + i), "VIEW", viewedId=f"v{i}") for i in range(10000)]
    acts[9999]["type"] = ""
    acts[5000]["properties"]["locationY"] = "11"
    fields = bad_fields(refuser.post(log("u", "s", *acts)))
    assert set(fields) == {"actions[9999].type", "actions[5000].properties.locationY"}, fields
    assert_nothing_stored(refuser)


@pytest.mark.parametrize("missing", ["userId", "sessionId", "time", "type", "actions"])
@pytest.mark.parametrize("shape", ["object", "array"])
def test_missing_required_field_is_400_naming_it(refuser, missing, shape):
    o = log("u", "s", *[action(fmt_time(T0 + i), "CLICK") for i in range(3)])
    if missing in ("time", "type"):
        del o["actions"][2][missing]
        path = f"actions[2].{missing}"
    else:
        del o[missing]
        path = missing
    if shape == "array":
        body = [log("v", "s", action(fmt_time(T0), "VIEW")), o]
        path = "[1]." + path
    else:
        body = o
    fields = bad_fields(refuser.post(body))
    assert path in fields, fields
    assert_nothing_stored(refuser)


@pytest.mark.parametrize("shape", ["object", "array"])
def test_empty_actions_is_400(refuser, shape):
    body = log("u", "s")
    path = "actions"
    if shape == "array":
        body = [log("v", "s", action(fmt_time(T0), "VIEW")), body]
        path = "[1].actions"
    fields = bad_fields(refuser.post(body))
    assert set(fields) == {path}, fields
    error(refuser.post([]), 400, "bad_request_400")
    assert_nothing_stored(refuser)


@pytest.mark.parametrize("value", ["1.5", "52.0", "1e3", '"52"', "true", "[1]", '{"x": 1}'])
@pytest.mark.parametrize("prop", ["locationX", "locationY"])
def test_non_integer_location_is_400(refuser, prop, value):
    text = ('{"userId": "u", "sessionId": "s", "actions": [{"time": "2018-10-18T21:37:28-06:00", "type": "CLICK"},'
            ' {"time": "2018-10-18T21:37:29-06:00", "type": "CLICK", "properties": {"%s": %s}}]}' % (prop, value))
    fields = bad_fields(refuser.post(text))
    assert set(fields) == {f"actions[1].properties.{prop}"}, fields
    assert_nothing_stored(refuser)


@pytest.mark.parametrize("body,path", [
    ({"userId": 5, "sessionId": "s", "actions": [{"time": "2018-10-18T21:37:28Z", "type": "A"}]}, "userId"),
    ({"userId": "", "sessionId": "s", "actions": [{"time": "2018-10-18T21:37:28Z", "type": "A"}]}, "userId"),
    ({"userId": "u", "sessionId": None, "actions": [{"time": "2018-10-18T21:37:28Z", "type": "A"}]}, "sessionId"),
    ({"userId": "u", "sessionId": "s", "actions": "x"}, "actions"),
    ({"userId": "u", "sessionId": "s", "actions": [{"time": 1539920248, "type": "A"}]}, "actions[0].time"),
    ({"userId": "u", "sessionId": "s", "actions": [{"time": "2018-10-18T21:37:28Z", "type": 3}]}, "actions[0].type"),
    ({"userId": "u", "sessionId": "s", "actions": [{"time": "2018-10-18T21:37:28Z", "type": "A",
                                                    "properties": "x"}]}, "actions[0].properties"),
    ({"userId": "u", "sessionId": "s", "actions": [{"time": "2018-10-18T21:37:28Z", "type": "A",
                                                    "properties": {"viewedId": 5}}]}, "actions[0].properties.viewedId"),
    ({"userId": "u", "sessionId": "s", "actions": [{"time": "2018-10-18T21:37:28Z", "type": "A",
                                                    "properties": {"pageTo": ["x"]}}]}, "actions[0].properties.pageTo"),
])
def test_wrongly_typed_fields_are_400_naming_them(refuser, body, path):
    fields = bad_fields(refuser.post(body))
    assert path in fields, fields
    fields = bad_fields(refuser.post([log("ok", "s", action("2018-10-18T21:37:28Z", "A")), body]))
    assert "[1]." + path in fields, fields
    assert_nothing_stored(refuser)


@pytest.mark.parametrize("bad", [5, "CLICK", None, [1], True])
def test_action_that_is_not_an_object_is_400(servers, bad):
    api = servers.api()
    servers.started.remove(api.srv)  # checked here, so a crash fails the test itself (not only teardown)
    try:
        good = action(fmt_time(T0), "A")
        fields = bad_fields(api.post(log("u", "s", good, bad)))
        assert set(fields) == {"actions[1]"}, fields
        fields = bad_fields(api.post([log("v", "s", good), log("u", "s", bad, good, bad)]))
        assert set(fields) == {"[1].actions[0]", "[1].actions[2]"}, fields
        assert_nothing_stored(api)
    finally:
        problems = api.srv.problems(0)
    assert not problems, "\n".join(problems)


def test_unknown_property_is_rejected_by_default(refuser):
    body = log("u", "s", action(fmt_time(T0), "CLICK", locationX=1, color="red"))
    fields = bad_fields(refuser.post(body))
    assert set(fields) == {"actions[0].properties.color"}, fields
    fields = bad_fields(refuser.post([log("v", "s", action(fmt_time(T0), "A")), body]))
    assert set(fields) == {"[1].actions[0].properties.color"}, fields
    assert_nothing_stored(refuser)


def test_unknown_properties_are_kept_under_extra_when_configured(servers):
    api = servers.api("--logs-unknown-properties", "keep", keep_extra=True)
    body = [log(U2, "s1",
                action(fmt_time(T0, -360), "CLICK", locationX=52, locationY=11, color="red",
                       nested={"a": [1, 2.5, {"b": None}], "ü": "ß"}),
                action(fmt_time(T0 + 1, -360), "VIEW", viewedId="X"),
                action(fmt_time(T0 + 2, 330), "HOVER", targetId="btn/ok", ms=1234, flag=False, nothing=None)),
            log(U1, "s2", action(fmt_time(T0 + 3), "NAVIGATE", pageFrom="a", pageTo="b", referrer="x"))]
    want = store_all(api, body, keep_extra=True)
    assert want[0]["extra"] == {"color": "red", "nested": {"a": [1, 2.5, {"b": None}], "ü": "ß"}}
    assert want[1]["extra"] is None
    assert_rows(api.rows("/logs"), want)
    assert_rows(api.rows(route(U2)), want[:3])
    assert_rows(api.pages(route(typ="HOVER"), 1)[0], [want[2]])
    assert_rows([api.get(f"/logs/{want[3]['id']}").json()], [want[3]])
    # known properties are still checked in keep mode
    fields = bad_fields(api.post(log("u", "s", action(fmt_time(T0), "CLICK", locationX="1", color="red"))))
    assert set(fields) == {"actions[0].properties.locationX"}, fields
    assert len(api.rows("/logs")) == 4


def test_kept_properties_are_stored_as_sent(servers):
    """Keep mode stores each unknown property's JSON text as it came (no
    tree in between): escaped names, values jansson could not hold, deep
    nesting; repeats and the one escape PostgreSQL's jsonb refuses are 400s."""
    api = servers.api("--logs-unknown-properties", "keep", keep_extra=True)
    t = fmt_time(T0, 60)
    raw = ('{"userId": "u", "sessionId": "s", "actions": ['
           '{"time": "%s", "type": "A", "properties": {"q\\"uo\\\\te\\n": [1, {"x": "\\u00e9"}],'
           ' "locationX": 3, "big": 123456789012345678901234567890, "f": -1.25e-3, "deep": [[[[[[]]]]]]}},'
           '{"time": "%s", "type": "B", "properties": {"\\u0041": null}}]}') % (t, t)
    r = api.post(raw.encode())
    assert r.status_code == 201, r.text
    j = r.json()
    assert j["stored"] == 2
    rows = [api.get(f"/logs/{i}").json() for i in (j["first_id"], j["last_id"])]
    assert rows[0]["extra"] == {'q"uo\\te\n': [1, {"x": "é"}], "big": 123456789012345678901234567890,
                                "f": -1.25e-3, "deep": [[[[[[]]]]]]}, rows[0]
    assert rows[0]["locationX"] == 3
    assert rows[1]["extra"] == {"A": None}, rows[1]
    assert_rows(api.rows(route("u")), rows)
    # one action's names each once; a value with \u0000 cannot be stored
    bad = ('{"userId": "u", "sessionId": "s", "actions": [{"time": "%s", "type": "A", "properties": '
           '{"k": 1, "b": 2, "k": 3, "\\u006b": 4, "z": "a\\u0000b", "y": "a\\\\u0000b", "n\\u0000": 1}}]}') % t
    fields = bad_fields(api.post(bad.encode()))
    assert fields == {"actions[0].properties.k": "duplicate property",
                      "actions[0].properties.z": "value cannot be stored",
                      "actions[0].properties.n": "property names must not contain NUL characters"}, fields
    assert len(api.rows("/logs")) == 2


def test_unknown_properties_setting_rejects_other_values(database, tmp_path):
    srv = Server("vial-server", server_args(database, "--logs-unknown-properties", "ignore"), server_env(),
                 tmp_path, tmp_path, None)
    with pytest.raises(RuntimeError, match="logs_unknown_properties"):
        srv.start()
    srv.stop()
    assert sanitizer_report(srv.log()) is None, srv.log()


@pytest.mark.parametrize("text", [b"{", b"", b"not json", b'{"userId": "u",}', b"\xff\xfe{}", b"[1, 2",
                                  b'{"userId": "u", "sessionId": "s", "actions": [}'])
def test_invalid_json_is_400(refuser, text):
    error(refuser.post(text), 400, "bad_request_400")
    assert_nothing_stored(refuser)


@pytest.mark.parametrize("text", [b'"a log"', b"42", b"true", b"null", b"[1]", b'[{"userId": "u"}, "x"]'])
def test_body_that_is_not_log_objects_is_400(refuser, text):
    error(refuser.post(text), 400, "bad_request_400")
    assert_nothing_stored(refuser)


def test_body_limit_is_configurable(servers):
    api = servers.api("--max-body", "64K")
    big = log("u", "s", *[action(fmt_time(T0 + i), "VIEW", viewedId="x" * 100) for i in range(1000)])
    assert len(json.dumps(big)) > 64 * 1024
    error(api.post(big), 413, "payload_too_large_413")
    assert_nothing_stored(api)
    api.store(log("u", "s", *big["actions"][:100]))


# ---------------------------------------------------------------------------- time


def test_times_keep_their_offset(api):
    sent = ["2018-10-18T21:37:28-06:00", "2018-10-19T03:37:28Z", "2018-10-19T09:07:28+05:30",
            "2018-10-19T09:22:28+05:45", "2018-10-18T18:07:28-09:30", "2018-10-19T17:37:28+14:00",
            "2018-10-18T15:37:28-12:00", "2018-10-19T04:37:28+01:00", "2018-10-18T21:37:28.000001-06:00",
            "2018-10-19T03:37:28.123456Z", "2018-10-19T09:07:28.999999+05:30", "1969-12-31T23:59:59.5-00:30",
            "2000-02-29T00:00:00+23:59", "2018-10-18t21:37:28-06:00", "2018-10-19T03:37:28z"]
    want = store_all(api, log("u", "s", *[action(t, f"T{i}") for i, t in enumerate(sent)]))
    got = {r["log_type"]: r["time"] for r in api.rows("/logs")}
    for i, t in enumerate(sent):
        back = got[f"T{i}"]
        assert parse_time(back) == parse_time(t), (t, back)  # same instant, same offset
        if "." not in t and "t" not in t[10:] and "z" not in t:
            assert back == t, (t, back)  # e.g. -06:00 stays -06:00, Z stays Z
        else:
            assert back[-6:] == t[-6:] or (t[-1] in "zZ" and back[-1] == "Z"), (t, back)
    assert_rows(api.rows("/logs"), ordered(want))


@pytest.mark.parametrize("zero", ["+00:00", "-00:00"])
def test_zero_offsets_are_returned_as_utc(api, zero):
    api.store(log("u", "s", action("2018-10-19T03:37:28" + zero, "A")))
    back = api.rows("/logs")[0]["time"]
    assert back in ("2018-10-19T03:37:28Z", "2018-10-19T03:37:28+00:00", "2018-10-19T03:37:28" + zero), back


def test_subsecond_precision_is_kept_and_ordered(api):
    base = T0 + 123_456  # .123456
    times = [fmt_time(base + d, -360) for d in (3, 2, 1, 0)]  # sent newest first
    times.append("2018-10-18T21:37:28.5-06:00")
    times.append("2018-10-18T21:37:28.1234569-06:00")  # below a microsecond
    want = store_all(api, log("u", "s", *[action(t, "A") for t in times]))
    rows = api.rows("/logs")
    by_id = {r["id"]: parse_time(r["time"])[0] - T0 for r in rows}
    assert [by_id[w["id"]] for w in want[:5]] == [123_459, 123_458, 123_457, 123_456, 500_000]
    assert by_id[want[5]["id"]] in (123_456, 123_457)  # at least microseconds kept
    assert all(r["time"].endswith("-06:00") for r in rows)
    assert [r["id"] for r in rows] == [r["id"] for r in ordered(rows)]
    assert [r["id"] for r in rows][-1] == want[4]["id"]


def test_lists_are_ordered_by_time_then_id(api):
    # The same instant written in three offsets, out-of-order times, several POSTs.
    a = store_all(api, log("u", "s", action("2018-10-18T21:37:30-06:00", "A"),
                           action("2018-10-19T03:37:30Z", "B"), action("2018-10-19T09:07:30+05:30", "C"),
                           action("2018-10-18T21:37:28-06:00", "D")))
    b = store_all(api, log("u", "s", action("2018-10-19T03:37:29.999999Z", "E"),
                           action("2018-10-18T21:37:30-06:00", "F"), action("2018-10-18T20:37:28-07:00", "G")))
    rows = api.rows("/logs")
    assert [r["log_type"] for r in rows] == ["D", "G", "E", "A", "B", "C", "F"]
    assert_rows(rows, ordered(a + b))


def test_time_ranges_are_inclusive_to_the_microsecond(api):
    ts = [T0 - 1, T0, T0 + 1, T0 + 5 * SEC - 1, T0 + 5 * SEC, T0 + 5 * SEC + 1]
    want = store_all(api, log("u", "s", *[action(fmt_time(t, -360), "A") for t in ts]))
    start, end = fmt_time(T0, -360), fmt_time(T0 + 5 * SEC, -360)
    assert_rows(api.rows(f"/time_range/{start}/{end}"), want[1:5])
    inner = fmt_time(T0 + 1, 330), fmt_time(T0 + 5 * SEC - 1, 330)
    assert_rows(api.rows(f"/time_range/{inner[0]}/{inner[1]}"), want[2:4])
    one = fmt_time(T0, 0)
    assert_rows(api.rows(f"/time_range/{one}/{one}"), [want[1]])


def test_time_ranges_compare_instants_across_offsets(api):
    want = store_all(api, dataset())
    same = [("2018-10-18T21:37:28-06:00", "2018-10-18T21:37:59-06:00"),
            ("2018-10-19T03:37:28Z", "2018-10-19T03:37:59Z"),
            ("2018-10-19T09:07:28+05:30", "2018-10-18T17:07:59-10:30"),
            ("2018-10-19T03:37:28.000000Z", "2018-10-19T03:37:59.000000+00:00")]
    expect = matching(want, rng=same[0])
    assert 0 < len(expect) < len(want)
    for rng in same:
        assert_rows(api.rows(route(rng=rng)), expect)
        assert_rows(api.rows(route(user=U2, rng=rng)), matching(want, user=U2, rng=same[0]))


def test_plus_in_a_path_is_a_plus_and_percent_2b_works_too(api):
    want = store_all(api, dataset())
    rng = ("2018-10-19T09:07:28+05:30", "2018-10-19T09:07:59+05:30")
    expect = matching(want, rng=rng)
    assert expect
    for plus in ("+", "%2B", "%2b"):
        s, e = (x.replace("+", plus) for x in rng)
        assert_rows(api.rows(f"/time_range/{s}/{e}"), expect)
        assert_rows(api.rows(f"/user/{enc(U1)}/log_type/CLICK/time_range/{s}/{e}"),
                    matching(want, U1, "CLICK", rng))
    rows, _ = api.pages(f"/time_range/{rng[0]}/{rng[1]}", 2)
    assert_rows(rows, expect)


RANGE_ROUTES = ["/time_range/{s}/{e}", "/user/u/time_range/{s}/{e}", "/log_type/A/time_range/{s}/{e}",
                "/user/u/log_type/A/time_range/{s}/{e}"]


@pytest.mark.parametrize("s,e", [
    ("2018-10-18T21:37:29-06:00", "2018-10-18T21:37:28-06:00"),  # start after end
    ("2018-10-19T03:37:28.000001Z", "2018-10-18T21:37:28-06:00"),  # by a microsecond, across offsets
])
def test_range_starting_after_its_end_is_400(api, s, e):
    api.store(log("u", "s", action("2018-10-18T21:37:28-06:00", "A")))
    for r in RANGE_ROUTES:
        error(api.get(r.format(s=s, e=e)), 400, "bad_request_400")
        error(api.get(r.format(s=s, e=e) + "?limit=5"), 400, "bad_request_400")
    error(api.delete(f"/time_range/{s}/{e}"), 400, "bad_request_400")
    assert len(api.rows("/logs")) == 1


@pytest.mark.parametrize("bad", ["yesterday", "2018-10-18T21:37:28", "2018-10-18", "2018-10-18T21:37:28 05:30",
                                 "2018-13-01T00:00:00Z", "2018-02-30T00:00:00Z", "2018-10-18T24:00:00Z",
                                 "2018-10-18T21:37:28+24:00", "2018-10-18T21:37:28.Z", "1539920248", "%20"])
def test_malformed_range_bound_is_400(refuser, bad):
    ok = "2018-10-18T21:37:28-06:00"
    for r in RANGE_ROUTES:
        error(refuser.get(r.format(s=bad, e=ok)), 400, "bad_request_400")
        error(refuser.get(r.format(s=ok, e=bad)), 400, "bad_request_400")
    error(refuser.delete(f"/time_range/{bad}/{ok}"), 400, "bad_request_400")
    error(refuser.delete(f"/time_range/{ok}/{bad}"), 400, "bad_request_400")


@pytest.mark.parametrize("bad", ["2018-10-18T21:37:28", "2018-10-18", "2018-10-18T21:37:28 -06:00",
                                 "2018-02-29T00:00:00Z", "2018-10-18T21:37:61Z", "2018-10-18T21:37:28+5:30",
                                 "2018-10-18T21:37:28.Z", "2018-10-18T21:37:28,5Z", "", "18/10/2018 21:37"])
def test_malformed_time_in_body_is_400_naming_the_field(refuser, bad):
    body = log("u", "s", action("2018-10-18T21:37:28-06:00", "A"), action(bad, "B"))
    fields = bad_fields(refuser.post(body))
    assert set(fields) == {"actions[1].time"}, fields
    fields = bad_fields(refuser.post([log("u", "s", action("2018-10-18T21:37:28Z", "A")), body]))
    assert set(fields) == {"[1].actions[1].time"}, fields
    assert_nothing_stored(refuser)


def test_long_fractions_are_rfc3339_too(api):
    j = api.store(log("u", "s", action("2018-10-18T21:37:28.1234567890123-06:00", "A")))
    got = api.get(f"/logs/{j['first_id']}").json()["time"]
    assert parse_time(got) == parse_time("2018-10-18T21:37:28.123456-06:00"), got


def test_default_offset_applies_to_times_without_one(servers):
    api = servers.api("--logs-default-offset", "-06:00")
    want = store_all(api, log("u", "s", action("2018-10-18T21:37:28", "A"), action("2018-10-19T03:37:29Z", "B")))
    rows = api.rows("/logs")
    assert [r["time"] for r in rows] == ["2018-10-18T21:37:28-06:00", "2018-10-19T03:37:29Z"]
    want[0]["time"] = "2018-10-18T21:37:28-06:00"
    assert_rows(api.rows("/time_range/2018-10-18T21:37:28/2018-10-18T21:37:28"), want[:1])


# ---------------------------------------------------------------------------- routes


def test_every_list_route_filters_and_orders(api):
    want = store_all(api, dataset())
    rng = ("2018-10-18T21:37:29-06:00", "2018-10-19T09:07:59+05:30")
    empty = ("2000-01-01T00:00:00Z", "2000-01-01T00:00:00Z")
    seen_nonempty = set()
    for user in (None, U1, U2, U3, "nobody"):
        for typ in (None, "CLICK", "SCROLL ü/%", "NOPE"):
            for r in (None, rng, empty):
                path = route(user, typ, r)
                expect = matching(want, user, typ, r)
                got = api.rows(path)
                assert_rows(got, expect)
                if expect:
                    seen_nonempty.add((user is None, typ is None, r is None))
    assert len(seen_nonempty) == 8  # every route returned rows at least once


def test_no_match_is_200_empty_array(api):
    api.store(ISSUE_EXAMPLE)
    for path in ("/user/nobody", "/user/ABC123XYZ/log_type/NOPE", "/log_type/NOPE",
                 "/user/ABC123XYZ/time_range/2000-01-01T00:00:00Z/2000-12-31T00:00:00Z",
                 "/user/nobody/log_type/CLICK/time_range/2018-10-18T21:37:28-06:00/2018-10-18T21:37:28-06:00",
                 "/log_type/VIEW/time_range/2018-10-18T21:37:28-06:00/2018-10-18T21:37:29-06:00",
                 "/time_range/2018-10-18T21:37:31-06:00/2030-01-01T00:00:00Z"):
        r = api.get(path)
        assert r.status_code == 200 and r.headers["Content-Type"] == "application/json", (path, r.text)
        assert r.json() == [], path
        r = api.get(path + "?limit=10")
        assert r.status_code == 200 and r.json() == [] and next_link(r) is None, path


def test_empty_database_lists_are_empty(api):
    assert api.rows("/logs") == []
    r = api.get("/logs?limit=1")
    assert r.status_code == 200 and r.json() == [] and next_link(r) is None


def test_get_one_log_and_404s(api):
    want = store_all(api, dataset(n_logs=2, per_log=2))
    for w in want:
        r = api.get(f"/logs/{w['id']}")
        assert r.status_code == 200
        assert_rows([r.json()], [w])
    missing = want[-1]["id"] + 1
    body = error(api.get(f"/logs/{missing}"), 404, "not_found_404")
    assert set(body) == {"error", "message"}, body
    error(api.get("/logs/0"), 404, "not_found_404")
    for bad in ("abc", "1.5", "1e3", "-1", "0x1", "99999999999999999999999", "%20", "1%2F2"):
        error(api.get(f"/logs/{bad}"), 404, "not_found_404")
        error(api.delete(f"/logs/{bad}"), 404, "not_found_404")


@pytest.mark.parametrize("method,path,status,name", [
    ("PUT", "/logs", 405, "method_not_allowed_405"),
    ("PATCH", "/logs", 405, "method_not_allowed_405"),
    ("DELETE", "/logs", 405, "method_not_allowed_405"),
    ("PUT", "/logs/1", 405, "method_not_allowed_405"),
    ("POST", "/logs/1", 405, "method_not_allowed_405"),
    ("POST", "/user/u", 405, "method_not_allowed_405"),
    ("DELETE", "/user/u/log_type/A", 405, "method_not_allowed_405"),
    ("PUT", "/time_range/2018-10-18T21:37:28Z/2018-10-18T21:37:28Z", 405, "method_not_allowed_405"),
    ("DELETE", "/log_type/A/time_range/2018-10-18T21:37:28Z/2018-10-18T21:37:28Z", 405, "method_not_allowed_405"),
    ("GET", "/log", 404, "not_found_404"),
    ("GET", "/user", 404, "not_found_404"),
    ("GET", "/user/u/log_type", 404, "not_found_404"),
    ("GET", "/time_range/2018-10-18T21:37:28Z", 404, "not_found_404"),
])
def test_errors_use_the_common_shape(refuser, method, path, status, name):
    error(refuser.req(method, path), status, name)
    assert_nothing_stored(refuser)


# ---------------------------------------------------------------------------- pagination


def test_pagination_visits_every_row_once_in_order(api):
    want = ordered(store_all(api, dataset(n_logs=5, per_log=5)))  # 25 rows, equal instants among them
    assert len({parse_time(w["time"])[0] for w in want}) < 25
    for limit, pages in ((1, 25), (2, 13), (5, 5), (7, 4), (24, 2), (25, 1), (26, 1), (10000, 1)):
        rows, n = api.pages("/logs", limit)
        assert_rows(rows, want)
        assert n == pages, (limit, n)


def test_link_header_shape_and_last_page(api):
    store_all(api, dataset(n_logs=1, per_log=3))
    r = api.get("/logs?limit=2")
    assert r.status_code == 200 and len(r.json()) == 2
    link = r.headers["Link"]
    assert link.startswith("</logs?") and link.endswith('>; rel="next"') and "after=" in link, link
    target = next_link(r)
    assert "limit=2" in target
    r2 = api.get(target)
    assert r2.status_code == 200 and len(r2.json()) == 1
    assert "Link" not in r2.headers
    r3 = api.get("/logs?limit=3")
    assert len(r3.json()) == 3 and "Link" not in r3.headers


def test_link_keeps_the_other_query_arguments(api):
    want = ordered(store_all(api, dataset(n_logs=1, per_log=5)))
    r = api.get("/logs?x=1&limit=2&y=a%20b&after&z")  # an "after" without a value is no cursor
    error(r, 400, "bad_request_400")
    r = api.get("/logs?x=1&lim%69t=2&y=a%20b&z")
    assert_rows(r.json(), want[:2])
    target = next_link(r)
    assert target.startswith("/logs?x=1&y=a%20b&z&limit=2&after="), target
    rows, n = [], 0
    while target:
        r = api.get(target)
        rows += r.json()
        n += 1
        target = next_link(r)
        assert target is None or target.startswith("/logs?x=1&y=a%20b&z&limit=2&after="), target
    assert_rows(rows, want[2:])
    assert n == 2


def test_pagination_on_every_list_route(api):
    want = store_all(api, dataset())
    rng = ("2018-10-18T21:37:29-06:00", "2018-10-19T09:07:59+05:30")
    for user in (None, U2):
        for typ in (None, "VIEW"):
            for r in (None, rng):
                path = route(user, typ, r)
                expect = matching(want, user, typ, r)
                assert expect, path
                rows, n = api.pages(path, 2)
                assert_rows(rows, expect)
                assert n == max(1, (len(expect) + 1) // 2), (path, n, len(expect))


def test_pagination_keeps_its_place_while_rows_arrive(api):
    want = ordered(store_all(api, log("u", "s", *[action(fmt_time(T0 + i * SEC), "A") for i in range(10)])))
    r = api.get("/logs?limit=4")
    assert_rows(r.json(), want[:4])
    target = next_link(r)
    early = store_all(api, log("u", "s", action(fmt_time(T0 + 2 * SEC), "EARLY")))  # before the cursor
    late = store_all(api, log("u", "s", action(fmt_time(T0 + 20 * SEC), "LATE")))
    rows = []
    while target:
        r = api.get(target)
        rows += r.json()
        target = next_link(r)
    assert_rows(rows, want[4:] + late)
    assert early[0]["id"] not in {x["id"] for x in rows}


@pytest.mark.parametrize("limit", ["0", "10001", "x", "", "-1", "1.5", "99999999999999999999", "2x"])
def test_bad_limit_is_400(refuser, limit):
    for path in ("/logs", "/user/u", "/log_type/A", "/time_range/2018-10-18T21:37:28Z/2018-10-18T21:37:28Z"):
        error(refuser.get(f"{path}?limit={limit}"), 400, "bad_request_400")
    assert_nothing_stored(refuser)


def test_limit_bounds_are_accepted(api):
    store_all(api, dataset(n_logs=1, per_log=3))
    assert len(api.get("/logs?limit=1").json()) == 1
    r = api.get("/logs?limit=10000")
    assert r.status_code == 200 and len(r.json()) == 3 and next_link(r) is None


def test_tampered_cursor_is_400(api):
    store_all(api, dataset(n_logs=1, per_log=5))
    r = api.get("/logs?limit=2")
    target = next_link(r)
    cursor = target.split("after=", 1)[1].split("&")[0]
    assert api.get(target).status_code == 200
    for bad in (cursor[:-1], cursor + "A", cursor + "=", "!" + cursor[1:], cursor[:5] + "." + cursor[6:],
                "", "x", "A" * 64, cursor[:10] + "%00" + cursor[11:], cursor[:10] + "/" + cursor[11:]):
        error(api.get(f"/logs?limit=2&after={bad}"), 400, "bad_request_400")
        error(api.get(f"/user/u?limit=2&after={bad}"), 400, "bad_request_400")


def test_list_without_limit_is_streamed_json(api):
    # 999, 1000, 1001 and 2000 rows: around the server's internal page sizes.
    sizes = {"a": 999, "b": 1000, "c": 1001, "d": 2000}
    body = [log(u, "s", *[action(fmt_time(T0 + i * 7, (-360, 330)[i % 2]), "T", locationX=i) for i in range(n)])
            for u, n in sizes.items()]
    want = store_all(api, body)
    for u, n in sizes.items():
        r = api.get(f"/user/{u}")
        assert r.status_code == 200
        assert r.headers.get("Transfer-Encoding") == "chunked" and "Content-Length" not in r.headers, r.headers
        rows = r.json()
        assert len(rows) == n
        assert_rows(rows, matching(want, user=u))
    rows = api.rows("/logs")
    assert len(rows) == 5000 and len({x["id"] for x in rows}) == 5000
    assert_rows(rows, ordered(want))


def test_ten_thousand_actions_in_one_post(api):
    acts = []
    for i in range(10000):
        t = fmt_time(T0 + i * 1001, OFFSETS[i % len(OFFSETS)])
        k = i % 3
        acts.append(action(t, ("CLICK", "VIEW", "NAVIGATE")[k],
                           **({"locationX": i, "locationY": -i} if k == 0 else {"viewedId": f"v{i}"} if k == 1
                              else {"pageFrom": "a", "pageTo": f"p{i}"})))
    body = log(U2, "s", *acts)
    t0 = time.monotonic()
    j = api.store(body)
    took = time.monotonic() - t0
    assert j["stored"] == 10000
    assert took < 10, took
    want = expected_rows(body, j["first_id"])
    r = api.get("/logs?limit=10000")
    assert next_link(r) is None
    assert_rows(r.json(), want)
    rows, n = api.pages(f"/user/{enc(U2)}", 3000)
    assert n == 4
    assert_rows(rows, want)
    assert_rows(api.rows("/logs"), want)
    assert_rows(api.rows("/log_type/VIEW"), want[1::3])


# ---------------------------------------------------------------------------- delete


def test_delete_one_log(api):
    want = store_all(api, dataset(n_logs=1, per_log=3))
    victim = want[1]["id"]
    r = api.delete(f"/logs/{victim}")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    assert r.json() == {"deleted": 1}
    error(api.get(f"/logs/{victim}"), 404, "not_found_404")
    body = error(api.delete(f"/logs/{victim}"), 404, "not_found_404")
    assert set(body) == {"error", "message"}
    assert_rows(api.rows("/logs"), ordered([want[0], want[2]]))


@pytest.mark.parametrize("by", ["user", "log_type"])
def test_delete_by_user_or_type(api, by):
    want = store_all(api, dataset())
    key = "userId" if by == "user" else "log_type"
    for value in (U2, U3) if by == "user" else ("SCROLL ü/%", "CLICK"):
        gone = [w for w in want if w[key] == value]
        assert gone
        r = api.delete(f"/{by}/{enc(value)}")
        assert r.status_code == 200 and r.json() == {"deleted": len(gone)}, r.text
        assert api.rows(f"/{by}/{enc(value)}") == []
        error(api.delete(f"/{by}/{enc(value)}"), 404, "not_found_404")
        want = [w for w in want if w[key] != value]
        assert_rows(api.rows("/logs"), ordered(want))
        for g in gone:
            error(api.get(f"/logs/{g['id']}"), 404, "not_found_404")
    error(api.delete(f"/{by}/nobody"), 404, "not_found_404")


def test_delete_by_time_range_is_inclusive_across_offsets(api):
    ts = [T0 - 1, T0, T0 + 1, T0 + 5 * SEC, T0 + 5 * SEC + 1]
    want = store_all(api, log("u", "s", *[action(fmt_time(t, -360), "A") for t in ts]))
    s, e = fmt_time(T0, 330), fmt_time(T0 + 5 * SEC, 0)
    r = api.delete(f"/time_range/{s}/{e}")
    assert r.status_code == 200 and r.json() == {"deleted": 3}
    assert_rows(api.rows("/logs"), [want[0], want[4]])
    error(api.delete(f"/time_range/{s}/{e}"), 404, "not_found_404")
    s2 = s.replace("+", "%2B")
    error(api.delete(f"/time_range/{s2}/{e}"), 404, "not_found_404")
    r = api.delete(f"/time_range/{fmt_time(T0 - 1, -360)}/{fmt_time(T0 - 1, 840)}")
    assert r.status_code == 200 and r.json() == {"deleted": 1}
    assert_rows(api.rows("/logs"), [want[4]])


def test_ids_are_never_reused(servers):
    api = servers.api()
    a = api.store(log("u", "s", *[action(fmt_time(T0 + i), "A") for i in range(3)]))
    assert api.delete(f"/logs/{a['last_id']}").json() == {"deleted": 1}
    b = api.store(log("u", "s", action(fmt_time(T0), "B")))
    assert b["first_id"] > a["last_id"]
    assert api.delete("/user/u").json() == {"deleted": 3}
    c = api.store(log("v", "s", *[action(fmt_time(T0 + i), "C") for i in range(600)]))
    assert c["first_id"] > b["last_id"] and c["last_id"] == c["first_id"] + 599
    # the block is the body's actions in order, even with the newest ids gone
    # (SQLite numbers all rows but the first itself)
    got = api.rows("/log_type/C")
    assert [r["id"] for r in got] == list(range(c["first_id"], c["last_id"] + 1))
    assert [r["time"] for r in got] == [fmt_time(T0 + i) for i in range(600)]
    assert api.delete("/log_type/C").json() == {"deleted": 600}
    c = api.store(log("v", "s", action(fmt_time(T0), "C"), action(fmt_time(T0), "C")))
    assert c["first_id"] > b["last_id"] + 600
    assert api.delete("/log_type/C").json() == {"deleted": 2}
    # ... nor after a restart on the emptied database
    servers.stop(api.srv)
    api2 = servers.api()
    assert api2.rows("/logs") == []
    d = api2.store(log("w", "s", action(fmt_time(T0), "D")))
    assert d["first_id"] > c["last_id"]


def test_database_from_before_keeps_its_ids(servers, database):
    """A database the earlier layout made (0001_logs and 0002_users applied;
    the next id in logs_seq on SQLite, in logs_id_seq on PostgreSQL, handed
    out by logs_reserve_ids()): vial-server applies what it lacks and ids go
    on from there, never reusing one."""
    scripts = [(REPO / "apps" / app / "migrations" / database.backend / f"{v}.sql").read_text()
               for app, v in (("logs", "0001_logs"), ("users", "0002_users"))]
    setup = ["CREATE TABLE schema_migrations (version TEXT PRIMARY KEY, applied_at TEXT NOT NULL)",
             "INSERT INTO schema_migrations VALUES ('0001_logs', '2026-01-01T00:00:00Z'), "
             "('0002_users', '2026-01-01T00:00:00Z')"]
    if database.backend == "sqlite":
        with sqlite3.connect(database.url[len("sqlite:///"):]) as con:
            for sql in scripts + setup + ["UPDATE logs_seq SET next_id = 5000"]:
                con.executescript(sql)
    else:
        import psycopg2
        con = psycopg2.connect(database.url)
        with con, con.cursor() as c:
            for sql in scripts + setup + ["SELECT setval('logs_id_seq', 4999)"]:
                c.execute(sql)
        con.close()
    api = servers.api()
    a = api.store(log("u", "s", *[action(fmt_time(T0 + i), "A") for i in range(3)]))
    assert (a["first_id"], a["last_id"]) == (5000, 5002)
    b = api.store(log("u", "s", action(fmt_time(T0), "B")))
    assert b["first_id"] == 5003
    assert [r["id"] for r in api.rows("/logs")] == [5000, 5003, 5001, 5002]
    servers.stop(api.srv)
    if database.backend == "sqlite":
        with sqlite3.connect(database.url[len("sqlite:///"):]) as con:
            names = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
            versions = [r[0] for r in con.execute("SELECT version FROM schema_migrations ORDER BY version")]
        assert "logs_seq" not in names
    else:
        import psycopg2
        con = psycopg2.connect(database.url)
        with con, con.cursor() as c:
            c.execute("SELECT count(*) FROM pg_proc WHERE proname = 'logs_reserve_ids'")
            assert c.fetchone()[0] == 0
            c.execute("SELECT version FROM schema_migrations ORDER BY version")
            versions = [r[0] for r in c.fetchall()]
        con.close()
    assert versions == ["0001_logs", "0001_vial_sequences", "0002_users", "0003_logs_ids", "0004_chat", "0004_music",
                        "0005_music_search"]


def test_delete_takes_no_pagination_arguments(api):
    api.store(log("u", "s", action(fmt_time(T0), "A")))
    error(api.delete("/user/u?limit=1"), 400, "bad_request_400")
    assert len(api.rows("/logs")) == 1


# ---------------------------------------------------------------------------- unicode and reserved bytes

ODD_USERS = ["Zoë/ユーザー", "100%", "a/b/c", "%2F", "a+b", "with space", "?q=1&x#frag", "🎉 emoji", "..x",
             "é" * 500, "semi;colon,comma", "back\\slash", 'quote"', "tab\there", " padded ", "line\nbreak\u2028", "del\x7f",
             "abc", "ABC", "Zo\u00eb", "Zoe\u0308"]  # case and NFC/NFD are distinct ids
ODD_TYPES = ["CLICK/ü", "50%", "Ω+Δ", "a b"]


def test_unicode_and_reserved_ids_round_trip_through_every_route(api):
    body = [log(u, f"sess/{i}%", *[action(fmt_time(T0 + (i * 10 + k) * SEC, (-360, 330)[k % 2]), t)
                                   for k, t in enumerate(ODD_TYPES)]) for i, u in enumerate(ODD_USERS)]
    want = store_all(api, body)
    assert_rows(api.rows("/logs"), ordered(want))
    rng = (fmt_time(T0, 0), fmt_time(T0 + 10_000 * SEC, -360))
    for u in ODD_USERS:
        mine = matching(want, user=u)
        assert len(mine) == len(ODD_TYPES)
        assert_rows(api.rows(route(u)), mine)
        assert_rows(api.rows(route(u, rng=rng)), mine)
        assert_rows(api.pages(route(u), 1)[0], mine)  # the Link keeps the encoded path
        for t in ODD_TYPES:
            one = matching(want, u, t)
            assert len(one) == 1
            assert_rows(api.rows(route(u, t)), one)
            assert_rows(api.rows(route(u, t, rng)), one)
    for t in ODD_TYPES:
        assert_rows(api.rows(route(typ=t)), matching(want, typ=t))
        assert_rows(api.pages(route(typ=t, rng=rng), 3)[0], matching(want, typ=t))
    # a literal '+' in a path is a plus, not a space
    assert_rows(api.rows("/user/a+b"), matching(want, user="a+b"))
    assert api.rows("/user/a%20b") == []
    # deletes by these ids
    for u in ODD_USERS[:5]:
        r = api.delete(route(u))
        assert r.status_code == 200 and r.json() == {"deleted": len(ODD_TYPES)}, (u, r.text)
        assert api.rows(route(u)) == []
    r = api.delete(route(typ="50%"))
    assert r.status_code == 200 and r.json() == {"deleted": len(ODD_USERS) - 5}
    left = [w for w in want if w["userId"] not in ODD_USERS[:5] and w["log_type"] != "50%"]
    assert_rows(api.rows("/logs"), ordered(left))


@pytest.mark.parametrize("path", ["/user/%FF", "/user/%C3", "/log_type/%FF", "/user/u/log_type/%C3%28",
                                  "/user/%FF/time_range/2018-10-18T21:37:28Z/2018-10-18T21:37:29Z"])
def test_id_that_is_not_utf8_gets_a_complete_answer(api, backend, path, request):
    """IDs are UTF-8; a percent-encoded byte string that is not cannot match
    anything.  Whatever the answer (200 [] or a 400 in the error shape), it
    must be a complete HTTP response on both backends, never a broken stream."""
    api.store(log("u", "s", action(fmt_time(T0), "A")))
    with api.srv.conn() as c:
        r = c.get(path)  # raw: the framing is what is checked
    if r.status == 200:
        assert json.loads(r.body) == [], r
    else:
        assert_error(r, 400, "bad_request_400")
    d = api.delete(path.split("/time_range")[0].replace("/user/u/log_type/", "/log_type/"))
    assert d.status_code in (400, 404), d.text
    error(d, d.status_code)
    assert len(api.rows("/logs")) == 1


def test_client_leaving_mid_stream_does_not_hurt_the_server(api):
    want = store_all(api, log("u", "s", *[action(fmt_time(T0 + i), "A", viewedId="v" * 200) for i in range(5000)]))
    for _ in range(5):
        with api.srv.conn() as c:
            c.send(b"GET /logs HTTP/1.1\r\nHost: t\r\n\r\n")
            got = b""
            while len(got) < 4096:
                got += c.sock.recv(4096)
            assert got.startswith(b"HTTP/1.1 200 ")
        # closed with most of the stream unsent
    assert_rows(api.rows("/logs"), want)


# ---------------------------------------------------------------------------- durability


def test_kill_9_right_after_201_loses_nothing(servers):
    """A 201 means durable: SIGKILL the server as soon as the last 201 of a
    burst arrives, restart on the same database, find every acknowledged row.
    Twice, so the second server's ids and writes are checked as well."""
    acked = []
    for rnd in range(2):
        srv = servers.start()
        api = Api(srv)
        try:
            for p in range(20 if rnd == 0 else 10):
                body = log(f"u{p % 3}", f"r{rnd}p{p}", *[action(fmt_time(T0 + (rnd * 100 + p) * SEC + i, -360),
                                                               ("CLICK", "VIEW")[i % 2], locationX=i)
                                                        for i in range(500)])
                r = api.post(body)
                if p == (19 if rnd == 0 else 9):
                    servers.kill9(srv)  # the 201 is in hand: no graceful anything
                assert r.status_code == 201, r.text
                acked.append((body, r.json()))
        finally:
            api.close()
    # Then servers are killed while a 10,000-action POST is in flight, at
    # several moments (before, during and after its transaction): after each
    # restart that request is there entirely or not at all.
    inflight = {}
    for k, delay in enumerate((0, 0.01, 0.02, 0.03, 0.045, 0.07)):
        srv = servers.start()
        body = log(f"inflight{k}", "killed", *[action(fmt_time(T0 + (900 + k) * SEC + i), "A") for i in range(10000)])
        data = json.dumps(body).encode()
        with srv.conn() as c:
            c.send(b"POST /logs HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                   b"Content-Length: %d\r\n\r\n" % len(data) + data)
            time.sleep(delay)
            servers.kill9(srv)
        inflight[k] = body
    api = servers.api()
    for k, body in inflight.items():
        n = len(api.rows(f"/user/inflight{k}"))
        assert n in (0, 10000), (k, n)
        if n:
            assert api.delete(f"/user/inflight{k}").json() == {"deleted": n}
    want = []
    for body, j in acked:
        want += expected_rows(body, j["first_id"])
    firsts = [j["first_id"] for _, j in acked]
    assert firsts == sorted(firsts) and len(set(firsts)) == len(firsts)
    rows = api.rows("/logs")
    assert len(rows) == 15000
    assert_rows(rows, ordered(want))


def test_sqlite_wal_stays_bounded_under_back_to_back_ingest(servers, database):
    """Writers that never pause must not grow SQLite's WAL without bound:
    the WAL only rewinds when a transaction begins after it was copied
    whole, which back-to-back writers never allowed (2 GB in 15 s of
    ingest).  800,000 actions from four clients at once write ~250 MB of WAL
    frames; the WAL file must stay far below that, and every row be there."""
    if database.backend != "sqlite":
        pytest.skip("SQLite's write-ahead log")
    api = servers.api()
    wal = database.url[len("sqlite:///"):] + "-wal"
    clients, bodies_per_client, per_body = 4, 20, 10_000

    def body(n):
        base = T0 + n * per_body * 1000  # time moves forward, 1 ms per action
        return json.dumps([log(f"w{n % clients}u{j}", f"s{n}",
                               *[action(fmt_time(base + (j * 100 + i) * 1000, 60), ("CLICK", "VIEW", "NAVIGATE")[i % 3])
                                 for i in range(100)])
                           for j in range(per_body // 100)]).encode()

    # Made beforehand, so that the clients post back to back.
    bodies = [body(n) for n in range(clients * bodies_per_client)]
    errors = []

    def client(k):
        c = Api(api.srv)
        try:
            for n in range(k, len(bodies), clients):
                r = c.post(bodies[n])
                if r.status_code != 201:
                    errors.append((r.status_code, r.text[:200]))
                    return
        finally:
            c.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    size = os.path.getsize(wal)
    assert size < 100 << 20, f"the WAL grew to {size >> 20} MiB"
    with sqlite3.connect(f"file:{database.url[len('sqlite:///'):]}?mode=ro", uri=True) as con:
        assert con.execute("SELECT count(*) FROM logs").fetchone()[0] == clients * bodies_per_client * per_body
    assert len(api.rows("/user/w0u0")) == bodies_per_client * 100


def test_bulk_values_with_copy_format_specials_round_trip(api):
    """Text that COPY's text format gives meaning to (backslash, tab,
    newline, carriage return, a literal \\N, \\. on a line) is stored as
    sent, in a bulk of many actions as well as in a single one."""
    specials = ["a\tb", "line1\nline2", "cr\rlf", "back\\slash", "\\N", "\\.", "end\\", "é\u2028\U0001F600"]
    for n in (1, 300):
        body = [log(f"copy{n}-{k}{s}", s, *[action(fmt_time(T0 + (k * 1000 + i) * SEC), s, viewedId=s, pageFrom=s)
                                           for i in range(n)])
                for k, s in enumerate(specials)]
        stored = api.store(body)
        assert stored["stored"] == n * len(specials)
        for k, s in enumerate(specials):
            rows = api.rows(f"/user/{enc(f'copy{n}-{k}{s}')}")
            assert len(rows) == n
            for r in rows:
                assert (r["userId"], r["sessionId"], r["log_type"], r["viewedId"], r["pageFrom"]) == \
                       (f"copy{n}-{k}{s}", s, s, s, s)
                assert r["pageTo"] is None and r["locationX"] is None
