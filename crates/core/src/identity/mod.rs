//! The identity store of a namespace: entities (who someone is), their aliases (one per auth
//! mount: the name a login method knows them by) and internal groups (policies given to
//! member entities and, through nesting, to the members of member groups).
//!
//! Logins resolve to an entity through their alias, creating both on first login, and the
//! token carries the entity's id. At request time the entity's own and its groups' policies
//! (the *identity policies*) are added to the token's, so a change to a group applies to live
//! tokens at their next request; and policy paths templated on the entity
//! (`{{identity.entity.id}}`, …) are rendered for it ([`Resolved::template`]).
//!
//! Everything is kept in memory, as Vault keeps it in memdb, and loaded at unseal; a write goes
//! to storage first, then to memory, under one lock. What a request needs of an entity is
//! computed once per change of the store ([`IdentityStore::resolve`]).
//!
//! Storage below the namespace: `identity/entity/<id>`, `identity/alias/<id>`,
//! `identity/group/<id>`.

mod template;
mod types;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::barrier::{View, to_json};
use crate::error::Result;

pub(crate) use types::{Alias, Entity, Group};

const ENTITY: &str = "identity/entity/";
const ALIAS: &str = "identity/alias/";
const GROUP: &str = "identity/group/";
/// An alias's `last_login` is written to storage when it moved by more than this (seconds):
/// a login is never a durable write just for the time, and inactivity is counted in days.
const LAST_LOGIN_GRANULARITY: i64 = 3600;

/// Everything, indexed.
#[derive(Default)]
pub(crate) struct State {
    pub(crate) entities: HashMap<String, Arc<Entity>>,
    entity_by_name: HashMap<String, String>,
    pub(crate) aliases: HashMap<String, Arc<Alias>>,
    alias_by_mount: HashMap<(String, String), String>,
    pub(crate) groups: HashMap<String, Arc<Group>>,
    group_by_name: HashMap<String, String>,
}

impl State {
    pub(crate) fn entity_by_name(&self, name: &str) -> Option<&Arc<Entity>> {
        self.entity_by_name
            .get(name)
            .and_then(|id| self.entities.get(id))
    }
    pub(crate) fn group_by_name(&self, name: &str) -> Option<&Arc<Group>> {
        self.group_by_name
            .get(name)
            .and_then(|id| self.groups.get(id))
    }
    pub(crate) fn alias_of(&self, accessor: &str, name: &str) -> Option<&Arc<Alias>> {
        self.alias_by_mount
            .get(&(accessor.to_string(), name.to_string()))
            .and_then(|id| self.aliases.get(id))
    }
    /// The aliases of an entity.
    pub(crate) fn aliases_of(&self, entity_id: &str) -> Vec<Arc<Alias>> {
        let mut out: Vec<_> = self
            .aliases
            .values()
            .filter(|a| a.canonical_id == entity_id)
            .cloned()
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }
    /// The groups that list the entity as a member.
    pub(crate) fn direct_groups(&self, entity_id: &str) -> BTreeSet<String> {
        self.groups
            .values()
            .filter(|g| g.member_entity_ids.iter().any(|m| m == entity_id))
            .map(|g| g.id.clone())
            .collect()
    }
    /// The groups that contain any of `groups` as a member group, transitively (cycles are
    /// refused on write, but are also harmless here).
    pub(crate) fn inherited_groups(&self, groups: &BTreeSet<String>) -> BTreeSet<String> {
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut frontier: Vec<String> = groups.iter().cloned().collect();
        while let Some(child) = frontier.pop() {
            for g in self.groups.values() {
                if g.member_group_ids.contains(&child)
                    && !groups.contains(&g.id)
                    && seen.insert(g.id.clone())
                {
                    frontier.push(g.id.clone());
                }
            }
        }
        seen
    }
    /// The groups a group belongs to (its parents).
    pub(crate) fn parent_groups(&self, group_id: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .groups
            .values()
            .filter(|g| g.member_group_ids.iter().any(|m| m == group_id))
            .map(|g| g.id.clone())
            .collect();
        out.sort();
        out
    }

    fn insert_entity(&mut self, e: Arc<Entity>) {
        if let Some(old) = self.entities.get(&e.id) {
            self.entity_by_name.remove(&old.name);
        }
        self.entity_by_name.insert(e.name.clone(), e.id.clone());
        self.entities.insert(e.id.clone(), e);
    }
    fn insert_alias(&mut self, a: Arc<Alias>) {
        if let Some(old) = self.aliases.get(&a.id) {
            self.alias_by_mount
                .remove(&(old.mount_accessor.clone(), old.name.clone()));
        }
        self.alias_by_mount
            .insert((a.mount_accessor.clone(), a.name.clone()), a.id.clone());
        self.aliases.insert(a.id.clone(), a);
    }
    fn insert_group(&mut self, g: Arc<Group>) {
        if let Some(old) = self.groups.get(&g.id) {
            self.group_by_name.remove(&old.name);
        }
        self.group_by_name.insert(g.name.clone(), g.id.clone());
        self.groups.insert(g.id.clone(), g);
    }
}

/// What a request of an entity's token needs: the identity policies and what templated
/// policies are rendered with.
#[derive(Debug)]
pub(crate) struct Resolved {
    pub(crate) entity: Arc<Entity>,
    pub(crate) aliases: Vec<Arc<Alias>>,
    /// Direct and inherited groups.
    pub(crate) groups: Vec<Arc<Group>>,
    /// The entity's and its groups' policies, sorted, without duplicates.
    pub(crate) policies: Vec<String>,
    /// The entry that makes an ACL cache key this entity's at the identity store's current
    /// generation (no policy
    /// name can be it: names are checked on write).
    pub(crate) acl_key: String,
}

impl Resolved {
    /// The value of a template parameter (`identity.entity.id`, …) for this entity.
    pub(crate) fn template(&self, key: &str) -> Option<String> {
        template::lookup(self, key)
    }
}

/// One change to the store, written in one storage batch.
pub(crate) enum Change {
    Entity(Arc<Entity>),
    DeleteEntity(String),
    Alias(Arc<Alias>),
    DeleteAlias(String),
    Group(Arc<Group>),
    DeleteGroup(String),
}

/// The identity store of one namespace.
pub(crate) struct IdentityStore {
    view: View,
    state: parking_lot::RwLock<State>,
    /// Serializes writers (read-check-write of names and memberships).
    write_lock: tokio::sync::Mutex<()>,
    generation: AtomicU64,
    resolved: parking_lot::Mutex<HashMap<String, Arc<Resolved>>>,
}

impl IdentityStore {
    /// Loads the identity store of the namespace whose storage is `view`.
    pub(crate) async fn open(view: View) -> Result<IdentityStore> {
        let mut state = State::default();
        for e in view
            .get_all_json::<Entity>(ENTITY, "identity entity")
            .await?
        {
            state.insert_entity(Arc::new(e));
        }
        for a in view.get_all_json::<Alias>(ALIAS, "identity alias").await? {
            state.insert_alias(Arc::new(a));
        }
        for g in view.get_all_json::<Group>(GROUP, "identity group").await? {
            state.insert_group(Arc::new(g));
        }
        Ok(IdentityStore {
            view,
            state: parking_lot::RwLock::new(state),
            write_lock: tokio::sync::Mutex::new(()),
            generation: AtomicU64::new(0),
            resolved: parking_lot::Mutex::new(HashMap::new()),
        })
    }

    /// A read of the state.
    pub(crate) fn read(&self) -> parking_lot::RwLockReadGuard<'_, State> {
        self.state.read()
    }

    /// Holds the writer lock: check, then [`IdentityStore::apply`], with nothing changing
    /// in between.
    pub(crate) async fn lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.write_lock.lock().await
    }

    /// Writes `changes` to storage in one batch, then to memory. Hold [`IdentityStore::lock`].
    pub(crate) async fn apply(&self, changes: Vec<Change>) -> Result<()> {
        let mut writes = Vec::with_capacity(changes.len());
        for c in &changes {
            writes.push(match c {
                Change::Entity(e) => (format!("{ENTITY}{}", e.id), Some(to_json(&**e)?)),
                Change::DeleteEntity(id) => (format!("{ENTITY}{id}"), None),
                Change::Alias(a) => (format!("{ALIAS}{}", a.id), Some(to_json(&**a)?)),
                Change::DeleteAlias(id) => (format!("{ALIAS}{id}"), None),
                Change::Group(g) => (format!("{GROUP}{}", g.id), Some(to_json(&**g)?)),
                Change::DeleteGroup(id) => (format!("{GROUP}{id}"), None),
            });
        }
        self.view.batch(writes).await?;
        {
            let mut state = self.state.write();
            for c in changes {
                match c {
                    Change::Entity(e) => state.insert_entity(e),
                    Change::DeleteEntity(id) => {
                        if let Some(e) = state.entities.remove(&id) {
                            state.entity_by_name.remove(&e.name);
                        }
                    }
                    Change::Alias(a) => state.insert_alias(a),
                    Change::DeleteAlias(id) => {
                        if let Some(a) = state.aliases.remove(&id) {
                            state
                                .alias_by_mount
                                .remove(&(a.mount_accessor.clone(), a.name.clone()));
                        }
                    }
                    Change::Group(g) => state.insert_group(g),
                    Change::DeleteGroup(id) => {
                        if let Some(g) = state.groups.remove(&id) {
                            state.group_by_name.remove(&g.name);
                        }
                    }
                }
            }
            // Under the state's write lock: a resolution computed from the old state cannot be
            // stored after this clears (it is stored under the same lock, see `resolve`).
            self.generation.fetch_add(1, Ordering::SeqCst);
            self.resolved.lock().clear();
        }
        Ok(())
    }

    /// The identity policies and template values of an entity's token; `None` when the
    /// entity is gone (its tokens then have their own policies only, as in Vault).
    pub(crate) fn resolve(&self, entity_id: &str) -> Option<Arc<Resolved>> {
        if let Some(r) = self.resolved.lock().get(entity_id) {
            return Some(r.clone());
        }
        let state = self.state.read();
        let entity = state.entities.get(entity_id)?.clone();
        let direct = state.direct_groups(entity_id);
        let inherited = state.inherited_groups(&direct);
        let groups: Vec<Arc<Group>> = direct
            .iter()
            .chain(inherited.iter())
            .filter_map(|id| state.groups.get(id).cloned())
            .collect();
        let mut policies: Vec<String> = entity
            .policies
            .iter()
            .chain(groups.iter().flat_map(|g| g.policies.iter()))
            .cloned()
            .collect();
        policies.sort();
        policies.dedup();
        let generation = self.generation.load(Ordering::SeqCst);
        let resolved = Arc::new(Resolved {
            aliases: state.aliases_of(entity_id),
            acl_key: format!("\0entity {} {generation}", entity.id),
            entity,
            groups,
            policies,
        });
        // Stored while the state is read-locked: no write can have cleared the cache since.
        self.resolved
            .lock()
            .insert(entity_id.to_string(), resolved.clone());
        Some(resolved)
    }

    /// The entity a login resolves to: the alias `(accessor, name)`'s, else a new entity with
    /// that alias. Records the login time on the alias (in storage at most hourly).
    pub(crate) async fn entity_for_login(
        &self,
        mount_accessor: &str,
        mount_type: &str,
        mount_path: &str,
        alias_name: &str,
        now_nanos: i64,
    ) -> Result<Arc<Entity>> {
        let now = now_nanos / 1_000_000_000;
        {
            let state = self.state.read();
            if let Some(alias) = state.alias_of(mount_accessor, alias_name)
                && let Some(entity) = state.entities.get(&alias.canonical_id)
            {
                let fresh = alias
                    .last_login
                    .is_some_and(|t| now.saturating_sub(t) < LAST_LOGIN_GRANULARITY);
                if fresh {
                    return Ok(entity.clone());
                }
            }
        }
        let _guard = self.lock().await;
        let (alias, entity) = {
            let state = self.state.read();
            match state.alias_of(mount_accessor, alias_name) {
                Some(a) => (
                    Some(a.clone()),
                    state.entities.get(&a.canonical_id).cloned(),
                ),
                None => (None, None),
            }
        };
        let mut changes = Vec::new();
        let entity = match entity {
            Some(e) => e,
            None => {
                let e = Arc::new(Entity::new(None, now_nanos)?);
                changes.push(Change::Entity(e.clone()));
                e
            }
        };
        let mut alias = match alias {
            Some(a) => (*a).clone(),
            None => Alias::new(
                &entity.id,
                mount_accessor,
                mount_type,
                mount_path,
                alias_name,
                now_nanos,
            ),
        };
        alias.canonical_id = entity.id.clone();
        alias.last_login = Some(now);
        changes.push(Change::Alias(Arc::new(alias)));
        self.apply(changes).await?;
        Ok(entity)
    }

    /// Removes every alias of a disabled auth mount (their entities stay).
    pub(crate) async fn forget_mount(&self, mount_accessor: &str) -> Result<()> {
        let _guard = self.lock().await;
        let ids: Vec<String> = self
            .read()
            .aliases
            .values()
            .filter(|a| a.mount_accessor == mount_accessor)
            .map(|a| a.id.clone())
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        self.apply(ids.into_iter().map(Change::DeleteAlias).collect())
            .await
    }
}
