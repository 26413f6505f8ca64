//! Static roles and root rotation against the machine's real PostgreSQL and MariaDB (SKIPPED
//! without their URLs), on a manual clock: a rotation changes the password and the old one
//! stops working (MariaDB checks passwords; the machine's PostgreSQL trusts local logins, so
//! there only "the new one logs in" is checked); a rotation whose new password does not log in
//! leaves the old one working; two-phase keeps a working user at every instant while a
//! consumer logs in continuously; rotate-root changes the root password and the engine keeps
//! working.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use coffre_core::{ErrorKind, Operation};
use common::db_fx::{Db, Fx, db};
use serde_json::{Value, json};

fn suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

impl Fx {
    /// (username, password) of static role `name`.
    async fn static_creds(&self, name: &str) -> (String, String) {
        let data = self
            .ok(
                Operation::Read,
                &format!("database/static-creds/{name}"),
                json!({}),
            )
            .await
            .and_then(|r| r.data)
            .expect("static creds");
        (
            data["username"].as_str().expect("username").to_string(),
            data["password"].as_str().expect("password").to_string(),
        )
    }
}

async fn static_roles(db: Db) {
    let fx = Fx::new(&db).await;
    let user = format!("coffre_s_{}", suffix());
    db.create_user(&user, "initial-Pw1").await;
    fx.ok(
        Operation::Update,
        "database/config/db",
        json!({"allowed_roles": ["app", "bad", "s", "t", "bad-static"]}),
    )
    .await;

    // Creating the role rotates at once: coffre owns the password from then on.
    fx.ok(
        Operation::Update,
        "database/static-roles/s",
        json!({"db_name": "db", "username": user, "rotation": {"period": "1h"}}),
    )
    .await;
    let (u, p1) = fx.static_creds("s").await;
    assert_eq!(u, user);
    assert!(db.logs_in(&user, &p1).await, "the rotated password logs in");
    if db.checks_passwords() {
        assert!(
            !db.logs_in(&user, "initial-Pw1").await,
            "the old one does not"
        );
    }
    let role = fx
        .ok(Operation::Read, "database/static-roles/s", json!({}))
        .await
        .and_then(|r| r.data)
        .expect("role");
    assert_eq!(role["rotation_period"], 3600);
    assert!(
        !Value::Object(role).to_string().contains(&p1),
        "no password in a role read"
    );

    // The role is in the rotation calendar, due in an hour.
    let calendar = fx
        .ok(
            Operation::Read,
            "sys/rotation/calendar",
            json!({"within": "2h"}),
        )
        .await
        .and_then(|r| r.data)
        .expect("calendar");
    let entry = calendar["entries"]
        .as_array()
        .and_then(|es| es.iter().find(|e| e["path"] == "database/static-roles/s"))
        .cloned()
        .expect("the static role is in the calendar");
    assert_eq!(entry["state"], "ok");
    assert_eq!(entry["strategy"], "replace");
    assert_eq!(entry["due_unix"], 1_800_000_000 + 3_600);

    // By hand, and on schedule.
    fx.ok(Operation::Update, "database/rotate-role/s", json!({}))
        .await;
    let (_, p2) = fx.static_creds("s").await;
    assert_ne!(p1, p2);
    assert!(db.logs_in(&user, &p2).await);
    if db.checks_passwords() {
        assert!(!db.logs_in(&user, &p1).await);
    }
    fx.clock.advance_secs(3_601);
    fx.core.run_jobs().await.expect("jobs");
    let (_, p3) = fx.static_creds("s").await;
    assert_ne!(p2, p3, "the job rotated it when due");
    assert!(db.logs_in(&user, &p3).await);
    fx.core.run_jobs().await.expect("jobs");
    assert_eq!(fx.static_creds("s").await.1, p3, "once per due time");
    // Creation, by hand, on schedule: each one a rotation.rotated event.
    assert_eq!(fx.audited("rotation.rotated", "database/static-roles/s"), 3);

    // A rotation whose new password does not log in leaves the old one working.
    if db.checks_passwords() {
        fx.ok(
            Operation::Update,
            "database/static-roles/s",
            json!({"rotation_statements": ["SELECT 1"]}),
        )
        .await;
        let err = fx
            .call_as(
                &fx.root,
                Operation::Update,
                "database/rotate-role/s",
                json!({}),
            )
            .await
            .expect_err("a password that does not log in");
        assert!(err.to_string().contains("does not log in"), "{err}");
        assert!(err.to_string().contains("unchanged"), "{err}");
        assert_eq!(fx.static_creds("s").await.1, p3);
        assert!(db.logs_in(&user, &p3).await, "the old password still works");
        assert_eq!(fx.audited("rotation.failed", "database/static-roles/s"), 1);

        // Statements that do change the password, to something else than the new one: the
        // old password is set back (by the plugin's own statement, since the role's set a
        // fixed one), and the fixed one does not log in.
        let fixed = "Fixed-Not-The-New-9";
        fx.ok(
            Operation::Update,
            "database/static-roles/s",
            json!({"rotation_statements": [format!("ALTER USER '{{{{name}}}}'@'%' IDENTIFIED BY '{fixed}'")]}),
        )
        .await;
        let err = fx
            .call_as(
                &fx.root,
                Operation::Update,
                "database/rotate-role/s",
                json!({}),
            )
            .await
            .expect_err("a password that does not log in");
        assert!(err.to_string().contains("unchanged"), "{err}");
        assert!(
            db.logs_in(&user, &p3).await,
            "the old password was set back"
        );
        assert!(
            !db.logs_in(&user, fixed).await,
            "the statements' password is gone"
        );
        assert_eq!(fx.audited("rotation.failed", "database/static-roles/s"), 2);
        fx.ok(
            Operation::Update,
            "database/static-roles/s",
            json!({"rotation_statements": []}),
        )
        .await;
    }

    // On a cron schedule (UTC): due at the next midnight, rotated then by the job.
    fx.ok(
        Operation::Update,
        "database/static-roles/s",
        json!({"rotation_schedule": "0 0 * * *", "rotation_window": "1h", "rotation_statements": []}),
    )
    .await;
    let before = fx.static_creds("s").await.1;
    let creds = fx
        .ok(Operation::Read, "database/static-creds/s", json!({}))
        .await
        .and_then(|r| r.data)
        .expect("creds");
    assert_eq!(creds["rotation_schedule"], "0 0 * * *");
    let ttl = creds["ttl"].as_i64().expect("ttl");
    assert!(ttl > 0 && ttl <= 86_400, "{ttl}");
    fx.clock.advance_secs(ttl + 10);
    fx.core.run_jobs().await.expect("jobs");
    let after = fx.static_creds("s").await.1;
    assert_ne!(before, after, "rotated at its scheduled time");
    assert!(db.logs_in(&user, &after).await);

    // Bad input, nothing stored.
    for (body, field) in [
        (
            json!({"db_name": "db", "username": user, "rotation_period": "1h", "strategy": "blue"}),
            "strategy",
        ),
        (
            json!({"db_name": "db", "username": "x'; DROP", "rotation_period": "1h"}),
            "username",
        ),
        (
            json!({"db_name": "nope", "username": user, "rotation_period": "1h"}),
            "db_name",
        ),
        (
            json!({"db_name": "db", "username": user, "rotation_period": "1s"}),
            "rotation_period",
        ),
        (
            json!({"db_name": "db", "username": user, "rotation_schedule": "61 * * * *"}),
            "rotation_schedule",
        ),
        (
            json!({"db_name": "db", "username": user, "rotation_period": "1h", "rotation_window": "2h"}),
            "rotation_window",
        ),
        (
            json!({"db_name": "db", "username": user, "rotation_period": "1h", "strategy": "two-phase", "secondary_username": "other", "grace": "2h"}),
            "grace",
        ),
    ] {
        let err = fx
            .call_as(
                &fx.root,
                Operation::Update,
                "database/static-roles/bad-static",
                body.clone(),
            )
            .await
            .expect_err(&format!("refused: {body}"));
        assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{body}");
        assert!(err.to_string().contains(field), "{body}: {err}");
    }
    assert!(
        fx.ok(
            Operation::Read,
            "database/static-roles/bad-static",
            json!({})
        )
        .await
        .is_none()
    );
}

/// Two users in turn: a consumer that reads the credentials and logs in, over and over, never
/// fails while the role rotates three times.
async fn two_phase_keeps_a_working_user(db: Db) {
    let fx = Fx::new(&db).await;
    let (a, b) = (
        format!("coffre_a_{}", suffix()),
        format!("coffre_b_{}", suffix()),
    );
    db.create_user(&a, "start-A1").await;
    db.create_user(&b, "start-B1").await;
    fx.ok(
        Operation::Update,
        "database/config/db",
        json!({"allowed_roles": ["t"]}),
    )
    .await;
    fx.ok(
        Operation::Update,
        "database/static-roles/t",
        json!({
            "db_name": "db", "username": a, "secondary_username": b,
            "strategy": "two-phase", "rotation_period": "1d", "grace": "1h",
        }),
    )
    .await;
    let stop = AtomicBool::new(false);
    let logins = AtomicUsize::new(0);
    let failures = AtomicUsize::new(0);
    let consumer = async {
        while !stop.load(Ordering::Relaxed) {
            let (u, p) = fx.static_creds("t").await;
            if !db.logs_in(&u, &p).await {
                failures.fetch_add(1, Ordering::Relaxed);
            }
            logins.fetch_add(1, Ordering::Relaxed);
        }
    };
    let rotations = async {
        let logins = &logins;
        let wait_for_logins = |n: usize| {
            let target = logins.load(Ordering::Relaxed) + n;
            async move {
                while logins.load(Ordering::Relaxed) < target {
                    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                }
            }
        };
        let mut seen = Vec::new();
        for _ in 0..3 {
            wait_for_logins(10).await;
            let (before_user, before_pw) = fx.static_creds("t").await;
            // While the previous user is in its grace, rotating by hand is refused.
            fx.ok(Operation::Update, "database/rotate-role/t", json!({}))
                .await;
            let err = fx
                .call_as(
                    &fx.root,
                    Operation::Update,
                    "database/rotate-role/t",
                    json!({}),
                )
                .await
                .expect_err("in grace");
            assert!(err.to_string().contains("grace"), "{err}");
            let (now_user, _) = fx.static_creds("t").await;
            assert_ne!(before_user, now_user, "the other user became current");
            assert!(
                db.logs_in(&before_user, &before_pw).await,
                "the previous user works in its grace"
            );
            // Consumers move to the new user; then the grace ends and the previous is retired.
            wait_for_logins(10).await;
            fx.clock.advance_secs(3_601);
            fx.core.run_jobs().await.expect("jobs");
            if db.checks_passwords() {
                assert!(
                    !db.logs_in(&before_user, &before_pw).await,
                    "the previous user is retired after its grace"
                );
            }
            seen.push(now_user);
        }
        stop.store(true, Ordering::Relaxed);
        seen
    };
    let ((), seen) = tokio::join!(consumer, rotations);
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "a login failed during the rotations"
    );
    assert!(logins.load(Ordering::Relaxed) >= 60);
    assert_eq!(
        seen,
        [a.clone(), b.clone(), a.clone()],
        "the users alternate"
    );
}

/// rotate-root: the configuration's own user gets a password only coffre knows, and the
/// engine keeps working with it.
async fn rotate_root(db: Db) {
    let fx = Fx::new(&db).await;
    let admin = format!("coffre_adm_{}", suffix());
    db.create_user(&admin, "admin-Pw1").await;
    match db.kind {
        coffre_dbplugin::Kind::Mysql => {
            db.admin(&format!(
                "GRANT ALL PRIVILEGES ON *.* TO '{admin}'@'%' WITH GRANT OPTION"
            ))
            .await;
        }
        coffre_dbplugin::Kind::Postgres => {
            db.admin(&format!("ALTER ROLE \"{admin}\" CREATEROLE"))
                .await;
        }
    }
    fx.ok(
        Operation::Update,
        "database/config/adm",
        json!({
            "plugin_name": db.plugin, "connection_url": db.url,
            "username": admin, "password": "admin-Pw1", "allowed_roles": ["app2"],
        }),
    )
    .await;
    fx.ok(
        Operation::Update,
        "database/roles/app2",
        json!({"db_name": "adm", "creation_statements": db.creation.replace("GRANT SELECT ON test.* TO '{{name}}'@'%';", "")}),
    )
    .await;
    fx.ok(Operation::Update, "database/rotate-root/adm", json!({}))
        .await;
    if db.checks_passwords() {
        assert!(
            !db.logs_in(&admin, "admin-Pw1").await,
            "the old root password is gone"
        );
    }
    let creds = fx
        .ok(Operation::Read, "database/creds/app2", json!({}))
        .await
        .and_then(|r| r.data)
        .expect("creds through the rotated root");
    assert!(
        db.logs_in(
            creds["username"].as_str().expect("u"),
            creds["password"].as_str().expect("p")
        )
        .await
    );
    let config = fx
        .ok(Operation::Read, "database/config/adm", json!({}))
        .await
        .and_then(|r| r.data)
        .expect("config");
    assert!(!Value::Object(config).to_string().contains("admin-Pw1"));
    match db.kind {
        coffre_dbplugin::Kind::Mysql => {
            db.admin(&format!("DROP USER IF EXISTS '{admin}'@'%'"))
                .await
        }
        coffre_dbplugin::Kind::Postgres => {}
    }
}

#[tokio::test]
async fn mysql_static_roles() {
    if let Some(db) = db("COFFRE_TEST_MYSQL_URL", "mysql_static_roles") {
        static_roles(db).await;
    }
}

#[tokio::test]
async fn postgres_static_roles() {
    if let Some(db) = db("COFFRE_TEST_POSTGRES_URL", "postgres_static_roles") {
        static_roles(db).await;
    }
}

#[tokio::test]
async fn mysql_two_phase_keeps_a_working_user() {
    if let Some(db) = db(
        "COFFRE_TEST_MYSQL_URL",
        "mysql_two_phase_keeps_a_working_user",
    ) {
        two_phase_keeps_a_working_user(db).await;
    }
}

#[tokio::test]
async fn postgres_two_phase_keeps_a_working_user() {
    if let Some(db) = db(
        "COFFRE_TEST_POSTGRES_URL",
        "postgres_two_phase_keeps_a_working_user",
    ) {
        two_phase_keeps_a_working_user(db).await;
    }
}

#[tokio::test]
async fn mysql_rotate_root() {
    if let Some(db) = db("COFFRE_TEST_MYSQL_URL", "mysql_rotate_root") {
        rotate_root(db).await;
    }
}

#[tokio::test]
async fn postgres_rotate_root() {
    if let Some(db) = db("COFFRE_TEST_POSTGRES_URL", "postgres_rotate_root") {
        rotate_root(db).await;
    }
}
