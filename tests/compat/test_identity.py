"""Identity through hvac, against OpenBao 2.7 and coffre (the `srv` fixture is parametrized):
entities, aliases, groups and lookups; a userpass login resolving to an entity; a group's
policy reaching a live token at its next request."""

from __future__ import annotations

import hvac
import pytest

from conftest import root_client as root
from conftest import unique


def test_entities_aliases_and_lookups(srv):
    c = root(srv)
    ident = c.secrets.identity
    name = unique("ent")
    created = ident.create_or_update_entity(name, metadata={"team": "blue"},
                                            policies=["p1"])["data"]
    assert created["name"] == name and created["id"]
    entity_id = created["id"]
    # Updating by name keeps the id and answers 204.
    resp = ident.create_or_update_entity(name, policies=["p2"])
    assert getattr(resp, "status_code", 204) == 204
    read = ident.read_entity(entity_id)["data"]
    assert read["policies"] == ["p2"]
    assert read["metadata"] == {"team": "blue"}
    assert read["disabled"] is False
    assert read["namespace_id"] == "root"
    assert ident.read_entity_by_name(name)["data"]["id"] == entity_id
    assert entity_id in ident.list_entities()["data"]["keys"]

    mount = unique("up")
    c.sys.enable_auth_method("userpass", path=mount)
    accessor = c.sys.list_auth_methods()["data"][f"{mount}/"]["accessor"]
    alias = ident.create_or_update_entity_alias("bobby", entity_id, accessor)["data"]
    assert alias["canonical_id"] == entity_id
    got = ident.read_entity_alias(alias["id"])["data"]
    assert got["name"] == "bobby" and got["mount_accessor"] == accessor
    assert got["mount_path"] == f"auth/{mount}/" and got["mount_type"] == "userpass"
    found = ident.lookup_entity(alias_name="bobby", alias_mount_accessor=accessor)["data"]
    assert found["id"] == entity_id
    assert found["aliases"][0]["id"] == alias["id"]
    with pytest.raises(hvac.exceptions.InvalidRequest):
        ident.create_or_update_entity_alias("other", entity_id, accessor)

    # A login through that alias is that entity.
    c.auth.userpass.create_or_update_user("bobby", password="pw", mount_point=mount)
    auth = hvac.Client(url=srv.url).auth.userpass.login("bobby", "pw",
                                                        mount_point=mount)["auth"]
    assert auth["entity_id"] == entity_id
    assert "p2" in auth["policies"]
    assert auth["identity_policies"] == ["p2"]

    ident.delete_entity(entity_id)
    with pytest.raises(hvac.exceptions.InvalidPath):
        ident.read_entity(entity_id)


def test_groups_give_their_policies_to_live_tokens(srv):
    c = root(srv)
    ident = c.secrets.identity
    kv = unique("kv")
    c.sys.enable_secrets_engine("kv", path=kv, options={"version": "1"})
    c.secrets.kv.v1.create_or_update_secret("app", {"v": "1"}, mount_point=kv)
    policy = unique("reader")
    c.sys.create_or_update_policy(policy, f'path "{kv}/*" {{ capabilities = ["read"] }}')

    mount = unique("up")
    c.sys.enable_auth_method("userpass", path=mount)
    c.auth.userpass.create_or_update_user("gus", password="pw", mount_point=mount)
    user = hvac.Client(url=srv.url)
    auth = user.auth.userpass.login("gus", "pw", mount_point=mount)["auth"]
    with pytest.raises(hvac.exceptions.Forbidden):
        user.secrets.kv.v1.read_secret("app", mount_point=kv)

    group = unique("grp")
    made = ident.create_or_update_group(group, member_entity_ids=[auth["entity_id"]])["data"]
    assert made["name"] == group
    ident.create_or_update_group_by_name(group, policies=[policy],
                                         member_entity_ids=[auth["entity_id"]])
    assert user.secrets.kv.v1.read_secret("app", mount_point=kv)["data"] == {"v": "1"}
    read = ident.read_group(made["id"])["data"]
    assert read["policies"] == [policy]
    assert read["member_entity_ids"] == [auth["entity_id"]]
    assert read["type"] == "internal"
    assert ident.read_group_by_name(group)["data"]["id"] == made["id"]
    assert made["id"] in ident.list_groups()["data"]["keys"]
    assert ident.lookup_group(name=group)["data"]["id"] == made["id"]

    ident.delete_group(made["id"])
    with pytest.raises(hvac.exceptions.Forbidden):
        user.secrets.kv.v1.read_secret("app", mount_point=kv)
