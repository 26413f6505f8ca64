use super::*;
use crate::barrier::{DEFAULT_MAX_ENCRYPTIONS_PER_TERM, test_barrier};
use crate::clock::Clock as _;
use coffre_storage::InMemoryBackend;

async fn store() -> TokenStore {
    let barrier = Arc::new(
        test_barrier(
            Arc::new(InMemoryBackend::new()),
            DEFAULT_MAX_ENCRYPTIONS_PER_TERM,
        )
        .await,
    );
    let key = coffre_crypto::Key256::generate().expect("rng");
    barrier
        .put(TOKEN_KEY_PATH, key.expose())
        .await
        .expect("put");
    TokenStore::open(View::new(barrier, TOKEN_PREFIX), None)
        .await
        .expect("open")
}

fn entry(parent: Option<&str>, expire_time: Option<i64>) -> TokenEntry {
    TokenEntry {
        id_hash: String::new(),
        accessor: TokenStore::new_accessor().expect("rng"),
        policies: vec!["default".into()],
        path: "auth/token/create".into(),
        display_name: "token".into(),
        creation_time: crate::clock::SystemClock.now_unix_secs(),
        creation_ttl: 0,
        expire_time,
        explicit_max_ttl: 0,
        period: 0,
        num_uses: 0,
        renewable: true,
        meta: BTreeMap::new(),
        parent: parent.map(str::to_string),
        parent_namespace: None,
        token_type: "service".into(),
        role: None,
        last_renewal_time: None,
        max_ttl: 0,
        mount_accessor: String::new(),
        entity_id: String::new(),
        bound_cidrs: Vec::new(),
    }
}

#[tokio::test]
async fn a_child_is_refused_once_its_parent_has_expired() {
    let s = store().await;
    let soon = crate::clock::SystemClock.now_unix_secs() + 3600;
    let parent = s
        .create("hvs.parent", entry(None, Some(soon)))
        .await
        .expect("parent");
    let child = s
        .create("hvs.child", entry(Some(&parent.id_hash), None))
        .await
        .expect("child");
    s.create("hvs.grandchild", entry(Some(&child.id_hash), None))
        .await
        .expect("grandchild");
    assert!(s.lookup("hvs.grandchild").await.expect("lookup").is_some());
    // The parent expires (rewritten with a past expiry instead of sleeping).
    let mut expired = (*parent).clone();
    expired.expire_time = Some(crate::clock::SystemClock.now_unix_secs() - 1);
    s.rewrite(&s.hash("hvs.parent"), expired)
        .await
        .expect("rewrite");
    assert!(
        s.lookup("hvs.child").await.expect("lookup").is_none(),
        "child of an expired parent"
    );
    assert!(
        s.lookup("hvs.grandchild").await.expect("lookup").is_none(),
        "grandchild too"
    );
}

/// Storage keys never carry an accessor in clear; lookups and listing still work, and
/// accessors indexed the old way are moved at the next open.
#[tokio::test]
async fn accessors_are_stored_under_keyed_hashes_and_migrated() {
    let backend: Arc<dyn coffre_storage::Backend> = Arc::new(InMemoryBackend::new());
    let barrier = Arc::new(test_barrier(backend.clone(), DEFAULT_MAX_ENCRYPTIONS_PER_TERM).await);
    let key = coffre_crypto::Key256::generate().expect("rng");
    barrier
        .put(TOKEN_KEY_PATH, key.expose())
        .await
        .expect("put");
    let s = TokenStore::open(View::new(barrier.clone(), TOKEN_PREFIX), None)
        .await
        .expect("open");
    let e = s
        .create("hvs.one", entry(None, None))
        .await
        .expect("create");
    let keys = backend.scan("").await.expect("scan");
    assert!(!keys.iter().any(|k| k.contains(&e.accessor)), "{keys:?}");
    let (hash, found) = s
        .lookup_accessor(&e.accessor)
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(hash, s.hash("hvs.one"));
    assert_eq!(found.accessor, e.accessor);
    assert_eq!(s.accessors().await.expect("list"), vec![e.accessor.clone()]);

    // A store written by an older version: the accessor index in clear.
    let legacy = TokenStore::new_accessor().expect("rng");
    let mut old = entry(None, None);
    old.accessor = legacy.clone();
    let old_hash = s.hash("hvs.old");
    old.id_hash = hex::encode(old_hash);
    barrier
        .batch(vec![
            (
                format!("{TOKEN_PREFIX}{ID_PREFIX}{}", hex::encode(old_hash)),
                Some(encode_entry(&old).expect("enc")),
            ),
            (
                format!("{TOKEN_PREFIX}{LEGACY_ACCESSOR_PREFIX}{legacy}"),
                Some(hex::encode(old_hash).into_bytes()),
            ),
        ])
        .await
        .expect("legacy write");
    let s = TokenStore::open(View::new(barrier, TOKEN_PREFIX), None)
        .await
        .expect("reopen");
    let keys = backend.scan("").await.expect("scan");
    assert!(
        !keys.iter().any(|k| k.contains(&legacy)),
        "migrated: {keys:?}"
    );
    let (hash, _) = s
        .lookup_accessor(&legacy)
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(hash, old_hash);
    s.revoke_tree(&old_hash).await.expect("revoke");
    assert!(s.lookup_accessor(&legacy).await.expect("lookup").is_none());
    assert_eq!(s.accessors().await.expect("list"), vec![e.accessor.clone()]);
}

#[tokio::test]
async fn a_child_of_a_used_up_parent_is_refused() {
    let s = store().await;
    let mut limited = entry(None, None);
    limited.num_uses = 1;
    let parent = s.create("hvs.limited", limited).await.expect("parent");
    s.create("hvs.kid", entry(Some(&parent.id_hash), None))
        .await
        .expect("child");
    assert_eq!(
        s.use_once(&s.hash("hvs.limited")).await.expect("use"),
        Some(0)
    );
    assert!(s.lookup("hvs.kid").await.expect("lookup").is_none());
}

/// A child whose creation lands after its parent's revocation listed the tree must not
/// survive: it is refused.
#[tokio::test]
async fn a_child_created_after_its_parent_was_revoked_is_refused() {
    let s = store().await;
    let parent = s.create("hvs.p", entry(None, None)).await.expect("parent");
    s.revoke_tree(&s.hash("hvs.p")).await.expect("revoke");
    let created = s
        .create("hvs.late", entry(Some(&parent.id_hash), None))
        .await;
    assert!(
        matches!(created, Err(Error::PermissionDenied)),
        "{created:?}"
    );
    assert!(s.lookup("hvs.late").await.expect("lookup").is_none());
}

/// Children created concurrently with the revocation of their parent: none survives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_child_survives_a_concurrent_revocation_of_its_parent() {
    let s = Arc::new(store().await);
    for round in 0..20 {
        let ptoken = format!("hvs.parent{round}");
        let parent = s.create(&ptoken, entry(None, None)).await.expect("parent");
        let creators: Vec<_> = (0..8)
            .map(|i| {
                let (s, parent_hash) = (s.clone(), parent.id_hash.clone());
                tokio::spawn(async move {
                    let t = format!("hvs.c{round}-{i}");
                    let _ = s.create(&t, entry(Some(&parent_hash), None)).await;
                    t
                })
            })
            .collect();
        s.revoke_tree(&s.hash(&ptoken)).await.expect("revoke");
        for c in creators {
            let t = c.await.expect("join");
            assert!(
                s.lookup(&t).await.expect("lookup").is_none(),
                "{t} survived its parent's revocation"
            );
        }
    }
}

#[test]
fn accessors_are_24_letters_and_digits() {
    for _ in 0..200 {
        let a = TokenStore::new_accessor().expect("rng");
        assert_eq!(a.len(), 24);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()), "{a}");
    }
}
