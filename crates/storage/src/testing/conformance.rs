//! Backend conformance suite.
//!
//! Every [`Backend`](crate::Backend) implementation should pass [`conformance`]. Failures panic
//! with a message naming the broken rule, like any test assertion.

use crate::{Backend, Op};

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| (*x).to_owned()).collect()
}

/// Check `b` against the storage contract. `b` must start empty; it is left non-empty.
pub async fn conformance<B: Backend>(b: &B) {
    let kind = b.kind();
    assert!(!kind.is_empty(), "kind() must name the backend");
    assert!(
        b.scan("").await.expect("scan").is_empty(),
        "conformance needs an empty backend"
    );

    get_put_delete(b).await;
    binary_values(b).await;
    list(b).await;
    scan(b).await;
    scan_range(b).await;
    compare_and_swap(b).await;
    batch(b).await;
}

async fn scan_range<B: Backend>(b: &B) {
    for k in [
        "sr/0001/a",
        "sr/0001/b",
        "sr/0002/a",
        "sr/0005/x",
        "sr/0010/a",
        "sr0",
    ] {
        b.put(k, b"v".to_vec()).await.expect("put");
    }
    assert_eq!(
        b.scan_range("sr/", "sr/0005", 100)
            .await
            .expect("scan_range"),
        s(&["sr/0001/a", "sr/0001/b", "sr/0002/a"]),
        "keys in [start, end), sorted"
    );
    assert_eq!(
        b.scan_range("sr/", "sr/0005", 2).await.expect("scan_range"),
        s(&["sr/0001/a", "sr/0001/b"]),
        "at most limit keys, the smallest"
    );
    assert_eq!(
        b.scan_range("sr/0001/b", "sr/~", 100)
            .await
            .expect("scan_range"),
        s(&["sr/0001/b", "sr/0002/a", "sr/0005/x", "sr/0010/a"]),
        "start is included, keys past end are not"
    );
    assert!(
        b.scan_range("sr/0005", "sr/0001", 100)
            .await
            .expect("scan_range")
            .is_empty(),
        "an empty range when start >= end"
    );
    assert!(
        b.scan_range("sr/", "sr/", 100)
            .await
            .expect("scan_range")
            .is_empty()
    );
}

async fn get_put_delete<B: Backend>(b: &B) {
    assert_eq!(b.get("gpd/a").await.expect("get"), None, "missing key");
    b.put("gpd/a", b"one".to_vec()).await.expect("put");
    assert_eq!(b.get("gpd/a").await.expect("get"), Some(b"one".to_vec()));
    b.put("gpd/a", b"two".to_vec()).await.expect("overwrite");
    assert_eq!(b.get("gpd/a").await.expect("get"), Some(b"two".to_vec()));
    // Keys are exact: neither a prefix nor an extension of a key matches it.
    assert_eq!(b.get("gpd/").await.expect("get"), None);
    assert_eq!(b.get("gpd/ab").await.expect("get"), None);
    b.delete("gpd/a").await.expect("delete");
    assert_eq!(b.get("gpd/a").await.expect("get"), None, "deleted");
    b.delete("gpd/a")
        .await
        .expect("deleting a missing key is Ok");
    b.delete("gpd/never")
        .await
        .expect("deleting a missing key is Ok");
}

async fn binary_values<B: Backend>(b: &B) {
    let all: Vec<u8> = (0..=255u8).collect();
    b.put("bin/all", all.clone()).await.expect("put");
    assert_eq!(b.get("bin/all").await.expect("get"), Some(all));
    b.put("bin/nul", vec![0, 0, 0]).await.expect("put");
    assert_eq!(b.get("bin/nul").await.expect("get"), Some(vec![0, 0, 0]));
    // Empty value is present, distinct from missing.
    b.put("bin/empty", Vec::new()).await.expect("put empty");
    assert_eq!(b.get("bin/empty").await.expect("get"), Some(Vec::new()));
    assert_eq!(b.get("bin/missing").await.expect("get"), None);
    let big = vec![0xA5u8; 1 << 20];
    b.put("bin/big", big.clone()).await.expect("put 1 MiB");
    assert_eq!(b.get("bin/big").await.expect("get"), Some(big));
    assert_eq!(b.scan("bin/").await.expect("scan").len(), 4);
    for k in ["bin/all", "bin/nul", "bin/empty", "bin/big"] {
        b.delete(k).await.expect("delete");
    }
    assert!(b.scan("bin/").await.expect("scan").is_empty());
}

async fn list<B: Backend>(b: &B) {
    for k in [
        "ls/a/b", "ls/a/c/d", "ls/a/c/e", "ls/a/c-x", "ls/a/z", "ls/ab/q", "ls/top", "other/x",
    ] {
        b.put(k, b"v".to_vec()).await.expect("put");
    }
    // One level, folders with a trailing '/', sorted and deduplicated.
    assert_eq!(
        b.list("ls/a/").await.expect("list"),
        s(&["b", "c-x", "c/", "z"])
    );
    assert_eq!(b.list("ls/a/c/").await.expect("list"), s(&["d", "e"]));
    assert_eq!(b.list("ls/").await.expect("list"), s(&["a/", "ab/", "top"]));
    // Empty prefix lists the top level.
    assert_eq!(b.list("").await.expect("list"), s(&["ls/", "other/"]));
    // A prefix without a trailing slash is a plain string prefix.
    assert_eq!(b.list("ls/a").await.expect("list"), s(&["/", "b/"]));
    assert_eq!(b.list("ls/a/c").await.expect("list"), s(&["-x", "/"]));
    // Nothing there.
    assert!(b.list("nope/").await.expect("list").is_empty());
    assert!(b.list("ls/a/b/").await.expect("list").is_empty());
    // A leaf and a folder of the same name both appear.
    b.put("ls/a/c", b"leaf".to_vec()).await.expect("put");
    assert_eq!(
        b.list("ls/a/").await.expect("list"),
        s(&["b", "c", "c-x", "c/", "z"])
    );
    // Deleting the last key of a folder removes the folder.
    b.delete("ls/a/c/d").await.expect("delete");
    b.delete("ls/a/c/e").await.expect("delete");
    assert_eq!(
        b.list("ls/a/").await.expect("list"),
        s(&["b", "c", "c-x", "z"])
    );

    let all = b.scan("").await.expect("scan");
    b.batch(all.into_iter().map(Op::Delete).collect())
        .await
        .expect("cleanup");
    assert!(b.list("").await.expect("list").is_empty());
}

async fn scan<B: Backend>(b: &B) {
    for k in ["sc/b", "sc/a/x/y", "sc/a/x", "sc-other", "sd"] {
        b.put(k, b"v".to_vec()).await.expect("put");
    }
    assert_eq!(
        b.scan("sc/").await.expect("scan"),
        s(&["sc/a/x", "sc/a/x/y", "sc/b"]),
        "recursive, sorted, full keys"
    );
    assert_eq!(
        b.scan("sc").await.expect("scan"),
        s(&["sc-other", "sc/a/x", "sc/a/x/y", "sc/b"]),
        "plain string prefix"
    );
    assert_eq!(
        b.scan("sc/a/x").await.expect("scan"),
        s(&["sc/a/x", "sc/a/x/y"])
    );
    assert!(b.scan("zz").await.expect("scan").is_empty());
    assert_eq!(b.scan("").await.expect("scan").len(), 5);
    for k in ["sc/b", "sc/a/x/y", "sc/a/x", "sc-other", "sd"] {
        b.delete(k).await.expect("delete");
    }
}

async fn compare_and_swap<B: Backend>(b: &B) {
    // absent -> present
    assert!(
        b.compare_and_swap("cas/k", None, Some(b"1".to_vec()))
            .await
            .expect("cas")
    );
    assert_eq!(b.get("cas/k").await.expect("get"), Some(b"1".to_vec()));
    // expecting absent when present fails and changes nothing
    assert!(
        !b.compare_and_swap("cas/k", None, Some(b"x".to_vec()))
            .await
            .expect("cas")
    );
    // wrong expected value
    assert!(
        !b.compare_and_swap("cas/k", Some(b"2"), Some(b"x".to_vec()))
            .await
            .expect("cas")
    );
    assert!(
        !b.compare_and_swap("cas/k", Some(b""), None)
            .await
            .expect("cas")
    );
    assert_eq!(b.get("cas/k").await.expect("get"), Some(b"1".to_vec()));
    // right expected value
    assert!(
        b.compare_and_swap("cas/k", Some(b"1"), Some(b"2".to_vec()))
            .await
            .expect("cas")
    );
    assert_eq!(b.get("cas/k").await.expect("get"), Some(b"2".to_vec()));
    // expecting a value on a missing key fails
    assert!(
        !b.compare_and_swap("cas/missing", Some(b"2"), Some(b"x".to_vec()))
            .await
            .expect("cas")
    );
    assert_eq!(b.get("cas/missing").await.expect("get"), None);
    // delete via CAS
    assert!(
        b.compare_and_swap("cas/k", Some(b"2"), None)
            .await
            .expect("cas")
    );
    assert_eq!(b.get("cas/k").await.expect("get"), None);
    // absent -> absent is a successful no-op
    assert!(b.compare_and_swap("cas/k", None, None).await.expect("cas"));
    assert_eq!(b.get("cas/k").await.expect("get"), None);
    // empty value is not absent
    b.put("cas/e", Vec::new()).await.expect("put");
    assert!(
        !b.compare_and_swap("cas/e", None, Some(b"x".to_vec()))
            .await
            .expect("cas")
    );
    assert!(
        b.compare_and_swap("cas/e", Some(b""), Some(b"x".to_vec()))
            .await
            .expect("cas")
    );
    assert_eq!(b.get("cas/e").await.expect("get"), Some(b"x".to_vec()));
    b.delete("cas/e").await.expect("delete");
}

async fn batch<B: Backend>(b: &B) {
    b.put("bt/old", b"old".to_vec()).await.expect("put");
    b.batch(vec![
        Op::Put("bt/a".into(), b"a".to_vec()),
        Op::Put("bt/b".into(), b"b".to_vec()),
        Op::Delete("bt/old".into()),
        Op::Delete("bt/never".into()),
        // later ops win
        Op::Put("bt/c".into(), b"first".to_vec()),
        Op::Put("bt/c".into(), b"second".to_vec()),
        Op::Put("bt/d".into(), b"gone".to_vec()),
        Op::Delete("bt/d".into()),
    ])
    .await
    .expect("batch");
    assert_eq!(
        b.scan("bt/").await.expect("scan"),
        s(&["bt/a", "bt/b", "bt/c"])
    );
    assert_eq!(b.get("bt/c").await.expect("get"), Some(b"second".to_vec()));
    b.batch(Vec::new()).await.expect("empty batch");

    // Atomicity as observed by readers: a concurrent reader sees all of a batch or none of it.
    let keys: Vec<String> = (0..64).map(|i| format!("bt/atom/{i:02}")).collect();
    let ops = keys
        .iter()
        .map(|k| Op::Put(k.clone(), b"x".to_vec()))
        .collect();
    let write = b.batch(ops);
    let read = async {
        let mut seen = Vec::new();
        for _ in 0..16 {
            seen.push(b.scan("bt/atom/").await.expect("scan").len());
            tokio::task::yield_now().await;
        }
        seen
    };
    let (w, seen) = tokio::join!(write, read);
    w.expect("batch");
    for n in seen {
        assert!(n == 0 || n == 64, "reader saw a partial batch: {n} of 64");
    }
    assert_eq!(b.scan("bt/atom/").await.expect("scan"), keys);

    let all = b.scan("bt/").await.expect("scan");
    b.batch(all.into_iter().map(Op::Delete).collect())
        .await
        .expect("batch delete");
    assert!(b.scan("bt/").await.expect("scan").is_empty());
}
