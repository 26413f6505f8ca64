//! The PostgreSQL backend against the machine's PostgreSQL (`COFFRE_TEST_POSTGRES_URL`, set by
//! scripts/test.sh; SKIPPED without it): the conformance suite every backend passes, its
//! schema version check, and durability across a new connection pool. Each test works in a
//! schema of its own, dropped at the end.

use std::time::Duration;

use coffre_storage::{Backend, PostgresBackend, PostgresConfig};

fn url(test: &str) -> Option<String> {
    match std::env::var("COFFRE_TEST_POSTGRES_URL") {
        Ok(u) => Some(u),
        Err(_) => {
            eprintln!(
                "SKIPPED {test}: COFFRE_TEST_POSTGRES_URL is not set (scripts/test.sh sets it when PostgreSQL is up)"
            );
            None
        }
    }
}

fn config(url: &str, schema: &str) -> PostgresConfig {
    PostgresConfig {
        url: url.to_string(),
        pool_size: 4,
        connect_timeout: Duration::from_secs(5),
        schema: Some(schema.to_string()),
        tls: Default::default(),
    }
}

fn schema_name() -> String {
    format!("coffre_t_{}", uuid_like())
}

/// A name part unique to this process and call (std's randomly keyed hasher).
fn uuid_like() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

/// Drops the test's schema through a backend of its own (a statement the trait does not have:
/// a raw client).
async fn drop_schema(url: &str, schema: &str) {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .await
        .expect("drop schema");
}

#[tokio::test]
async fn postgres_conformance() {
    let Some(url) = url("postgres_conformance") else {
        return;
    };
    let schema = schema_name();
    let b = PostgresBackend::open(&config(&url, &schema))
        .await
        .expect("open");
    assert_eq!(b.kind(), "postgresql");
    coffre_storage::testing::conformance(&b).await;
    drop(b);
    drop_schema(&url, &schema).await;
}

#[tokio::test]
async fn writes_survive_a_new_pool_and_a_newer_schema_is_refused() {
    let Some(url) = url("writes_survive_a_new_pool_and_a_newer_schema_is_refused") else {
        return;
    };
    let schema = schema_name();
    {
        let b = PostgresBackend::open(&config(&url, &schema))
            .await
            .expect("open");
        b.put("core/a", b"1".to_vec()).await.expect("put");
        b.batch(vec![
            coffre_storage::Op::Put("core/b".into(), vec![0, 255]),
            coffre_storage::Op::Delete("core/a".into()),
        ])
        .await
        .expect("batch");
    }
    // A second open (another node, or a restart) sees what was acknowledged and migrates
    // nothing twice.
    let b = PostgresBackend::open(&config(&url, &schema))
        .await
        .expect("reopen");
    assert_eq!(b.get("core/a").await.expect("get"), None);
    assert_eq!(b.get("core/b").await.expect("get"), Some(vec![0, 255]));
    drop(b);
    // A schema written by a newer build is refused, with the reason.
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    client
        .batch_execute(&format!(
            "INSERT INTO \"{schema}\".coffre_schema (version) VALUES (99)"
        ))
        .await
        .expect("bump");
    let err = PostgresBackend::open(&config(&url, &schema))
        .await
        .expect_err("newer schema");
    assert!(err.to_string().contains("newer than this build"), "{err}");
    drop_schema(&url, &schema).await;
}

#[tokio::test]
async fn a_bad_url_or_an_unreachable_database_is_a_clear_error() {
    let err = PostgresBackend::open(&PostgresConfig {
        url: "postgresql://coffre@127.0.0.1:1/nothing".into(),
        pool_size: 1,
        connect_timeout: Duration::from_secs(2),
        schema: None,
        tls: Default::default(),
    })
    .await
    .expect_err("unreachable");
    assert!(err.to_string().contains("PostgreSQL"), "{err}");
    let err = PostgresBackend::open(&PostgresConfig {
        url: "not a url at all ===".into(),
        pool_size: 1,
        connect_timeout: Duration::from_secs(2),
        schema: None,
        tls: Default::default(),
    })
    .await
    .expect_err("bad url");
    assert!(err.to_string().contains("invalid url"), "{err}");
}

async fn until(what: &str, limit: Duration, cond: impl Fn() -> bool) -> Duration {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    start.elapsed()
}

fn node(id: &str) -> coffre_storage::NodeInfo {
    coffre_storage::NodeInfo {
        node_id: id.to_string(),
        api_addr: format!("http://{id}.test:8200"),
        version: "test".to_string(),
    }
}

/// Two nodes compete for leadership: exactly one leads and only it can write; when it goes,
/// the other takes over within 5 s; when the database ends the leader's session, it steps
/// down (its writes refused) and takes the lead again once it can. The standby hears of every
/// key the leader writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_at_a_time_fenced_writes_and_a_takeover_within_five_seconds() {
    let Some(url) = url("one_leader_at_a_time_fenced_writes_and_a_takeover_within_five_seconds")
    else {
        return;
    };
    let schema = schema_name();
    let open = || async {
        std::sync::Arc::new(
            PostgresBackend::open(&config(&url, &schema))
                .await
                .expect("open"),
        )
    };
    let (store_a, store_b) = (open().await, open().await);
    let (a, feed_a) = store_a.start_ha(node("a"));
    let (b, feed_b) = store_b.start_ha(node("b"));
    until("a leader", Duration::from_secs(5), || {
        a.is_active() || b.is_active()
    })
    .await;
    for _ in 0..40 {
        assert!(!(a.is_active() && b.is_active()), "two leaders at once");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (leader, follower, leader_store, follower_store, mut feed) = if a.is_active() {
        (a, b, store_a, store_b, feed_b)
    } else {
        (b, a, store_b, store_a, feed_a)
    };
    // Only the leader writes; the follower is refused before anything is written.
    leader_store
        .put("core/x", b"1".to_vec())
        .await
        .expect("the leader writes");
    let refused = follower_store.put("core/y", b"2".to_vec()).await;
    assert!(
        matches!(refused, Err(coffre_storage::StorageError::Standby)),
        "{refused:?}"
    );
    assert!(matches!(
        follower_store
            .compare_and_swap("core/y", None, Some(vec![1]))
            .await,
        Err(coffre_storage::StorageError::Standby)
    ));
    assert_eq!(follower_store.get("core/y").await.expect("get"), None);
    assert_eq!(
        follower_store.get("core/x").await.expect("get"),
        Some(b"1".to_vec()),
        "the follower reads what the leader wrote"
    );
    // The follower's feed names the key (after the Everything of its connection).
    let heard = tokio::time::timeout(Duration::from_secs(3), async {
        while let Some(change) = feed.recv().await {
            if change == coffre_storage::Change::Keys(vec!["core/x".to_string()]) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(heard, Ok(true), "the standby heard of core/x");
    let members = follower.members().await.expect("members");
    assert_eq!(
        members
            .iter()
            .map(|m| m.node_id.as_str())
            .collect::<Vec<_>>(),
        ["a", "b"]
    );
    until("the leader's address", Duration::from_secs(3), || {
        follower
            .leader()
            .is_some_and(|l| l.node_id == leader.node().node_id)
    })
    .await;

    let first_term = follower.leader().map(|l| l.term).unwrap_or(0);
    drop(leader);
    let took = until("the takeover", Duration::from_secs(5), || {
        follower.is_active()
    })
    .await;
    eprintln!("takeover after the leader left: {took:?}");
    // The deposed leader's backend is fenced off; the new one writes.
    assert!(matches!(
        leader_store.put("core/z", b"3".to_vec()).await,
        Err(coffre_storage::StorageError::Standby)
    ));
    follower_store
        .put("core/z", b"4".to_vec())
        .await
        .expect("the new leader writes");
    until("the new term", Duration::from_secs(3), || {
        follower.leader().is_some_and(|l| l.term > first_term)
    })
    .await;

    // The database ends the leader's session (as a restart or a partition would).
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let killed = client
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory' \
             AND ((classid::bigint << 32) | objid::bigint) = $1",
            &[&follower_store.election_key()],
        )
        .await
        .expect("terminate");
    assert_eq!(killed.get::<_, i64>(0), 1, "one session held the lock");
    until("the leader steps down", Duration::from_secs(3), || {
        !follower.is_active()
    })
    .await;
    until("the leadership comes back", Duration::from_secs(5), || {
        follower.is_active()
    })
    .await;
    drop(follower);
    drop_schema(&url, &schema).await;
}

/// The machine's server certificate, when the database has TLS on and its certificate file
/// can be read here (the test runs on the database's machine); None, with a visible SKIPPED
/// line, otherwise.
async fn server_certificate(url: &str, test: &str) -> Option<std::path::PathBuf> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let show = |what: &'static str| {
        let client = &client;
        async move {
            let row = client.query_one(what, &[]).await.expect(what);
            row.get::<_, String>(0)
        }
    };
    if show("SHOW ssl").await != "on" {
        eprintln!("SKIPPED {test}: the database has ssl = off");
        return None;
    }
    let path = std::path::PathBuf::from(show("SHOW ssl_cert_file").await);
    if std::fs::read(&path).is_err() {
        eprintln!(
            "SKIPPED {test}: cannot read the server certificate {}",
            path.display()
        );
        return None;
    }
    Some(path)
}

/// Whether every session of `application` is encrypted, and how many there are.
async fn sessions_encrypted(url: &str, application: &str) -> (bool, i64) {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let row = client
        .query_one(
            "SELECT coalesce(bool_and(s.ssl), false), count(*) FROM pg_stat_ssl s \
             JOIN pg_stat_activity a USING (pid) WHERE a.application_name = $1",
            &[&application],
        )
        .await
        .expect("pg_stat_ssl");
    (row.get(0), row.get(1))
}

/// `url` with `host` instead of its host and an `application_name` to find its sessions by.
fn tls_url(url: &str, host: &str, application: &str) -> String {
    let with_host = url.replacen("127.0.0.1", host, 1);
    let sep = if with_host.contains('?') { '&' } else { '?' };
    format!("{with_host}{sep}application_name={application}")
}

#[tokio::test]
async fn tls_modes_encrypt_and_check_the_certificate_as_libpq() {
    use coffre_storage::{PgTls, TlsMode};
    let test = "tls_modes_encrypt_and_check_the_certificate_as_libpq";
    let Some(url) = url(test) else { return };
    let Some(cert) = server_certificate(&url, test).await else {
        return;
    };
    let schema = schema_name();
    let open = |host: &str, mode: TlsMode, ca: Option<std::path::PathBuf>| {
        let application = format!("coffre_tls_{}", uuid_like());
        let cfg = PostgresConfig {
            tls: PgTls {
                mode,
                ca_file: ca,
                client_cert: None,
            },
            ..config(&tls_url(&url, host, &application), &schema)
        };
        async move { (PostgresBackend::open(&cfg).await, application) }
    };

    // require: encrypted, certificate unchecked.
    let (b, app) = open("127.0.0.1", TlsMode::Require, None).await;
    let b = b.expect("require");
    b.put("tls/k", b"v".to_vec()).await.expect("put");
    assert_eq!(sessions_encrypted(&url, &app).await, (true, 1));
    drop(b);
    // disable: in the clear.
    let (b, app) = open("127.0.0.1", TlsMode::Disable, None).await;
    let b = b.expect("disable");
    assert_eq!(b.get("tls/k").await.expect("get"), Some(b"v".to_vec()));
    assert_eq!(sessions_encrypted(&url, &app).await, (false, 1));
    drop(b);
    // verify-full against public roots (Debian's bundle; the system's roots may include the
    // machine's own self-signed certificate through /etc/ssl/certs): not trusted.
    let public = std::path::PathBuf::from("/etc/ssl/certs/ca-certificates.crt");
    if public.exists() {
        let (err, _) = open("localhost", TlsMode::VerifyFull, Some(public)).await;
        let err = err.expect_err("an untrusted certificate");
        assert!(err.to_string().contains("certificate"), "{err}");
    } else {
        eprintln!("SKIPPED the untrusted-certificate case: no /etc/ssl/certs/ca-certificates.crt");
    }
    // verify-ca with the certificate as the CA: trusted; its name (localhost) is not checked.
    let (b, app) = open("127.0.0.1", TlsMode::VerifyCa, Some(cert.clone())).await;
    let _verified = b.expect("verify-ca");
    assert_eq!(sessions_encrypted(&url, &app).await, (true, 1));
    // verify-full checks the name too: right for localhost, wrong for 127.0.0.1.
    let (b, _) = open("localhost", TlsMode::VerifyFull, Some(cert.clone())).await;
    b.expect("verify-full to the certificate's name");
    let (err, _) = open("127.0.0.1", TlsMode::VerifyFull, Some(cert)).await;
    let err = err.expect_err("a name the certificate does not carry");
    assert!(err.to_string().contains("certificate"), "{err}");
    drop_schema(&url, &schema).await;
}
