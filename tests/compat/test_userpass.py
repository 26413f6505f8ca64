"""userpass through hvac, against OpenBao 2.7 and coffre (the `srv` fixture is parametrized):
users, login, the token it makes, wrong credentials, lockout and unlock, bound CIDRs with
the client bound to another loopback address."""

from __future__ import annotations

import http.client
import json
import urllib.parse

import hvac
import pytest

from conftest import root_client as root
from conftest import unique


@pytest.fixture(scope="module")
def mount(srv) -> str:
    path = unique("up")
    root(srv).sys.enable_auth_method("userpass", path=path)
    return path


def anonymous(srv, token: str | None = None) -> hvac.Client:
    return hvac.Client(url=srv.url, token=token, timeout=30)


def raw(srv, method: str, path: str, body: dict | None = None, token: str | None = None,
        source: str = "127.0.0.1") -> tuple[int, dict]:
    """One request from the loopback address `source`."""
    url = urllib.parse.urlsplit(srv.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30,
                                      source_address=(source, 0))
    headers = {"X-Vault-Token": token} if token else {}
    conn.request(method, f"/v1/{path}", body=json.dumps(body) if body is not None else None,
                 headers=headers)
    resp = conn.getresponse()
    text = resp.read().decode()
    conn.close()
    return resp.status, (json.loads(text) if text else {})


def test_the_method_is_listed_and_tunable(srv, mount):
    c = root(srv)
    methods = c.sys.list_auth_methods()["data"]
    assert methods[f"{mount}/"]["type"] == "userpass"
    assert methods[f"{mount}/"]["config"]["token_type"] == "default-service"
    assert "token/" in methods
    c.sys.tune_auth_method(mount, default_lease_ttl="1h")
    tune = c.sys.read_auth_method_tuning(mount)["data"]
    assert tune["default_lease_ttl"] == 3600
    assert tune["token_type"] == "default-service"
    with pytest.raises(hvac.exceptions.InvalidRequest, match="path is already in use"):
        c.sys.enable_auth_method("userpass", path=mount)


def test_a_user_logs_in_with_its_password(srv, mount):
    c = root(srv)
    c.auth.userpass.create_or_update_user("alice", password="pw", policies=["dev"],
                                          mount_point=mount)
    user = c.auth.userpass.read_user("alice", mount_point=mount)["data"]
    assert user["token_policies"] == ["dev"]
    assert "password" not in user
    assert "alice" in c.auth.userpass.list_user(mount_point=mount)["data"]["keys"]

    # A stale token on the client is ignored by the login, as hvac users rely on.
    app = anonymous(srv, token="hvs.stale-and-unknown")
    auth = app.auth.userpass.login("alice", "pw", mount_point=mount)["auth"]
    assert auth["policies"] == ["default", "dev"]
    assert auth["token_policies"] == ["default", "dev"]
    assert auth["metadata"] == {"username": "alice"}
    assert auth["lease_duration"] == 3600
    assert auth["renewable"] is True and auth["orphan"] is True
    assert app.token == auth["client_token"]
    me = app.auth.token.lookup_self()["data"]
    assert me["path"] == f"auth/{mount}/login/alice"
    assert me["display_name"] == f"{mount}-alice"
    assert me["meta"] == {"username": "alice"}

    c.auth.userpass.update_password_on_user("alice", "new", mount_point=mount)
    with pytest.raises(hvac.exceptions.InvalidRequest, match="invalid username or password"):
        anonymous(srv).auth.userpass.login("alice", "pw", mount_point=mount)
    anonymous(srv).auth.userpass.login("alice", "new", mount_point=mount)
    c.auth.userpass.delete_user("alice", mount_point=mount)
    with pytest.raises(hvac.exceptions.InvalidRequest, match="invalid username or password"):
        anonymous(srv).auth.userpass.login("alice", "new", mount_point=mount)


def test_wrong_password_and_unknown_user_answer_alike(srv, mount):
    root(srv).auth.userpass.create_or_update_user("bob", password="pw", mount_point=mount)
    answers = []
    for user in ("bob", "nobody-here"):
        status, body = raw(srv, "POST", f"auth/{mount}/login/{user}", {"password": "wrong"})
        answers.append((status, body))
    assert answers[0] == answers[1] == (400, {"errors": ["invalid username or password"]})


def test_the_sixth_attempt_is_locked_out_until_unlocked(srv, mount):
    c = root(srv)
    c.auth.userpass.create_or_update_user("carol", password="pw", mount_point=mount)
    login = f"auth/{mount}/login/carol"
    for _ in range(5):
        assert raw(srv, "POST", login, {"password": "bad"})[0] == 400
    assert raw(srv, "POST", login, {"password": "bad"}) == (403, {"errors": ["permission denied"]})
    # The right password gets the same answer while locked.
    assert raw(srv, "POST", login, {"password": "pw"}) == (403, {"errors": ["permission denied"]})

    accessor = c.sys.list_auth_methods()["data"][f"{mount}/"]["accessor"]
    status, locked = raw(srv, "GET", "sys/locked-users", token=srv.root_token)
    assert status == 200
    ns = locked["data"]["by_namespace"][0]
    assert ns["namespace_path"] == ""
    mine = [m for m in ns["mount_accessors"] if m["mount_accessor"] == accessor]
    assert mine and mine[0]["alias_identifiers"] == ["carol"]

    status, _ = raw(srv, "POST", f"sys/locked-users/{accessor}/unlock/carol", {},
                    token=srv.root_token)
    assert status == 204
    assert raw(srv, "POST", login, {"password": "pw"})[0] == 200


def test_bound_cidrs_are_enforced_against_the_client_address(srv, mount):
    root(srv).auth.userpass.create_or_update_user(
        "dave", password="pw", token_bound_cidrs=["127.0.0.1/32"], mount_point=mount)
    user = root(srv).auth.userpass.read_user("dave", mount_point=mount)["data"]
    assert user["token_bound_cidrs"] == ["127.0.0.1"]
    login = f"auth/{mount}/login/dave"
    status, _ = raw(srv, "POST", login, {"password": "pw"}, source="127.0.0.2")
    assert status == 403
    status, body = raw(srv, "POST", login, {"password": "pw"}, source="127.0.0.1")
    assert status == 200
    token = body["auth"]["client_token"]
    assert raw(srv, "GET", "auth/token/lookup-self", token=token, source="127.0.0.1")[0] == 200
    assert raw(srv, "GET", "auth/token/lookup-self", token=token, source="127.0.0.2")[0] == 403

    status, body = raw(srv, "POST", f"auth/{mount}/users/erin",
                       {"password": "pw", "token_bound_cidrs": "nonsense"},
                       token=srv.root_token)
    assert status == 400


def test_tokens_of_a_disabled_method_stop_working(srv):
    c = root(srv)
    path = unique("gone")
    c.sys.enable_auth_method("userpass", path=path)
    c.auth.userpass.create_or_update_user("gina", password="pw", mount_point=path)
    app = anonymous(srv)
    app.auth.userpass.login("gina", "pw", mount_point=path)
    assert app.is_authenticated()
    c.sys.disable_auth_method(path)
    assert not app.is_authenticated()
