//! The audit broker: renders each request and response into entries, HMACs the sensitive
//! values with each device's salt, and fans them out. Fail-closed: [`AuditBroker::log_request`]
//! returns an [`Audited`] proof only when at least one device accepted the entry, and dispatch
//! requires that proof; [`AuditBroker::log_response`] fails when no device wrote the response
//! entry, and then the response is not sent. Once the broker is closed (sealing) it refuses
//! every entry, so nothing runs unaudited while the core winds down. Background changes (key
//! auto-rotation, token tidy) go through [`BackgroundAudit`] and are logged the same way, with
//! `request.background` naming the job instead of an `auth` block.

use std::sync::Arc;

use arc_swap::ArcSwap;
use coffre_crypto::{AuditSigningKey, Key256};
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::chain::{NamespaceUuid, ROOT_NAMESPACE};
use super::device::{Device, DeviceConfig, Sink};
use super::hmac::Salt;
use crate::barrier::Barrier;
use crate::clock::rfc3339_nanos;
use crate::error::{Error, Result};
use crate::mount::MountEntry;
use crate::request::{Operation, Response};
use crate::token::TokenEntry;

/// Devices enabled over the API (when the config allows it) are remembered here.
const API_DEVICES_PATH: &str = "core/audit-devices";

/// Proof that the request entry was written by at least one device (or that auditing is off).
pub(crate) struct Audited {
    _private: (),
}

/// What a background job tells the audit log about the change it is about to make.
pub(crate) struct BackgroundChange<'a> {
    /// The job, e.g. `transit-auto-rotate`.
    pub(crate) job: &'static str,
    pub(crate) operation: Operation,
    /// The logical path the change corresponds to, e.g. `transit/keys/k/rotate`.
    pub(crate) path: &'a str,
    pub(crate) mount: Option<&'a MountEntry>,
    pub(crate) data: Option<&'a Map<String, Value>>,
}

/// The audit log as background jobs see it. Holds the broker weakly: a job outliving its
/// unsealed core finds it gone and makes no change.
#[derive(Clone)]
pub(crate) struct BackgroundAudit {
    broker: std::sync::Weak<AuditBroker>,
    /// The namespace whose jobs these are (`None`: the core's own).
    namespace: Option<Arc<crate::namespace::NamespaceEntry>>,
}

impl BackgroundAudit {
    /// A log that is gone: every change is refused as sealed (unit tests of engines that
    /// make no background change).
    #[cfg(test)]
    pub(crate) fn detached() -> BackgroundAudit {
        BackgroundAudit {
            broker: std::sync::Weak::new(),
            namespace: None,
        }
    }

    /// The path of the namespace whose jobs these are (`""`: the root's, or the core's own).
    pub(crate) fn namespace_path(&self) -> &str {
        self.namespace.as_deref().map_or("", |ns| ns.path.as_str())
    }

    /// The same log, for the jobs of namespace `ns` (their entries record it).
    pub(crate) fn in_namespace(&self, ns: &crate::namespace::NamespaceEntry) -> BackgroundAudit {
        BackgroundAudit {
            broker: self.broker.clone(),
            namespace: Some(Arc::new(ns.clone())),
        }
    }
}

impl BackgroundAudit {
    /// Audits `change`, runs it, audits its outcome. Fail-closed like a request: if the
    /// request entry cannot be written (or the core sealed), `run` is not started.
    pub(crate) async fn record<T, F>(&self, change: &BackgroundChange<'_>, run: F) -> Result<T>
    where
        F: std::future::Future<Output = Result<T>>,
    {
        let Some(broker) = self.broker.upgrade() else {
            return Err(Error::Sealed);
        };
        let id = crate::request::new_request_id();
        let rec = AuditRecord {
            request_id: &id,
            operation: change.operation,
            path: change.path,
            data: change.data,
            remote_addr: None,
            token: None,
            token_hash: None,
            auth: None,
            mount: change.mount,
            namespace: self.namespace.as_deref(),
            background: Some(change.job),
        };
        broker.log_request(&rec, None).await?;
        let result = run.await;
        let outcome: Result<Option<Response>> = match &result {
            Ok(_) => Ok(None),
            Err(e) => Err(Error::invalid(e.public_message())),
        };
        // The change happened (or failed) already: a lost outcome entry is logged, not undone.
        if let Err(e) = broker.log_response(&rec, &outcome).await {
            tracing::error!(error = %e, job = change.job, "could not audit a background change's outcome");
        }
        if broker.events.has_subscribers() {
            broker.events.publish(crate::events::Event {
                time_unix_nanos: broker.barrier.clock().now_unix_nanos(),
                namespace: self.namespace_path().to_string(),
                mount: change.mount.map(|m| m.path.clone()).unwrap_or_default(),
                path: change.path.to_string(),
                identity: None,
                remote_addr: None,
                outcome: match &result {
                    Ok(_) => crate::events::Outcome::Ok,
                    Err(e) => crate::events::Outcome::of_error(e.kind()),
                },
                critical: false,
                kind: crate::events::EventKind::Background { name: change.job },
            });
        }
        result
    }
}

/// The namespace an entry is tagged with in the chain (the root's for the core's own).
fn namespace_of(rec: &AuditRecord<'_>) -> NamespaceUuid {
    rec.namespace
        .and_then(|ns| uuid::Uuid::parse_str(&ns.uuid).ok())
        .map_or(ROOT_NAMESPACE, |u| *u.as_bytes())
}

/// What the pipeline knows about a request, for its audit entries.
pub(crate) struct AuditRecord<'a> {
    pub(crate) request_id: &'a str,
    pub(crate) operation: Operation,
    pub(crate) path: &'a str,
    pub(crate) data: Option<&'a Map<String, Value>>,
    pub(crate) remote_addr: Option<&'a str>,
    pub(crate) token: Option<&'a str>,
    /// The token store's keyed hash of `token`, when it was authenticated.
    pub(crate) token_hash: Option<&'a [u8; 32]>,
    pub(crate) auth: Option<&'a TokenEntry>,
    pub(crate) mount: Option<&'a MountEntry>,
    /// The namespace the request was made in (`None`: unknown, or a change of the core).
    pub(crate) namespace: Option<&'a crate::namespace::NamespaceEntry>,
    /// Set for the entries of a background job (no caller): the job's name.
    pub(crate) background: Option<&'static str>,
}

struct Live {
    device: Device,
    salt: Salt,
    /// HMACs of (client token, accessor) by token hash: the same for every request of a
    /// token, so computed once. Keyed by the token store's keyed hash, never by the token.
    token_hmacs: parking_lot::RwLock<std::collections::HashMap<[u8; 32], (String, String)>>,
}

/// Most tokens whose HMACs a device remembers; when full it starts over.
const TOKEN_HMAC_CACHE_MAX: usize = 10_000;

impl Live {
    fn new(device: Device, salt: Salt) -> Live {
        Live {
            device,
            salt,
            token_hmacs: parking_lot::RwLock::new(std::collections::HashMap::new()),
        }
    }

    /// The logged forms of a token and its accessor.
    fn token_fields(
        &self,
        token: &str,
        hash: Option<&[u8; 32]>,
        accessor: &str,
    ) -> (String, String) {
        if let Some(h) = hash
            && let Some(hit) = self.token_hmacs.read().get(h)
        {
            return hit.clone();
        }
        let accessor = if self.device.config.hmac_accessor && !accessor.is_empty() {
            self.salt.hash(accessor)
        } else {
            accessor.to_string()
        };
        let fields = (self.salt.hash(token), accessor);
        if let Some(h) = hash {
            let mut cache = self.token_hmacs.write();
            if cache.len() >= TOKEN_HMAC_CACHE_MAX {
                cache.clear();
            }
            cache.insert(*h, fields.clone());
        }
        fields
    }
}

#[derive(Serialize, Deserialize, Clone)]
struct ApiDevice {
    name: String,
    kind: String,
    file_path: Option<String>,
    description: String,
}

/// The audit broker of an unsealed core.
pub(crate) struct AuditBroker {
    barrier: Arc<Barrier>,
    devices: ArcSwap<Vec<Arc<Live>>>,
    allow_api: bool,
    changes: tokio::sync::Mutex<()>,
    /// Set when sealing: from then on every entry is refused.
    closed: std::sync::atomic::AtomicBool,
    /// Where what the broker records is published ([`crate::events`]).
    events: Arc<crate::events::EventBus>,
}

fn salt_path(name: &str) -> String {
    format!("core/audit/{name}/salt")
}
fn key_path(name: &str) -> String {
    format!("core/audit/{name}/signing-key")
}

impl AuditBroker {
    /// Loads (or creates) each device's salt and signing key from behind the barrier and
    /// starts the devices: those of the config, then those enabled over the API.
    pub(crate) async fn open(
        barrier: Arc<Barrier>,
        configured: &[DeviceConfig],
        allow_api: bool,
    ) -> Result<AuditBroker> {
        let broker = AuditBroker {
            barrier,
            devices: ArcSwap::from_pointee(Vec::new()),
            allow_api,
            changes: tokio::sync::Mutex::new(()),
            closed: std::sync::atomic::AtomicBool::new(false),
            events: Arc::default(),
        };
        let mut all: Vec<DeviceConfig> = configured.to_vec();
        for d in broker.api_devices().await? {
            if !all.iter().any(|c| c.name == d.name) {
                all.push(api_config(&d)?);
            }
        }
        let mut live = Vec::new();
        for config in all {
            live.push(Arc::new(broker.start(config).await?));
        }
        broker.devices.store(Arc::new(live));
        Ok(broker)
    }

    async fn start(&self, config: DeviceConfig) -> Result<Live> {
        let salt = match self.barrier.get(&salt_path(&config.name)).await? {
            Some(s) => Key256::from_slice(s.expose())?,
            None => {
                let k = Key256::generate()?;
                self.barrier
                    .put(&salt_path(&config.name), k.expose())
                    .await?;
                k
            }
        };
        let key = match self.barrier.get(&key_path(&config.name)).await? {
            Some(k) => AuditSigningKey::from_pkcs8(k.expose())?,
            None => {
                let k = AuditSigningKey::generate()?;
                self.barrier
                    .put(&key_path(&config.name), k.to_pkcs8().expose())
                    .await?;
                k
            }
        };
        let name = config.name.clone();
        let clock = self.barrier.clock().clone();
        let device = tokio::task::spawn_blocking(move || Device::start(config, key, clock))
            .await
            .map_err(|e| Error::Internal(format!("audit device start: {e}")))?
            .map_err(|e| Error::invalid(format!("cannot open audit device {name}: {e}")))?;
        Ok(Live::new(device, Salt::new(salt)))
    }

    /// Writes the request entry. `error` marks a request refused before dispatch (it is
    /// logged, and the result does not matter: the request fails anyway).
    pub(crate) async fn log_request(
        &self,
        rec: &AuditRecord<'_>,
        error: Option<&Error>,
    ) -> Result<Audited> {
        let now = self.barrier.clock().now_unix_nanos();
        self.write(|d| render_request(rec, error, d, now), namespace_of(rec))
            .await?;
        Ok(Audited { _private: () })
    }

    /// Writes the response entry of a dispatched request. An error means no device wrote it:
    /// the caller must not send the response (Vault's rule: no secret leaves unrecorded).
    pub(crate) async fn log_response(
        &self,
        rec: &AuditRecord<'_>,
        result: &Result<Option<Response>>,
    ) -> Result<()> {
        let now = self.barrier.clock().now_unix_nanos();
        self.write(|d| render_response(rec, result, d, now), namespace_of(rec))
            .await
    }

    /// Renders an entry for each device and waits until at least one wrote it. With no device
    /// enabled (auditing off) there is nothing to wait for; a closed broker refuses.
    async fn write(&self, render: impl Fn(&Live) -> String, ns: NamespaceUuid) -> Result<()> {
        if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Error::AuditFailed);
        }
        let devices = self.devices.load_full();
        if devices.is_empty() {
            return Ok(());
        }
        let waits: Vec<_> = devices
            .iter()
            .map(|d| d.device.submit(render(d), ns))
            .collect();
        if any_ok(waits).await {
            Ok(())
        } else {
            Err(Error::AuditFailed)
        }
    }

    /// Publishes what the broker records on `events` (the core's stream) instead of a
    /// stream of its own nobody listens to.
    pub(crate) fn with_events(mut self, events: Arc<crate::events::EventBus>) -> AuditBroker {
        self.events = events;
        self
    }

    /// The core's event stream.
    pub(crate) fn events(&self) -> &crate::events::EventBus {
        &self.events
    }

    /// The handle background jobs audit their changes through.
    pub(crate) fn background(self: &Arc<Self>) -> BackgroundAudit {
        BackgroundAudit {
            broker: Arc::downgrade(self),
            namespace: None,
        }
    }

    /// Whether no audit device is enabled (requests then run unaudited).
    pub(crate) fn is_empty(&self) -> bool {
        self.devices.load().is_empty()
    }

    /// Refuses every entry from now on, then stops every device (final checkpoint, fsync).
    /// Called when sealing. A request still in flight then fails instead of going unrecorded.
    pub(crate) async fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        let devices = self.devices.load_full();
        let _ = tokio::task::spawn_blocking(move || {
            for d in devices.iter() {
                d.device.close();
            }
        })
        .await;
    }

    /// `sys/audit`: the enabled devices.
    pub(crate) fn list(&self) -> Map<String, Value> {
        self.devices
            .load()
            .iter()
            .map(|d| {
                let c = &d.device.config;
                let mut options = Map::new();
                if let Sink::File(p) = &c.sink {
                    options.insert("file_path".into(), json!(p.display().to_string()));
                }
                (
                    format!("{}/", c.name),
                    json!({
                        "type": c.kind(),
                        "description": c.description,
                        "options": options,
                        "path": format!("{}/", c.name),
                        "local": false,
                    }),
                )
            })
            .collect()
    }

    fn find(&self, name: &str) -> Option<Arc<Live>> {
        let name = name.trim_end_matches('/');
        self.devices
            .load()
            .iter()
            .find(|d| d.device.config.name == name)
            .cloned()
    }

    /// `sys/audit-hash/:name`.
    pub(crate) fn hash(&self, name: &str, input: &str) -> Result<String> {
        let d = self
            .find(name)
            .ok_or_else(|| Error::invalid(format!("unknown audit device \"{name}\"")))?;
        Ok(d.salt.hash(input))
    }

    /// `sys/audit-chain/:name`: the head and checkpoint key of a device's chain.
    pub(crate) fn chain(&self, name: &str) -> Option<Map<String, Value>> {
        let d = self.find(name)?;
        let head = d.device.head();
        let mut m = Map::new();
        m.insert("seq".into(), json!(head.seq));
        m.insert("head".into(), json!(hex::encode(head.hash)));
        m.insert(
            "public_key".into(),
            json!(hex::encode(d.device.public_key())),
        );
        Some(m)
    }

    async fn api_devices(&self) -> Result<Vec<ApiDevice>> {
        match self.barrier.get(API_DEVICES_PATH).await? {
            None => Ok(Vec::new()),
            Some(raw) => serde_json::from_slice(raw.expose())
                .map_err(|e| Error::Internal(format!("corrupt audit device table: {e}"))),
        }
    }

    async fn store_api_devices(&self, list: &[ApiDevice]) -> Result<()> {
        let bytes =
            serde_json::to_vec(list).map_err(|e| Error::Internal(format!("encode: {e}")))?;
        self.barrier.put(API_DEVICES_PATH, &bytes).await
    }

    /// `PUT sys/audit/:name`: refused unless the config sets `allow_api_audit_creation`.
    pub(crate) async fn enable(
        &self,
        name: &str,
        kind: &str,
        options: &Map<String, Value>,
        description: &str,
    ) -> Result<()> {
        if !self.allow_api {
            return Err(Error::invalid(
                "cannot enable audit device via API; use declarative, config-based audit device \
                 management instead (or set allow_api_audit_creation = true)",
            ));
        }
        let _g = self.changes.lock().await;
        let name = name.trim_matches('/').to_string();
        if name.is_empty() || name.contains('/') {
            return Err(Error::invalid("invalid audit device path"));
        }
        if self.find(&name).is_some() {
            return Err(Error::invalid(format!("path already in use: {name}/")));
        }
        let file_path = ["file_path", "path"]
            .iter()
            .find_map(|k| options.get(*k).and_then(Value::as_str))
            .map(str::to_string);
        let api = ApiDevice {
            name: name.clone(),
            kind: kind.to_string(),
            file_path,
            description: description.to_string(),
        };
        let config = api_config(&api)?;
        let live = Arc::new(self.start(config).await?);
        let mut stored = self.api_devices().await?;
        stored.push(api);
        self.store_api_devices(&stored).await?;
        let mut next = (*self.devices.load_full()).clone();
        next.push(live);
        self.devices.store(Arc::new(next));
        Ok(())
    }

    /// `DELETE sys/audit/:name` (only devices enabled over the API).
    pub(crate) async fn disable(&self, name: &str) -> Result<()> {
        let _g = self.changes.lock().await;
        let name = name.trim_matches('/');
        let Some(live) = self.find(name) else {
            return Ok(());
        };
        if live.device.config.from_config {
            return Err(Error::invalid(format!(
                "audit device {name} is declared in the server configuration; remove it there"
            )));
        }
        let mut stored = self.api_devices().await?;
        stored.retain(|d| d.name != name);
        self.store_api_devices(&stored).await?;
        let next: Vec<_> = self
            .devices
            .load()
            .iter()
            .filter(|d| d.device.config.name != name)
            .cloned()
            .collect();
        self.devices.store(Arc::new(next));
        // Vault discards the salt: old HMACs can no longer be recomputed.
        self.barrier.delete(&salt_path(name)).await?;
        let _ = tokio::task::spawn_blocking(move || live.device.close()).await;
        Ok(())
    }
}

fn api_config(d: &ApiDevice) -> Result<DeviceConfig> {
    let sink = match (d.kind.as_str(), &d.file_path) {
        ("file", Some(p)) if p == "stdout" => Sink::Stdout,
        ("file", Some(p)) if !p.is_empty() => Sink::File(p.into()),
        ("file", _) => return Err(Error::invalid("file audit devices need options.file_path")),
        ("stdout", _) => Sink::Stdout,
        (other, _) => {
            return Err(Error::invalid(format!(
                "unsupported audit device type \"{other}\""
            )));
        }
    };
    Ok(DeviceConfig {
        description: d.description.clone(),
        ..DeviceConfig::new(d.name.clone(), sink)
    })
}

async fn any_ok(
    waits: Vec<tokio::sync::oneshot::Receiver<std::result::Result<(), super::device::DeviceError>>>,
) -> bool {
    let mut ok = false;
    for w in waits {
        match w.await {
            Ok(Ok(())) => ok = true,
            Ok(Err(e)) => tracing::error!(error = %e, "audit device refused an entry"),
            Err(_) => tracing::error!("audit device dropped an entry"),
        }
    }
    ok
}

/// Serializes a JSON value with every scalar leaf (string, number, boolean) replaced by its
/// salted HMAC, without cloning the value first. Numbers are hashed in their JSON text form
/// (`5` as `"5"`, as Vault hashes a `json.Number`) and booleans as `"true"`/`"false"`: a PIN or
/// a flag in secret data is as secret as a string. `null` and the structure stay visible.
struct Hashed<'a> {
    value: &'a Value,
    salt: &'a Salt,
}

impl Serialize for Hashed<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.value {
            Value::String(s) => ser.serialize_str(&self.salt.hash(s)),
            Value::Number(n) => ser.serialize_str(&self.salt.hash(&n.to_string())),
            Value::Bool(b) => ser.serialize_str(&self.salt.hash(if *b { "true" } else { "false" })),
            Value::Array(items) => {
                let mut seq = ser.serialize_seq(Some(items.len()))?;
                for v in items {
                    seq.serialize_element(&Hashed {
                        value: v,
                        salt: self.salt,
                    })?;
                }
                seq.end()
            }
            Value::Object(map) => {
                let mut m = ser.serialize_map(Some(map.len()))?;
                for (k, v) in map {
                    m.serialize_entry(
                        k,
                        &Hashed {
                            value: v,
                            salt: self.salt,
                        },
                    )?;
                }
                m.end()
            }
            Value::Null => ser.serialize_unit(),
        }
    }
}

/// A map whose values are HMAC'd (request and response data).
struct HashedMap<'a> {
    map: &'a Map<String, Value>,
    salt: &'a Salt,
}

impl Serialize for HashedMap<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = ser.serialize_map(Some(self.map.len()))?;
        for (k, v) in self.map {
            m.serialize_entry(
                k,
                &Hashed {
                    value: v,
                    salt: self.salt,
                },
            )?;
        }
        m.end()
    }
}

#[derive(Serialize)]
struct AuthOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    client_token: Option<String>,
    accessor: String,
    display_name: &'a str,
    policies: &'a [String],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    metadata: &'a BTreeMap<String, String>,
    token_type: &'a str,
    token_ttl: u64,
    #[serde(skip_serializing_if = "is_zero")]
    num_uses: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

#[derive(Serialize)]
struct NamespaceOut<'a> {
    id: &'a str,
    path: &'a str,
    /// What the entry's chain `tag` is made from: a tenant's export is checked against it.
    uuid: &'a str,
}

#[derive(Serialize)]
struct RequestOut<'a> {
    id: &'a str,
    operation: &'static str,
    /// In both entries of a request, so that a tenant's entries can be picked out of a log.
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<NamespaceOut<'a>>,
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    mount_point: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mount_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mount_accessor: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<HashedMap<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remote_address: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    background: Option<&'static str>,
}

#[derive(Serialize)]
struct ResponseOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<HashedMap<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    warnings: &'a [String],
}

#[derive(Serialize)]
struct EntryOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth: Option<AuthOut<'a>>,
    request: RequestOut<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response: Option<ResponseOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn auth_out<'a>(rec: &AuditRecord<'a>, live: &Live) -> Option<AuthOut<'a>> {
    let entry = rec.auth?;
    let (client_token, accessor) = match rec.token {
        Some(t) => {
            let (token, accessor) = live.token_fields(t, rec.token_hash, &entry.accessor);
            (Some(token), accessor)
        }
        None => (None, live.token_fields("", None, &entry.accessor).1),
    };
    Some(AuthOut {
        client_token,
        accessor,
        display_name: &entry.display_name,
        policies: &entry.policies,
        metadata: &entry.meta,
        token_type: &entry.token_type,
        token_ttl: entry.creation_ttl,
        num_uses: entry.num_uses.max(0),
    })
}

/// The `request` block. The request entry carries everything; the response entry only what
/// links it to its request (id, operation, path): the rest is in the request entry already,
/// and every byte of a line is hashed into the chain.
fn request_out<'a>(rec: &AuditRecord<'a>, live: &'a Live, full: bool) -> RequestOut<'a> {
    let mount = rec.mount.filter(|_| full);
    RequestOut {
        id: rec.request_id,
        operation: rec.operation.as_str(),
        namespace: rec.namespace.map(|ns| NamespaceOut {
            id: &ns.id,
            path: &ns.path,
            uuid: &ns.uuid,
        }),
        path: rec.path,
        mount_point: mount.map(|m| m.path.as_str()),
        mount_type: mount.map(|m| m.kind.as_str()),
        mount_accessor: mount.map(|m| m.accessor.as_str()),
        data: rec
            .data
            .filter(|d| full && !d.is_empty())
            .map(|map| HashedMap {
                map,
                salt: &live.salt,
            }),
        remote_address: rec.remote_addr.filter(|_| full),
        background: rec.background,
    }
}

fn to_line(entry: &EntryOut<'_>) -> String {
    // Most entries fit in 1 KiB: sizing the buffer up front avoids a chain of reallocations.
    let mut buf = Vec::with_capacity(1024);
    // Serializing plain structs, strings and JSON values cannot fail, and produces UTF-8.
    match serde_json::to_writer(&mut buf, entry) {
        Ok(()) => String::from_utf8(buf).unwrap_or_default(),
        Err(_) => "{\"type\":\"invalid\"}".into(),
    }
}

/// The request entry: who (auth), what (request with HMAC'd data), and a refusal's error.
fn render_request(
    rec: &AuditRecord<'_>,
    error: Option<&Error>,
    live: &Live,
    now_nanos: i64,
) -> String {
    to_line(&EntryOut {
        kind: "request",
        time: rfc3339_nanos(now_nanos),
        auth: auth_out(rec, live),
        request: request_out(rec, live, true),
        response: None,
        error: error.map(Error::public_message),
    })
}

/// The response entry. It refers to its request by id and does not repeat the caller or the
/// request data (both are in the request entry), which keeps the log half as large.
fn render_response(
    rec: &AuditRecord<'_>,
    result: &Result<Option<Response>>,
    live: &Live,
    now_nanos: i64,
) -> String {
    let (response, error) = match result {
        Ok(Some(resp)) => {
            let auth = resp.auth.as_ref().map(|auth| {
                let mut a = auth.clone();
                for k in ["client_token", "accessor"] {
                    if let Some(Value::String(s)) = a.get_mut(k)
                        && (k == "client_token" || live.device.config.hmac_accessor)
                    {
                        *s = live.salt.hash(s);
                    }
                }
                a
            });
            let out = ResponseOut {
                data: resp.data.as_ref().map(|map| HashedMap {
                    map,
                    salt: &live.salt,
                }),
                auth,
                warnings: &resp.warnings,
            };
            (Some(out), None)
        }
        Ok(None) => (
            Some(ResponseOut {
                data: None,
                auth: None,
                warnings: &[],
            }),
            None,
        ),
        Err(err) => (None, Some(err.public_message())),
    };
    to_line(&EntryOut {
        kind: "response",
        time: rfc3339_nanos(now_nanos),
        auth: None,
        request: request_out(rec, live, false),
        response,
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalar_leaves_are_hashed_structure_kept() {
        let salt = Salt::new(Key256::from_slice(&[7u8; 32]).expect("key"));
        let v = json!({"a": "secret", "n": 5, "l": ["x", true], "m": {"k": "v"}, "z": null});
        let map = v.as_object().expect("object");
        let out: Value = serde_json::from_str(
            &serde_json::to_string(&HashedMap { map, salt: &salt }).expect("ser"),
        )
        .expect("json");
        assert_eq!(out["a"], json!(salt.hash("secret")));
        assert_eq!(out["n"], json!(salt.hash("5")), "numbers are hashed");
        assert_eq!(out["l"][0], json!(salt.hash("x")));
        assert_eq!(out["l"][1], json!(salt.hash("true")), "booleans are hashed");
        assert_eq!(out["m"]["k"], json!(salt.hash("v")));
        assert!(!out.to_string().contains("secret\""));
        let text = out.to_string();
        assert!(!text.contains("true"), "{text}");
        assert_eq!(out["z"], Value::Null, "null has nothing to hide");
    }
}
