"""HVAC-CALLS §1 (system backend) against a real coffre server."""

from __future__ import annotations

import base64
import json
from datetime import datetime

import hvac
import pytest
import requests
from hvac import exceptions as exc

from conftest import unique


def parse_time(s: str) -> datetime:
    assert isinstance(s, str) and s, f"expected an RFC3339 timestamp, got {s!r}"
    return datetime.fromisoformat(s)


# ---------------------------------------------------------------------------
# init / seal status / unseal / seal (fresh server per test)
# ---------------------------------------------------------------------------


def test_init_unseal_reset_seal_unseal(new_server):
    c = new_server.hvac_client()

    assert c.sys.is_initialized() is False
    st = c.sys.read_seal_status()
    assert st["initialized"] is False
    assert st["sealed"] is True

    # HEAD /v1/sys/health on an uninitialized server -> 501
    h = c.sys.read_health_status()
    assert isinstance(h, requests.Response)
    assert h.status_code == 501

    init = c.sys.initialize(secret_shares=5, secret_threshold=3)
    assert set(["keys", "keys_base64", "root_token"]) <= set(init)
    assert len(init["keys"]) == 5 and len(init["keys_base64"]) == 5
    assert len(set(init["keys"])) == 5
    for hexkey, b64key in zip(init["keys"], init["keys_base64"]):
        assert bytes.fromhex(hexkey) == base64.b64decode(b64key)
    root = init["root_token"]
    assert isinstance(root, str) and root

    assert c.sys.is_initialized() is True
    with pytest.raises(exc.InvalidRequest):
        c.sys.initialize(secret_shares=5, secret_threshold=3)

    st = c.sys.read_seal_status()
    assert st["initialized"] is True
    assert st["sealed"] is True
    assert st["t"] == 3 and st["n"] == 5 and st["progress"] == 0
    assert st["type"] == "shamir"
    assert c.sys.is_sealed() is True
    assert c.seal_status["sealed"] is True

    # sealed -> HEAD health 503
    assert c.sys.read_health_status().status_code == 503

    # progress, then reset
    r = c.sys.submit_unseal_key(key=init["keys"][0])
    assert r["sealed"] is True and r["progress"] == 1 and r["t"] == 3
    r = c.sys.submit_unseal_key(key=init["keys"][1])
    assert r["sealed"] is True and r["progress"] == 2
    r = c.sys.submit_unseal_key(reset=True)
    assert r["sealed"] is True and r["progress"] == 0

    # undecodable key -> 400
    with pytest.raises(exc.InvalidRequest):
        c.sys.submit_unseal_key(key="this is not hex nor base64!")

    # a base64 share is accepted as well as hex
    r = c.sys.submit_unseal_key(key=init["keys_base64"][0])
    assert r["sealed"] is True and r["progress"] == 1

    r = c.sys.submit_unseal_keys(init["keys"][1:4])
    assert r["sealed"] is False
    assert r["progress"] == 0
    assert c.sys.is_sealed() is False
    assert c.sys.read_health_status().status_code == 200

    rc = new_server.hvac_client(root)
    assert "sys/" in rc.sys.list_mounted_secrets_engines()["data"]

    # a non-root token (default policy) may not seal
    tok = rc.auth.token.create(policies=["default"], ttl="1h")["auth"]["client_token"]
    with pytest.raises(exc.Forbidden):
        new_server.hvac_client(tok).sys.seal()
    assert c.sys.is_sealed() is False

    # seal
    resp = rc.sys.seal()
    assert isinstance(resp, requests.Response) and resp.status_code == 204
    assert c.sys.is_sealed() is True
    assert c.sys.read_health_status().status_code == 503
    with pytest.raises(exc.VaultDown):
        rc.sys.list_mounted_secrets_engines()

    # unseal again with a different subset of shares
    r = c.sys.submit_unseal_keys(init["keys"][2:5])
    assert r["sealed"] is False
    assert rc.sys.list_mounted_secrets_engines()["data"]["sys/"]["type"] == "system"
    # root token still valid after seal/unseal
    assert rc.auth.token.lookup_self()["data"]["policies"] == ["root"]


# ---------------------------------------------------------------------------
# health / leader
# ---------------------------------------------------------------------------


def test_health_head_default(server, make_client):
    r = make_client(None).sys.read_health_status()
    assert isinstance(r, requests.Response)
    assert r.request.method == "HEAD"
    assert r.status_code == 200


def test_health_get(client):
    r = client.sys.read_health_status(method="GET")
    assert isinstance(r, dict), r
    assert r["initialized"] is True
    assert r["sealed"] is False
    assert r["standby"] is False
    assert isinstance(r["performance_standby"], bool)
    assert isinstance(r["version"], str) and r["version"]
    assert isinstance(r["server_time_utc"], int)

    r = client.sys.read_health_status(method="GET", standby_ok=True)
    assert isinstance(r, dict) and r["sealed"] is False

    # activecode overrides the status of an active node
    r = client.sys.read_health_status(method="GET", active_code=299)
    assert isinstance(r, requests.Response)
    assert r.status_code == 299
    assert r.json()["initialized"] is True


def test_leader_status(client):
    r = client.sys.read_leader_status()
    assert isinstance(r, dict)
    assert isinstance(r["ha_enabled"], bool)
    assert client.ha_status["ha_enabled"] == r["ha_enabled"]


# ---------------------------------------------------------------------------
# secrets engine mounts
# ---------------------------------------------------------------------------

MOUNT_KEYS = {
    "accessor",
    "config",
    "description",
    "external_entropy_access",
    "local",
    "options",
    "seal_wrap",
    "type",
    "uuid",
}


def test_list_mounted_secrets_engines(client):
    mounts = client.sys.list_mounted_secrets_engines()["data"]
    if "secret/" not in mounts:
        resp = client.sys.enable_secrets_engine(
            backend_type="kv", path="secret", options={"version": "2"}
        )
        assert resp.status_code == 204

    r = client.sys.list_mounted_secrets_engines()
    data = r["data"]
    assert data["secret/"]["type"] == "kv"
    assert data["secret/"]["options"] == {"version": "2"}
    # data injected at the top level as well (older hvac code indexes it there)
    assert r["secret/"]["type"] == "kv"
    assert r["secret/"]["options"]["version"] == "2"
    assert r["sys/"]["type"] == "system"
    assert data["sys/"]["type"] == "system"
    assert client.sys.retrieve_mount_option("secret", "version") == "2"

    for path, entry in data.items():
        assert path.endswith("/"), path
        missing = MOUNT_KEYS - set(entry)
        assert not missing, f"mount {path} lacks {missing}"
        for k in ("default_lease_ttl", "max_lease_ttl", "force_no_cache"):
            assert k in entry["config"], f"mount {path} config lacks {k}"


def test_enable_kv_v1_and_v2(client):
    p1, p2 = unique("kvone"), unique("kvtwo")
    r1 = client.sys.enable_secrets_engine(backend_type="kv", path=p1)
    assert isinstance(r1, requests.Response) and r1.status_code == 204
    r2 = client.sys.enable_secrets_engine(backend_type="kv", path=p2, options={"version": "2"})
    assert r2.status_code == 204

    mounts = client.sys.list_mounted_secrets_engines()["data"]
    assert mounts[f"{p1}/"]["type"] == "kv"
    assert (mounts[f"{p1}/"]["options"] or {}).get("version", "1") == "1"
    assert mounts[f"{p2}/"]["type"] == "kv"
    assert mounts[f"{p2}/"]["options"]["version"] == "2"
    assert mounts[f"{p1}/"]["accessor"] != mounts[f"{p2}/"]["accessor"]

    # they behave as v1 / v2
    client.secrets.kv.v1.create_or_update_secret("a", {"x": "1"}, mount_point=p1)
    assert client.secrets.kv.v1.read_secret("a", mount_point=p1)["data"] == {"x": "1"}
    w = client.secrets.kv.v2.create_or_update_secret("a", {"y": "2"}, mount_point=p2)
    assert w["data"]["version"] == 1


def test_read_and_tune_mount_configuration(client):
    p = unique("tune")
    client.sys.enable_secrets_engine(backend_type="kv", path=p)

    r = client.sys.read_mount_configuration(p)
    assert isinstance(r["data"]["default_lease_ttl"], int)
    assert isinstance(r["data"]["max_lease_ttl"], int)
    assert isinstance(r["data"]["force_no_cache"], bool)

    resp = client.sys.tune_mount_configuration(p, default_lease_ttl="1h")
    assert isinstance(resp, requests.Response) and resp.status_code == 204

    r = client.sys.read_mount_configuration(p)
    assert r["data"]["default_lease_ttl"] == 3600
    assert r["default_lease_ttl"] == 3600  # injected at top level

    client.sys.tune_mount_configuration(p, max_lease_ttl="2h")
    r = client.sys.read_mount_configuration(p)
    assert r["data"]["max_lease_ttl"] == 7200
    assert r["data"]["default_lease_ttl"] == 3600

    mounts = client.sys.list_mounted_secrets_engines()["data"]
    assert mounts[f"{p}/"]["config"]["default_lease_ttl"] == 3600
    assert mounts[f"{p}/"]["config"]["max_lease_ttl"] == 7200


def test_disable_secrets_engine(client):
    p = unique("gone")
    client.sys.enable_secrets_engine(backend_type="kv", path=p)
    client.secrets.kv.v1.create_or_update_secret("k", {"a": "b"}, mount_point=p)
    assert f"{p}/" in client.sys.list_mounted_secrets_engines()["data"]

    resp = client.sys.disable_secrets_engine(p)
    assert isinstance(resp, requests.Response) and resp.status_code == 204
    assert f"{p}/" not in client.sys.list_mounted_secrets_engines()["data"]
    # data is gone: no mount -> 404
    with pytest.raises(exc.InvalidPath):
        client.secrets.kv.v1.read_secret("k", mount_point=p)

    # remounting the same path starts empty
    client.sys.enable_secrets_engine(backend_type="kv", path=p)
    with pytest.raises(exc.InvalidPath):
        client.secrets.kv.v1.read_secret("k", mount_point=p)
    client.sys.disable_secrets_engine(p)


def test_enable_conflicting_path_is_400_as_openbao(client):
    p = unique("dup")
    client.sys.enable_secrets_engine(backend_type="kv", path=p)
    with pytest.raises(exc.InvalidRequest) as e:
        client.sys.enable_secrets_engine(backend_type="kv", path=p)
    assert "already in use" in str(e.value)
    raw = requests.post(
        f"{client.url}/v1/sys/mounts/{p}",
        headers={"X-Vault-Token": client.token},
        json={"type": "kv"},
        timeout=10,
    )
    assert raw.status_code == 400
    assert raw.headers["Content-Type"] == "application/json"
    # nested under an existing mount
    with pytest.raises(exc.InvalidRequest):
        client.sys.enable_secrets_engine(backend_type="kv", path=f"{p}/nested")


def test_list_auth_methods(client):
    r = client.sys.list_auth_methods()
    assert r["data"]["token/"]["type"] == "token"
    assert r["token/"]["type"] == "token"  # top-level injection
    assert "accessor" in r["data"]["token/"]


# ---------------------------------------------------------------------------
# barrier key status / rotation
# ---------------------------------------------------------------------------


def test_key_status_and_rotate(client, kv1_mount):
    r = client.sys.get_encryption_key_status()
    d = r["data"]
    assert isinstance(d["term"], int) and d["term"] >= 1
    parse_time(d["install_time"])
    assert isinstance(d["encryptions"], int) and d["encryptions"] >= 0
    assert r["term"] == d["term"]  # top-level injection
    assert client.key_status["term"] == d["term"]

    client.secrets.kv.v1.create_or_update_secret("before-rotate", {"v": "1"}, mount_point=kv1_mount)

    resp = client.sys.rotate_encryption_key()
    assert isinstance(resp, requests.Response) and resp.status_code == 204

    d2 = client.sys.get_encryption_key_status()["data"]
    assert d2["term"] == d["term"] + 1
    assert parse_time(d2["install_time"]) >= parse_time(d["install_time"])

    # data written under the old term is still readable; new writes work
    got = client.secrets.kv.v1.read_secret("before-rotate", mount_point=kv1_mount)
    assert got["data"] == {"v": "1"}
    client.secrets.kv.v1.create_or_update_secret("after-rotate", {"v": "2"}, mount_point=kv1_mount)
    got = client.secrets.kv.v1.read_secret("after-rotate", mount_point=kv1_mount)
    assert got["data"] == {"v": "2"}


# ---------------------------------------------------------------------------
# policies (legacy sys/policy and sys/policies/acl)
# ---------------------------------------------------------------------------

HCL_RL = 'path "secret/data/legacy/*" {\n  capabilities = ["read", "list"]\n}\n'


def test_legacy_policy_hcl_roundtrip(client):
    name = unique("legacy")
    resp = client.sys.create_or_update_policy(name=name, policy=HCL_RL)
    assert isinstance(resp, requests.Response) and resp.status_code == 204

    r = client.sys.read_policy(name)
    assert r["data"]["rules"] == HCL_RL
    assert r["data"]["name"] == name
    assert r["rules"] == HCL_RL  # top-level injection
    assert client.get_policy(name) == HCL_RL

    # visible through the ACL endpoint too (same store)
    assert client.sys.read_acl_policy(name)["data"]["policy"] == HCL_RL

    listed = client.sys.list_policies()
    assert name in listed["data"]["policies"]
    assert "default" in listed["data"]["policies"]
    assert "root" in listed["data"]["policies"]
    assert name in listed["data"]["keys"]
    assert name in listed["policies"]  # top-level injection

    resp = client.sys.delete_policy(name)
    assert isinstance(resp, requests.Response) and resp.status_code == 204
    with pytest.raises(exc.InvalidPath):
        client.sys.read_policy(name)
    assert client.get_policy(name) is None
    assert name not in client.sys.list_policies()["data"]["policies"]


def test_legacy_policy_dict(client, make_client):
    name = unique("dictpol")
    pol = {"path": {f"secret/data/{name}/*": {"capabilities": ["read"]}}}
    resp = client.sys.create_or_update_policy(name=name, policy=pol)
    assert resp.status_code == 204

    rules = client.sys.read_policy(name)["data"]["rules"]
    assert json.loads(rules) == pol

    # the JSON policy is actually parsed and enforced
    tok = client.auth.token.create(policies=[name], ttl="1h")["auth"]["client_token"]
    caps = make_client(tok).sys.get_capabilities(paths=[f"secret/data/{name}/x"])
    assert caps["data"]["capabilities"] == ["read"]


def test_acl_policy_roundtrip(client):
    name = unique("acl")
    resp = client.sys.create_or_update_acl_policy(name=name, policy=HCL_RL)
    assert isinstance(resp, requests.Response) and resp.status_code == 204

    r = client.sys.read_acl_policy(name)
    assert r["data"]["policy"] == HCL_RL
    assert r["data"]["name"] == name

    keys = client.sys.list_acl_policies()["data"]["keys"]
    assert name in keys and "default" in keys and "root" in keys

    # update
    new = 'path "secret/data/other" {\n  capabilities = ["update"]\n}\n'
    client.sys.create_or_update_acl_policy(name=name, policy=new)
    assert client.sys.read_acl_policy(name)["data"]["policy"] == new
    # and the legacy read shows it as `rules`
    assert client.sys.read_policy(name)["data"]["rules"] == new

    resp = client.sys.delete_acl_policy(name)
    assert isinstance(resp, requests.Response) and resp.status_code == 204
    with pytest.raises(exc.InvalidPath):
        client.sys.read_acl_policy(name)
    assert name not in client.sys.list_acl_policies()["data"]["keys"]


@pytest.mark.parametrize(
    "bad",
    [
        'path "secret/*" { capabilities = ["read"',  # truncated HCL
        'path "secret/*" { capabilities = ["fly"] }',  # unknown capability
        'path "secret/*" { bogus_key = true }',  # unknown per-path key
        "",  # empty
    ],
    ids=["truncated", "unknown-capability", "unknown-key", "empty"],
)
def test_malformed_policy_rejected(client, bad):
    name = unique("bad")
    with pytest.raises(exc.InvalidRequest):
        client.sys.create_or_update_acl_policy(name=name, policy=bad)
    with pytest.raises(exc.InvalidRequest):
        client.sys.create_or_update_policy(name=name, policy=bad)
    with pytest.raises(exc.InvalidPath):
        client.sys.read_acl_policy(name)


def test_builtin_policies_protected(client):
    for name in ("default", "root"):
        with pytest.raises(exc.InvalidRequest):
            client.sys.delete_acl_policy(name)
        with pytest.raises(exc.InvalidRequest):
            client.sys.delete_policy(name)
    with pytest.raises(exc.InvalidRequest):
        client.sys.create_or_update_acl_policy(
            name="root", policy='path "x" { capabilities = ["read"] }'
        )
    # default still there and readable
    assert "auth/token/lookup-self" in client.sys.read_acl_policy("default")["data"]["policy"]
    assert "root" in client.sys.list_acl_policies()["data"]["keys"]


# ---------------------------------------------------------------------------
# capabilities
# ---------------------------------------------------------------------------


def test_get_capabilities(client, make_client):
    name = unique("caps")
    client.sys.create_or_update_acl_policy(
        name=name,
        policy=f'path "secret/data/{name}/*" {{\n  capabilities = ["read", "list"]\n}}\n',
    )
    created = client.auth.token.create(policies=[name], ttl="1h")["auth"]
    tok, acc = created["client_token"], created["accessor"]
    path = f"secret/data/{name}/x"
    tc = make_client(tok)

    # self
    r = tc.sys.get_capabilities(paths=[path])
    assert sorted(r["data"]["capabilities"]) == ["list", "read"]
    assert set(r["data"][path]) == {"list", "read"}
    assert set(r["capabilities"]) == {"list", "read"}  # top-level injection

    # token=
    r = client.sys.get_capabilities(paths=[path], token=tok)
    assert sorted(r["data"]["capabilities"]) == ["list", "read"]
    assert set(r["data"][path]) == {"list", "read"}

    # accessor=
    r = client.sys.get_capabilities(paths=[path], accessor=acc)
    assert sorted(r["data"]["capabilities"]) == ["list", "read"]
    assert set(r["data"][path]) == {"list", "read"}

    # unknown path -> deny
    r = tc.sys.get_capabilities(paths=["nothing/granted/here"])
    assert r["data"]["capabilities"] == ["deny"]
    r = client.sys.get_capabilities(paths=["nothing/granted/here"], token=tok)
    assert r["data"]["capabilities"] == ["deny"]

    # root
    r = client.sys.get_capabilities(paths=[path])
    assert r["data"]["capabilities"] == ["root"]
    assert r["data"][path] == ["root"]
