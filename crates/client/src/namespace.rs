//! Namespaces (`sys/namespaces/…`), in the client's namespace (a child of it is created).

use serde_json::{Value, json};

use crate::{Client, Method, Result, list_method};

fn namespace_path(name: &str) -> String {
    format!("sys/namespaces/{}", name.trim_matches('/'))
}

/// `Content-Type` of a JSON merge patch.
const MERGE_PATCH: &str = "application/merge-patch+json";

impl Client {
    /// `PUT sys/namespaces/:name`: creates the namespace (or replaces its custom metadata).
    pub async fn namespace_create(
        &self,
        name: &str,
        custom_metadata: &serde_json::Map<String, Value>,
    ) -> Result<Option<Value>> {
        let body = json!({ "custom_metadata": custom_metadata });
        self.request_with(Method::PUT, &namespace_path(name), &[], Some(&body), None)
            .await
    }

    /// `GET sys/namespaces/:name`, `None` when there is none.
    pub async fn namespace_read(&self, name: &str) -> Result<Option<Value>> {
        self.request_with_or_none(Method::GET, &namespace_path(name), &[], None)
            .await
    }

    /// `LIST sys/namespaces`: `data.keys` and `data.key_info`, `None` when there are none.
    pub async fn namespace_list(&self) -> Result<Option<Value>> {
        self.request_with_or_none(list_method(), "sys/namespaces", &[], None)
            .await
    }

    /// `PATCH sys/namespaces/:name`: merges `custom_metadata` (a `null` value removes a key).
    pub async fn namespace_patch(
        &self,
        name: &str,
        custom_metadata: &serde_json::Map<String, Value>,
    ) -> Result<Option<Value>> {
        let body = json!({ "custom_metadata": custom_metadata });
        self.request_with(
            Method::PATCH,
            &namespace_path(name),
            &[],
            Some(&body),
            Some(MERGE_PATCH),
        )
        .await
    }

    /// `DELETE sys/namespaces/:name`: destroys the namespace's key, then its data.
    pub async fn namespace_delete(&self, name: &str) -> Result<Option<Value>> {
        self.request_with(Method::DELETE, &namespace_path(name), &[], None, None)
            .await
    }
}
