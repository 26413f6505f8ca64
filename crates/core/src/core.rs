//! The core: the seal state machine and the entry point for every request.
//!
//! While sealed, the core holds no key material at all: the only state is the unseal progress
//! (the shares entered so far, zeroized on reset). Unsealing builds an [`Unsealed`], which owns
//! the barrier, the token store and the router; sealing drops it (in-flight requests finish
//! with their own handle, after which the keys are zeroized).

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwapOption;
use coffre_crypto::{Key256, Keyring, SecretBytes, combine_shares, split_secret};
use coffre_storage::{Backend, Op};
use serde::{Deserialize, Serialize};

use crate::audit::{AuditBroker, AuditRecord, DeviceConfig as AuditDeviceConfig};
use crate::barrier::{Barrier, DEFAULT_MAX_ENCRYPTIONS_PER_TERM, KEYRING_PATH, View, seal_keyring};
use crate::clock::SharedClock;
use crate::error::{Error, Result};
use crate::namespace::Namespaces;
use crate::request::{Request, Response};
use crate::seal::{
    ROOT_KEY_PATH, SEAL_CONFIG_PATH, SealConfig, decode_share, unwrap_root_key, wrap_root_key,
};
use crate::token::{TOKEN_PREFIX, TokenStore};

const CLUSTER_PATH: &str = "core/cluster";

/// Server version reported in seal status and health.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Settings of the core that come from the server configuration.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Rotate the barrier key after this many encryptions under one term.
    pub max_encryptions_per_term: u64,
    /// Audit devices declared in the server configuration.
    pub audit_devices: Vec<AuditDeviceConfig>,
    /// Whether `sys/audit/:path` may enable devices over the API.
    pub allow_api_audit_creation: bool,
    /// Do not warn at unseal when no audit device is enabled (dev mode).
    pub quiet_without_audit: bool,
    /// Where the core reads the time (the system clock unless a test injects one).
    pub clock: SharedClock,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            max_encryptions_per_term: DEFAULT_MAX_ENCRYPTIONS_PER_TERM,
            audit_devices: Vec::new(),
            allow_api_audit_creation: false,
            quiet_without_audit: false,
            clock: crate::clock::system(),
        }
    }
}

/// The cluster's name and id, stored behind the barrier (shown only when unsealed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterInfo {
    /// Human-readable name.
    pub name: String,
    /// Random id.
    pub id: String,
}

/// What `sys/seal-status` and `sys/unseal` report.
#[derive(Debug, Clone, Serialize)]
pub struct SealStatus {
    /// Seal type (`shamir`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether `sys/init` has run.
    pub initialized: bool,
    /// Whether the barrier is sealed.
    pub sealed: bool,
    /// Threshold.
    pub t: u8,
    /// Number of shares.
    pub n: u8,
    /// Shares entered so far.
    pub progress: usize,
    /// Unseal attempt nonce (`""` when idle).
    pub nonce: String,
    /// Server version.
    pub version: String,
    /// Build date (Vault's name; we report the version: no build timestamp is embedded).
    pub build_date: String,
    /// The same, under OpenBao's name (`bao status` reads it).
    pub commit_date: String,
    /// Seal migration in progress (never).
    pub migration: bool,
    /// Only when unsealed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// Only when unsealed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// No recovery seal.
    pub recovery_seal: bool,
    /// Storage backend kind.
    pub storage_type: String,
}

/// The result of `sys/init`: the shares and the initial root token. Shown once, never stored.
pub struct InitResult {
    /// Unseal key shares.
    pub shares: Vec<SecretBytes>,
    /// Initial root token.
    pub root_token: String,
}

impl std::fmt::Debug for InitResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InitResult([redacted])")
    }
}

/// Unseal progress while sealed.
#[derive(Default)]
struct Progress {
    shares: Vec<SecretBytes>,
    nonce: String,
}

/// State that exists only while unsealed.
pub(crate) struct Unsealed {
    pub(crate) barrier: Arc<Barrier>,
    pub(crate) audit: Arc<AuditBroker>,
    /// Every namespace's stores and router, the root's included.
    pub(crate) namespaces: Namespaces,
    /// The rate-limit rules of every namespace.
    pub(crate) quotas: crate::quota::Quotas,
    /// State shared by the engine instances of each mount.
    pub(crate) mount_states: crate::engines::mount_state::MountStates,
    pub(crate) cluster: ClusterInfo,
    /// Runs the namespaces' due jobs (rotation, token tidy).
    pub(crate) jobs: crate::jobs::Runner,
    /// The nodes sharing the storage, when there are several.
    pub(crate) nodes: Option<Arc<dyn crate::cluster::NodeDirectory>>,
}

impl Unsealed {
    /// Whether this node runs background jobs and writes. Storage that one node owns (the
    /// embedded store, memory) has one node, always active; with several nodes the server
    /// sets it from the storage's leadership ([`Core::set_active`]), so only the active node
    /// of several ever runs a job.
    pub(crate) fn is_active_node(&self) -> bool {
        self.barrier.is_active()
    }
}

/// The coffre core.
pub struct Core {
    backend: Arc<dyn Backend>,
    config: CoreConfig,
    unsealed: ArcSwapOption<Unsealed>,
    progress: tokio::sync::Mutex<Progress>,
    /// The seal configuration once it has been written or read: it is written once, at init,
    /// and never changes, so `sys/health` and `sys/seal-status` need not read storage.
    seal_config: OnceLock<Arc<SealConfig>>,
    /// Whether this node is the active one of those sharing the storage (see
    /// [`Core::set_active`]); shared with the barrier of each unseal.
    active: Arc<AtomicBool>,
    /// See [`Core::with_nodes`].
    nodes: Option<Arc<dyn crate::cluster::NodeDirectory>>,
    /// The event stream ([`crate::events`]): outlives unseals, so subscribers keep theirs.
    events: Arc<crate::events::EventBus>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("backend", &self.backend.kind())
            .field("sealed", &self.is_sealed())
            .finish_non_exhaustive()
    }
}

impl Core {
    /// A sealed core over `backend`.
    pub fn new(backend: Arc<dyn Backend>, config: CoreConfig) -> Core {
        Core {
            backend,
            config,
            unsealed: ArcSwapOption::empty(),
            progress: tokio::sync::Mutex::new(Progress::default()),
            seal_config: OnceLock::new(),
            active: Arc::new(AtomicBool::new(true)),
            nodes: None,
            events: Arc::default(),
        }
    }

    /// The core's event stream: every request and background change, to subscribe to.
    pub fn events(&self) -> &Arc<crate::events::EventBus> {
        &self.events
    }

    /// The core of one node of several sharing the storage, `nodes` telling who they are
    /// (`sys/ha-status`).
    pub fn with_nodes(mut self, nodes: Arc<dyn crate::cluster::NodeDirectory>) -> Core {
        self.nodes = Some(nodes);
        self
    }

    /// Whether this node is the active one: it writes and runs the background jobs. True
    /// unless the server made it a standby of several nodes sharing the storage.
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::SeqCst)
    }

    /// Makes this node a standby (`false`: it serves reads, and refuses writes with
    /// [`ErrorKind::Standby`](crate::ErrorKind) for the server to forward) or the active node
    /// (`true`). Becoming active opens the unsealed state again first, so the new active acts
    /// on the storage as it is, whatever its caches missed while it was a standby; when that
    /// fails (the storage is down) the node stays a standby and the error says why.
    pub async fn set_active(&self, active: bool) -> Result<()> {
        if !active {
            // As the active node it took in no one's changes; from now on it does, and what
            // the next active node wrote before this moment is read again.
            if self.active.swap(false, Ordering::SeqCst) {
                self.reload().await?;
            }
            return Ok(());
        }
        if self.is_active() {
            return Ok(());
        }
        self.reload().await?;
        self.active.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Takes in what another node changed in the shared storage (a standby's caches; the
    /// active node's own changes need nothing). Errors are the storage's: the caller retries
    /// with [`coffre_storage::Change::Everything`].
    pub async fn apply_change(&self, change: &coffre_storage::Change) -> Result<()> {
        if self.is_active() {
            return Ok(());
        }
        let Some(unsealed) = self.unsealed.load_full() else {
            return Ok(());
        };
        let structure = match change {
            coffre_storage::Change::Everything => true,
            coffre_storage::Change::Keys(keys) => unsealed.invalidate(keys).await,
        };
        if structure {
            self.reload().await?;
        }
        Ok(())
    }

    /// Opens the unsealed state again from storage (keyrings, namespaces, mount tables,
    /// stores and their caches), keeping the barrier's root key, the audit devices and the
    /// cluster identity. Requests under way finish on the state they started with.
    pub async fn reload(&self) -> Result<()> {
        let _progress = self.progress.lock().await;
        let Some(old) = self.unsealed.load_full() else {
            return Ok(());
        };
        old.barrier.reload_keys().await?;
        let fresh = Arc::new(
            open_state(
                old.barrier.clone(),
                old.audit.clone(),
                old.cluster.clone(),
                self.nodes.clone(),
            )
            .await?,
        );
        spawn_jobs(Arc::downgrade(&fresh));
        self.unsealed.store(Some(fresh));
        tracing::debug!("unsealed state opened again from storage");
        Ok(())
    }

    /// The core's clock.
    pub fn clock(&self) -> &SharedClock {
        &self.config.clock
    }

    /// Whether the barrier is sealed.
    pub fn is_sealed(&self) -> bool {
        self.unsealed.load().is_none()
    }

    /// The stored seal configuration, if initialized.
    async fn seal_config(&self) -> Result<Option<Arc<SealConfig>>> {
        if let Some(cfg) = self.seal_config.get() {
            return Ok(Some(Arc::clone(cfg)));
        }
        match self.backend.get(SEAL_CONFIG_PATH).await? {
            None => Ok(None),
            Some(raw) => {
                let cfg = serde_json::from_slice(&raw)
                    .map_err(|e| Error::Internal(format!("corrupt seal config: {e}")))?;
                Ok(Some(Arc::clone(
                    self.seal_config.get_or_init(|| Arc::new(cfg)),
                )))
            }
        }
    }

    /// Whether `sys/init` has completed.
    pub async fn is_initialized(&self) -> Result<bool> {
        Ok(self.seal_config().await?.is_some())
    }

    /// Initializes the server: generates the unseal key, root key and keyring, splits the
    /// unseal key into shares and creates the root token. The server stays sealed.
    ///
    /// # Errors
    /// 400 if already initialized or the parameters are invalid. The seal config is written
    /// last, so a failure part-way leaves the server uninitialized and init can be retried.
    pub async fn init(
        &self,
        shares: i64,
        threshold: i64,
        root_token: Option<&str>,
    ) -> Result<InitResult> {
        let _progress = self.progress.lock().await;
        if self.is_initialized().await? {
            return Err(Error::invalid("Vault is already initialized"));
        }
        let config = SealConfig::shamir(shares, threshold)?;
        let unseal_key = Key256::generate()?;
        let root_key = Key256::generate()?;
        let keyring = Keyring::generate(self.config.clock.now_unix_nanos())?;
        let key_shares = split_secret(
            unseal_key.expose(),
            config.secret_shares,
            config.secret_threshold,
        )?;

        self.backend
            .batch(vec![
                Op::Put(ROOT_KEY_PATH.into(), wrap_root_key(&unseal_key, &root_key)?),
                Op::Put(KEYRING_PATH.into(), seal_keyring(&root_key, &keyring)?),
            ])
            .await?;
        drop(keyring);

        let barrier = Arc::new(
            Barrier::open(
                self.backend.clone(),
                root_key,
                self.config.max_encryptions_per_term,
                self.config.clock.clone(),
            )
            .await?
            .with_active_flag(self.active.clone()),
        );
        let cluster = ClusterInfo {
            name: format!(
                "coffre-cluster-{}",
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
            id: uuid::Uuid::new_v4().to_string(),
        };
        let mut entries = crate::namespace::initial_entries(barrier.clock().now_unix_nanos())?;
        entries.push((CLUSTER_PATH.into(), Some(encode(&cluster)?)));
        barrier.batch(entries).await?;
        let tokens = TokenStore::open(View::new(barrier, TOKEN_PREFIX), None).await?;
        let root_token = tokens.create_root(root_token).await?;

        let config_bytes = serde_json::to_vec(&config)
            .map_err(|e| Error::Internal(format!("encode seal config: {e}")))?;
        self.backend.put(SEAL_CONFIG_PATH, config_bytes).await?;
        let config = Arc::clone(self.seal_config.get_or_init(|| Arc::new(config)));
        tracing::info!(
            shares = config.secret_shares,
            threshold = config.secret_threshold,
            "initialized"
        );
        Ok(InitResult {
            shares: key_shares,
            root_token,
        })
    }

    /// Current seal status.
    pub async fn seal_status(&self) -> Result<SealStatus> {
        let progress = self.progress.lock().await;
        self.status_locked(&progress).await
    }

    async fn status_locked(&self, progress: &Progress) -> Result<SealStatus> {
        let config = self.seal_config().await?;
        let unsealed = self.unsealed.load_full();
        Ok(SealStatus {
            kind: "shamir".into(),
            initialized: config.is_some(),
            sealed: unsealed.is_none(),
            t: config.as_ref().map_or(0, |c| c.secret_threshold),
            n: config.as_ref().map_or(0, |c| c.secret_shares),
            progress: progress.shares.len(),
            nonce: progress.nonce.clone(),
            version: VERSION.into(),
            build_date: VERSION.into(),
            commit_date: VERSION.into(),
            migration: false,
            cluster_name: unsealed.as_ref().map(|u| u.cluster.name.clone()),
            cluster_id: unsealed.as_ref().map(|u| u.cluster.id.clone()),
            recovery_seal: false,
            storage_type: self.backend.kind().into(),
        })
    }

    /// Adds one unseal share (hex or base64). When the threshold is reached the shares are
    /// combined and checked against the stored root-key blob; a wrong combination is a 400 and
    /// resets progress.
    pub async fn unseal(&self, key: &str) -> Result<SealStatus> {
        let mut progress = self.progress.lock().await;
        let Some(config) = self.seal_config().await? else {
            return Err(Error::invalid("Vault is not initialized"));
        };
        if !self.is_sealed() {
            return self.status_locked(&progress).await;
        }
        let share = decode_share(key)?;
        if progress.shares.iter().any(|s| s.ct_eq(share.expose())) {
            // Vault ignores a share that was already entered.
            return self.status_locked(&progress).await;
        }
        if progress.shares.is_empty() {
            progress.nonce = uuid::Uuid::new_v4().to_string();
        }
        progress.shares.push(share);
        if progress.shares.len() < usize::from(config.secret_threshold) {
            return self.status_locked(&progress).await;
        }

        let shares = std::mem::take(&mut progress.shares);
        progress.nonce.clear();
        let unseal_key =
            combine_shares(&shares).map_err(|_| Error::invalid("unseal failed, invalid key"))?;
        drop(shares);
        let blob = self
            .backend
            .get(ROOT_KEY_PATH)
            .await?
            .ok_or_else(|| Error::Internal("root key missing from storage".into()))?;
        let root_key = unwrap_root_key(unseal_key.expose(), &blob)?;
        drop(unseal_key);

        let unsealed = Arc::new(self.open_unsealed(root_key).await?);
        spawn_jobs(Arc::downgrade(&unsealed));
        spawn_resume_purges(&unsealed);
        self.unsealed.store(Some(unsealed));
        if !coffre_crypto::mlock_supported() {
            warn_mlock_once();
        }
        tracing::info!("unsealed");
        self.status_locked(&progress).await
    }

    async fn open_unsealed(&self, root_key: Key256) -> Result<Unsealed> {
        let barrier = Arc::new(
            Barrier::open(
                self.backend.clone(),
                root_key,
                self.config.max_encryptions_per_term,
                self.config.clock.clone(),
            )
            .await?
            .with_active_flag(self.active.clone()),
        );
        let cluster: ClusterInfo = decode(&barrier, CLUSTER_PATH).await?;
        let audit = Arc::new(
            AuditBroker::open(
                barrier.clone(),
                &self.config.audit_devices,
                self.config.allow_api_audit_creation,
            )
            .await?
            .with_events(self.events.clone()),
        );
        if audit.is_empty() && !self.config.quiet_without_audit {
            warn_no_audit();
        }
        open_state(barrier, audit, cluster, self.nodes.clone()).await
    }

    /// Discards unseal progress (`sys/unseal` with `reset`).
    pub async fn unseal_reset(&self) -> Result<SealStatus> {
        let mut progress = self.progress.lock().await;
        if !self.is_sealed() {
            return Err(Error::invalid("vault is unsealed"));
        }
        progress.shares.clear();
        progress.nonce.clear();
        self.status_locked(&progress).await
    }

    /// Seals the server. Needs a token whose policies grant `update` and `sudo` on `sys/seal`
    /// (as Vault); a root token does.
    ///
    /// Order matters: the request is audited, new requests are turned away (503), the audit
    /// broker closes (a request still in flight then fails instead of going unrecorded), and
    /// the barrier refuses all storage access, so no background task writes after the seal.
    pub async fn seal(&self, token: Option<&str>) -> Result<()> {
        let _progress = self.progress.lock().await;
        let Some(unsealed) = self.unsealed.load_full() else {
            return Ok(());
        };
        // Sealing is for the root namespace's tokens only.
        let root = unsealed.namespaces.root().clone();
        let entry = match token {
            Some(t) => root.tokens.lookup(t).await?,
            None => None,
        };
        let Some(entry) = entry.filter(|e| e.num_uses >= 0) else {
            return Err(Error::PermissionDenied);
        };
        let acl = root.policies.acl_for(&entry.policies).await?;
        let decision = acl.check(
            crate::policy::Op::Update,
            "sys/seal",
            &serde_json::Map::new(),
        );
        if !(decision.allowed && decision.sudo) {
            return Err(Error::PermissionDenied);
        }
        if entry.num_uses > 0
            && let Some(t) = token
            && root.tokens.use_once(&root.tokens.hash(t)).await?.is_none()
        {
            return Err(Error::PermissionDenied);
        }
        // sys/seal is audited like any other privileged request, and refused if it cannot be.
        let id = crate::request::new_request_id();
        let rec = AuditRecord {
            request_id: &id,
            operation: crate::request::Operation::Update,
            path: "sys/seal",
            data: None,
            remote_addr: None,
            token,
            token_hash: None,
            auth: Some(&entry),
            mount: None,
            namespace: Some(&root.ns),
            background: None,
        };
        unsealed.audit.log_request(&rec, None).await?;
        unsealed.audit.log_response(&rec, &Ok(None)).await?;
        self.unsealed.store(None);
        if let Err(e) = unsealed.barrier.persist_counts().await {
            tracing::warn!(error = %e, "could not persist barrier counters before sealing");
        }
        unsealed.audit.close().await;
        unsealed.barrier.seal();
        tracing::info!("sealed");
        Ok(())
    }

    /// Persists what must survive a clean shutdown (barrier counters).
    pub async fn shutdown(&self) {
        if let Some(unsealed) = self.unsealed.load_full() {
            if let Err(e) = unsealed.barrier.persist_counts().await {
                tracing::warn!(error = %e, "could not persist barrier counters at shutdown");
            }
            unsealed.audit.close().await;
            unsealed.barrier.seal();
        }
    }

    /// Handles a logical request (`/v1/...` except the raw sys handlers).
    /// `Ok(None)` means "nothing at this path" (404 with an empty error list).
    pub async fn handle(&self, mut req: Request) -> Result<Option<Response>> {
        let Some(unsealed) = self.unsealed.load_full() else {
            return Err(Error::Sealed);
        };
        // One spelling of the path for routing, the ACL, the sudo check and the audit log.
        if let std::borrow::Cow::Owned(p) = crate::request::normalize_path(&req.path)? {
            req.path = p;
        }
        unsealed.handle(req).await
    }

    /// Runs one pass of the job runner now, at the core's clock, flat out: every job due is
    /// run (the background task does the same every second, paced). For tests on a manual
    /// clock.
    pub async fn run_jobs(&self) -> Result<crate::jobs::PassReport> {
        self.run_jobs_with(crate::jobs::Pace::FlatOut).await
    }

    /// [`Core::run_jobs`] at the given pace ([`Pace::Paced`](crate::jobs::Pace) is how the
    /// background task runs passes).
    pub async fn run_jobs_with(&self, pace: crate::jobs::Pace) -> Result<crate::jobs::PassReport> {
        let Some(unsealed) = self.unsealed.load_full() else {
            return Err(Error::Sealed);
        };
        let now = unsealed.barrier.clock().now_unix_secs();
        Ok(unsealed.jobs.run_due(&unsealed, now, pace).await)
    }

    /// Dev mode: initialize with one share, unseal, and return (unseal key, root token).
    pub async fn dev_init(&self, root_token: Option<&str>) -> Result<(SecretBytes, String)> {
        let init = self.init(1, 1, root_token).await?;
        let share = init
            .shares
            .first()
            .cloned()
            .ok_or_else(|| Error::Internal("init returned no share".into()))?;
        self.unseal(&hex::encode(share.expose())).await?;
        Ok((share, init.root_token))
    }
}

/// The unsealed state over an open barrier and audit broker: every namespace's stores, mount
/// tables and routers, the quotas, fresh engine states and a job runner.
async fn open_state(
    barrier: Arc<Barrier>,
    audit: Arc<AuditBroker>,
    cluster: ClusterInfo,
    nodes: Option<Arc<dyn crate::cluster::NodeDirectory>>,
) -> Result<Unsealed> {
    let mount_states = crate::engines::mount_state::MountStates::default();
    let namespaces =
        crate::namespace::open_all(&barrier, &audit.background(), &mount_states).await?;
    let views: Vec<(String, View)> = namespaces
        .all()
        .iter()
        .map(|t| (t.ns.path.clone(), t.view.clone()))
        .collect();
    crate::alerts::open(audit.events().alerting(), &views, barrier.is_active()).await?;
    let quotas = crate::quota::Quotas::open(views).await?;
    Ok(Unsealed {
        audit,
        barrier,
        namespaces,
        quotas,
        mount_states,
        cluster,
        jobs: crate::jobs::Runner::default(),
        nodes,
    })
}

/// How often the background task runs a pass of the job runner (real time; what is due is
/// decided by the core's clock).
const JOB_TICK: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs the job runner's passes in the background while unsealed. The task holds only a weak
/// reference, so sealing (dropping the last strong one) ends it.
fn spawn_jobs(unsealed: std::sync::Weak<Unsealed>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        loop {
            tokio::time::sleep(JOB_TICK).await;
            let Some(u) = unsealed.upgrade() else { return };
            let now = u.barrier.clock().now_unix_secs();
            u.jobs.run_due(&u, now, crate::jobs::Pace::Paced).await;
        }
    });
}

/// Finishes removing the data of mounts disabled, and namespaces deleted, before a crash, in
/// the background: the data is unreachable already (no mount routes to it, no key decrypts
/// a deleted namespace's), so unseal need not wait for it.
fn spawn_resume_purges(unsealed: &Unsealed) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let views: Vec<View> = unsealed
        .namespaces
        .all()
        .iter()
        .map(|t| t.view.clone())
        .collect();
    let barrier = unsealed.barrier.clone();
    runtime.spawn(async move {
        if let Err(e) = crate::namespace::resume_purges(&barrier).await {
            tracing::warn!(error = %e, "removing the data of deleted namespaces failed; retried at the next unseal");
        }
        for view in views {
            if let Err(e) = crate::mount::resume_purges(&view).await {
                tracing::warn!(error = %e, "removing the data of disabled mounts failed; retried at the next unseal");
            }
        }
    });
}

fn warn_no_audit() {
    tracing::warn!(
        "no audit device is enabled: requests are not audited. Declare one with [[audit]] in \
         the configuration"
    );
}

fn warn_mlock_once() {
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        tracing::warn!(
            "mlock is not available (check RLIMIT_MEMLOCK); key material may be swapped to disk"
        );
    });
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::Internal(format!("encode: {e}")))
}

async fn decode<T: for<'de> Deserialize<'de>>(barrier: &Barrier, path: &str) -> Result<T> {
    let raw = barrier
        .get(path)
        .await?
        .ok_or_else(|| Error::Internal(format!("{path} missing from storage")))?;
    serde_json::from_slice(raw.expose())
        .map_err(|e| Error::Internal(format!("corrupt {path}: {e}")))
}
