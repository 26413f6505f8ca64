"""Namespaces through hvac: `hvac.Client(namespace=...)` drives KV v2, transit and token calls
inside a tenant. Every test runs against OpenBao 2.7 too (the `srv` fixture is parametrized),
so the assertions are what the reference server does."""

from __future__ import annotations

import base64
import time

import hvac
import pytest

from conftest import unique


def client(srv, namespace: str | None = None, token: str | None = None) -> hvac.Client:
    return hvac.Client(url=srv.url, token=token or srv.root_token, namespace=namespace,
                       timeout=30)


def delete_namespace(c: hvac.Client, name: str) -> None:
    """Deletes `name`, waiting out the deletion of its children (OpenBao deletes in the
    background, and refuses a parent until its children are gone)."""
    for _ in range(100):
        try:
            c.sys.delete_namespace(name)
            return
        except hvac.exceptions.InvalidRequest as e:
            if "child namespaces" not in str(e):
                raise
            time.sleep(0.05)
    c.sys.delete_namespace(name)


@pytest.fixture
def tenant(srv):
    """A fresh namespace with KV v2 at `kv/` and transit at `transit/`; deleted afterwards."""
    name = unique("team")
    root = client(srv)
    root.sys.create_namespace(name)
    c = client(srv, name)
    c.sys.enable_secrets_engine("kv", path="kv", options={"version": "2"})
    c.sys.enable_secrets_engine("transit", path="transit")
    yield name
    c.sys.disable_secrets_engine("kv")
    c.sys.disable_secrets_engine("transit")
    root.sys.delete_namespace(name)


def test_namespace_lifecycle(srv):
    root = client(srv)
    name = unique("ns")
    created = root.sys.create_namespace(name)["data"]
    assert created["path"] == f"{name}/"
    assert len(created["id"]) == 6
    listed = root.sys.list_namespaces()["data"]
    assert f"{name}/" in listed["keys"]
    assert listed["key_info"][f"{name}/"]["id"] == created["id"]
    client(srv, name).sys.create_namespace("child")
    with pytest.raises(hvac.exceptions.InvalidRequest):
        root.sys.delete_namespace(name)  # it has a child
    client(srv, name).sys.delete_namespace("child")
    delete_namespace(root, name)
    for _ in range(100):  # OpenBao finishes the deletion in the background
        try:
            root.adapter.get(f"/v1/sys/namespaces/{name}")
        except hvac.exceptions.InvalidPath:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the deleted namespace is still there")


def test_kv_v2_inside_a_namespace(srv, tenant):
    c = client(srv, tenant)
    c.secrets.kv.v2.create_or_update_secret("app/db", secret={"password": "s3cret"},
                                            mount_point="kv")
    read = c.secrets.kv.v2.read_secret_version("app/db", mount_point="kv",
                                               raise_on_deleted_version=True)
    assert read["data"]["data"] == {"password": "s3cret"}
    assert c.secrets.kv.v2.list_secrets("app", mount_point="kv")["data"]["keys"] == ["db"]
    # The same secret through the path-prefix form, and not in the root namespace.
    prefixed = client(srv).adapter.get(f"/v1/{tenant}/kv/data/app/db")
    assert prefixed["data"]["data"] == {"password": "s3cret"}
    with pytest.raises(hvac.exceptions.InvalidPath):
        client(srv).secrets.kv.v2.read_secret_version("app/db", mount_point="kv",
                                                      raise_on_deleted_version=True)


def test_transit_inside_a_namespace(srv, tenant):
    c = client(srv, tenant)
    c.secrets.transit.create_key("k", mount_point="transit")
    pt = base64.b64encode(b"tenant data").decode()
    ct = c.secrets.transit.encrypt_data("k", pt, mount_point="transit")["data"]["ciphertext"]
    back = c.secrets.transit.decrypt_data("k", ct, mount_point="transit")["data"]["plaintext"]
    assert back == pt
    with pytest.raises(hvac.exceptions.InvalidPath):
        client(srv).secrets.transit.read_key("k", mount_point="transit")


def test_tokens_belong_to_their_namespace(srv, tenant):
    c = client(srv, tenant)
    c.sys.create_or_update_acl_policy("kv-read", 'path "kv/*" { capabilities = ["read"] }')
    created = c.auth.token.create(policies=["kv-read"], ttl="1h")["auth"]
    token = created["client_token"]
    c.secrets.kv.v2.create_or_update_secret("x", secret={"a": "1"}, mount_point="kv")

    mine = client(srv, tenant, token)
    me = mine.auth.token.lookup_self()["data"]
    assert me["namespace_path"] == f"{tenant}/"
    assert sorted(me["policies"]) == ["default", "kv-read"]
    assert mine.secrets.kv.v2.read_secret_version(
        "x", mount_point="kv", raise_on_deleted_version=True)["data"]["data"] == {"a": "1"}
    with pytest.raises(hvac.exceptions.Forbidden):
        mine.secrets.kv.v2.create_or_update_secret("x", secret={"a": "2"}, mount_point="kv")
    # Not a token of the root namespace, nor of another tenant.
    with pytest.raises(hvac.exceptions.Forbidden):
        client(srv, None, token).sys.list_mounted_secrets_engines()
    other = unique("other")
    client(srv).sys.create_namespace(other)
    try:
        with pytest.raises(hvac.exceptions.Forbidden):
            client(srv, other, token).sys.list_mounted_secrets_engines()
    finally:
        client(srv).sys.delete_namespace(other)
    mine.auth.token.revoke_self()
    with pytest.raises(hvac.exceptions.Forbidden):
        mine.auth.token.lookup_self()


def test_a_missing_namespace_is_not_found(srv):
    with pytest.raises(hvac.exceptions.InvalidPath):
        client(srv, "no-such-tenant").sys.list_mounted_secrets_engines()


def test_a_token_made_for_a_namespace_below_is_its_creators_child(srv, tenant):
    root = client(srv)
    name = unique("maker")
    root.sys.create_or_update_acl_policy(
        name, f'path "{tenant}/auth/token/create" {{ capabilities = ["update", "sudo"] }}')
    maker = root.auth.token.create(policies=[name], ttl="1h")["auth"]["client_token"]
    made = client(srv, tenant, maker).auth.token.create(policies=["default"])["auth"]
    assert made["orphan"] is False
    child = client(srv, tenant, made["client_token"])
    assert child.auth.token.lookup_self()["data"]["namespace_path"] == f"{tenant}/"
    with pytest.raises(hvac.exceptions.InvalidRequest):  # never a root token from above
        client(srv, tenant, maker).auth.token.create(policies=["root"])
    root.auth.token.revoke(maker)
    with pytest.raises(hvac.exceptions.Forbidden):
        child.auth.token.lookup_self()
