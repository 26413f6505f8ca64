//! The statements of [`PostgresBackend`](crate::PostgresBackend)'s request path, written once
//! per backend with its schema-qualified table names. Each is prepared once per pooled
//! connection (`prepare_cached`), so a request costs one round trip per statement and no
//! parsing or planning: a plain `query(&str)` would prepare an unnamed statement first, a
//! second round trip every time.

/// The texts; the prepared forms live in each connection's statement cache.
#[derive(Debug, Clone)]
pub(crate) struct Sql {
    pub(crate) get: String,
    /// Insert or overwrite.
    pub(crate) put: String,
    pub(crate) delete: String,
    /// Insert only when absent (compare-and-swap from nothing).
    pub(crate) insert_new: String,
    pub(crate) exists: String,
    /// Overwrite only when the value is the expected one.
    pub(crate) update_if: String,
    /// Delete only when the value is the expected one.
    pub(crate) delete_if: String,
    /// One level below a prefix, computed by the database: the part of each key after the
    /// prefix, cut after its first `/`.
    pub(crate) list: String,
    pub(crate) scan: String,
    pub(crate) scan_range: String,
    /// The fence of a write transaction of a node of several (see `fenced`).
    pub(crate) fence: String,
    pub(crate) notify: String,
}

impl Sql {
    /// `kv` and `leader`: the schema-qualified table names.
    pub(crate) fn new(kv: &str, leader: &str) -> Sql {
        Sql {
            get: format!("SELECT value FROM {kv} WHERE key = $1"),
            put: format!(
                "INSERT INTO {kv} (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
            ),
            delete: format!("DELETE FROM {kv} WHERE key = $1"),
            insert_new: format!(
                "INSERT INTO {kv} (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING"
            ),
            exists: format!("SELECT 1 FROM {kv} WHERE key = $1"),
            update_if: format!("UPDATE {kv} SET value = $3 WHERE key = $1 AND value = $2"),
            delete_if: format!("DELETE FROM {kv} WHERE key = $1 AND value = $2"),
            list: format!(
                "SELECT DISTINCT CASE WHEN strpos(rest, '/') > 0 \
                   THEN left(rest, strpos(rest, '/')) ELSE rest END COLLATE \"C\" AS name \
                 FROM (SELECT substr(key, length($1) + 1) AS rest FROM {kv} \
                       WHERE key >= $1 AND starts_with(key, $1)) AS below \
                 WHERE rest <> '' ORDER BY name"
            ),
            scan: format!(
                "SELECT key FROM {kv} WHERE key >= $1 AND starts_with(key, $1) ORDER BY key"
            ),
            scan_range: format!(
                "SELECT key FROM {kv} WHERE key >= $1 AND key < $2 ORDER BY key LIMIT $3"
            ),
            fence: format!("SELECT 1 FROM {leader} WHERE id = 1 AND term = $1 FOR SHARE"),
            notify: "SELECT pg_notify($1, $2)".to_string(),
        }
    }
}
