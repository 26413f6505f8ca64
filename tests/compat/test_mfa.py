"""Login MFA through hvac and raw calls, against OpenBao 2.7 and coffre (the `srv` fixture is
parametrized). TOTP codes are computed here with pyca/cryptography from the enrolment's
otpauth URL, independently of either server."""

from __future__ import annotations

import base64
import time
import urllib.parse

import hvac
import pytest
import requests
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from conftest import root_client as root
from conftest import unique


def code_now(url: str) -> str:
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    secret = query["secret"][0]
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    digits = int(query.get("digits", ["6"])[0])
    period = int(query.get("period", ["30"])[0])
    return TOTP(key, digits, SHA1(), period).generate(time.time()).decode()


@pytest.fixture(scope="module")
def setup(srv):
    """userpass with a user `mia`, a TOTP method enforced on it, and mia enrolled."""
    c = root(srv)
    mount = unique("up")
    c.sys.enable_auth_method("userpass", path=mount)
    accessor = c.sys.list_auth_methods()["data"][f"{mount}/"]["accessor"]
    c.auth.userpass.create_or_update_user("mia", password="pw", mount_point=mount)
    method = c.write_data("identity/mfa/method/totp",
                          data={"issuer": "coffre", "method_name": unique("otp")})["data"]["method_id"]
    c.write_data(f"identity/mfa/login-enforcement/{unique('enf')}",
                 data={"mfa_method_ids": [method], "auth_method_accessors": [accessor]})
    first = requests.post(f"{srv.url}/v1/auth/{mount}/login/mia", json={"password": "pw"},
                          timeout=30).json()
    assert first["auth"]["client_token"] == ""
    entity = c.secrets.identity.lookup_entity(alias_name="mia",
                                              alias_mount_accessor=accessor)["data"]["id"]
    generated = c.write_data("identity/mfa/method/totp/admin-generate",
                             data={"method_id": method, "entity_id": entity})["data"]
    assert generated["url"].startswith("otpauth://totp/")
    assert base64.b64decode(generated["barcode"]).startswith(b"\x89PNG")
    return {"mount": mount, "method": method, "url": generated["url"], "entity": entity,
            "backup": generated.get("backup_codes")}


def login(srv, setup, headers=None) -> requests.Response:
    return requests.post(f"{srv.url}/v1/auth/{setup['mount']}/login/mia",
                         json={"password": "pw"}, headers=headers or {}, timeout=30)


def validate(srv, request_id: str, method: str, code: str) -> requests.Response:
    return requests.post(f"{srv.url}/v1/sys/mfa/validate", timeout=30,
                         json={"mfa_request_id": request_id, "mfa_payload": {method: [code]}})


def test_a_login_waits_for_mfa_then_validates(srv, setup):
    resp = login(srv, setup).json()
    requirement = resp["auth"]["mfa_requirement"]
    assert resp["auth"]["client_token"] == ""
    assert resp["warnings"] and "MFA" in resp["warnings"][0]
    constraints = list(requirement["mfa_constraints"].values())[0]["any"]
    assert constraints[0]["id"] == setup["method"] and constraints[0]["type"] == "totp"
    rid = requirement["mfa_request_id"]
    assert validate(srv, rid, setup["method"], "000000").status_code == 403
    code = code_now(setup["url"])
    ok = validate(srv, rid, setup["method"], code)
    assert ok.status_code == 200, ok.text
    token = ok.json()["auth"]["client_token"]
    assert hvac.Client(url=srv.url, token=token).lookup_token()["data"]["entity_id"] == \
        setup["entity"]
    # The same code again is a replay.
    rid = login(srv, setup).json()["auth"]["mfa_requirement"]["mfa_request_id"]
    assert validate(srv, rid, setup["method"], code).status_code == 403
    assert validate(srv, "not-a-request", setup["method"], code).status_code == 400


def test_enrolling_twice_changes_nothing(srv, setup):
    resp = root(srv).write_data("identity/mfa/method/totp/admin-generate",
                                data={"method_id": setup["method"], "entity_id": setup["entity"]})
    assert resp["data"] is None
    assert "already has a secret" in resp["warnings"][0]


def test_bad_method_settings(srv):
    c = root(srv)
    for body in ({"issuer": "x", "digits": 7}, {"issuer": "x", "algorithm": "MD5"}, {}):
        with pytest.raises(hvac.exceptions.InvalidRequest):
            c.write_data("identity/mfa/method/totp", data=body)


def test_backup_codes_are_coffre_only_and_single_use(srv, setup):
    if srv.name != "coffre":
        assert setup["backup"] is None
        pytest.skip("backup codes go beyond OpenBao")
    codes = setup["backup"]
    assert len(codes) == 10 and len(set(codes)) == 10
    rid = login(srv, setup).json()["auth"]["mfa_requirement"]["mfa_request_id"]
    assert validate(srv, rid, setup["method"], codes[0]).status_code == 200
    rid = login(srv, setup).json()["auth"]["mfa_requirement"]["mfa_request_id"]
    assert validate(srv, rid, setup["method"], codes[0]).status_code == 403
