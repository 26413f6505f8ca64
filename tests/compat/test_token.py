"""HVAC-CALLS §4 token-store rows against a real coffre server."""

from __future__ import annotations

import time

import pytest
import requests
from hvac import exceptions as exc

from conftest import unique


@pytest.fixture(scope="module")
def pol(client):
    """A harmless named policy to attach to tokens."""
    name = unique("tokpol")
    client.sys.create_or_update_acl_policy(
        name=name, policy=f'path "secret/data/{name}/*" {{\n  capabilities = ["read"]\n}}\n'
    )
    return name


@pytest.fixture(scope="module")
def creator_pol(client):
    """Lets a non-root token create child tokens."""
    name = unique("creator")
    client.sys.create_or_update_acl_policy(
        name=name,
        policy='path "auth/token/create" {\n  capabilities = ["update"]\n}\n',
    )
    return name


def test_create(client, pol):
    r = client.auth.token.create(policies=[pol], ttl="1h")
    assert r["data"] is None
    auth = r["auth"]
    tok = auth["client_token"]
    assert isinstance(tok, str) and tok
    assert isinstance(auth["accessor"], str) and auth["accessor"]
    assert auth["accessor"] != tok
    assert sorted(auth["policies"]) == sorted(["default", pol])
    assert sorted(auth["token_policies"]) == sorted(["default", pol])
    assert auth["lease_duration"] == 3600
    assert auth["renewable"] is True
    assert auth["orphan"] is False
    assert auth["token_type"] == "service"
    assert "entity_id" in auth
    # hvac does not switch the client token on create
    assert client.token != tok

    info = client.auth.token.lookup(tok)["data"]
    assert info["id"] == tok
    assert info["accessor"] == auth["accessor"]
    assert 3500 < info["ttl"] <= 3600
    assert info["creation_ttl"] == 3600
    assert sorted(info["policies"]) == sorted(["default", pol])
    assert info["orphan"] is False
    assert info["path"] == "auth/token/create"
    assert info["display_name"] == "token-token"  # hvac sends display_name="token"; stored as token-<name>
    assert info["num_uses"] == 0
    assert info["renewable"] is True
    assert info["type"] == "service"
    assert info["expire_time"]
    # legacy v1 helper
    assert client.lookup_token(tok)["data"]["id"] == tok


def test_create_no_default_policy_and_meta(client, pol):
    auth = client.auth.token.create(
        policies=[pol], no_default_policy=True, meta={"team": "ops"}, ttl="1h"
    )["auth"]
    assert auth["policies"] == [pol]
    info = client.auth.token.lookup(auth["client_token"])["data"]
    assert info["policies"] == [pol]
    assert info["meta"] == {"team": "ops"}


def test_create_orphan(client, pol):
    auth = client.auth.token.create_orphan(policies=[pol], ttl="1h")["auth"]
    assert auth["orphan"] is True
    info = client.auth.token.lookup(auth["client_token"])["data"]
    assert info["orphan"] is True
    assert info["path"] == "auth/token/create-orphan"


def test_lookup_self_root(client, server):
    d = client.auth.token.lookup_self()["data"]
    assert d["id"] == server.root_token
    assert d["policies"] == ["root"]
    assert d["ttl"] == 0
    assert d["path"] == "auth/token/root"
    assert d["expire_time"] is None
    assert client.lookup_token()["data"]["id"] == server.root_token


def test_lookup_self_child(client, make_client, pol):
    auth = client.auth.token.create(policies=[pol], ttl="1h")["auth"]
    d = make_client(auth["client_token"]).auth.token.lookup_self()["data"]
    assert d["id"] == auth["client_token"]
    assert d["accessor"] == auth["accessor"]
    assert sorted(d["policies"]) == sorted(["default", pol])


def test_lookup_unknown_token_forbidden(client):
    with pytest.raises(exc.Forbidden):
        client.auth.token.lookup("hvs.doesnotexist" + unique())


def test_lookup_accessor(client, pol):
    auth = client.auth.token.create(policies=[pol], ttl="1h")["auth"]
    d = client.auth.token.lookup_accessor(auth["accessor"])["data"]
    assert d["id"] == ""
    assert d["accessor"] == auth["accessor"]
    assert sorted(d["policies"]) == sorted(["default", pol])
    assert 3500 < d["ttl"] <= 3600


def test_renew_self(client, make_client, pol):
    tok = client.auth.token.create(policies=[pol], ttl="1h")["auth"]["client_token"]
    tc = make_client(tok)
    r = tc.auth.token.renew_self(increment="2h")
    assert r["auth"]["client_token"] == tok
    assert r["auth"]["lease_duration"] == 7200
    assert r["auth"]["renewable"] is True
    ttl = client.auth.token.lookup(tok)["data"]["ttl"]
    assert 7100 < ttl <= 7200


def test_renew(client, pol):
    tok = client.auth.token.create(policies=[pol], ttl="1h")["auth"]["client_token"]
    r = client.auth.token.renew(tok, increment="3h")
    assert r["auth"]["client_token"] == tok
    assert r["auth"]["lease_duration"] == 10800
    info = client.auth.token.lookup(tok)["data"]
    assert 10700 < info["ttl"] <= 10800

    r = client.auth.token.renew(tok)
    assert r["auth"]["client_token"] == tok
    assert 0 < r["auth"]["lease_duration"] <= 10800

    with pytest.raises(exc.InvalidRequest):
        client.auth.token.renew("hvs.unknown" + unique())


def test_revoke_cascades_to_children(client, make_client, pol, creator_pol):
    parent = client.auth.token.create(policies=[pol, creator_pol], ttl="1h")["auth"]["client_token"]
    pc = make_client(parent)
    child_auth = pc.auth.token.create(ttl="1h")["auth"]
    child = child_auth["client_token"]
    # child inherits the parent's policies
    assert sorted(child_auth["policies"]) == sorted(["default", pol, creator_pol])
    assert child_auth["orphan"] is False
    grandchild = make_client(child).auth.token.create(ttl="1h")["auth"]["client_token"]
    assert client.auth.token.lookup(child)["data"]["id"] == child

    resp = client.auth.token.revoke(parent)
    assert isinstance(resp, requests.Response) and resp.status_code == 204
    for t in (parent, child, grandchild):
        with pytest.raises(exc.Forbidden):
            client.auth.token.lookup(t)
    assert make_client(child).is_authenticated() is False


def test_revoke_self(client, make_client, pol):
    tok = client.auth.token.create(policies=[pol], ttl="1h")["auth"]["client_token"]
    tc = make_client(tok)
    assert tc.is_authenticated() is True
    resp = tc.auth.token.revoke_self()
    assert isinstance(resp, requests.Response) and resp.status_code == 204
    assert tc.is_authenticated() is False
    with pytest.raises(exc.Forbidden):
        client.auth.token.lookup(tok)


def test_revoke_accessor(client, pol):
    auth = client.auth.token.create(policies=[pol], ttl="1h")["auth"]
    resp = client.auth.token.revoke_accessor(auth["accessor"])
    assert isinstance(resp, requests.Response) and resp.status_code == 204
    with pytest.raises(exc.Forbidden):
        client.auth.token.lookup(auth["client_token"])


def test_revoke_and_orphan_children(client, make_client, pol, creator_pol):
    parent = client.auth.token.create(policies=[pol, creator_pol], ttl="1h")["auth"]["client_token"]
    child = make_client(parent).auth.token.create(ttl="1h")["auth"]["client_token"]
    assert client.auth.token.lookup(child)["data"]["orphan"] is False

    resp = client.auth.token.revoke_and_orphan_children(parent)
    assert isinstance(resp, requests.Response) and resp.status_code == 204
    with pytest.raises(exc.Forbidden):
        client.auth.token.lookup(parent)
    info = client.auth.token.lookup(child)["data"]
    assert info["id"] == child
    assert info["orphan"] is True
    assert make_client(child).is_authenticated() is True


def test_list_accessors(client, pol):
    acc = client.auth.token.create(policies=[pol], ttl="1h")["auth"]["accessor"]
    keys = client.auth.token.list_accessors()["data"]["keys"]
    assert acc in keys
    root_acc = client.auth.token.lookup_self()["data"]["accessor"]
    assert root_acc in keys


def test_roles(client, pol):
    role = unique("role")
    resp = client.auth.token.create_or_update_role(role, allowed_policies=[pol])
    assert isinstance(resp, requests.Response) and resp.status_code == 204

    d = client.auth.token.read_role(role)["data"]
    assert d["name"] == role
    assert d["allowed_policies"] == [pol]
    assert d["orphan"] is False
    assert d["renewable"] is True

    assert role in client.auth.token.list_roles()["data"]["keys"]

    auth = client.auth.token.create(role_name=role, policies=[pol], ttl="1h")["auth"]
    assert sorted(auth["policies"]) == sorted(["default", pol])
    info = client.auth.token.lookup(auth["client_token"])["data"]
    assert info["path"] == f"auth/token/create/{role}"
    assert info["role"] == role

    # a policy outside allowed_policies is refused
    with pytest.raises(exc.InvalidRequest):
        client.auth.token.create(role_name=role, policies=["not-allowed-" + unique()], ttl="1h")

    # orphan role
    client.auth.token.create_or_update_role(role, allowed_policies=[pol], orphan=True)
    assert client.auth.token.read_role(role)["data"]["orphan"] is True
    auth = client.auth.token.create(role_name=role, policies=[pol], ttl="1h")["auth"]
    assert auth["orphan"] is True

    resp = client.auth.token.delete_role(role)
    assert isinstance(resp, requests.Response) and resp.status_code == 204
    with pytest.raises(exc.InvalidPath):
        client.auth.token.read_role(role)
    try:
        keys = client.auth.token.list_roles()["data"]["keys"]
    except exc.InvalidPath:
        keys = []
    assert role not in keys


def test_tidy(client):
    r = client.auth.token.tidy()
    # SPEC says 200 + warning; Vault itself answers 202 Accepted + warning (hvac then
    # returns the raw Response). Accept both, but the warning must be there.
    if not isinstance(r, dict):
        assert r.status_code in (200, 202), r.status_code
        r = r.json()
    assert r["warnings"] and any("idy" in w for w in r["warnings"])


def test_num_uses(client, make_client, pol):
    tok = client.auth.token.create(policies=[pol], ttl="1h", num_uses=2)["auth"]["client_token"]
    tc = make_client(tok)
    assert tc.auth.token.lookup_self()["data"]["id"] == tok
    assert tc.auth.token.lookup_self()["data"]["id"] == tok
    with pytest.raises(exc.Forbidden):
        tc.auth.token.lookup_self()
    # the token was revoked after its last use
    with pytest.raises(exc.Forbidden):
        client.auth.token.lookup(tok)


def test_ttl_expiry(client, make_client, pol):
    tok = client.auth.token.create(policies=[pol], ttl="2s")["auth"]["client_token"]
    tc = make_client(tok)
    assert tc.auth.token.lookup_self()["data"]["ttl"] <= 2
    time.sleep(3)
    with pytest.raises(exc.Forbidden):
        tc.auth.token.lookup_self()
    assert tc.is_authenticated() is False


def test_is_authenticated(client, make_client):
    tok = client.auth.token.create(policies=["default"], ttl="1h")["auth"]["client_token"]
    assert make_client(tok).is_authenticated() is True
    assert make_client("hvs.garbage-" + unique()).is_authenticated() is False
    assert client.is_authenticated() is True
