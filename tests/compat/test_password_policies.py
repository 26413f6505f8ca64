"""Vault password policies (`sys/policies/password/:name` and `…/generate`) through hvac's
generic calls, against OpenBao 2.7 and coffre (the `srv` fixture is parametrized)."""

from __future__ import annotations

import base64

import hvac
import pytest
import requests

from conftest import root_client as root
from conftest import unique

POLICY = '''length = 20
rule "charset" {
  charset = "abcdefghijklmnopqrstuvwxyz"
  min-chars = 1
}
rule "charset" {
  charset = "0123456789"
  min-chars = 2
}
'''


def test_a_policy_generates_passwords_that_meet_it(srv):
    c = root(srv)
    name = unique("pp")
    c.write_data(f"sys/policies/password/{name}", data={"policy": POLICY})
    assert c.read(f"sys/policies/password/{name}")["data"]["policy"] == POLICY
    assert name in c.list("sys/policies/password")["data"]["keys"]
    seen = set()
    for _ in range(20):
        pw = c.read(f"sys/policies/password/{name}/generate")["data"]["password"]
        assert len(pw) == 20
        assert all(ch.islower() or ch.isdigit() for ch in pw), pw
        assert sum(ch.isdigit() for ch in pw) >= 2, pw
        seen.add(pw)
    assert len(seen) == 20
    c.delete(f"sys/policies/password/{name}")
    # hvac answers a 404 with None.
    assert c.read(f"sys/policies/password/{name}/generate") is None


def test_a_base64_policy_is_accepted(srv):
    c = root(srv)
    name = unique("pp")
    c.write_data(f"sys/policies/password/{name}",
                 data={"policy": base64.b64encode(POLICY.encode()).decode()})
    pw = c.read(f"sys/policies/password/{name}/generate")["data"]["password"]
    assert len(pw) == 20


@pytest.mark.parametrize("policy", [
    'length = 2\nrule "charset" {\n charset = "ab"\n min-chars = 3\n}',
    "length = 3",
    'length = 4000\nrule "charset" {\n charset = "ab"\n}',
    'length = 8\nrule "other" {\n charset = "ab"\n}',
    "nonsense {",
])
def test_bad_policies_are_refused(srv, policy):
    with pytest.raises(hvac.exceptions.InvalidRequest):
        root(srv).write_data(f"sys/policies/password/{unique('bad')}", data={"policy": policy})


def test_a_missing_policy_is_a_404(srv):
    r = requests.get(f"{srv.url}/v1/sys/policies/password/{unique('none')}/generate",
                     headers={"X-Vault-Token": srv.root_token}, timeout=30)
    assert r.status_code == 404
    assert "policy does not exist" in r.text
