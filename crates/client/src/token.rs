//! The token store (`auth/token/…`) and capability checks (`sys/capabilities*`).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use crate::{Client, ClientError, Method, Result};

/// Parameters of a new token (`POST auth/token/create…`). Unset fields take the server's
/// defaults. Durations are in seconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TokenCreateRequest {
    /// Policies of the token (default: the caller's).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    /// Metadata attached to the token (shown by lookups and in audit logs).
    #[serde(rename = "meta", skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// Do not add the `default` policy.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_default_policy: bool,
    /// Initial TTL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u64>,
    /// Hard limit renewals cannot go past.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explicit_max_ttl: Option<u64>,
    /// Makes the token periodic: each renewal resets its TTL to this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<u64>,
    /// Uses before the token is revoked (0: unlimited).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_uses: Option<u64>,
    /// Display name (stored as `token-<name>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `service` or `batch`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// Whether the token can be renewed (default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renewable: Option<bool>,
    /// A token without a parent (not revoked with its creator). Without a role this calls
    /// `auth/token/create-orphan`; with a role it sends `no_parent`.
    #[serde(skip)]
    pub orphan: bool,
    /// Create the token against this token role (`auth/token/create/:role`).
    #[serde(skip)]
    pub role: Option<String>,
}

impl TokenCreateRequest {
    /// The endpoint and JSON body of this request.
    pub fn endpoint_and_body(&self) -> Result<(String, Value)> {
        let mut body = serde_json::to_value(self)
            .map_err(|e| ClientError::Config(format!("cannot encode token request: {e}")))?;
        let path = match (&self.role, self.orphan) {
            (Some(role), orphan) => {
                if orphan {
                    body["no_parent"] = json!(true);
                }
                format!("auth/token/create/{}", role.trim_matches('/'))
            }
            (None, true) => "auth/token/create-orphan".to_string(),
            (None, false) => "auth/token/create".to_string(),
        };
        Ok((path, body))
    }
}

fn non_empty(resp: Option<Value>, what: &str) -> Result<Value> {
    resp.ok_or_else(|| ClientError::Decode(format!("{what}: empty response")))
}

impl Client {
    /// Creates a token; the response's `auth` block holds `client_token`, `accessor`,
    /// `policies`, `lease_duration`…
    pub async fn token_create(&self, req: &TokenCreateRequest) -> Result<Value> {
        let (path, body) = req.endpoint_and_body()?;
        let resp = self
            .request_with(Method::POST, &path, &[], Some(&body), None)
            .await?;
        non_empty(resp, &path)
    }

    /// `GET auth/token/lookup-self`: the calling token's properties in `data`.
    pub async fn token_lookup_self(&self) -> Result<Value> {
        let resp = self
            .request_with(Method::GET, "auth/token/lookup-self", &[], None, None)
            .await?;
        non_empty(resp, "auth/token/lookup-self")
    }

    /// `POST auth/token/lookup`: another token's properties.
    pub async fn token_lookup(&self, token: &str) -> Result<Value> {
        let body = json!({ "token": token });
        let resp = self
            .request_with(Method::POST, "auth/token/lookup", &[], Some(&body), None)
            .await?;
        non_empty(resp, "auth/token/lookup")
    }

    /// `POST auth/token/lookup-accessor`: a token's properties by accessor (`id` is empty).
    pub async fn token_lookup_accessor(&self, accessor: &str) -> Result<Value> {
        let body = json!({ "accessor": accessor });
        let path = "auth/token/lookup-accessor";
        let resp = self
            .request_with(Method::POST, path, &[], Some(&body), None)
            .await?;
        non_empty(resp, path)
    }

    /// `POST auth/token/renew-self`, optionally asking for `increment` seconds.
    pub async fn token_renew_self(&self, increment: Option<u64>) -> Result<Value> {
        let mut body = json!({});
        if let Some(inc) = increment {
            body["increment"] = json!(inc);
        }
        let path = "auth/token/renew-self";
        let resp = self
            .request_with(Method::POST, path, &[], Some(&body), None)
            .await?;
        non_empty(resp, path)
    }

    /// `POST auth/token/renew`: renews another token.
    pub async fn token_renew(&self, token: &str, increment: Option<u64>) -> Result<Value> {
        let mut body = json!({ "token": token });
        if let Some(inc) = increment {
            body["increment"] = json!(inc);
        }
        let path = "auth/token/renew";
        let resp = self
            .request_with(Method::POST, path, &[], Some(&body), None)
            .await?;
        non_empty(resp, path)
    }

    /// `POST auth/token/renew-accessor`: renews a token by accessor.
    pub async fn token_renew_accessor(
        &self,
        accessor: &str,
        increment: Option<u64>,
    ) -> Result<Value> {
        let mut body = json!({ "accessor": accessor });
        if let Some(inc) = increment {
            body["increment"] = json!(inc);
        }
        let path = "auth/token/renew-accessor";
        let resp = self
            .request_with(Method::POST, path, &[], Some(&body), None)
            .await?;
        non_empty(resp, path)
    }

    /// `POST auth/token/revoke`: revokes a token and all its descendants.
    pub async fn token_revoke(&self, token: &str) -> Result<Option<Value>> {
        let body = json!({ "token": token });
        self.request_with(Method::POST, "auth/token/revoke", &[], Some(&body), None)
            .await
    }

    /// `POST auth/token/revoke-orphan` (sudo): revokes a token, its children become orphans.
    pub async fn token_revoke_orphan(&self, token: &str) -> Result<Option<Value>> {
        let body = json!({ "token": token });
        let path = "auth/token/revoke-orphan";
        self.request_with(Method::POST, path, &[], Some(&body), None)
            .await
    }

    /// `POST auth/token/revoke-accessor`: revokes the token with this accessor.
    pub async fn token_revoke_accessor(&self, accessor: &str) -> Result<Option<Value>> {
        let body = json!({ "accessor": accessor });
        let path = "auth/token/revoke-accessor";
        self.request_with(Method::POST, path, &[], Some(&body), None)
            .await
    }

    /// `POST auth/token/revoke-self`: revokes the calling token.
    pub async fn token_revoke_self(&self) -> Result<Option<Value>> {
        self.request_with(Method::POST, "auth/token/revoke-self", &[], None, None)
            .await
    }

    /// `POST sys/capabilities-self`: the calling token's capabilities on `paths`
    /// (`data.capabilities` for the union, `data.<path>` per path).
    pub async fn capabilities_self(&self, paths: &[&str]) -> Result<Value> {
        let body = json!({ "paths": paths });
        let path = "sys/capabilities-self";
        let resp = self
            .request_with(Method::POST, path, &[], Some(&body), None)
            .await?;
        non_empty(resp, path)
    }

    /// `POST sys/capabilities`: another token's capabilities on `paths`.
    pub async fn capabilities(&self, token: &str, paths: &[&str]) -> Result<Value> {
        let body = json!({ "token": token, "paths": paths });
        let path = "sys/capabilities";
        let resp = self
            .request_with(Method::POST, path, &[], Some(&body), None)
            .await?;
        non_empty(resp, path)
    }

    /// `POST sys/capabilities-accessor`: capabilities on `paths` of the token with this
    /// accessor.
    pub async fn capabilities_accessor(&self, accessor: &str, paths: &[&str]) -> Result<Value> {
        let body = json!({ "accessor": accessor, "paths": paths });
        let path = "sys/capabilities-accessor";
        let resp = self
            .request_with(Method::POST, path, &[], Some(&body), None)
            .await?;
        non_empty(resp, path)
    }
}

/// The capability names of a `sys/capabilities*` response for `path` (`data.<path>`, else
/// `data.capabilities`, else the top-level twins).
pub fn capabilities_of(resp: &Value, path: &str) -> Vec<String> {
    let data = resp.get("data").filter(|d| d.is_object()).unwrap_or(resp);
    data.get(path)
        .or_else(|| data.get("capabilities"))
        .and_then(Value::as_array)
        .map(|caps| {
            caps.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_endpoints_and_bodies() {
        let (path, body) = TokenCreateRequest::default()
            .endpoint_and_body()
            .expect("encode");
        assert_eq!(path, "auth/token/create");
        assert_eq!(body, json!({}));

        let req = TokenCreateRequest {
            policies: vec!["a".into(), "b".into()],
            metadata: BTreeMap::from([("team".into(), "ops".into())]),
            no_default_policy: true,
            ttl: Some(3600),
            token_type: Some("batch".into()),
            orphan: true,
            ..TokenCreateRequest::default()
        };
        let (path, body) = req.endpoint_and_body().expect("encode");
        assert_eq!(path, "auth/token/create-orphan");
        assert_eq!(
            body,
            json!({"policies": ["a", "b"], "meta": {"team": "ops"}, "no_default_policy": true,
                   "ttl": 3600, "type": "batch"})
        );

        let req = TokenCreateRequest {
            role: Some("web".into()),
            orphan: true,
            ..TokenCreateRequest::default()
        };
        let (path, body) = req.endpoint_and_body().expect("encode");
        assert_eq!(path, "auth/token/create/web");
        assert_eq!(body, json!({"no_parent": true}));
    }

    #[test]
    fn capabilities_from_responses() {
        let resp = json!({"data": {"capabilities": ["read"], "secret/x": ["list", "read"]}});
        assert_eq!(capabilities_of(&resp, "secret/x"), ["list", "read"]);
        assert_eq!(capabilities_of(&resp, "other"), ["read"]);
        assert!(capabilities_of(&json!({}), "p").is_empty());
    }
}
