//! The values of Vault's ACL template parameters for one entity:
//! `identity.entity.{id,name}`, `identity.entity.metadata.<key>`,
//! `identity.entity.aliases.<mount accessor>.{id,name}` and `.custom_metadata.<key>`,
//! `identity.groups.ids.<group id>.name`, `identity.groups.names.<group name>.id`, and the
//! groups' `.metadata.<key>`. Only the entity's own aliases and groups resolve.

use super::Resolved;

pub(super) fn lookup(r: &Resolved, key: &str) -> Option<String> {
    let rest = key.strip_prefix("identity.")?;
    if let Some(e) = rest.strip_prefix("entity.") {
        return entity(r, e);
    }
    let g = rest.strip_prefix("groups.")?;
    if let Some(by_id) = g.strip_prefix("ids.") {
        let (id, field) = by_id.split_once('.')?;
        let group = r.groups.iter().find(|g| g.id == id)?;
        return match field {
            "name" => Some(group.name.clone()),
            f => group.metadata.get(f.strip_prefix("metadata.")?).cloned(),
        };
    }
    let by_name = g.strip_prefix("names.")?;
    // Group names may contain dots: the field is what follows the longest known name.
    let group = r
        .groups
        .iter()
        .filter(|g| by_name.starts_with(&format!("{}.", g.name)))
        .max_by_key(|g| g.name.len())?;
    match &by_name[group.name.len() + 1..] {
        "id" => Some(group.id.clone()),
        f => group.metadata.get(f.strip_prefix("metadata.")?).cloned(),
    }
}

fn entity(r: &Resolved, field: &str) -> Option<String> {
    match field {
        "id" => return Some(r.entity.id.clone()),
        "name" => return Some(r.entity.name.clone()),
        _ => {}
    }
    if let Some(k) = field.strip_prefix("metadata.") {
        return r.entity.metadata.get(k).cloned();
    }
    let (accessor, field) = field.strip_prefix("aliases.")?.split_once('.')?;
    let alias = r.aliases.iter().find(|a| a.mount_accessor == accessor)?;
    match field {
        "id" => Some(alias.id.clone()),
        "name" => Some(alias.name.clone()),
        f => alias
            .custom_metadata
            .get(f.strip_prefix("custom_metadata.")?)
            .cloned(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::super::{Alias, Entity, Group, Resolved};
    use super::lookup;

    #[test]
    fn each_parameter_resolves_for_the_entity_only() {
        let mut entity = Entity::new(Some("alice"), 0).expect("entity");
        entity.metadata = BTreeMap::from([("team".into(), "blue".into())]);
        let alias = Alias::new(
            &entity.id,
            "auth_userpass_1",
            "userpass",
            "auth/userpass/",
            "al",
            0,
        );
        let mut group = Group::new(Some("dev.ops"), 0);
        group.metadata = BTreeMap::from([("env".into(), "prod".into())]);
        let r = Resolved {
            aliases: vec![Arc::new(alias.clone())],
            groups: vec![Arc::new(group.clone())],
            entity: Arc::new(entity.clone()),
            policies: Vec::new(),
            acl_key: String::new(),
        };
        let get = |k: &str| lookup(&r, k);
        assert_eq!(get("identity.entity.id"), Some(entity.id.clone()));
        assert_eq!(get("identity.entity.name").as_deref(), Some("alice"));
        assert_eq!(
            get("identity.entity.metadata.team").as_deref(),
            Some("blue")
        );
        assert_eq!(
            get("identity.entity.aliases.auth_userpass_1.name").as_deref(),
            Some("al")
        );
        assert_eq!(
            get("identity.entity.aliases.auth_userpass_1.id"),
            Some(alias.id.clone())
        );
        assert_eq!(
            get("identity.groups.names.dev.ops.id"),
            Some(group.id.clone())
        );
        assert_eq!(
            get(&format!("identity.groups.ids.{}.name", group.id)).as_deref(),
            Some("dev.ops")
        );
        assert_eq!(
            get("identity.groups.names.dev.ops.metadata.env").as_deref(),
            Some("prod")
        );
        for missing in [
            "identity.entity.metadata.nope",
            "identity.entity.aliases.auth_other.name",
            "identity.groups.names.other.id",
            "identity.entity.secret",
            "entity.id",
        ] {
            assert_eq!(get(missing), None, "{missing}");
        }
    }
}
