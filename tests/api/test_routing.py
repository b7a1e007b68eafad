"""Routing: converters, percent-decoding, 404/405/308, blueprints, hooks,
error handlers and url_for."""
import pytest

from conftest import assert_error


def test_not_found_shape(server):
    r = server.get("/no/such/route")
    body = assert_error(r, 404, "not_found_404")
    assert set(body) == {"error", "message"}
    assert r.header("content-length") == str(len(r.body))


def test_method_not_allowed_with_allow(server):
    r = server.request("POST", "/textf", body=b"")
    body = assert_error(r, 405, "method_not_allowed_405")
    assert "POST" in body["message"]
    assert r.header("allow") == "GET, HEAD, OPTIONS"
    r = server.request("DELETE", "/multi")
    assert_error(r, 405)
    assert r.header("allow") == "GET, HEAD, POST, OPTIONS"


def test_same_path_different_handlers_per_method(server):
    assert server.get("/multi").body == b"multi GET"
    r = server.request("POST", "/multi", body=b"")
    assert r.status == 201 and r.body == b"multi POST"


def test_every_method_reaches_a_multi_method_route(server):
    for m in ["GET", "POST", "PUT", "DELETE", "PATCH"]:
        r = server.request(m, "/echo", body=b"" if m != "GET" else None)
        assert r.status == 200 and r.json()["method"] == m


def test_trailing_slash_redirect_308_keeps_query(server):
    r = server.get("/slash")
    assert r.status == 308 and r.header("location") == "/slash/"
    r = server.get("/slash?a=1&b=x%20y&a=2")
    assert r.status == 308 and r.header("location") == "/slash/?a=1&b=x%20y&a=2"
    # 308 keeps the method, so a POST is redirected too.
    assert server.request("POST", "/slash", body=b"").status == 308
    assert server.get("/slash/").body == b"slash view"


def test_no_slash_route_does_not_match_with_slash(server):
    assert_error(server.get("/textf/"), 404)


# ---------------------------------------------------------------------------- converters


def test_string_param_percent_decoded_after_split(server):
    assert server.get("/user/a%2Fb").json()["userId"] == "a/b"
    assert server.get("/user/a%20b").json()["userId"] == "a b"
    assert server.get("/user/caf%C3%A9").json()["userId"] == "café"
    assert server.get("/user/a+b").json()["userId"] == "a+b"  # '+' is literal in paths
    r = server.get("/user/x%2Fy").json()
    assert r["path"] == "/user/x/y"  # vial_path() is the decoded path


def test_string_param_is_one_segment(server):
    assert_error(server.get("/user/a/b"), 404)
    assert_error(server.get("/user/"), 404)  # empty segment does not convert


def test_path_param_spans_segments(server):
    r = server.get("/files/a/b/c.txt").json()
    assert r == {"p": "a/b/c.txt", "view": "files"}
    r = server.get("/files/a/b%20c/d").json()
    assert r["p"] == "a/b c/d"
    assert server.get("/files/edit").json() == {"p": "edit", "view": "files"}


def test_path_param_with_static_suffix_route_is_reachable(server):
    assert server.get("/files/a/b/edit").json() == {"p": "a/b", "view": "edit"}


def test_int_converter(server):
    r = server.get("/conv/int/42").json()
    assert r["value"] == 42 and r["raw"] == "42"
    assert server.get("/conv/int/007").json()["value"] == 7
    assert server.get("/conv/int/9223372036854775807").json()["value"] == 9223372036854775807
    for bad in ["-1", "4x", "x", "1.5", "9223372036854775808", "%31%32x", " 1"]:
        r = server.get("/conv/int/" + bad.replace(" ", "%20"))
        assert_error(r, 404, "not_found_404")


def test_int_converter_after_decoding(server):
    assert server.get("/conv/int/%34%32").json()["value"] == 42


def test_float_converter(server):
    assert server.get("/conv/float/1.5").json()["value"] == 1.5
    assert server.get("/conv/float/0.25").json()["value"] == 0.25
    for bad in ["1", "1.", ".5", "-1.5", "1e5", "a.b"]:
        assert_error(server.get("/conv/float/" + bad), 404)


def test_uuid_converter(server):
    u = "123e4567-e89b-12d3-a456-426614174000"
    assert server.get("/conv/uuid/" + u).json()["value"] == u
    assert server.get("/conv/uuid/" + u.upper()).json()["value"] == u.upper()
    for bad in [u[:-1], u + "0", u.replace("-", ""), "g" + u[1:], u.replace("-", "_", 1)]:
        assert_error(server.get("/conv/uuid/" + bad), 404)


def test_static_segment_beats_parameter(server):
    assert server.get("/conv/str/special").json() == {"value": "special", "kind": "static"}
    assert server.get("/conv/str/other").json() == {"value": "other", "kind": "param"}


def test_two_params(server):
    assert server.get("/things/12/widget").json() == {"id": 12, "name": "widget"}
    assert_error(server.get("/things/x/widget"), 404)


@pytest.mark.parametrize("path", ["/user/a%00b", "/user/%zz", "/user/a%4", "/user/%", "/files/a/%0/b",
                                  "/no/route/%zz"])
def test_bad_escapes_and_nul_are_400(server, path):
    r = server.get(path)
    assert_error(r, 400, "bad_request_400")


def test_method_not_allowed_is_not_404_when_param_does_not_convert(server):
    # /conv/int/<int> only takes GET; a POST to a non-integer is simply not a route.
    assert_error(server.request("POST", "/conv/int/abc", body=b""), 404)
    assert_error(server.request("POST", "/conv/int/12", body=b""), 405)


def test_absolute_form_target(server):
    r = server.get("http://example.com/echo?x=1").json()
    assert r["path"] == "/echo" and r["args"] == {"x": ["1"]}


# ---------------------------------------------------------------------------- blueprints and hooks


def test_blueprint_route_prefix_and_hooks(server):
    r = server.get("/api/ok")
    assert r.status == 200 and r.json() == {"bp": "api", "endpoint": "api.api_ok"}
    assert r.header("x-bp-before") == "1"
    assert r.header("x-bp-after") == "1"
    assert r.header("x-after") == "app"


def test_hook_order(server):
    r = server.get("/api/ok", headers={"X-Trace-Hooks": "1"})
    assert r.header("x-hook-order") == "app-before,bp-before,view,bp-after,app-after"
    r = server.get("/textf", headers={"X-Trace-Hooks": "1"})
    assert r.header("x-hook-order") == "app-before,app-after"


def test_blueprint_hooks_do_not_run_outside_it(server):
    r = server.get("/textf")
    assert r.header("x-bp-before") is None and r.header("x-bp-after") is None
    assert r.header("x-after") == "app"


def test_app_after_hook_runs_on_errors_too(server):
    assert server.get("/no/such").header("x-after") == "app"
    assert server.request("POST", "/textf", body=b"").header("x-after") == "app"
    assert server.get("/fail").header("x-after") == "app"


def test_before_hook_can_answer(server):
    r = server.get("/echo", headers={"X-Before-Answer": "1"})
    assert r.status == 202 and r.body == b"answered by the app before-hook"
    r = server.get("/no/such/route", headers={"X-Before-Answer": "1"})
    assert r.status == 202


def test_failing_hooks_are_500(server):
    assert_error(server.get("/textf", headers={"X-Before-Fail": "1"}), 500, "internal_server_error_500")
    assert_error(server.get("/textf", headers={"X-After-Fail": "1"}), 500, "internal_server_error_500")


def test_blueprint_before_hook_abort_uses_blueprint_error_handler(server):
    r = server.get("/api/ok?deny=1")
    assert r.status == 403
    assert r.json() == {"error": "api_error", "status": 403, "message": "denied by the api before-hook"}
    assert r.header("x-bp-after") == "1"


def test_blueprint_error_handler(server):
    r = server.get("/api/fail")
    assert r.status == 409
    assert r.json() == {"error": "api_error", "status": 409, "message": "conflict in the api"}
    r = server.get("/api/crash")
    assert r.status == 500 and r.json()["error"] == "api_error" and r.json()["status"] == 500


def test_unrouted_paths_under_blueprint_prefix_use_root_errors(server):
    assert_error(server.get("/api/nothing-here"), 404, "not_found_404")
    assert_error(server.get("/api/items/abc"), 404, "not_found_404")


def test_nested_blueprint(server):
    assert server.get("/api/v2/ping").json() == {"endpoint": "api.v2.v2_ping"}
    assert server.get("/api/items/9").json() == {"id": 9, "endpoint": "api.item"}


def test_root_error_handler_for_one_status(server):
    r = server.get("/abort/418?msg=short%20and%20stout")
    assert r.status == 418 and r.body == b"custom 418 handler: short and stout"


def test_failing_error_handler_falls_back_to_builtin(server):
    r = server.get("/abort/451?msg=gone")
    body = assert_error(r, 451, message="gone")
    assert body["error"].endswith("_451") or body["error"] == "client_error"
    assert server.wait_log(r"error handler for 451 failed")


# ---------------------------------------------------------------------------- url_for


def test_url_for(server):
    u = server.get("/urlfor").json()
    assert u == {
        "echo": "/echo",
        "echo_query": "/echo?x=1&y=a%20b%26c",
        "user": "/user/a%2Fb%20c",
        "files": "/files/dir/sub%20dir/f.txt",
        "int": "/conv/int/42",
        "int_bad": None,
        "missing_param": None,
        "unknown": None,
        "api_item": "/api/items/5?q=1",
        "slash": "/slash/",
    }


def test_url_for_round_trips(server):
    u = server.get("/urlfor").json()
    assert server.get(u["user"]).json()["userId"] == "a/b c"
    assert server.get(u["files"]).json()["p"] == "dir/sub dir/f.txt"
    assert server.get(u["echo_query"]).json()["args"] == {"x": ["1"], "y": ["a b&c"]}


def test_url_for_relative_in_blueprint(server):
    assert server.get("/api/urls").json() == {
        "relative_item": "/api/items/7",
        "v2_ping": "/api/v2/ping",
        "relative_missing": None,
    }
