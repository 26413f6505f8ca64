//! `coffre auth …` and `coffre login` on the real binary against a dev server: enable
//! userpass and AppRole, log in with each (the password from stdin), and use the stored token.

mod common;

use common::dev::{DevServer, coffre, coffre_env};

#[tokio::test]
async fn log_in_with_userpass_and_approle_and_use_the_stored_token() {
    let server = DevServer::start().await;
    let base = server.base.as_str();
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("token");
    let token_file = token_file.to_str().expect("utf-8 path");
    // No token in the environment: commands use the token file.
    let as_user = [("COFFRE_TOKEN", ""), ("COFFRE_TOKEN_FILE", token_file)];

    coffre(base, &["auth", "enable", "userpass"], b"").ok("enable userpass");
    coffre(
        base,
        &["auth", "enable", "--path", "machines", "approle"],
        b"",
    )
    .ok("enable approle");
    let listed = coffre(base, &["auth", "list"], b"").ok("list");
    assert!(
        listed.contains("userpass/") && listed.contains("machines/") && listed.contains("token/"),
        "{listed}"
    );
    coffre(
        base,
        &[
            "auth",
            "tune",
            "userpass",
            "--lockout-threshold",
            "3",
            "--default-lease-ttl",
            "30m",
        ],
        b"",
    )
    .ok("tune");
    let tune = coffre(base, &["read", "sys/auth/userpass/tune"], b"").ok("read tune");
    assert!(
        tune.contains("1800") && tune.contains("user_lockout_threshold"),
        "{tune}"
    );

    coffre(
        base,
        &["policy", "write", "reader", "-"],
        br#"path "secret/*" { capabilities = ["read"] }"#,
    )
    .ok("policy");
    coffre(
        base,
        &[
            "write",
            "auth/userpass/users/alice",
            "password=pw",
            "token_policies=reader",
        ],
        b"",
    )
    .ok("user");

    // The password comes from stdin (a prompt on a terminal).
    let out = coffre_env(
        base,
        &["login", "-method=userpass", "username=alice"],
        b"pw\n",
        &as_user,
    );
    let text = out.ok("login");
    assert!(text.contains("reader"), "{text}");
    let stored = std::fs::read_to_string(token_file).expect("token file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(token_file)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let me = coffre_env(base, &["token", "lookup"], b"", &as_user).ok("lookup");
    assert!(
        me.contains("userpass-alice") && me.contains("auth/userpass/login/alice"),
        "{me}"
    );
    // The reader policy does not allow writing policies.
    let denied = coffre_env(
        base,
        &["policy", "write", "x", "-"],
        b"path \"x\" {}",
        &as_user,
    );
    assert_ne!(denied.code, 0);

    // A wrong password fails and leaves the stored token as it was.
    let bad = coffre_env(
        base,
        &[
            "login",
            "--method",
            "userpass",
            "username=alice",
            "password=no",
        ],
        b"",
        &as_user,
    );
    assert_ne!(bad.code, 0);
    assert!(
        bad.stderr.contains("invalid username or password"),
        "{}",
        bad.stderr
    );
    assert_eq!(
        std::fs::read_to_string(token_file).expect("token file"),
        stored
    );

    // AppRole, printing only the token, not stored.
    coffre(
        base,
        &["write", "auth/machines/role/ci", "token_policies=reader"],
        b"",
    )
    .ok("role");
    let json = |args: &[&str]| -> serde_json::Value {
        let mut all = vec!["--format", "json"];
        all.extend_from_slice(args);
        serde_json::from_str(&coffre(base, &all, b"").ok("json")).expect("json")
    };
    let role_id = json(&["read", "auth/machines/role/ci/role-id"])["data"]["role_id"]
        .as_str()
        .expect("role_id")
        .to_string();
    let v = json(&["write", "auth/machines/role/ci/secret-id", "num_uses=0"]);
    let secret_id = v["data"]["secret_id"].as_str().expect("secret_id");
    let token = coffre_env(
        base,
        &[
            "login",
            "--method",
            "approle",
            "--path",
            "machines",
            "--no-store",
            "--token-only",
            &format!("role_id={role_id}"),
            &format!("secret_id={secret_id}"),
        ],
        b"",
        &as_user,
    )
    .ok("approle login");
    assert!(token.trim().starts_with("hvs."), "{token}");
    assert_eq!(
        std::fs::read_to_string(token_file).expect("token file"),
        stored
    );

    // alice logged in just now: not inactive; an entity that never logged in is.
    coffre(base, &["write", "identity/entity", "name=dormant"], b"").ok("entity");
    let inactive = coffre(base, &["identity", "inactive", "--days", "30"], b"").ok("inactive");
    assert!(
        inactive.contains("dormant") && inactive.contains("never"),
        "{inactive}"
    );
    assert!(!inactive.contains("auth/userpass/alice"), "{inactive}");

    coffre(base, &["auth", "disable", "userpass"], b"").ok("disable");
    let gone = coffre_env(base, &["token", "lookup"], b"", &as_user);
    assert_ne!(gone.code, 0, "a token of a disabled method still works");
}

#[tokio::test]
async fn a_login_with_mfa_asks_for_the_code() {
    let server = DevServer::start().await;
    let base = server.base.as_str();
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("token");
    let token_file = token_file.to_str().expect("utf-8 path");
    let as_user = [("COFFRE_TOKEN", ""), ("COFFRE_TOKEN_FILE", token_file)];
    let json = |args: &[&str]| -> serde_json::Value {
        let mut all = vec!["--format", "json"];
        all.extend_from_slice(args);
        serde_json::from_str(&coffre(base, &all, b"").ok("json")).expect("json")
    };

    coffre(base, &["auth", "enable", "userpass"], b"").ok("enable");
    let accessor = json(&["read", "sys/auth/userpass"])["data"]["accessor"]
        .as_str()
        .expect("accessor")
        .to_string();
    let method = coffre(
        base,
        &["mfa", "create", "--issuer", "coffre", "--name", "otp"],
        b"",
    )
    .ok("create")
    .trim()
    .to_string();
    coffre(
        base,
        &[
            "mfa",
            "enforce",
            "people",
            "--method",
            &method,
            "--auth-accessor",
            &accessor,
        ],
        b"",
    )
    .ok("enforce");
    coffre(
        base,
        &["write", "auth/userpass/users/zoe", "password=pw"],
        b"",
    )
    .ok("user");
    // Not enrolled yet: the login fails at the MFA step (and the entity now exists).
    let refused = coffre_env(
        base,
        &["login", "--method", "userpass", "username=zoe"],
        b"pw\n000000\n",
        &as_user,
    );
    assert_ne!(refused.code, 0);
    let entity = json(&[
        "write",
        "identity/lookup/entity",
        "alias_name=zoe",
        &format!("alias_mount_accessor={accessor}"),
    ])["data"]["id"]
        .as_str()
        .expect("entity")
        .to_string();
    let enrolled = coffre(
        base,
        &["mfa", "enrol", "--method", &method, "--entity", &entity],
        b"",
    )
    .ok("enrol");
    assert!(
        enrolled.contains('█') && enrolled.contains("Backup codes"),
        "{enrolled}"
    );
    let url = enrolled
        .lines()
        .find(|l| l.starts_with("otpauth://"))
        .expect("otpauth url");
    let now = {
        use coffre_core::Clock as _;
        u64::try_from(coffre_core::SystemClock.now_unix_secs()).expect("time")
    };
    let code = totp_rs::Totp::from_url(url)
        .expect("url")
        .generate(now)
        .to_string();
    let stdin = format!("pw\n{code}\n");
    let out = coffre_env(
        base,
        &["login", "--method", "userpass", "username=zoe"],
        stdin.as_bytes(),
        &as_user,
    );
    out.ok("login with MFA");
    let me = coffre_env(base, &["token", "lookup"], b"", &as_user).ok("lookup");
    assert!(me.contains(&entity), "{me}");
}
