//! The KV secrets engine, version 1 and 2: mount detection and the KV v2 endpoints.
//!
//! KV v1 is plain paths: use [`Client::read`], [`Client::write`], [`Client::list`] and
//! [`Client::delete`] on `<mount>/<key>`.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::{Client, ClientError, Method, Result, finish, list_method};

/// `Content-Type` the server requires for `PATCH`.
const MERGE_PATCH: &str = "application/merge-patch+json";

/// The KV mount serving a path, as reported by `GET /v1/sys/internal/ui/mounts/:path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvMount {
    /// Mount path with its trailing slash (`secret/`); empty when the server did not say.
    pub path: String,
    /// KV version: 2 when the mount's `options.version` is `"2"`, else 1.
    pub version: u8,
    /// The mount's engine type (`kv`, `transit`…); empty when the server did not say.
    pub kind: String,
}

impl KvMount {
    /// Reads the mount path and KV version from a `sys/internal/ui/mounts/:path` response
    /// (the `data` object, or the top level without an envelope).
    pub fn from_response(resp: &Value) -> KvMount {
        let data = match resp.get("data") {
            Some(d @ Value::Object(_)) => d,
            _ => resp,
        };
        let path = data
            .get("path")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let version = match data.get("options").and_then(|o| o.get("version")) {
            Some(Value::String(v)) if v == "2" => 2,
            Some(Value::Number(n)) if n.as_u64() == Some(2) => 2,
            _ => 1,
        };
        let kind = data
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        KvMount {
            path,
            version,
            kind,
        }
    }

    /// Whether this is a KV v2 (versioned) mount.
    pub fn is_v2(&self) -> bool {
        self.version == 2
    }
}

/// Path of a KV v2 endpoint: `<mount>/<sub>/<key>`, e.g. `kv2_path("secret/", "data", "a/b")`
/// is `secret/data/a/b`.
pub fn kv2_path(mount: &str, sub: &str, key: &str) -> String {
    let mount = mount.trim_matches('/');
    let key = key.trim_start_matches('/');
    if mount.is_empty() {
        format!("{sub}/{key}")
    } else {
        format!("{mount}/{sub}/{key}")
    }
}

/// Body of `POST /v1/:mount/metadata/:key`: only the fields that are set are sent (and
/// changed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KvMetadataUpdate {
    /// Versions kept per key (0: the mount setting).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_versions: Option<u64>,
    /// Whether writes must carry `options.cas`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cas_required: Option<bool>,
    /// Soft-delete each version this long after it is written (a duration, `0s` turns it off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete_version_after: Option<String>,
    /// User-defined key/value metadata (replaces the stored map).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_metadata: Option<BTreeMap<String, String>>,
}

fn write_body(data: Map<String, Value>, cas: Option<u64>) -> Value {
    let mut body = json!({ "data": data });
    if let Some(cas) = cas {
        body["options"] = json!({ "cas": cas });
    }
    body
}

impl Client {
    /// Finds the mount serving `path` and its KV version (`GET sys/internal/ui/mounts/:path`),
    /// like the `vault kv` commands do. A 404 (a server without that endpoint) means KV v1
    /// with an unknown mount path.
    pub async fn kv_mount(&self, path: &str) -> Result<KvMount> {
        let path = format!("sys/internal/ui/mounts/{}", path.trim_start_matches('/'));
        let (status, bytes) = self.send_with(Method::GET, &path, &[], None, None).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(KvMount {
                path: String::new(),
                version: 1,
                kind: String::new(),
            });
        }
        match finish(status, &bytes)? {
            Some(resp) => Ok(KvMount::from_response(&resp)),
            None => Err(ClientError::Decode(format!("{path}: empty response"))),
        }
    }

    /// `GET <mount>/data/<key>[?version=N]`: the whole response, `data.data` holding the secret
    /// and `data.metadata` its version metadata. A deleted or destroyed version (which the
    /// server answers with 404 and a normal envelope) is returned with `data.data` null;
    /// nothing at all there gives `None`.
    pub async fn kv2_read(
        &self,
        mount: &str,
        key: &str,
        version: Option<u64>,
    ) -> Result<Option<Value>> {
        let query: Vec<(&str, String)> = version
            .map(|v| ("version", v.to_string()))
            .into_iter()
            .collect();
        let path = kv2_path(mount, "data", key);
        let (status, bytes) = self
            .send_with(Method::GET, &path, &query, None, None)
            .await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(match serde_json::from_slice::<Value>(&bytes) {
                Ok(v) if v.get("data").is_some_and(Value::is_object) => Some(v),
                _ => None,
            });
        }
        finish(status, &bytes)
    }

    /// `PUT <mount>/data/<key>` with `{"data": …, "options": {"cas": N}}`: writes a new
    /// version; the response's `data` is the new version's metadata.
    pub async fn kv2_write(
        &self,
        mount: &str,
        key: &str,
        data: Map<String, Value>,
        cas: Option<u64>,
    ) -> Result<Option<Value>> {
        let body = write_body(data, cas);
        self.request_with(
            Method::PUT,
            &kv2_path(mount, "data", key),
            &[],
            Some(&body),
            None,
        )
        .await
    }

    /// `PATCH <mount>/data/<key>` (JSON merge patch: a `null` value removes a key): writes a
    /// new version from the current one.
    pub async fn kv2_patch(
        &self,
        mount: &str,
        key: &str,
        data: Map<String, Value>,
        cas: Option<u64>,
    ) -> Result<Option<Value>> {
        let body = write_body(data, cas);
        self.request_with(
            Method::PATCH,
            &kv2_path(mount, "data", key),
            &[],
            Some(&body),
            Some(MERGE_PATCH),
        )
        .await
    }

    /// `DELETE <mount>/data/<key>`: soft-deletes the current version.
    pub async fn kv2_delete_latest(&self, mount: &str, key: &str) -> Result<Option<Value>> {
        self.request_with(
            Method::DELETE,
            &kv2_path(mount, "data", key),
            &[],
            None,
            None,
        )
        .await
    }

    async fn kv2_versions_op(
        &self,
        sub: &str,
        mount: &str,
        key: &str,
        versions: &[u64],
    ) -> Result<Option<Value>> {
        let body = json!({ "versions": versions });
        self.request_with(
            Method::PUT,
            &kv2_path(mount, sub, key),
            &[],
            Some(&body),
            None,
        )
        .await
    }

    /// `PUT <mount>/delete/<key>`: soft-deletes the given versions.
    pub async fn kv2_delete_versions(
        &self,
        mount: &str,
        key: &str,
        versions: &[u64],
    ) -> Result<Option<Value>> {
        self.kv2_versions_op("delete", mount, key, versions).await
    }

    /// `PUT <mount>/undelete/<key>`: restores soft-deleted versions.
    pub async fn kv2_undelete(
        &self,
        mount: &str,
        key: &str,
        versions: &[u64],
    ) -> Result<Option<Value>> {
        self.kv2_versions_op("undelete", mount, key, versions).await
    }

    /// `PUT <mount>/destroy/<key>`: permanently removes the given versions' data.
    pub async fn kv2_destroy(
        &self,
        mount: &str,
        key: &str,
        versions: &[u64],
    ) -> Result<Option<Value>> {
        self.kv2_versions_op("destroy", mount, key, versions).await
    }

    /// `LIST <mount>/metadata/<prefix>`: keys under `data.keys`, or `None` when there are none.
    pub async fn kv2_list(&self, mount: &str, prefix: &str) -> Result<Option<Value>> {
        self.request_with_or_none(
            list_method(),
            &kv2_path(mount, "metadata", prefix),
            &[],
            None,
        )
        .await
    }

    /// `GET <mount>/metadata/<key>`: the key's metadata and its versions, or `None`.
    pub async fn kv2_read_metadata(&self, mount: &str, key: &str) -> Result<Option<Value>> {
        self.request_with_or_none(Method::GET, &kv2_path(mount, "metadata", key), &[], None)
            .await
    }

    /// `PUT <mount>/metadata/<key>`: changes the fields set in `update` (creates the metadata
    /// when the key does not exist yet).
    pub async fn kv2_write_metadata(
        &self,
        mount: &str,
        key: &str,
        update: &KvMetadataUpdate,
    ) -> Result<Option<Value>> {
        let body = serde_json::to_value(update)
            .map_err(|e| ClientError::Config(format!("cannot encode metadata: {e}")))?;
        self.request_with(
            Method::PUT,
            &kv2_path(mount, "metadata", key),
            &[],
            Some(&body),
            None,
        )
        .await
    }

    /// `DELETE <mount>/metadata/<key>`: removes the key, all its versions and metadata.
    pub async fn kv2_delete_metadata(&self, mount: &str, key: &str) -> Result<Option<Value>> {
        self.request_with(
            Method::DELETE,
            &kv2_path(mount, "metadata", key),
            &[],
            None,
            None,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_from_response() {
        let v2 = json!({"data": {"path": "secret/", "type": "kv", "options": {"version": "2"}}});
        assert_eq!(
            KvMount::from_response(&v2),
            KvMount {
                path: "secret/".into(),
                version: 2,
                kind: "kv".into(),
            }
        );
        let v1 = json!({"data": {"path": "kv/", "type": "kv", "options": {"version": "1"}}});
        assert_eq!(KvMount::from_response(&v1).version, 1);
        let none = json!({"data": {"path": "kv/", "type": "kv", "options": null}});
        assert_eq!(KvMount::from_response(&none).version, 1);
        assert!(!KvMount::from_response(&json!({})).is_v2());
    }

    #[test]
    fn paths() {
        assert_eq!(kv2_path("secret/", "data", "a/b"), "secret/data/a/b");
        assert_eq!(kv2_path("team/kv", "metadata", "/x"), "team/kv/metadata/x");
        assert_eq!(kv2_path("secret/", "metadata", ""), "secret/metadata/");
        assert_eq!(kv2_path("", "data", "k"), "data/k");
    }

    #[test]
    fn bodies() {
        let mut m = Map::new();
        m.insert("a".into(), json!("1"));
        assert_eq!(write_body(m.clone(), None), json!({"data": {"a": "1"}}));
        assert_eq!(
            write_body(m, Some(0)),
            json!({"data": {"a": "1"}, "options": {"cas": 0}})
        );
        let u = KvMetadataUpdate {
            max_versions: Some(5),
            custom_metadata: Some(BTreeMap::from([("owner".into(), "team".into())])),
            ..KvMetadataUpdate::default()
        };
        assert_eq!(
            serde_json::to_value(&u).expect("encode"),
            json!({"max_versions": 5, "custom_metadata": {"owner": "team"}})
        );
    }

    #[test]
    fn literal_paths_and_queries() {
        let c = Client::new("http://h:1/prefix", None).expect("client");
        let u = c
            .url_with_query("secret/data/a?b#c", &[("version", "2".into())])
            .expect("url");
        assert_eq!(
            u.as_str(),
            "http://h:1/prefix/v1/secret/data/a%3Fb%23c?version=2"
        );
    }
}
