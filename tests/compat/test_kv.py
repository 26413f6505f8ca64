"""HVAC-CALLS §2 (KV v1 and KV v2) against a real coffre server."""

from __future__ import annotations

import pytest
import requests
from hvac import exceptions as exc

from conftest import unique

# ---------------------------------------------------------------------------
# KV v1
# ---------------------------------------------------------------------------


def test_kv1_crud(client, kv1_mount):
    kv = client.secrets.kv.v1
    base = unique("v1")
    resp = kv.create_or_update_secret(f"{base}/a", {"user": "u", "pw": "p"}, mount_point=kv1_mount)
    assert isinstance(resp, requests.Response) and resp.status_code == 204

    r = kv.read_secret(f"{base}/a", mount_point=kv1_mount)
    assert r["data"] == {"user": "u", "pw": "p"}
    assert r["lease_duration"] == 2764800  # mount default TTL (768h)
    assert r["renewable"] is False

    # full replace, not merge
    kv.create_or_update_secret(f"{base}/a", {"only": "this"}, mount_point=kv1_mount)
    assert kv.read_secret(f"{base}/a", mount_point=kv1_mount)["data"] == {"only": "this"}

    # hvac method=None: GET first, then PUT/POST
    kv.create_or_update_secret(f"{base}/b", {"n": "1"}, method=None, mount_point=kv1_mount)
    kv.create_or_update_secret(f"{base}/b", {"n": "2"}, method=None, mount_point=kv1_mount)
    assert kv.read_secret(f"{base}/b", mount_point=kv1_mount)["data"] == {"n": "2"}

    kv.create_or_update_secret(f"{base}/dir/c", {"x": "y"}, mount_point=kv1_mount)
    keys = kv.list_secrets(base, mount_point=kv1_mount)["data"]["keys"]
    assert keys == ["a", "b", "dir/"]
    assert f"{base}/" in kv.list_secrets("", mount_point=kv1_mount)["data"]["keys"]

    resp = kv.delete_secret(f"{base}/a", mount_point=kv1_mount)
    assert isinstance(resp, requests.Response) and resp.status_code == 204
    with pytest.raises(exc.InvalidPath):
        kv.read_secret(f"{base}/a", mount_point=kv1_mount)
    assert kv.list_secrets(base, mount_point=kv1_mount)["data"]["keys"] == ["b", "dir/"]


def test_kv1_missing(client, kv1_mount):
    with pytest.raises(exc.InvalidPath):
        client.secrets.kv.v1.read_secret(unique("nope"), mount_point=kv1_mount)
    with pytest.raises(exc.InvalidPath):
        client.secrets.kv.v1.list_secrets(unique("nodir"), mount_point=kv1_mount)


def test_kv1_ttl_key_sets_lease_duration(client, kv1_mount):
    p = unique("ttl")
    client.secrets.kv.v1.create_or_update_secret(p, {"ttl": "1h", "v": "x"}, mount_point=kv1_mount)
    r = client.secrets.kv.v1.read_secret(p, mount_point=kv1_mount)
    assert r["data"] == {"ttl": "1h", "v": "x"}
    assert r["lease_duration"] == 3600


def test_legacy_read_list_write(client, kv1_mount):
    base = unique("legacy")
    resp = client.write_data(f"{kv1_mount}/{base}/foo", data={"a": "b"})
    assert isinstance(resp, requests.Response) and resp.status_code == 204
    assert client.read(f"{kv1_mount}/{base}/foo")["data"] == {"a": "b"}
    # GET ?list=True
    assert client.list(f"{kv1_mount}/{base}")["data"]["keys"] == ["foo"]

    assert client.read(f"{kv1_mount}/{base}/missing") is None
    assert client.list(f"{kv1_mount}/{base}/missing") is None

    client.delete(f"{kv1_mount}/{base}/foo")
    assert client.read(f"{kv1_mount}/{base}/foo") is None
    assert client.list(f"{kv1_mount}/{base}") is None


def test_legacy_read_list_on_kv2(client, kv2_mount):
    assert client.read(f"{kv2_mount}/data/{unique('missing')}") is None
    assert client.list(f"{kv2_mount}/metadata/{unique('missing')}") is None
    p = unique("legacy2")
    client.secrets.kv.v2.create_or_update_secret(f"{p}/x", {"a": "1"}, mount_point=kv2_mount)
    assert client.read(f"{kv2_mount}/data/{p}/x")["data"]["data"] == {"a": "1"}
    assert client.list(f"{kv2_mount}/metadata/{p}")["data"]["keys"] == ["x"]


# ---------------------------------------------------------------------------
# KV v2
# ---------------------------------------------------------------------------


@pytest.fixture
def kv2(client):
    return client.secrets.kv.v2


def test_kv2_write_and_read_versions(kv2, kv2_mount):
    p = unique("app") + "/db"
    w1 = kv2.create_or_update_secret(p, {"u": "x", "p": "y"}, mount_point=kv2_mount)
    assert w1["data"]["version"] == 1
    assert w1["data"]["destroyed"] is False
    assert w1["data"]["deletion_time"] == ""
    assert w1["data"]["created_time"]
    w2 = kv2.create_or_update_secret(p, {"u": "x2"}, mount_point=kv2_mount)
    assert w2["data"]["version"] == 2

    latest = kv2.read_secret_version(p, mount_point=kv2_mount, raise_on_deleted_version=True)
    assert latest["data"]["data"] == {"u": "x2"}
    assert latest["data"]["metadata"]["version"] == 2
    assert latest["data"]["metadata"]["deletion_time"] == ""
    assert latest["data"]["metadata"]["destroyed"] is False
    assert latest["lease_duration"] == 0

    v1 = kv2.read_secret_version(p, version=1, mount_point=kv2_mount, raise_on_deleted_version=True)
    assert v1["data"]["data"] == {"u": "x", "p": "y"}
    assert v1["data"]["metadata"]["version"] == 1

    # read_secret == latest
    assert kv2.read_secret(p, mount_point=kv2_mount)["data"]["data"] == {"u": "x2"}

    # unknown version -> 404
    with pytest.raises(exc.InvalidPath):
        kv2.read_secret_version(p, version=99, mount_point=kv2_mount, raise_on_deleted_version=True)
    with pytest.raises(exc.InvalidPath):
        kv2.read_secret_version(unique("none"), mount_point=kv2_mount, raise_on_deleted_version=True)


def test_kv2_cas(kv2, kv2_mount):
    p = unique("cas")
    w = kv2.create_or_update_secret(p, {"a": "1"}, cas=0, mount_point=kv2_mount)
    assert w["data"]["version"] == 1
    kv2.create_or_update_secret(p, {"a": "2"}, mount_point=kv2_mount)

    with pytest.raises(exc.InvalidRequest) as e:
        kv2.create_or_update_secret(p, {"a": "x"}, cas=1, mount_point=kv2_mount)
    assert "check-and-set" in str(e.value)
    with pytest.raises(exc.InvalidRequest):
        kv2.create_or_update_secret(p, {"a": "x"}, cas=0, mount_point=kv2_mount)

    w = kv2.create_or_update_secret(p, {"a": "3"}, cas=2, mount_point=kv2_mount)
    assert w["data"]["version"] == 3
    r = kv2.read_secret_version(p, mount_point=kv2_mount, raise_on_deleted_version=True)
    assert r["data"]["data"] == {"a": "3"}


def test_kv2_patch(kv2, kv2_mount):
    p = unique("patch")
    kv2.create_or_update_secret(p, {"a": "1", "b": "2"}, mount_point=kv2_mount)
    w = kv2.patch(p, {"b": "20", "c": "3"}, mount_point=kv2_mount)
    assert w["data"]["version"] == 2
    r = kv2.read_secret_version(p, mount_point=kv2_mount, raise_on_deleted_version=True)
    assert r["data"]["data"] == {"a": "1", "b": "20", "c": "3"}

    with pytest.raises(exc.InvalidPath):
        kv2.patch(unique("nothere"), {"a": "1"}, mount_point=kv2_mount)


def test_kv2_list(kv2, kv2_mount):
    base = unique("list")
    for k in ("b", "a", "sub/c", "sub/deeper/d"):
        kv2.create_or_update_secret(f"{base}/{k}", {"k": k}, mount_point=kv2_mount)
    kv2.create_or_update_secret(f"{base}/sub", {"k": "leaf-and-folder"}, mount_point=kv2_mount)

    keys = kv2.list_secrets(base, mount_point=kv2_mount)["data"]["keys"]
    assert keys == ["a", "b", "sub", "sub/"]
    assert kv2.list_secrets(f"{base}/sub", mount_point=kv2_mount)["data"]["keys"] == ["c", "deeper/"]
    root_keys = kv2.list_secrets("", mount_point=kv2_mount)["data"]["keys"]
    assert f"{base}/" in root_keys
    assert all(k.endswith("/") or "/" not in k for k in root_keys)

    with pytest.raises(exc.InvalidPath):
        kv2.list_secrets(unique("empty"), mount_point=kv2_mount)


def test_kv2_delete_undelete_destroy(kv2, kv2_mount):
    p = unique("del")
    kv2.create_or_update_secret(p, {"v": "1"}, mount_point=kv2_mount)
    kv2.create_or_update_secret(p, {"v": "2"}, mount_point=kv2_mount)

    resp = kv2.delete_latest_version_of_secret(p, mount_point=kv2_mount)
    assert isinstance(resp, requests.Response) and resp.status_code == 204

    with pytest.raises(exc.InvalidPath):
        kv2.read_secret_version(p, mount_point=kv2_mount, raise_on_deleted_version=True)
    r = kv2.read_secret_version(p, mount_point=kv2_mount, raise_on_deleted_version=False)
    assert r["data"]["data"] is None
    assert r["data"]["metadata"]["deletion_time"] != ""
    assert r["data"]["metadata"]["version"] == 2
    assert r["data"]["metadata"]["destroyed"] is False

    # v1 untouched
    r1 = kv2.read_secret_version(p, version=1, mount_point=kv2_mount, raise_on_deleted_version=True)
    assert r1["data"]["data"] == {"v": "1"}

    meta = kv2.read_secret_metadata(p, mount_point=kv2_mount)["data"]
    assert meta["current_version"] == 2
    assert meta["versions"]["2"]["deletion_time"] != ""
    assert meta["versions"]["1"]["deletion_time"] == ""

    resp = kv2.undelete_secret_versions(p, versions=[2], mount_point=kv2_mount)
    assert resp.status_code == 204
    r = kv2.read_secret_version(p, mount_point=kv2_mount, raise_on_deleted_version=True)
    assert r["data"]["data"] == {"v": "2"}
    assert r["data"]["metadata"]["deletion_time"] == ""

    # delete specific versions
    resp = kv2.delete_secret_versions(p, versions=[1], mount_point=kv2_mount)
    assert resp.status_code == 204
    r = kv2.read_secret_version(p, version=1, mount_point=kv2_mount, raise_on_deleted_version=False)
    assert r["data"]["data"] is None and r["data"]["metadata"]["deletion_time"] != ""

    # destroy v1 (POST)
    resp = kv2.destroy_secret_versions(p, versions=[1], mount_point=kv2_mount)
    assert isinstance(resp, requests.Response) and resp.status_code == 204
    meta = kv2.read_secret_metadata(p, mount_point=kv2_mount)["data"]
    assert meta["versions"]["1"]["destroyed"] is True
    assert meta["versions"]["2"]["destroyed"] is False
    with pytest.raises(exc.InvalidPath) as e:
        kv2.read_secret_version(p, version=1, mount_point=kv2_mount, raise_on_deleted_version=True)
    # 404 with a normal envelope
    body = e.value.json
    assert body is not None and body["data"]["data"] is None
    assert body["data"]["metadata"]["destroyed"] is True

    # a destroyed version cannot be undeleted
    kv2.undelete_secret_versions(p, versions=[1], mount_point=kv2_mount)
    with pytest.raises(exc.InvalidPath):
        kv2.read_secret_version(p, version=1, mount_point=kv2_mount, raise_on_deleted_version=True)


def test_kv2_metadata(kv2, kv2_mount):
    p = unique("meta")
    for i in range(1, 4):
        kv2.create_or_update_secret(p, {"i": str(i)}, mount_point=kv2_mount)

    meta = kv2.read_secret_metadata(p, mount_point=kv2_mount)["data"]
    assert meta["current_version"] == 3
    assert meta["oldest_version"] in (0, 1)
    assert set(meta["versions"]) == {"1", "2", "3"}
    assert meta["cas_required"] is False
    assert meta["delete_version_after"] == "0s"
    assert isinstance(meta["max_versions"], int)
    assert meta["created_time"] and meta["updated_time"]
    for v in meta["versions"].values():
        assert v["created_time"] and v["deletion_time"] == "" and v["destroyed"] is False

    resp = kv2.update_metadata(
        p, max_versions=2, custom_metadata={"owner": "me", "team": "ops"}, mount_point=kv2_mount
    )
    assert isinstance(resp, requests.Response) and resp.status_code == 204
    meta = kv2.read_secret_metadata(p, mount_point=kv2_mount)["data"]
    assert meta["max_versions"] == 2
    assert meta["custom_metadata"] == {"owner": "me", "team": "ops"}

    kv2.create_or_update_secret(p, {"i": "4"}, mount_point=kv2_mount)
    kv2.create_or_update_secret(p, {"i": "5"}, mount_point=kv2_mount)
    meta = kv2.read_secret_metadata(p, mount_point=kv2_mount)["data"]
    assert meta["current_version"] == 5
    assert set(meta["versions"]) == {"4", "5"}
    assert meta["oldest_version"] == 4
    with pytest.raises(exc.InvalidPath):
        kv2.read_secret_version(p, version=1, mount_point=kv2_mount, raise_on_deleted_version=True)
    v4 = kv2.read_secret_version(p, version=4, mount_point=kv2_mount, raise_on_deleted_version=True)
    assert v4["data"]["data"] == {"i": "4"}
    # custom_metadata is also returned on data reads
    assert v4["data"]["metadata"]["custom_metadata"] == {"owner": "me", "team": "ops"}

    # metadata can be created for a key with no versions
    q = unique("metaonly")
    kv2.update_metadata(q, max_versions=3, mount_point=kv2_mount)
    m = kv2.read_secret_metadata(q, mount_point=kv2_mount)["data"]
    assert m["max_versions"] == 3 and m["current_version"] == 0

    resp = kv2.delete_metadata_and_all_versions(p, mount_point=kv2_mount)
    assert isinstance(resp, requests.Response) and resp.status_code == 204
    with pytest.raises(exc.InvalidPath):
        kv2.read_secret_version(p, mount_point=kv2_mount, raise_on_deleted_version=False)
    with pytest.raises(exc.InvalidPath):
        kv2.read_secret_metadata(p, mount_point=kv2_mount)

    # the key starts from version 1 again
    w = kv2.create_or_update_secret(p, {"i": "new"}, mount_point=kv2_mount)
    assert w["data"]["version"] == 1


def test_kv2_subkeys(client, kv2_mount):
    p = unique("sub")
    client.secrets.kv.v2.create_or_update_secret(
        p, {"a": "1", "b": {"c": "2", "d": {"e": "3"}}, "f": {}}, mount_point=kv2_mount
    )
    if hasattr(client.secrets.kv.v2, "read_secret_subkeys"):  # not in hvac 2.4.0
        r = client.secrets.kv.v2.read_secret_subkeys(p, mount_point=kv2_mount)
    else:
        r = client.adapter.get(f"/v1/{kv2_mount}/subkeys/{p}")
    assert r["data"]["subkeys"] == {"a": None, "b": {"c": None, "d": {"e": None}}, "f": None}
    assert r["data"]["metadata"]["version"] == 1

    r = client.adapter.get(f"/v1/{kv2_mount}/subkeys/{p}", params={"depth": 1})
    assert r["data"]["subkeys"] == {"a": None, "b": None, "f": None}

    with pytest.raises(exc.InvalidPath):
        client.adapter.get(f"/v1/{kv2_mount}/subkeys/{unique('nope')}")


def test_kv2_configure(client):
    m = unique("kvcfg")
    client.sys.enable_secrets_engine(backend_type="kv", path=m, options={"version": "2"})
    kv2 = client.secrets.kv.v2
    resp = kv2.configure(max_versions=5, cas_required=True, mount_point=m)
    assert isinstance(resp, requests.Response) and resp.status_code == 204
    cfg = kv2.read_configuration(mount_point=m)["data"]
    assert cfg["max_versions"] == 5
    assert cfg["cas_required"] is True
    assert cfg["delete_version_after"] == "0s"

    # cas_required on the mount: a write without cas is refused
    with pytest.raises(exc.InvalidRequest):
        kv2.create_or_update_secret("k", {"a": "1"}, mount_point=m)
    assert kv2.create_or_update_secret("k", {"a": "1"}, cas=0, mount_point=m)["data"]["version"] == 1
