"""Rotation policies of KV v2 secrets through hvac (coffre only: neither OpenBao nor Vault CE
has them). The policy lives in the secret's metadata, so `kv.v2.read_secret_metadata` shows
it and hvac's own metadata updates keep it; a tiny HS256 consumer verifies JWTs signed with
either value during a two-phase rotation's grace."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import hvac
import pytest

from conftest import unique


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(key: str, sub: str) -> str:
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps({"sub": sub}).encode())
    sig = hmac.new(key.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(sig)}"


def verify(token: str, data: dict) -> bool:
    """The consumer: accepts a token signed with the current value or, while one is
    published, the next."""
    signed, _, sig = token.rpartition(".")
    for field in ("value", "next"):
        key = data.get(field)
        if key is None:
            continue
        want = b64url(hmac.new(key.encode(), signed.encode(), hashlib.sha256).digest())
        if hmac.compare_digest(want, sig):
            return True
    return False


def test_metadata_shows_the_policy_and_hvac_updates_keep_it(client: hvac.Client, kv2_mount):
    path = unique("rot")
    kv = client.secrets.kv.v2
    kv.create_or_update_secret(path, secret={"value": "old"}, mount_point=kv2_mount)
    client.adapter.post(
        f"/v1/{kv2_mount}/metadata/{path}",
        json={"rotation": "api-key", "criticality": "high", "owner": "team-a"},
    )
    meta = kv.read_secret_metadata(path, mount_point=kv2_mount)["data"]
    assert meta["rotation"]["preset"] == "api-key"
    assert meta["rotation"]["period"] == "60d"
    assert meta["rotation_status"]["state"] == "ok"
    assert meta["criticality"] == "high"

    kv.update_metadata(path, max_versions=5, custom_metadata={"team": "a"}, mount_point=kv2_mount)
    meta = kv.read_secret_metadata(path, mount_point=kv2_mount)["data"]
    assert meta["max_versions"] == 5
    assert meta["custom_metadata"] == {"team": "a"}
    assert meta["rotation"]["preset"] == "api-key", "hvac's update kept the policy"
    assert meta["owner"] == "team-a"

    rotated = client.write(f"{kv2_mount}/rotate/{path}")["data"]
    assert rotated["rotated"] is True and rotated["version"] == 2
    assert "sk-" not in json.dumps(rotated), "the answer carries no value"
    latest = kv.read_secret_version(path, mount_point=kv2_mount, raise_on_deleted_version=True)
    assert latest["data"]["data"]["value"].startswith("sk-")


def test_bad_policies_are_400_with_the_field(client: hvac.Client, kv2_mount):
    path = unique("rot")
    for rotation, field in [
        ("fortnightly", "preset"),
        ({"period": "1d", "generator": "nope"}, "generator"),
        ({"preset": "jwt-signing", "grace": "40d"}, "grace"),
        ({"preset": "jwt-signing", "validate": "gopher://x"}, "validate"),
    ]:
        with pytest.raises(hvac.exceptions.InvalidRequest) as e:
            client.adapter.post(f"/v1/{kv2_mount}/metadata/{path}", json={"rotation": rotation})
        assert field in str(e.value), e.value
    with pytest.raises(hvac.exceptions.InvalidPath):
        client.secrets.kv.v2.read_secret_metadata(path, mount_point=kv2_mount)


def test_a_jwt_consumer_accepts_both_values_during_the_grace(client: hvac.Client, kv2_mount):
    path = unique("jwt")
    kv = client.secrets.kv.v2
    kv.create_or_update_secret(path, secret={"value": "k1"}, mount_point=kv2_mount)
    client.adapter.post(f"/v1/{kv2_mount}/metadata/{path}", json={"rotation": "jwt-signing"})
    old_token = sign("k1", "alice")

    published = client.write(f"{kv2_mount}/rotate/{path}")["data"]
    assert published["phase"] == "published"
    data = kv.read_secret_version(path, mount_point=kv2_mount)["data"]["data"]
    assert data["value"] == "k1"
    new_token = sign(data["next"], "bob")
    assert verify(old_token, data) and verify(new_token, data)

    client.write(f"{kv2_mount}/promote/{path}")
    data = kv.read_secret_version(path, mount_point=kv2_mount)["data"]["data"]
    assert "next" not in data
    assert verify(new_token, data) and not verify(old_token, data)

    back = client.write(f"{kv2_mount}/rollback/{path}")["data"]
    assert back["restored_version"] == 1
    data = kv.read_secret_version(path, mount_point=kv2_mount)["data"]["data"]
    assert data["value"] == "k1" and verify(old_token, data)

    cal = client.read("sys/rotation/calendar")["data"]
    assert cal["within"] == "30d"
    assert f"{kv2_mount}/{path}" in [e["path"] for e in cal["entries"]]
