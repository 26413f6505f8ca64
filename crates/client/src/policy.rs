//! ACL policies (`sys/policies/acl/…`).

use serde_json::Value;
use serde_json::json;

use crate::{Client, Method, Result, list_method};

fn policy_path(name: &str) -> String {
    format!("sys/policies/acl/{}", name.trim_matches('/'))
}

impl Client {
    /// `PUT sys/policies/acl/:name` with the policy text (HCL or JSON). The response is
    /// `None` (204) unless the server has warnings (e.g. the name was lower-cased).
    pub async fn policy_write(&self, name: &str, policy: &str) -> Result<Option<Value>> {
        let body = json!({ "policy": policy });
        self.request_with(Method::PUT, &policy_path(name), &[], Some(&body), None)
            .await
    }

    /// `GET sys/policies/acl/:name`: `data.name` and `data.policy` (the text), or `None` when
    /// there is no such policy.
    pub async fn policy_read(&self, name: &str) -> Result<Option<Value>> {
        self.request_with_or_none(Method::GET, &policy_path(name), &[], None)
            .await
    }

    /// `LIST sys/policies/acl`: the names under `data.keys`.
    pub async fn policy_list(&self) -> Result<Option<Value>> {
        self.request_with_or_none(list_method(), "sys/policies/acl", &[], None)
            .await
    }

    /// `DELETE sys/policies/acl/:name` (`root` and `default` cannot be deleted).
    pub async fn policy_delete(&self, name: &str) -> Result<Option<Value>> {
        self.request_with(Method::DELETE, &policy_path(name), &[], None, None)
            .await
    }
}

/// The names in a `LIST` response (`data.keys`, or top-level `keys`).
pub fn list_keys(resp: &Value) -> Vec<String> {
    resp.get("data")
        .and_then(|d| d.get("keys"))
        .or_else(|| resp.get("keys"))
        .and_then(Value::as_array)
        .map(|keys| {
            keys.iter()
                .map(|k| match k {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_list_responses() {
        assert_eq!(
            list_keys(&json!({"data": {"keys": ["default", "root"]}})),
            ["default", "root"]
        );
        assert_eq!(list_keys(&json!({"keys": ["a/"]})), ["a/"]);
        assert!(list_keys(&json!({"data": null})).is_empty());
        assert_eq!(policy_path("/p/"), "sys/policies/acl/p");
    }
}
