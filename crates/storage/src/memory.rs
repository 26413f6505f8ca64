//! In-memory backend: a `BTreeMap` behind a `parking_lot::RwLock`. Nothing is persisted.

use std::collections::BTreeMap;
use std::ops::Bound;

use parking_lot::RwLock;

use crate::{Backend, Op, Result, list_one_level};

/// A volatile [`Backend`] for tests and dev mode. All operations are atomic under one lock.
#[derive(Default)]
pub struct InMemoryBackend {
    map: RwLock<BTreeMap<String, Vec<u8>>>,
}

impl InMemoryBackend {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

// Manual Debug: never print values.
impl std::fmt::Debug for InMemoryBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemoryBackend")
            .field("keys", &self.map.read().len())
            .finish()
    }
}

#[async_trait::async_trait]
impl Backend for InMemoryBackend {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.map.read().get(key).cloned())
    }

    async fn put(&self, key: &str, value: Vec<u8>) -> Result<()> {
        self.map.write().insert(key.to_owned(), value);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.map.write().remove(key);
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let map = self.map.read();
        list_one_level(prefix, |lower| {
            Ok(map
                .range::<str, _>((lower, Bound::Unbounded))
                .next()
                .map(|(k, _)| k.clone()))
        })
    }

    async fn scan(&self, prefix: &str) -> Result<Vec<String>> {
        let map = self.map.read();
        Ok(map
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(prefix))
            .cloned()
            .collect())
    }

    async fn scan_range(&self, start: &str, end: &str, limit: usize) -> Result<Vec<String>> {
        if start >= end {
            return Ok(Vec::new());
        }
        let map = self.map.read();
        Ok(map
            .range::<str, _>((Bound::Included(start), Bound::Excluded(end)))
            .map(|(k, _)| k.clone())
            .take(limit)
            .collect())
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
    ) -> Result<bool> {
        let mut map = self.map.write();
        if map.get(key).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        match new {
            Some(v) => {
                map.insert(key.to_owned(), v);
            }
            None => {
                map.remove(key);
            }
        }
        Ok(true)
    }

    async fn batch(&self, ops: Vec<Op>) -> Result<()> {
        // Plain puts/deletes cannot fail, so applying them under one write lock is atomic.
        let mut map = self.map.write();
        for op in ops {
            match op {
                Op::Put(k, v) => {
                    map.insert(k, v);
                }
                Op::Delete(k) => {
                    map.remove(&k);
                }
            }
        }
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "inmem"
    }
}
