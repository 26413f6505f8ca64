"""SPEC §6: ACL policy enforcement, observed through hvac."""

from __future__ import annotations

import pytest
from hvac import exceptions as exc

from conftest import unique


def rule(path: str, *caps: str) -> str:
    quoted = ", ".join(f'"{c}"' for c in caps)
    return f'path "{path}" {{\n  capabilities = [{quoted}]\n}}\n'


def read(c, path, mount):
    return c.secrets.kv.v2.read_secret_version(path, mount_point=mount, raise_on_deleted_version=True)


def write(c, path, data, mount, cas=None):
    return c.secrets.kv.v2.create_or_update_secret(path, data, cas=cas, mount_point=mount)


def test_read_only_policy(client, kv2_mount, token_with_policy):
    ns = unique("ro")
    write(client, f"app/{ns}", {"v": "1"}, kv2_mount)
    write(client, f"other{ns}", {"v": "1"}, kv2_mount)

    tc = token_with_policy(rule(f"{kv2_mount}/data/app/*", "read"))
    assert read(tc, f"app/{ns}", kv2_mount)["data"]["data"] == {"v": "1"}
    with pytest.raises(exc.Forbidden):
        write(tc, f"app/{ns}", {"v": "2"}, kv2_mount)
    with pytest.raises(exc.Forbidden):
        write(tc, f"app/{ns}-new", {"v": "2"}, kv2_mount)
    with pytest.raises(exc.Forbidden):
        read(tc, f"other{ns}", kv2_mount)
    with pytest.raises(exc.Forbidden):
        tc.secrets.kv.v2.delete_latest_version_of_secret(f"app/{ns}", mount_point=kv2_mount)
    # unchanged
    assert read(client, f"app/{ns}", kv2_mount)["data"]["data"] == {"v": "1"}


def test_plus_matches_exactly_one_segment(client, kv2_mount, token_with_policy):
    ns = unique("plus")
    # kv2/data/<ns>/+/config ; the brief's `kv2/data/+/config` shape, scoped under a unique prefix
    tc = token_with_policy(rule(f"{kv2_mount}/data/{ns}/+/config", "create", "read", "update"))
    w = write(tc, f"{ns}/a/config", {"ok": "1"}, kv2_mount)
    assert w["data"]["version"] == 1
    assert read(tc, f"{ns}/a/config", kv2_mount)["data"]["data"] == {"ok": "1"}
    with pytest.raises(exc.Forbidden):
        write(tc, f"{ns}/a/b/config", {"no": "1"}, kv2_mount)
    with pytest.raises(exc.Forbidden):
        write(tc, f"{ns}/config", {"no": "1"}, kv2_mount)
    with pytest.raises(exc.Forbidden):
        write(tc, f"{ns}/a/configx", {"no": "1"}, kv2_mount)


def test_plus_at_top_level(client, kv2_mount, token_with_policy):
    tc = token_with_policy(rule(f"{kv2_mount}/data/+/config", "read"))
    a = unique("pa")
    write(client, f"{a}/config", {"x": "1"}, kv2_mount)
    write(client, f"{a}/b/config", {"x": "2"}, kv2_mount)
    write(client, "config", {"x": "3"}, kv2_mount)
    assert read(tc, f"{a}/config", kv2_mount)["data"]["data"] == {"x": "1"}
    with pytest.raises(exc.Forbidden):
        read(tc, f"{a}/b/config", kv2_mount)
    with pytest.raises(exc.Forbidden):
        read(tc, "config", kv2_mount)


def test_deny_in_second_policy_wins(client, kv2_mount, token_with_policy):
    ns = unique("deny")
    write(client, f"{ns}/s", {"v": "1"}, kv2_mount)
    write(client, f"{ns}/t", {"v": "1"}, kv2_mount)
    grant = rule(f"{kv2_mount}/data/{ns}/*", "read", "create", "update")
    deny_same = rule(f"{kv2_mount}/data/{ns}/*", "deny")
    tc = token_with_policy(grant, deny_same)
    with pytest.raises(exc.Forbidden):
        read(tc, f"{ns}/s", kv2_mount)
    with pytest.raises(exc.Forbidden):
        write(tc, f"{ns}/s", {"v": "2"}, kv2_mount)

    # deny on a more specific exact path only blocks that path
    tc2 = token_with_policy(grant, rule(f"{kv2_mount}/data/{ns}/s", "deny"))
    with pytest.raises(exc.Forbidden):
        read(tc2, f"{ns}/s", kv2_mount)
    assert read(tc2, f"{ns}/t", kv2_mount)["data"]["data"] == {"v": "1"}

    caps = client.sys.get_capabilities(paths=[f"{kv2_mount}/data/{ns}/s"], token=tc.token)
    assert caps["data"]["capabilities"] == ["deny"]


def test_list_needs_metadata(client, kv2_mount, token_with_policy):
    ns = unique("lst")
    write(client, f"{ns}/a", {"v": "1"}, kv2_mount)
    write(client, f"{ns}/b", {"v": "1"}, kv2_mount)

    data_only = token_with_policy(rule(f"{kv2_mount}/data/{ns}/*", "read", "list"))
    with pytest.raises(exc.Forbidden):
        data_only.secrets.kv.v2.list_secrets(ns, mount_point=kv2_mount)
    assert read(data_only, f"{ns}/a", kv2_mount)["data"]["data"] == {"v": "1"}

    meta = token_with_policy(rule(f"{kv2_mount}/metadata/{ns}/*", "list"), rule(f"{kv2_mount}/metadata/{ns}", "list"))
    keys = meta.secrets.kv.v2.list_secrets(ns, mount_point=kv2_mount)["data"]["keys"]
    assert keys == ["a", "b"]
    # list does not imply read
    with pytest.raises(exc.Forbidden):
        read(meta, f"{ns}/a", kv2_mount)


def test_list_with_metadata_glob(client, kv2_mount, token_with_policy):
    ns = unique("lstglob")
    write(client, f"{ns}/a", {"v": "1"}, kv2_mount)
    tc = token_with_policy(rule(f"{kv2_mount}/metadata/*", "list"))
    assert tc.secrets.kv.v2.list_secrets(ns, mount_point=kv2_mount)["data"]["keys"] == ["a"]


def test_policy_change_applies_immediately(client, kv2_mount, token_with_policy):
    ns = unique("chg")
    write(client, f"{ns}/s", {"v": "1"}, kv2_mount)
    tc = token_with_policy(rule(f"{kv2_mount}/data/{ns}/*", "read"))
    name = tc.policy_names[0]
    assert read(tc, f"{ns}/s", kv2_mount)["data"]["data"] == {"v": "1"}

    # revoke the grant
    client.sys.create_or_update_acl_policy(name=name, policy=rule(f"{kv2_mount}/data/elsewhere/*", "read"))
    with pytest.raises(exc.Forbidden):
        read(tc, f"{ns}/s", kv2_mount)

    # widen it
    client.sys.create_or_update_acl_policy(
        name=name, policy=rule(f"{kv2_mount}/data/{ns}/*", "read", "create", "update")
    )
    assert write(tc, f"{ns}/s", {"v": "2"}, kv2_mount)["data"]["version"] == 2
    assert read(tc, f"{ns}/s", kv2_mount)["data"]["data"] == {"v": "2"}

    # delete the policy entirely
    client.sys.delete_acl_policy(name)
    with pytest.raises(exc.Forbidden):
        read(tc, f"{ns}/s", kv2_mount)
    # token itself still valid (default policy)
    assert tc.is_authenticated() is True


def test_list_accessors_needs_sudo(client, token_with_policy):
    no_sudo = token_with_policy(rule("auth/token/accessors", "list"), rule("auth/token/accessors/*", "list"))
    with pytest.raises(exc.Forbidden):
        no_sudo.auth.token.list_accessors()

    with_sudo = token_with_policy(
        rule("auth/token/accessors", "list", "sudo"), rule("auth/token/accessors/*", "list", "sudo")
    )
    own = with_sudo.auth.token.lookup_self()["data"]["accessor"]
    assert own in with_sudo.auth.token.list_accessors()["data"]["keys"]

    default_only = token_with_policy(rule("nothing/here", "read"))
    with pytest.raises(exc.Forbidden):
        default_only.auth.token.list_accessors()


def test_create_without_update(client, kv2_mount, token_with_policy):
    ns = unique("cvu")
    tc = token_with_policy(rule(f"{kv2_mount}/data/{ns}/*", "create"))
    w = write(tc, f"{ns}/new", {"v": "1"}, kv2_mount)
    assert w["data"]["version"] == 1
    with pytest.raises(exc.Forbidden):
        write(tc, f"{ns}/new", {"v": "2"}, kv2_mount)
    with pytest.raises(exc.Forbidden):
        read(tc, f"{ns}/new", kv2_mount)
    # still version 1
    assert read(client, f"{ns}/new", kv2_mount)["data"]["metadata"]["version"] == 1

    # update-only: cannot create, can overwrite
    tu = token_with_policy(rule(f"{kv2_mount}/data/{ns}/*", "update"))
    with pytest.raises(exc.Forbidden):
        write(tu, f"{ns}/other", {"v": "1"}, kv2_mount)
    assert write(tu, f"{ns}/new", {"v": "2"}, kv2_mount)["data"]["version"] == 2


def test_default_policy_token_cannot_read_kv(client, kv2_mount, make_client):
    ns = unique("dflt")
    write(client, f"{ns}/s", {"v": "1"}, kv2_mount)
    tok = client.auth.token.create(policies=["default"], ttl="1h")["auth"]["client_token"]
    tc = make_client(tok)
    with pytest.raises(exc.Forbidden):
        read(tc, f"{ns}/s", kv2_mount)
    with pytest.raises(exc.Forbidden):
        tc.sys.list_mounted_secrets_engines()
    # but the default policy allows lookup-self and capabilities-self
    assert tc.auth.token.lookup_self()["data"]["id"] == tok
    assert tc.sys.get_capabilities(paths=[f"{kv2_mount}/data/{ns}/s"])["data"]["capabilities"] == ["deny"]


def test_no_token_forbidden(make_client, kv2_mount):
    with pytest.raises(exc.Forbidden):
        make_client(None).secrets.kv.v2.read_secret_version(
            "anything", mount_point=kv2_mount, raise_on_deleted_version=True
        )
