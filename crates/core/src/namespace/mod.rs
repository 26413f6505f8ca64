//! Namespaces: tenants with their own mounts, policies, tokens and data key.
//!
//! The root namespace (path `""`, id `root`) is the storage layout coffre always had. Every
//! other namespace keeps its data under `namespaces/<id>/`, laid out as the root is (`core/mounts`,
//! `sys/policy/`, `sys/token/`, `logical/<mount uuid>/`), encrypted with its own keyring
//! ([`crate::barrier::NamespaceKey`]). The table of namespaces is in root storage,
//! `core/namespaces/<id>`, one entry each.
//!
//! A request is resolved to a namespace once, in the pipeline ([`Namespaces::resolve`]): the
//! `X-Vault-Namespace` header names a namespace, and the leading segments of the path may name
//! descendants of it, as in OpenBao. A header naming a namespace that does not exist is a 404,
//! never a fall-back to the root.

mod store;
mod tenant;
mod token_tree;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
pub(crate) use store::{
    create_or_update, delete, open_all, patch_metadata, recount_secrets, resume_purges,
};
pub(crate) use tenant::{Tenant, initial_entries};

/// Root storage prefix of the namespace table.
pub(crate) const NAMESPACES_PREFIX: &str = "core/namespaces/";

/// The id of the root namespace.
pub const ROOT_ID: &str = "root";

/// Segment names a namespace may not take (OpenBao's list): they would shadow the paths of
/// the namespace above.
const RESERVED: &[&str] = &[
    ".",
    "..",
    "root",
    "sys",
    "audit",
    "auth",
    "cubbyhole",
    "identity",
];

/// Longest namespace path accepted, in bytes (a path is also a prefix of every request path
/// and ACL rule in it).
const MAX_PATH_LEN: usize = 512;

/// A namespace as stored and as `sys/namespaces` reports it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NamespaceEntry {
    /// Short public id (6 characters, as OpenBao's); suffix of the namespace's tokens.
    pub id: String,
    /// A UUID, unique for all time (a namespace re-created at the same path gets a new one).
    pub uuid: String,
    /// Full path with a trailing slash, e.g. `team-a/prod/`; `""` for the root.
    pub path: String,
    /// Free key/value strings.
    #[serde(default)]
    pub custom_metadata: BTreeMap<String, String>,
    /// Most secrets (KV entries) the namespace may store; 0 = no cap (a coffre extension).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_secrets: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl NamespaceEntry {
    /// The root namespace.
    pub(crate) fn root() -> NamespaceEntry {
        NamespaceEntry {
            id: ROOT_ID.into(),
            uuid: "00000000-0000-0000-0000-000000000000".into(),
            path: String::new(),
            custom_metadata: BTreeMap::new(),
            max_secrets: 0,
        }
    }

    pub(crate) fn is_root(&self) -> bool {
        self.id == ROOT_ID
    }

    /// Storage prefix of the namespace's data (`""` for the root).
    pub(crate) fn storage_prefix(&self) -> String {
        storage_prefix(&self.id)
    }

    /// The path of the parent namespace (`None` for the root).
    pub(crate) fn parent_path(&self) -> Option<&str> {
        if self.is_root() {
            return None;
        }
        let trimmed = self.path.strip_suffix('/').unwrap_or(&self.path);
        Some(trimmed.rfind('/').map_or("", |i| &self.path[..=i]))
    }

    /// The API form (`sys/namespaces/:path`): the full path, as OpenBao shows it.
    pub(crate) fn to_api(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut d = serde_json::Map::new();
        d.insert("id".into(), self.id.clone().into());
        d.insert("uuid".into(), self.uuid.clone().into());
        d.insert("path".into(), self.path.clone().into());
        d.insert("tainted".into(), false.into());
        d.insert("locked".into(), false.into());
        d.insert(
            "custom_metadata".into(),
            serde_json::to_value(&self.custom_metadata).unwrap_or_default(),
        );
        if self.max_secrets > 0 {
            d.insert("max_secrets".into(), self.max_secrets.into());
        }
        d
    }
}

/// Storage prefix of the data of the namespace with this id (`""` for the root).
pub(crate) fn storage_prefix(id: &str) -> String {
    if id == ROOT_ID {
        String::new()
    } else {
        format!("namespaces/{id}/")
    }
}

/// Checks one segment of a namespace path, with OpenBao's rules (not empty, not reserved, no
/// spaces, control characters or ACL wildcards) and a few of our own (no `%`, which could be
/// read as an escape, and no `.` at the end, which some clients strip).
pub(crate) fn check_segment(segment: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::invalid(format!("{segment:?} {why}")));
    if segment.is_empty() {
        return Err(Error::invalid("namespace name cannot be empty"));
    }
    if RESERVED.contains(&segment) {
        return bad("is a reserved path and cannot be used as a namespace name");
    }
    for c in segment.chars() {
        if c.is_whitespace() {
            return bad("contains space characters that cannot be used in a namespace name");
        }
        if c.is_control() || matches!(c, '+' | '*' | '%' | '\\' | '?' | '#') {
            return bad("contains characters that cannot be used in a namespace name");
        }
    }
    if segment.ends_with('.') {
        return bad("cannot end with a dot");
    }
    Ok(())
}

/// A name given to `sys/namespaces/:name`: one segment, trailing slash optional.
pub(crate) fn parse_name(raw: &str) -> Result<String> {
    let name = raw.trim_start_matches('/');
    let name = name.strip_suffix('/').unwrap_or(name);
    if name.contains('/') {
        return Err(Error::invalid("namespace name cannot contain /"));
    }
    check_segment(name)?;
    Ok(name.to_string())
}

/// A namespace path from a header or a client: segments checked, canonical form with a
/// trailing slash (`""` for the root, which `root` also names).
pub(crate) fn canonical_path(raw: &str) -> Result<String> {
    let trimmed = raw.trim().trim_matches('/');
    if trimmed.is_empty() || trimmed == ROOT_ID {
        return Ok(String::new());
    }
    let mut path = String::with_capacity(trimmed.len() + 1);
    for segment in trimmed.split('/') {
        check_segment(segment)?;
        path.push_str(segment);
        path.push('/');
    }
    if path.len() > MAX_PATH_LEN {
        return Err(Error::invalid("namespace path is too long"));
    }
    Ok(path)
}

/// The namespace an `X-Vault-Namespace` header names. Dot and empty segments are refused
/// (400: they are never resolved, so `a/../b` cannot reach `b`); any other name that no
/// namespace could have is simply not found (404, as OpenBao).
fn header_path(raw: &str) -> Result<String> {
    let trimmed = raw.trim().trim_matches('/');
    if !trimmed.is_empty()
        && trimmed
            .split('/')
            .any(|segment| matches!(segment, "" | "." | ".."))
    {
        return Err(Error::invalid(
            "namespace cannot have '.', '..' or empty segments",
        ));
    }
    canonical_path(raw)
        .map_err(|_| Error::NamespaceNotFound(format!("namespace \"{trimmed}/\" not found")))
}

/// Length of a namespace id (OpenBao's: 6 characters of base62).
pub(crate) const ID_LEN: usize = 6;

/// A fresh namespace id: [`ID_LEN`] characters of `[A-Za-z0-9]`, uniform (bytes past the
/// largest multiple of 62 are drawn again), not `root`, not `taken`.
pub(crate) fn new_id(mut taken: impl FnMut(&str) -> bool) -> Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const LIMIT: u8 = 248; // 4 × 62
    loop {
        let mut id = String::with_capacity(ID_LEN);
        while id.len() < ID_LEN {
            let raw: [u8; 16] = coffre_crypto::random_array()?;
            for b in raw.into_iter().filter(|b| *b < LIMIT) {
                if id.len() < ID_LEN {
                    id.push(char::from(ALPHABET[usize::from(b % 62)]));
                }
            }
        }
        if id != ROOT_ID && !taken(&id) {
            return Ok(id);
        }
    }
}

/// The namespaces of the unsealed core, by path. Immutable snapshots: a change publishes a
/// new map, so resolving a request takes no lock.
pub(crate) struct Namespaces {
    root: Arc<Tenant>,
    /// Every namespace, the root included.
    directory: ArcSwap<Directory>,
    /// Serializes namespace creation and deletion.
    pub(crate) write: tokio::sync::Mutex<()>,
}

/// One snapshot of the namespaces, by path and by id (a token's suffix names its namespace by
/// id, so every request with a namespaced token looks one up).
#[derive(Clone, Default)]
struct Directory {
    by_path: BTreeMap<String, Arc<Tenant>>,
    by_id: HashMap<String, Arc<Tenant>>,
}

impl Directory {
    fn with(&self, tenant: Arc<Tenant>) -> Directory {
        let mut next = self.clone();
        next.by_id.insert(tenant.ns.id.clone(), tenant.clone());
        next.by_path.insert(tenant.ns.path.clone(), tenant);
        next
    }

    fn without(&self, path: &str) -> Directory {
        let mut next = self.clone();
        if let Some(gone) = next.by_path.remove(path) {
            next.by_id.remove(&gone.ns.id);
        }
        next
    }
}

/// What a request resolves to: its namespace and the path inside it.
pub(crate) struct Resolution {
    pub(crate) tenant: Arc<Tenant>,
    pub(crate) path: String,
}

impl Namespaces {
    pub(crate) fn new(
        root: Arc<Tenant>,
        others: impl IntoIterator<Item = Arc<Tenant>>,
    ) -> Namespaces {
        let directory = std::iter::once(root.clone())
            .chain(others)
            .fold(Directory::default(), |d, t| d.with(t));
        Namespaces {
            root,
            directory: ArcSwap::from_pointee(directory),
            write: tokio::sync::Mutex::new(()),
        }
    }

    /// The root namespace.
    pub(crate) fn root(&self) -> &Arc<Tenant> {
        &self.root
    }

    pub(crate) fn by_path(&self, path: &str) -> Option<Arc<Tenant>> {
        self.directory.load().by_path.get(path).cloned()
    }

    /// The namespace with id `id`, the root's included.
    pub(crate) fn by_id(&self, id: &str) -> Option<Arc<Tenant>> {
        self.directory.load().by_id.get(id).cloned()
    }

    /// The namespace whose store holds `token`: the one its `.<id>` suffix names, else the
    /// root. (Token bodies are base64url, which has no `.`.)
    pub(crate) fn of_token(&self, token: &str) -> Arc<Tenant> {
        let directory = self.directory.load();
        if directory.by_path.len() > 1
            && let Some((_, id)) = token.rsplit_once('.')
            && id.len() == ID_LEN
            && let Some(t) = directory.by_id.get(id)
        {
            return t.clone();
        }
        self.root.clone()
    }

    /// Every namespace, root first, parents before children.
    pub(crate) fn all(&self) -> Vec<Arc<Tenant>> {
        self.directory.load().by_path.values().cloned().collect()
    }

    /// Every namespace below `path` (not `path` itself).
    pub(crate) fn below(&self, path: &str) -> Vec<Arc<Tenant>> {
        self.directory
            .load()
            .by_path
            .values()
            .filter(|t| t.ns.path.len() > path.len() && t.ns.path.starts_with(path))
            .cloned()
            .collect()
    }

    /// The namespaces directly below `parent`.
    pub(crate) fn children(&self, parent: &str) -> Vec<Arc<Tenant>> {
        self.directory
            .load()
            .by_path
            .values()
            .filter(|t| t.ns.parent_path() == Some(parent))
            .cloned()
            .collect()
    }

    /// Publishes a new namespace.
    pub(crate) fn insert(&self, tenant: Arc<Tenant>) {
        self.directory.rcu(|d| d.with(tenant.clone()));
    }

    /// Withdraws a namespace (its requests get 404 from now on).
    pub(crate) fn remove(&self, path: &str) {
        self.directory.rcu(|d| d.without(path));
    }

    /// Resolves a request: `header` (the `X-Vault-Namespace` value, possibly empty) names a
    /// namespace that must exist; then the longest run of leading segments of `path` that names
    /// a namespace below it is taken as well (OpenBao's path-prefix form). `path` is already
    /// normalized (no `.`/`..` segments, no doubled slashes).
    pub(crate) fn resolve(&self, header: &str, path: &str) -> Result<Resolution> {
        let base = header_path(header)?;
        let directory = self.directory.load();
        let map = &directory.by_path;
        let mut tenant = map
            .get(&base)
            .cloned()
            .ok_or_else(|| Error::NamespaceNotFound(format!("namespace \"{base}\" not found")))?;
        if map.len() == 1 {
            // Only the root: nothing can be a prefix (the common case, no work).
            return Ok(Resolution {
                tenant,
                path: path.to_string(),
            });
        }
        let mut rest = path;
        let mut candidate = base;
        while let Some((segment, tail)) = rest.split_once('/') {
            candidate.push_str(segment);
            candidate.push('/');
            match map.get(&candidate) {
                Some(child) => {
                    tenant = child.clone();
                    rest = tail;
                }
                None => break,
            }
        }
        Ok(Resolution {
            tenant,
            path: rest.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_paths_are_checked_and_canonical() {
        assert_eq!(canonical_path("").expect("root"), "");
        assert_eq!(canonical_path("root").expect("root"), "");
        assert_eq!(canonical_path("/team-a/prod/").expect("ok"), "team-a/prod/");
        assert_eq!(canonical_path("team-a").expect("ok"), "team-a/");
        for bad in [
            "a//b",
            "a/../b",
            "..",
            "a/.",
            "sys",
            "a/auth",
            "a b",
            "a/*",
            "a+",
            "a%2Fb",
            "a.",
            "a/identity",
            "a\u{7}",
        ] {
            assert!(canonical_path(bad).is_err(), "{bad:?} accepted");
        }
        assert!(canonical_path(&"a/".repeat(300)).is_err(), "too long");
        assert_eq!(parse_name("team-a/").expect("ok"), "team-a");
        assert!(parse_name("a/b").is_err());
        assert!(parse_name("").is_err());
    }

    #[test]
    fn parent_paths() {
        let mut e = NamespaceEntry::root();
        assert_eq!(e.parent_path(), None);
        e.id = "abcde".into();
        e.path = "team-a/".into();
        assert_eq!(e.parent_path(), Some(""));
        e.path = "team-a/prod/".into();
        assert_eq!(e.parent_path(), Some("team-a/"));
    }

    #[test]
    fn ids_are_six_alphanumerics_and_unique() {
        let id = new_id(|_| false).expect("id");
        assert_eq!(id.len(), ID_LEN);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
        let mut calls = 0;
        let second = new_id(|_| {
            calls += 1;
            calls == 1
        })
        .expect("id");
        assert_eq!(second.len(), ID_LEN);
        assert_eq!(calls, 2, "a taken id is drawn again");
    }
}
