//! Conformance and durability tests for both backends.

use std::sync::Arc;

use coffre_storage::{Backend, GroupCommitConfig, InMemoryBackend, Op, RedbBackend};

#[tokio::test]
async fn inmem_conformance() {
    let b = InMemoryBackend::new();
    assert_eq!(b.kind(), "inmem");
    coffre_storage::testing::conformance(&b).await;
}

#[tokio::test]
async fn redb_conformance() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = RedbBackend::open(dir.path()).expect("open");
    assert_eq!(b.kind(), "embedded");
    coffre_storage::testing::conformance(&b).await;
}

#[tokio::test]
async fn redb_conformance_without_grouping() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = RedbBackend::open_with(dir.path(), GroupCommitConfig::default().with_max_group(1))
        .expect("open");
    coffre_storage::testing::conformance(&b).await;
}

#[tokio::test]
async fn redb_creates_dir_and_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nested = dir.path().join("a/b/data");
    let b = RedbBackend::open(&nested).expect("open");
    assert!(nested.join("coffre.redb").is_file());
    assert_eq!(b.path(), nested.join("coffre.redb"));
}

#[tokio::test]
async fn redb_data_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let b = RedbBackend::open(dir.path()).expect("open");
        b.put("core/keyring", b"ring".to_vec()).await.expect("put");
        b.put("logical/u/x", vec![]).await.expect("put");
        b.put("logical/u/gone", b"g".to_vec()).await.expect("put");
        b.delete("logical/u/gone").await.expect("delete");
        assert!(
            b.compare_and_swap("cas", None, Some(b"c".to_vec()))
                .await
                .expect("cas")
        );
        b.batch(vec![
            Op::Put("batch/1".into(), b"1".to_vec()),
            Op::Put("batch/2".into(), b"2".to_vec()),
        ])
        .await
        .expect("batch");
        // Dropping joins the writer and releases the file lock; reopening would fail otherwise.
    }
    let b = RedbBackend::open(dir.path()).expect("reopen");
    assert_eq!(
        b.get("core/keyring").await.expect("get"),
        Some(b"ring".to_vec())
    );
    assert_eq!(b.get("logical/u/x").await.expect("get"), Some(vec![]));
    assert_eq!(b.get("logical/u/gone").await.expect("get"), None);
    assert_eq!(b.get("cas").await.expect("get"), Some(b"c".to_vec()));
    assert_eq!(
        b.scan("").await.expect("scan"),
        ["batch/1", "batch/2", "cas", "core/keyring", "logical/u/x"]
    );
    assert_eq!(
        b.list("").await.expect("list"),
        ["batch/", "cas", "core/", "logical/"]
    );
}

#[tokio::test]
async fn redb_second_open_of_same_dir_fails_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _b = RedbBackend::open(dir.path()).expect("open");
    let err = RedbBackend::open(dir.path()).expect_err("file is locked");
    assert!(
        matches!(err, coffre_storage::StorageError::Database(_)),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redb_concurrent_writers_are_group_committed() {
    const TASKS: usize = 32;
    const PUTS: usize = 50;
    let dir = tempfile::tempdir().expect("tempdir");
    let b = Arc::new(RedbBackend::open(dir.path()).expect("open"));
    let before = b.commit_count();

    let mut handles = Vec::new();
    for t in 0..TASKS {
        let b = Arc::clone(&b);
        handles.push(tokio::spawn(async move {
            for i in 0..PUTS {
                b.put(
                    &format!("conc/{t:02}/{i:02}"),
                    format!("{t}:{i}").into_bytes(),
                )
                .await
                .expect("put");
            }
        }));
    }
    for h in handles {
        h.await.expect("task");
    }

    let writes = (TASKS * PUTS) as u64;
    let commits = b.commit_count() - before;
    eprintln!("group commit: {writes} writes in {commits} commits");
    assert!(commits >= 1);
    assert!(
        commits < writes,
        "expected group commit: {commits} commits for {writes} writes"
    );

    assert_eq!(b.scan("conc/").await.expect("scan").len(), TASKS * PUTS);
    for t in 0..TASKS {
        for i in 0..PUTS {
            assert_eq!(
                b.get(&format!("conc/{t:02}/{i:02}")).await.expect("get"),
                Some(format!("{t}:{i}").into_bytes())
            );
        }
    }
    assert_eq!(b.list("conc/").await.expect("list").len(), TASKS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redb_concurrent_cas_increments_are_not_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = Arc::new(RedbBackend::open(dir.path()).expect("open"));
    b.put("ctr", 0u64.to_be_bytes().to_vec())
        .await
        .expect("put");
    let mut handles = Vec::new();
    for _ in 0..8 {
        let b = Arc::clone(&b);
        handles.push(tokio::spawn(async move {
            for _ in 0..25 {
                loop {
                    let cur = b.get("ctr").await.expect("get").expect("present");
                    let n = u64::from_be_bytes(cur.as_slice().try_into().expect("8 bytes"));
                    let next = (n + 1).to_be_bytes().to_vec();
                    if b.compare_and_swap("ctr", Some(&cur), Some(next))
                        .await
                        .expect("cas")
                    {
                        break;
                    }
                }
            }
        }));
    }
    for h in handles {
        h.await.expect("task");
    }
    let v = b.get("ctr").await.expect("get").expect("present");
    assert_eq!(v, 200u64.to_be_bytes());
}

#[tokio::test]
async fn redb_conformance_without_value_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = RedbBackend::open_with(
        dir.path(),
        GroupCommitConfig::default().with_value_cache_bytes(0),
    )
    .expect("open");
    coffre_storage::testing::conformance(&b).await;
}

/// Each kind of write, after a read that put the old value in the value cache: the next read
/// must see the write.
#[tokio::test]
async fn redb_cached_reads_see_every_kind_of_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = RedbBackend::open(dir.path()).expect("open");
    async fn read(b: &RedbBackend, key: &str) -> Option<Vec<u8>> {
        b.get(key).await.expect("get")
    }

    b.put("k", b"1".to_vec()).await.expect("put");
    assert_eq!(read(&b, "k").await.as_deref(), Some(&b"1"[..]));
    assert_eq!(read(&b, "k").await.as_deref(), Some(&b"1"[..]), "cache hit");

    b.put("k", b"2".to_vec()).await.expect("put");
    assert_eq!(read(&b, "k").await.as_deref(), Some(&b"2"[..]), "after put");

    assert!(
        b.compare_and_swap("k", Some(b"2"), Some(b"3".to_vec()))
            .await
            .expect("cas")
    );
    assert_eq!(read(&b, "k").await.as_deref(), Some(&b"3"[..]), "after cas");

    b.batch(vec![
        Op::Put("k".into(), b"4".to_vec()),
        Op::Put("other".into(), b"x".to_vec()),
    ])
    .await
    .expect("batch");
    assert_eq!(
        read(&b, "k").await.as_deref(),
        Some(&b"4"[..]),
        "after batch"
    );

    b.delete("k").await.expect("delete");
    assert_eq!(read(&b, "k").await, None, "after delete");

    b.put("k", b"5".to_vec()).await.expect("put");
    read(&b, "k").await;
    b.batch(vec![Op::Delete("k".into())]).await.expect("batch");
    assert_eq!(read(&b, "k").await, None, "after batch delete");
}

/// Readers race the writer on one key, so cache fills interleave with commits; after each
/// acknowledged write, a read must return it (a stale fill that survived would fail this).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redb_value_cache_never_serves_a_value_older_than_an_acknowledged_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = Arc::new(RedbBackend::open(dir.path()).expect("open"));
    b.put("k", 0u32.to_be_bytes().to_vec()).await.expect("put");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (b, stop) = (Arc::clone(&b), Arc::clone(&stop));
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    b.get("k").await.expect("get");
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for i in 1..=300u32 {
        b.put("k", i.to_be_bytes().to_vec()).await.expect("put");
        let got = b.get("k").await.expect("get").expect("present");
        assert_eq!(got, i.to_be_bytes().to_vec(), "read after write {i}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        r.await.expect("reader");
    }
}
