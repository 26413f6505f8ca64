"""Shared fixtures for the hvac compatibility suite.

The suite drives a real `coffre server` process with the unmodified `hvac` client.

* `server`      - session-scoped: a server started on a free port with a fresh embedded
                  storage directory, initialized (5 shares / threshold 3) and unsealed via hvac.
* `client`      - the root `hvac.Client` of that server.
* `make_client` - build an `hvac.Client` for the same server with another token.
* `new_server`  - function-scoped: a brand-new, *uninitialized* server (for init/seal tests).
* `kv1_mount` / `kv2_mount` - session mounts `kv1` (KV v1) and `kv2` (KV v2).
* `token_with_policy` - write an ACL policy (HCL) and return an hvac client holding a token
                  that has only that policy (+ default).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import hvac
import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0


def coffre_bin() -> str:
    env = os.environ.get("COFFRE_BIN")
    if env:
        return env
    return str(REPO_ROOT / "target" / "debug" / "coffre")


def free_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def unique(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


class CoffreServer:
    """One `coffre server --config FILE` child process."""

    def __init__(self, extra_config: str = "") -> None:
        # Extra top-level TOML lines (e.g. `allow_api_audit_creation = true`).
        self.extra_config = extra_config
        self.tmpdir = Path(tempfile.mkdtemp(prefix="coffre-compat-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log_path = self.tmpdir / "server.log"
        self._log = None
        self.keys: list[str] = []
        self.keys_base64: list[str] = []
        self.root_token: str | None = None

    # -- process management -------------------------------------------------
    def start(self) -> "CoffreServer":
        binary = coffre_bin()
        if not os.path.exists(binary):
            raise RuntimeError(f"coffre binary not found at {binary} (set COFFRE_BIN)")
        data = self.tmpdir / "data"
        data.mkdir()
        cfg = self.tmpdir / "coffre.toml"
        cfg.write_text(
            f'listen = "127.0.0.1:{self.port}"\n'
            + (self.extra_config.rstrip("\n") + "\n" if self.extra_config else "")
            + "[storage]\n"
            'backend = "embedded"\n'
            f'path = "{data}"\n'
            "[tls]\n"
            "disable = true\n"
        )
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [binary, "server", "--config", str(cfg)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"coffre exited early with code {self.proc.returncode}:\n{self.log()}"
                )
            try:
                r = requests.get(f"{self.url}/v1/sys/seal-status", timeout=2)
                if r.status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"coffre did not answer within {START_TIMEOUT}s:\n{self.log()}")
            time.sleep(0.1)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    # -- hvac helpers ---------------------------------------------------------
    def hvac_client(self, token: str | None = None) -> hvac.Client:
        return hvac.Client(url=self.url, token=token, timeout=30)

    def init_and_unseal(self, shares: int = 5, threshold: int = 3) -> hvac.Client:
        c = self.hvac_client()
        result = c.sys.initialize(secret_shares=shares, secret_threshold=threshold)
        self.keys = result["keys"]
        self.keys_base64 = result["keys_base64"]
        self.root_token = result["root_token"]
        status = c.sys.submit_unseal_keys(self.keys[:threshold])
        assert status["sealed"] is False, status
        c.token = self.root_token
        return c


@pytest.fixture(scope="session")
def server():
    srv = CoffreServer()
    try:
        srv.start()
        srv.init_and_unseal()
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def client(server) -> hvac.Client:
    return server.hvac_client(server.root_token)


@pytest.fixture(scope="session")
def make_client(server):
    """make_client(token) -> hvac.Client for the session server with that token."""

    def _make(token: str | None) -> hvac.Client:
        return server.hvac_client(token)

    return _make


@pytest.fixture
def new_server():
    """A fresh, uninitialized server (function scope)."""
    srv = CoffreServer()
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def kv2_mount(client) -> str:
    mounts = client.sys.list_mounted_secrets_engines()["data"]
    if "kv2/" not in mounts:
        client.sys.enable_secrets_engine(backend_type="kv", path="kv2", options={"version": "2"})
    return "kv2"


@pytest.fixture(scope="session")
def kv1_mount(client) -> str:
    mounts = client.sys.list_mounted_secrets_engines()["data"]
    if "kv1/" not in mounts:
        client.sys.enable_secrets_engine(backend_type="kv", path="kv1", options={"version": "1"})
    return "kv1"


@pytest.fixture
def token_with_policy(client, make_client):
    """token_with_policy(hcl, *more_hcl, **create_kwargs) -> hvac.Client.

    Each HCL text becomes its own ACL policy (unique name); the returned client
    holds a token carrying those policies. The policy names are in `c.policy_names`.
    """

    def _make(*hcls: str, **kwargs) -> hvac.Client:
        names = []
        for hcl in hcls:
            name = unique("pol")
            client.sys.create_or_update_acl_policy(name=name, policy=hcl)
            names.append(name)
        kwargs.setdefault("ttl", "1h")
        tok = client.auth.token.create(policies=names, **kwargs)["auth"]["client_token"]
        c = make_client(tok)
        c.policy_names = names
        return c

    return _make


@pytest.fixture(scope="module", params=["openbao", "coffre"])
def srv(request):
    """The server of a scenario run against both: an OpenBao 2.7 dev server, then coffre in
    the same state (see openbao_support)."""
    # openbao_support imports this module: imported here, not at the top.
    from openbao_support import dev_server

    with dev_server(request.param) as server:
        yield server


def root_client(srv) -> hvac.Client:
    """A client of `srv` with its root token."""
    return hvac.Client(url=srv.url, token=srv.root_token, timeout=30)
