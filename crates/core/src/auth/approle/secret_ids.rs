//! AppRole's stored state: roles, the role-id index and secret ids. Role ids and secret ids
//! are credentials, so storage keys hold only their keyed hash (HMAC-SHA-256 with a key kept
//! behind the barrier, per mount): a lookup by hash takes the same time whatever the secret,
//! and a disk or backup does not hold usable secret ids.
//!
//! Storage below the mount:
//! - `salt`: the HMAC key (made on first use)
//! - `role/<name>` → [`Role`]
//! - `role-id/<hmac of the role id>` → the role's name
//! - `secret-id/<name>/<hmac of the secret id>` → [`SecretId`]
//! - `accessor/<name>/<accessor>` → the hex HMAC of its secret id

use std::collections::BTreeMap;

use coffre_crypto::HmacKey;
use serde::{Deserialize, Serialize};

use crate::auth::token_params::TokenParams;
use crate::barrier::{View, to_json};
use crate::error::{Error, Result};

const SALT: &str = "salt";
const ROLE: &str = "role/";
const ROLE_ID: &str = "role-id/";
const SECRET_ID: &str = "secret-id/";
const ACCESSOR: &str = "accessor/";

/// An AppRole role.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Role {
    pub(super) role_id: String,
    pub(super) bind_secret_id: bool,
    #[serde(default)]
    pub(super) secret_id_bound_cidrs: Vec<String>,
    #[serde(default)]
    pub(super) secret_id_num_uses: i64,
    /// Seconds (0: secret ids do not expire).
    #[serde(default)]
    pub(super) secret_id_ttl: u64,
    #[serde(default)]
    pub(super) local_secret_ids: bool,
    #[serde(default)]
    pub(super) token: TokenParams,
}

/// A secret id as stored (without the secret id itself).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct SecretId {
    pub(super) accessor: String,
    /// Unix seconds.
    pub(super) creation_time: i64,
    /// Unix seconds; `None`: never expires.
    pub(super) expiration_time: Option<i64>,
    pub(super) last_updated_time: i64,
    #[serde(default)]
    pub(super) metadata: BTreeMap<String, String>,
    /// Uses left (0: unlimited).
    #[serde(default)]
    pub(super) num_uses: i64,
    /// Seconds, as created.
    #[serde(default)]
    pub(super) ttl: u64,
    #[serde(default)]
    pub(super) cidr_list: Vec<String>,
    #[serde(default)]
    pub(super) token_bound_cidrs: Vec<String>,
}

impl SecretId {
    pub(super) fn is_expired(&self, now: i64) -> bool {
        self.expiration_time.is_some_and(|t| now >= t)
    }
}

/// State shared by every instance of one AppRole mount: the HMAC key once loaded, and the
/// lock that serializes changes to secret ids and role ids (use counts, uniqueness).
#[derive(Default)]
pub(crate) struct Shared {
    key: tokio::sync::OnceCell<HmacKey>,
    pub(super) lock: tokio::sync::Mutex<()>,
}

/// The stored state of one mount, seen through its view.
pub(super) struct Store<'a> {
    pub(super) view: &'a View,
    pub(super) shared: &'a Shared,
}

impl Store<'_> {
    async fn key(&self) -> Result<&HmacKey> {
        self.shared
            .key
            // One cell for every instance of the mount (see `Shared`): the key is made once.
            .get_or_try_init(|| async {
                if let Some(raw) = self.view.get(SALT).await? {
                    return Ok(HmacKey::new(raw.expose()));
                }
                let fresh = coffre_crypto::Key256::generate()?;
                self.view.put(SALT, fresh.expose()).await?;
                Ok::<_, Error>(HmacKey::new(fresh.expose()))
            })
            .await
    }

    async fn hash(&self, secret: &str) -> Result<String> {
        Ok(hex::encode(self.key().await?.sign(secret.as_bytes())))
    }

    pub(super) async fn role(&self, name: &str) -> Result<Option<Role>> {
        self.view
            .get_json(&format!("{ROLE}{name}"), "AppRole role")
            .await
    }

    pub(super) async fn roles(&self) -> Result<Vec<String>> {
        self.view.list(ROLE).await
    }

    /// Writes `role` as `name`, moving the role-id index when its id changed. Refuses a role
    /// id another role has. Hold [`Shared::lock`].
    pub(super) async fn put_role(&self, name: &str, role: &Role, old: Option<&Role>) -> Result<()> {
        let new_index = format!("{ROLE_ID}{}", self.hash(&role.role_id).await?);
        if let Some(owner) = self.view.get(&new_index).await?
            && owner.expose() != name.as_bytes()
        {
            return Err(Error::invalid("role_id already in use"));
        }
        let mut writes = vec![
            (format!("{ROLE}{name}"), Some(to_json(role)?)),
            (new_index.clone(), Some(name.as_bytes().to_vec())),
        ];
        if let Some(old) = old.filter(|o| o.role_id != role.role_id) {
            writes.push((format!("{ROLE_ID}{}", self.hash(&old.role_id).await?), None));
        }
        self.view.batch(writes).await
    }

    /// Removes a role with its role-id index and every secret id. Hold [`Shared::lock`].
    pub(super) async fn delete_role(&self, name: &str, role: &Role) -> Result<()> {
        self.view
            .batch(vec![
                (format!("{ROLE}{name}"), None),
                (
                    format!("{ROLE_ID}{}", self.hash(&role.role_id).await?),
                    None,
                ),
            ])
            .await?;
        self.view
            .sub(&format!("{SECRET_ID}{name}/"))
            .clear()
            .await?;
        self.view.sub(&format!("{ACCESSOR}{name}/")).clear().await
    }

    /// The role a role id belongs to.
    pub(super) async fn role_by_id(&self, role_id: &str) -> Result<Option<(String, Role)>> {
        let index = format!("{ROLE_ID}{}", self.hash(role_id).await?);
        let Some(name) = self.view.get(&index).await? else {
            return Ok(None);
        };
        let name = String::from_utf8_lossy(name.expose()).into_owned();
        Ok(self.role(&name).await?.map(|r| (name, r)))
    }

    /// Stores a new secret id of role `name`. Refuses one that exists. Hold [`Shared::lock`].
    pub(super) async fn put_secret_id(
        &self,
        name: &str,
        secret: &str,
        entry: &SecretId,
    ) -> Result<()> {
        let hash = self.hash(secret).await?;
        let key = format!("{SECRET_ID}{name}/{hash}");
        if self.view.get(&key).await?.is_some() {
            return Err(Error::invalid("secret_id is already registered"));
        }
        self.view
            .batch(vec![
                (key, Some(to_json(entry)?)),
                (
                    format!("{ACCESSOR}{name}/{}", entry.accessor),
                    Some(hash.into_bytes()),
                ),
            ])
            .await
    }

    /// A secret id of role `name`, with its hash.
    pub(super) async fn secret_id(
        &self,
        name: &str,
        secret: &str,
    ) -> Result<Option<(String, SecretId)>> {
        let hash = self.hash(secret).await?;
        self.secret_id_by_hash(name, &hash)
            .await
            .map(|e| e.map(|e| (hash, e)))
    }

    async fn secret_id_by_hash(&self, name: &str, hash: &str) -> Result<Option<SecretId>> {
        self.view
            .get_json(&format!("{SECRET_ID}{name}/{hash}"), "AppRole secret id")
            .await
    }

    /// The hash of the secret id an accessor names.
    pub(super) async fn hash_of_accessor(
        &self,
        name: &str,
        accessor: &str,
    ) -> Result<Option<String>> {
        if accessor.contains('/') {
            return Ok(None);
        }
        Ok(self
            .view
            .get(&format!("{ACCESSOR}{name}/{accessor}"))
            .await?
            .map(|h| String::from_utf8_lossy(h.expose()).into_owned()))
    }

    /// The secret id an accessor names.
    pub(super) async fn secret_id_by_accessor(
        &self,
        name: &str,
        accessor: &str,
    ) -> Result<Option<(String, SecretId)>> {
        let Some(hash) = self.hash_of_accessor(name, accessor).await? else {
            return Ok(None);
        };
        Ok(self
            .secret_id_by_hash(name, &hash)
            .await?
            .map(|e| (hash, e)))
    }

    /// Rewrites a secret id (a use spent). Hold [`Shared::lock`].
    pub(super) async fn update_secret_id(
        &self,
        name: &str,
        hash: &str,
        entry: &SecretId,
    ) -> Result<()> {
        self.view
            .put_json(&format!("{SECRET_ID}{name}/{hash}"), entry)
            .await
    }

    /// Removes a secret id and its accessor. Hold [`Shared::lock`].
    pub(super) async fn delete_secret_id(
        &self,
        name: &str,
        hash: &str,
        accessor: &str,
    ) -> Result<()> {
        self.view
            .batch(vec![
                (format!("{SECRET_ID}{name}/{hash}"), None),
                (format!("{ACCESSOR}{name}/{accessor}"), None),
            ])
            .await
    }

    /// The accessors of role `name`'s secret ids.
    pub(super) async fn accessors(&self, name: &str) -> Result<Vec<String>> {
        self.view.list(&format!("{ACCESSOR}{name}/")).await
    }

    /// Removes the expired secret ids of every role, and accessors whose secret id is gone;
    /// returns how many were removed. Hold [`Shared::lock`].
    pub(super) async fn tidy(&self, now: i64) -> Result<usize> {
        let mut removed = 0;
        for name in self.roles().await? {
            for accessor in self.accessors(&name).await? {
                let Some(hash) = self.hash_of_accessor(&name, &accessor).await? else {
                    continue;
                };
                match self.secret_id_by_hash(&name, &hash).await? {
                    Some(e) if !e.is_expired(now) => {}
                    _ => {
                        self.delete_secret_id(&name, &hash, &accessor).await?;
                        removed += 1;
                    }
                }
            }
        }
        Ok(removed)
    }
}
