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
    })
    .await
    .expect_err("unreachable");
    assert!(err.to_string().contains("PostgreSQL"), "{err}");
    let err = PostgresBackend::open(&PostgresConfig {
        url: "not a url at all ===".into(),
        pool_size: 1,
        connect_timeout: Duration::from_secs(2),
        schema: None,
    })
    .await
    .expect_err("bad url");
    assert!(err.to_string().contains("invalid url"), "{err}");
}
