//! Login MFA, as Vault and OpenBao define it: TOTP methods (`identity/mfa/method/totp`),
//! login enforcements that say which logins need which methods (by auth mount accessor, auth
//! type, identity group or entity), a two-phase login completed through `sys/mfa/validate`,
//! and the single-phase `X-Vault-MFA` header.
//!
//! Beyond Vault: each enrolment comes with 10 single-use backup codes (shown once, stored as
//! SHA-256 hashes), each accepted once in place of a TOTP code.
//!
//! Methods and enforcements are few and kept in memory (loaded at unseal); enrolments are read
//! from storage when used. Pending two-phase logins, failed-validation counts and the last
//! TOTP step used per enrolment (no code is accepted twice) live in memory only: a restart
//! drops pending logins, which then start over.
//!
//! Storage below the namespace: `identity/mfa/method/<id>`, `identity/mfa/enforcement/<name>`,
//! `identity/mfa/secret/<method id>/<entity id>`.

pub(crate) mod totp;

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::auth::Login;
use crate::barrier::View;
use crate::error::{Error, Result};
use crate::mount::MountEntry;

const METHOD: &str = "identity/mfa/method/";
const ENFORCEMENT: &str = "identity/mfa/enforcement/";
/// How long a two-phase login waits for its validation (seconds).
const PENDING_TTL: i64 = 300;
/// Most logins waiting for validation at once; beyond it the oldest are dropped.
const MAX_PENDING: usize = 10_000;

/// A TOTP method's configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct TotpMethod {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) name: String,
    pub(crate) issuer: String,
    pub(crate) period: u64,
    pub(crate) key_size: u32,
    pub(crate) qr_size: u32,
    pub(crate) algorithm: String,
    pub(crate) digits: u32,
    pub(crate) skew: u32,
    pub(crate) max_validation_attempts: u32,
}

/// Which logins need which methods.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Enforcement {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) mfa_method_ids: Vec<String>,
    #[serde(default)]
    pub(crate) auth_method_accessors: Vec<String>,
    #[serde(default)]
    pub(crate) auth_method_types: Vec<String>,
    #[serde(default)]
    pub(crate) identity_group_ids: Vec<String>,
    #[serde(default)]
    pub(crate) identity_entity_ids: Vec<String>,
}

impl Enforcement {
    fn applies(&self, mount: &MountEntry, entity_id: &str, groups: &[String]) -> bool {
        self.auth_method_accessors.contains(&mount.accessor)
            || self.auth_method_types.contains(&mount.kind)
            || self.identity_entity_ids.iter().any(|e| e == entity_id)
            || self.identity_group_ids.iter().any(|g| groups.contains(g))
    }
}

/// What a login must satisfy: for each enforcement that applies, one of its methods.
pub(crate) type Constraints = Vec<(Arc<Enforcement>, Vec<Arc<TotpMethod>>)>;

/// A login waiting for its MFA validation.
pub(crate) struct Pending {
    pub(crate) mount: Arc<MountEntry>,
    pub(crate) path: String,
    pub(crate) login: Login,
    pub(crate) entity_id: String,
    pub(crate) constraints: Constraints,
    expires: i64,
}

/// The MFA configuration and state of one namespace.
pub(crate) struct MfaStore {
    view: View,
    methods: parking_lot::RwLock<HashMap<String, Arc<TotpMethod>>>,
    enforcements: parking_lot::RwLock<HashMap<String, Arc<Enforcement>>>,
    pending: parking_lot::Mutex<HashMap<String, Pending>>,
    pub(crate) totp: totp::TotpState,
    write_lock: tokio::sync::Mutex<()>,
}

impl MfaStore {
    pub(crate) async fn open(view: View) -> Result<MfaStore> {
        let methods = view
            .get_all_json::<TotpMethod>(METHOD, "MFA method")
            .await?
            .into_iter()
            .map(|m| (m.id.clone(), Arc::new(m)))
            .collect();
        let enforcements = view
            .get_all_json::<Enforcement>(ENFORCEMENT, "MFA enforcement")
            .await?
            .into_iter()
            .map(|e| (e.name.clone(), Arc::new(e)))
            .collect();
        Ok(MfaStore {
            totp: totp::TotpState::new(view.clone()),
            view,
            methods: parking_lot::RwLock::new(methods),
            enforcements: parking_lot::RwLock::new(enforcements),
            pending: parking_lot::Mutex::new(HashMap::new()),
            write_lock: tokio::sync::Mutex::new(()),
        })
    }

    pub(crate) async fn lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.write_lock.lock().await
    }

    pub(crate) fn method(&self, id: &str) -> Option<Arc<TotpMethod>> {
        self.methods.read().get(id).cloned()
    }

    /// A method by id or by name (the `X-Vault-MFA` header may give either).
    pub(crate) fn method_by_id_or_name(&self, key: &str) -> Option<Arc<TotpMethod>> {
        let methods = self.methods.read();
        methods
            .get(key)
            .or_else(|| {
                methods
                    .values()
                    .find(|m| !m.name.is_empty() && m.name == key)
            })
            .cloned()
    }

    pub(crate) fn methods(&self) -> Vec<Arc<TotpMethod>> {
        let mut all: Vec<_> = self.methods.read().values().cloned().collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    /// Stores a method. Hold [`MfaStore::lock`].
    pub(crate) async fn put_method(&self, m: TotpMethod) -> Result<()> {
        self.view.put_json(&format!("{METHOD}{}", m.id), &m).await?;
        self.methods.write().insert(m.id.clone(), Arc::new(m));
        Ok(())
    }

    /// Removes a method; refused while an enforcement names it. Hold [`MfaStore::lock`].
    pub(crate) async fn delete_method(&self, id: &str) -> Result<()> {
        if let Some(e) = self
            .enforcements
            .read()
            .values()
            .find(|e| e.mfa_method_ids.iter().any(|m| m == id))
        {
            return Err(Error::invalid(format!(
                "MFA method is used by login enforcement \"{}\"",
                e.name
            )));
        }
        self.totp.forget_method(id).await?;
        self.view.delete(&format!("{METHOD}{id}")).await?;
        self.methods.write().remove(id);
        Ok(())
    }

    pub(crate) fn enforcement(&self, name: &str) -> Option<Arc<Enforcement>> {
        self.enforcements.read().get(name).cloned()
    }

    pub(crate) fn enforcements(&self) -> Vec<Arc<Enforcement>> {
        let mut all: Vec<_> = self.enforcements.read().values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// Stores an enforcement. Hold [`MfaStore::lock`].
    pub(crate) async fn put_enforcement(&self, e: Enforcement) -> Result<()> {
        self.view
            .put_json(&format!("{ENFORCEMENT}{}", e.name), &e)
            .await?;
        self.enforcements
            .write()
            .insert(e.name.clone(), Arc::new(e));
        Ok(())
    }

    /// Removes an enforcement. Hold [`MfaStore::lock`].
    pub(crate) async fn delete_enforcement(&self, name: &str) -> Result<()> {
        self.view.delete(&format!("{ENFORCEMENT}{name}")).await?;
        self.enforcements.write().remove(name);
        Ok(())
    }

    /// What a login through `mount` by `entity_id` (member of `groups`) must satisfy.
    pub(crate) fn constraints(
        &self,
        mount: &MountEntry,
        entity_id: &str,
        groups: &[String],
    ) -> Constraints {
        let methods = self.methods.read();
        self.enforcements()
            .into_iter()
            .filter(|e| e.applies(mount, entity_id, groups))
            .map(|e| {
                let ms = e
                    .mfa_method_ids
                    .iter()
                    .filter_map(|id| methods.get(id).cloned())
                    .collect();
                (e, ms)
            })
            .collect()
    }

    /// Keeps a login until its validation; returns its request id.
    pub(crate) fn park(
        &self,
        mount: Arc<MountEntry>,
        path: String,
        login: Login,
        entity_id: String,
        constraints: Constraints,
        now: i64,
    ) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let mut pending = self.pending.lock();
        pending.retain(|_, p| p.expires > now);
        if pending.len() >= MAX_PENDING
            && let Some(oldest) = pending
                .iter()
                .min_by_key(|(_, p)| p.expires)
                .map(|(k, _)| k.clone())
        {
            pending.remove(&oldest);
        }
        pending.insert(
            id.clone(),
            Pending {
                mount,
                path,
                login,
                entity_id,
                constraints,
                expires: now + PENDING_TTL,
            },
        );
        id
    }

    /// Takes a pending login out (it is validated once, whatever the outcome... unless the
    /// failure leaves attempts: see [`MfaStore::put_back`]).
    pub(crate) fn take(&self, id: &str, now: i64) -> Option<Pending> {
        let mut pending = self.pending.lock();
        let p = pending.remove(id)?;
        (p.expires > now).then_some(p)
    }

    /// Returns a pending login whose validation failed, for another try.
    pub(crate) fn put_back(&self, id: String, p: Pending) {
        self.pending.lock().insert(id, p);
    }
}

/// The `auth` block of a login that waits for MFA, with what it must satisfy (Vault's shape).
pub(crate) fn requirement_response(
    request_id: &str,
    constraints: &Constraints,
) -> crate::request::Response {
    use serde_json::{Map, Value, json};
    let mut by_name = Map::new();
    for (e, methods) in constraints {
        let any: Vec<Value> = methods
            .iter()
            .map(|m| json!({"type": "totp", "id": m.id, "uses_passcode": true, "name": m.name}))
            .collect();
        by_name.insert(e.name.clone(), json!({ "any": any }));
    }
    let mut auth = Map::new();
    for (k, v) in [
        ("client_token", json!("")),
        ("accessor", json!("")),
        ("policies", Value::Null),
        ("metadata", Value::Null),
        ("lease_duration", json!(0)),
        ("renewable", json!(false)),
        ("entity_id", json!("")),
        ("token_type", json!("default")),
        ("orphan", json!(false)),
        ("num_uses", json!(0)),
    ] {
        auth.insert(k.into(), v);
    }
    auth.insert(
        "mfa_requirement".into(),
        json!({"mfa_request_id": request_id, "mfa_constraints": by_name}),
    );
    crate::request::Response {
        auth: Some(auth),
        warnings: vec![
            "A login request was issued that is subject to MFA validation. Please make sure to \
             validate the login by sending another request to sys/mfa/validate endpoint."
                .into(),
        ],
        ..crate::request::Response::default()
    }
}

/// Passcodes by method id, from `X-Vault-MFA` headers (`method id or name:passcode`).
pub(crate) fn payload_from_headers(
    store: &MfaStore,
    headers: &[zeroize::Zeroizing<String>],
) -> Result<HashMap<String, Vec<zeroize::Zeroizing<String>>>> {
    let mut payload: HashMap<String, Vec<zeroize::Zeroizing<String>>> = HashMap::new();
    for h in headers {
        let (method, code) = h.rsplit_once(':').ok_or_else(|| {
            Error::invalid("invalid X-Vault-MFA header: expected METHOD:PASSCODE")
        })?;
        let m = store
            .method_by_id_or_name(method.trim())
            .ok_or_else(|| Error::invalid("invalid X-Vault-MFA header: unknown MFA method"))?;
        payload
            .entry(m.id.clone())
            .or_default()
            .push(zeroize::Zeroizing::new(code.trim().to_string()));
    }
    Ok(payload)
}

impl MfaStore {
    /// Checks that `payload` satisfies every constraint (one method of each enforcement).
    pub(crate) async fn satisfy(
        &self,
        constraints: &Constraints,
        entity_id: &str,
        payload: &HashMap<String, Vec<zeroize::Zeroizing<String>>>,
        now: i64,
    ) -> Result<()> {
        for (enforcement, methods) in constraints {
            let mut satisfied = false;
            'methods: for m in methods {
                for code in payload.get(&m.id).into_iter().flatten() {
                    if self.totp.verify(m, entity_id, code, now).await? {
                        satisfied = true;
                        break 'methods;
                    }
                }
            }
            if !satisfied {
                return Err(Error::PermissionDeniedMsg(format!(
                    "failed to satisfy enforcement {}: MFA credentials not supplied or incorrect",
                    enforcement.name
                )));
            }
        }
        Ok(())
    }
}
