//! `coffre operator migrate`: copies the storage of a stopped deployment from one backend to
//! another (the embedded store to PostgreSQL, or back), then proves the copy by counting and
//! hashing both sides.
//!
//! Values are copied as stored, still encrypted: the barrier binds each value to its storage
//! key, and keys are copied unchanged, so the same unseal keys open the copy. Nothing is
//! decrypted, and nothing needs unsealing.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use coffre_storage::{Backend, Op, PostgresBackend, PostgresConfig, RedbBackend};

/// Keys written per transaction of the copy.
const BATCH: usize = 256;

/// One side of a migration.
#[derive(Debug, Clone)]
pub enum Endpoint {
    /// The embedded store in this directory.
    Embedded(PathBuf),
    /// A PostgreSQL database (and schema: `None` for the connection's default).
    Postgres {
        /// libpq URL.
        url: String,
        /// Schema of coffre's tables.
        schema: Option<String>,
    },
}

impl Endpoint {
    /// `embedded:PATH` or `postgres:URL` (`schema` applies to the PostgreSQL side).
    pub fn parse(spec: &str, schema: Option<&str>) -> anyhow::Result<Endpoint> {
        match spec.split_once(':') {
            Some(("embedded", path)) if !path.is_empty() => {
                Ok(Endpoint::Embedded(PathBuf::from(path)))
            }
            Some(("postgres" | "postgresql", url)) if !url.is_empty() => Ok(Endpoint::Postgres {
                url: url.to_string(),
                schema: schema.map(str::to_string),
            }),
            _ => bail!("{spec:?}: expected embedded:PATH or postgres:URL"),
        }
    }

    fn describe(&self) -> String {
        match self {
            Endpoint::Embedded(p) => format!("the embedded store at {}", p.display()),
            Endpoint::Postgres { schema, .. } => match schema {
                Some(s) => format!("PostgreSQL (schema {s})"),
                None => "PostgreSQL".to_string(),
            },
        }
    }

    async fn open(&self, must_exist: bool) -> anyhow::Result<Arc<dyn Backend>> {
        Ok(match self {
            Endpoint::Embedded(dir) => {
                if must_exist && !dir.is_dir() {
                    bail!("{} does not exist", dir.display());
                }
                let dir = dir.clone();
                let backend = tokio::task::spawn_blocking(move || RedbBackend::open(&dir))
                    .await
                    .context("opening the embedded store")?
                    .context("opening the embedded store (is a server still running on it?)")?;
                Arc::new(backend)
            }
            Endpoint::Postgres { url, schema } => Arc::new(
                PostgresBackend::open(&PostgresConfig {
                    pool_size: 4,
                    schema: schema.clone(),
                    ..PostgresConfig::from_url(url)?
                })
                .await
                .context("opening the PostgreSQL storage")?,
            ),
        })
    }
}

/// What a store holds, in a form two stores can be compared by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Keys stored.
    pub keys: u64,
    /// SHA-256 chained over every key and value in key order.
    pub digest: [u8; 32],
}

async fn summarize(store: &dyn Backend) -> anyhow::Result<Summary> {
    let mut digest = [0u8; 32];
    let keys = store.scan("").await?;
    for key in &keys {
        let value = store.get(key).await?.unwrap_or_default();
        digest = coffre_crypto::sha256_parts(&[
            &digest,
            &(key.len() as u64).to_be_bytes(),
            key.as_bytes(),
            &(value.len() as u64).to_be_bytes(),
            &value,
        ]);
    }
    Ok(Summary {
        keys: keys.len() as u64,
        digest,
    })
}

/// Copies everything `from` holds into `to`, which must be empty, and checks that both now
/// hold the same keys and values. The servers of both must be stopped.
pub async fn migrate(from: &Endpoint, to: &Endpoint) -> anyhow::Result<Summary> {
    let source = from.open(true).await?;
    let target = to.open(false).await?;
    let keys = source.scan("").await?;
    if keys.is_empty() {
        bail!("{} holds nothing to migrate", from.describe());
    }
    if !target.scan("").await?.is_empty() {
        bail!(
            "{} is not empty: migrate into an empty store only",
            to.describe()
        );
    }
    for chunk in keys.chunks(BATCH) {
        let mut ops = Vec::with_capacity(chunk.len());
        for key in chunk {
            let value = source.get(key).await?.with_context(|| {
                format!(
                    "{key} vanished during the migration: is a server running on {}?",
                    from.describe()
                )
            })?;
            ops.push(Op::Put(key.clone(), value));
        }
        target.batch(ops).await?;
    }
    let (copied, original) = (summarize(&*target).await?, summarize(&*source).await?);
    if copied != original {
        bail!(
            "the copy differs from {} ({} keys there, {} here): was a server running on it?",
            from.describe(),
            original.keys,
            copied.keys
        );
    }
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_parsed() {
        assert!(matches!(
            Endpoint::parse("embedded:/var/lib/coffre", None),
            Ok(Endpoint::Embedded(p)) if p == std::path::Path::new("/var/lib/coffre")
        ));
        match Endpoint::parse("postgres:postgresql://u@h:5432/db", Some("c")) {
            Ok(Endpoint::Postgres { url, schema }) => {
                assert_eq!(url, "postgresql://u@h:5432/db");
                assert_eq!(schema.as_deref(), Some("c"));
            }
            other => panic!("{other:?}"),
        }
        assert!(Endpoint::parse("raft:/x", None).is_err());
        assert!(Endpoint::parse("embedded:", None).is_err());
    }

    #[tokio::test]
    async fn summaries_tell_stores_apart() {
        let a = coffre_storage::InMemoryBackend::new();
        let b = coffre_storage::InMemoryBackend::new();
        for store in [&a, &b] {
            store.put("core/x", b"1".to_vec()).await.expect("put");
        }
        let (sa, sb) = (
            summarize(&a).await.expect("a"),
            summarize(&b).await.expect("b"),
        );
        assert_eq!(sa, sb);
        assert_eq!(sa.keys, 1);
        b.put("core/x", b"2".to_vec()).await.expect("put");
        assert_ne!(summarize(&b).await.expect("b"), sa);
    }
}
