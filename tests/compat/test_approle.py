"""AppRole through hvac, against OpenBao 2.7 and coffre (the `srv` fixture is parametrized):
roles, role ids, secret ids (generated, custom, limited in uses, bound to addresses, metadata
sent as JSON text as hvac sends it), lookups, destroys and login."""

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
    path = unique("ar")
    root(srv).sys.enable_auth_method("approle", path=path)
    return path


def login(srv, mount: str, body: dict, source: str = "127.0.0.1") -> tuple[int, dict]:
    url = urllib.parse.urlsplit(srv.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30,
                                      source_address=(source, 0))
    conn.request("POST", f"/v1/auth/{mount}/login", body=json.dumps(body))
    resp = conn.getresponse()
    text = resp.read().decode()
    conn.close()
    return resp.status, (json.loads(text) if text else {})


def test_a_role_logs_in_with_its_role_id_and_a_secret_id(srv, mount):
    c = root(srv)
    c.auth.approle.create_or_update_approle("web", token_policies=["dev"], token_ttl="1h",
                                            mount_point=mount)
    role = c.auth.approle.read_role("web", mount_point=mount)["data"]
    assert role["token_policies"] == ["dev"]
    assert role["bind_secret_id"] is True
    assert role["secret_id_bound_cidrs"] is None
    assert role["token_ttl"] == 3600
    assert "web" in c.auth.approle.list_roles(mount_point=mount)["data"]["keys"]

    role_id = c.auth.approle.read_role_id("web", mount_point=mount)["data"]["role_id"]
    generated = c.auth.approle.generate_secret_id("web", metadata={"env": "prod"},
                                                  mount_point=mount)["data"]
    assert set(generated) >= {"secret_id", "secret_id_accessor", "secret_id_ttl",
                              "secret_id_num_uses"}
    app = hvac.Client(url=srv.url, token="hvs.stale", timeout=30)
    auth = app.auth.approle.login(role_id, generated["secret_id"], mount_point=mount)["auth"]
    assert auth["policies"] == ["default", "dev"]
    assert auth["metadata"] == {"env": "prod", "role_name": "web"}
    assert auth["lease_duration"] == 3600
    me = app.auth.token.lookup_self()["data"]
    assert me["display_name"] == mount
    assert me["path"] == f"auth/{mount}/login"

    looked = c.auth.approle.read_secret_id("web", generated["secret_id"],
                                           mount_point=mount)["data"]
    assert looked["metadata"] == {"env": "prod"}
    assert looked["secret_id_accessor"] == generated["secret_id_accessor"]
    by_accessor = c.auth.approle.read_secret_id_accessor(
        "web", generated["secret_id_accessor"], mount_point=mount)["data"]
    assert by_accessor["metadata"] == {"env": "prod"}
    accessors = c.auth.approle.list_secret_id_accessors("web", mount_point=mount)["data"]["keys"]
    assert generated["secret_id_accessor"] in accessors

    c.auth.approle.destroy_secret_id("web", generated["secret_id"], mount_point=mount)
    status, body = login(srv, mount, {"role_id": role_id, "secret_id": generated["secret_id"]})
    assert (status, body) == (400, {"errors": ["invalid role or secret ID"]})


def test_bad_logins(srv, mount):
    c = root(srv)
    c.auth.approle.create_or_update_approle("bad", token_policies=["dev"], mount_point=mount)
    role_id = c.auth.approle.read_role_id("bad", mount_point=mount)["data"]["role_id"]
    assert login(srv, mount, {"role_id": role_id, "secret_id": "nope"}) == \
        (400, {"errors": ["invalid role or secret ID"]})
    assert login(srv, mount, {"role_id": "nope", "secret_id": "nope"}) == \
        (400, {"errors": ["invalid role or secret ID"]})
    assert login(srv, mount, {"role_id": role_id}) == (400, {"errors": ["missing secret_id"]})
    with pytest.raises(hvac.exceptions.InvalidPath):
        c.auth.approle.generate_secret_id("missing-role", mount_point=mount)


def test_custom_ids_uses_and_cidrs(srv, mount):
    c = root(srv)
    c.auth.approle.create_or_update_approle("batchjob", token_policies=["dev"],
                                            secret_id_num_uses=2, mount_point=mount)
    c.auth.approle.update_role_id("batchjob", "batch-role-id", mount_point=mount)
    assert c.auth.approle.read_role_id("batchjob", mount_point=mount)["data"]["role_id"] == \
        "batch-role-id"
    custom = c.auth.approle.create_custom_secret_id("batchjob", "my-own-secret-id",
                                                    mount_point=mount)["data"]
    assert custom["secret_id"] == "my-own-secret-id"
    assert custom["secret_id_num_uses"] == 2
    body = {"role_id": "batch-role-id", "secret_id": "my-own-secret-id"}
    assert login(srv, mount, body)[0] == 200
    assert login(srv, mount, body)[0] == 200
    assert login(srv, mount, body)[0] == 400  # both uses spent

    bound = c.auth.approle.generate_secret_id("batchjob", cidr_list=["127.0.0.1/32"],
                                              mount_point=mount)["data"]["secret_id"]
    body = {"role_id": "batch-role-id", "secret_id": bound}
    assert login(srv, mount, body, source="127.0.0.2")[0] in (400, 403)
    assert login(srv, mount, body, source="127.0.0.1")[0] == 200


def test_deleting_a_role_ends_its_secret_ids(srv, mount):
    c = root(srv)
    c.auth.approle.create_or_update_approle("temp", token_policies=["dev"], mount_point=mount)
    role_id = c.auth.approle.read_role_id("temp", mount_point=mount)["data"]["role_id"]
    secret = c.auth.approle.generate_secret_id("temp", mount_point=mount)["data"]["secret_id"]
    c.auth.approle.delete_role("temp", mount_point=mount)
    assert login(srv, mount, {"role_id": role_id, "secret_id": secret})[0] == 400
    with pytest.raises(hvac.exceptions.InvalidPath):
        c.auth.approle.read_role("temp", mount_point=mount)


def test_tidy_answers_accepted(srv, mount):
    resp = root(srv).adapter.post(f"/v1/auth/{mount}/tidy/secret-id")
    assert resp.status_code == 202
