//! Entities, aliases and groups as stored, and as the API shows them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::clock::rfc3339_nanos;
use crate::error::Result;

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A person or a machine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Entity {
    pub(crate) id: String,
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) policies: Vec<String>,
    #[serde(default)]
    pub(crate) metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) disabled: bool,
    /// Unix nanoseconds.
    pub(crate) creation_time: i64,
    pub(crate) last_update_time: i64,
}

impl Entity {
    /// A new entity named `name`, or `entity_<first 8 hex digits of its id>`.
    pub(crate) fn new(name: Option<&str>, now_nanos: i64) -> Result<Entity> {
        let id = new_id();
        let name = match name {
            Some(n) => n.to_string(),
            None => format!("entity_{}", &id[..8]),
        };
        Ok(Entity {
            id,
            name,
            policies: Vec::new(),
            metadata: BTreeMap::new(),
            disabled: false,
            creation_time: now_nanos,
            last_update_time: now_nanos,
        })
    }
}

/// The name an auth mount knows an entity by.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Alias {
    pub(crate) id: String,
    pub(crate) canonical_id: String,
    pub(crate) mount_accessor: String,
    #[serde(default)]
    pub(crate) mount_type: String,
    #[serde(default)]
    pub(crate) mount_path: String,
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) custom_metadata: BTreeMap<String, String>,
    pub(crate) creation_time: i64,
    pub(crate) last_update_time: i64,
    /// Unix seconds of the last login through this alias (to the hour in storage).
    #[serde(default)]
    pub(crate) last_login: Option<i64>,
}

impl Alias {
    pub(crate) fn new(
        entity_id: &str,
        accessor: &str,
        mount_type: &str,
        mount_path: &str,
        name: &str,
        now_nanos: i64,
    ) -> Alias {
        Alias {
            id: new_id(),
            canonical_id: entity_id.to_string(),
            mount_accessor: accessor.to_string(),
            mount_type: mount_type.to_string(),
            mount_path: mount_path.to_string(),
            name: name.to_string(),
            custom_metadata: BTreeMap::new(),
            creation_time: now_nanos,
            last_update_time: now_nanos,
            last_login: None,
        }
    }

    /// The alias as the API shows it.
    pub(crate) fn to_api(&self, namespace_id: &str) -> Map<String, Value> {
        let mut d = Map::new();
        d.insert("id".into(), json!(self.id));
        d.insert("canonical_id".into(), json!(self.canonical_id));
        d.insert("mount_accessor".into(), json!(self.mount_accessor));
        d.insert("mount_path".into(), json!(self.mount_path));
        d.insert("mount_type".into(), json!(self.mount_type));
        d.insert("name".into(), json!(self.name));
        d.insert("custom_metadata".into(), json!(self.custom_metadata));
        d.insert("metadata".into(), Value::Null);
        d.insert("local".into(), json!(false));
        d.insert(
            "creation_time".into(),
            json!(rfc3339_nanos(self.creation_time)),
        );
        d.insert(
            "last_update_time".into(),
            json!(rfc3339_nanos(self.last_update_time)),
        );
        d.insert("merged_from_canonical_ids".into(), Value::Null);
        d.insert("namespace_id".into(), json!(namespace_id));
        if let Some(t) = self.last_login {
            d.insert(
                "last_login_time".into(),
                json!(rfc3339_nanos(t.saturating_mul(1_000_000_000))),
            );
        }
        d
    }
}

/// An internal group: policies for its members.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Group {
    pub(crate) id: String,
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) policies: Vec<String>,
    #[serde(default)]
    pub(crate) metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) member_entity_ids: Vec<String>,
    #[serde(default)]
    pub(crate) member_group_ids: Vec<String>,
    pub(crate) creation_time: i64,
    pub(crate) last_update_time: i64,
    #[serde(default)]
    pub(crate) modify_index: u64,
}

impl Group {
    pub(crate) fn new(name: Option<&str>, now_nanos: i64) -> Group {
        let id = new_id();
        Group {
            name: name.map_or_else(|| format!("group_{}", &id[..8]), str::to_string),
            id,
            policies: Vec::new(),
            metadata: BTreeMap::new(),
            member_entity_ids: Vec::new(),
            member_group_ids: Vec::new(),
            creation_time: now_nanos,
            last_update_time: now_nanos,
            modify_index: 0,
        }
    }
}
