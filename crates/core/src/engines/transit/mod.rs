//! The Transit secrets engine: encryption, signing, HMAC and data keys as a service, with
//! versioned keys that rotate without breaking what was encrypted or signed before.
//! API-compatible with Vault's `transit` (see `docs/TRANSIT.md`).
//!
//! Its paths (relative to the mount) are declared in [`ROUTES`]: `keys`, `keys/:name` and its
//! `config`/`rotate`/`trim`, `encrypt`, `decrypt`, `rewrap`, `datakey`, `hmac`, `sign`,
//! `verify`, `random`, `hash`, `export`, `backup`, `restore`.
//!
//! Keys live in the mount's view (encrypted by the barrier) and are cached parsed, per mount
//! (see [`store`]); cryptography comes from `coffre_crypto::transit`.

mod batch;
mod crypt;
mod export;
mod hmac;
mod keys;
mod policy;
mod rotation;
mod sign;
mod store;
#[cfg(test)]
mod tests;
mod tools;

use std::sync::{Arc, LazyLock};

use async_trait::async_trait;

use super::{Engine, EngineRequest};
use crate::error::{Error, Result};
use crate::mount::MountEntry;
use crate::request::{Operation, Response};
use crate::route::{Field, FieldKind, PathSpec, Routes, Table, WRITE, field, path};
use crate::system::Ctx;
use policy::valid_name;
use store::Shared;

pub(crate) use rotation::{TransitRotationJob, adopt as adopt_rotation_jobs, calendar_entry};
pub(crate) use tools::{hash_response, random_response};

/// The transit engine of one mount.
pub(crate) struct Transit {
    shared: Arc<Shared>,
    /// The mount and the audit log, for the events of a rollback.
    mount: Arc<MountEntry>,
    background: crate::audit::BackgroundAudit,
}

impl Transit {
    /// The engine for `entry`; instances of the same mount share their cache, lock and the
    /// scheduler of their keys' rotation jobs (which run on the core's job runner).
    pub(crate) fn new(entry: &MountEntry, ctx: &crate::engines::EngineContext<'_>) -> Transit {
        let shared: Arc<Shared> = ctx.states.get(&entry.uuid);
        let _ = shared
            .scheduler
            .get_or_init(|| rotation::Scheduler::new(&ctx.rotation.jobs, &entry.uuid));
        Transit {
            shared,
            mount: Arc::new(entry.clone()),
            background: ctx.background.clone(),
        }
    }
}

/// A parsed request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'a> {
    KeysList,
    Key(&'a str),
    KeyConfig(&'a str),
    KeyRotate(&'a str),
    KeyTrim(&'a str),
    KeyRollback(&'a str),
    Encrypt(&'a str),
    Decrypt(&'a str),
    Rewrap(&'a str),
    Datakey(&'a str, &'a str),
    Hmac(&'a str, Option<&'a str>),
    Sign(&'a str, Option<&'a str>),
    Verify(&'a str, Option<&'a str>),
    Random(&'a str),
    Hash(Option<&'a str>),
    Export(&'a str, &'a str, Option<&'a str>),
    Backup(&'a str),
    Restore(Option<&'a str>),
}

/// Builds the handler's view of a matched path; `None` when a key name is not valid.
type Build = for<'a> fn(&'a EngineRequest) -> Option<Route<'a>>;

/// The `name` parameter, if it is a valid key name.
fn name(req: &EngineRequest) -> Option<&str> {
    Some(req.param("name")).filter(|n| valid_name(n))
}

/// A parameter that may be absent from the matched pattern.
fn opt<'a>(req: &'a EngineRequest, param: &str) -> Option<&'a str> {
    Some(req.param(param)).filter(|p| !p.is_empty())
}

const PLAINTEXT: Field = field(
    "plaintext",
    FieldKind::Str,
    "Base64 of the data to encrypt.",
);
const CIPHERTEXT: Field = field("ciphertext", FieldKind::Str, "The ciphertext to decrypt.");
const CONTEXT: Field = field(
    "context",
    FieldKind::Str,
    "Base64 context for key derivation (derived keys).",
);
const KEY_VERSION: Field = field(
    "key_version",
    FieldKind::Int,
    "The key version to use (0: the latest).",
);
const BATCH_INPUT: Field = field(
    "batch_input",
    FieldKind::Any,
    "A list of items to process in one request.",
);
const INPUT: Field = field("input", FieldKind::Str, "Base64 of the input.");
const KEY_TYPE: Field = field(
    "type",
    FieldKind::Str,
    "The key type: aes128-gcm96, aes256-gcm96, chacha20-poly1305, ed25519, ecdsa-p256, \
     ecdsa-p384, ecdsa-p521, rsa-2048, rsa-3072, rsa-4096, hmac, ml-dsa-*, hybrid ML-KEM.",
);

/// A declared path (a function, so that the closures below coerce to [`Build`]).
fn at(pattern: &'static str, build: Build) -> PathSpec<Build> {
    path(pattern, build)
}

/// A write path; transit's handlers read more fields than the table declares.
fn write(pattern: &'static str, build: Build) -> PathSpec<Build> {
    path(pattern, build).ops(WRITE).arbitrary_fields()
}

fn read(pattern: &'static str, build: Build) -> PathSpec<Build> {
    path(pattern, build).ops(&[Operation::Read])
}

static ROUTES: LazyLock<Table<Build>> = LazyLock::new(|| {
    use Operation::{Delete, List, Read};
    Table::new(
        "The transit backend encrypts, signs and hashes data in transit with named, versioned \
         keys that never leave it (unless marked exportable).",
        vec![
            at("keys/?", |_| Some(Route::KeysList))
                .ops(&[List])
                .help("Lists the named keys.", ""),
            at("keys/{name}", |r| name(r).map(Route::Key))
                .ops(&[Read, Delete])
                .ops(WRITE)
                .fields(&[
                    KEY_TYPE,
                    field("exportable", FieldKind::Bool, "The key may be exported."),
                    field(
                        "allow_plaintext_backup",
                        FieldKind::Bool,
                        "The key may be backed up in plaintext.",
                    ),
                    field("derived", FieldKind::Bool, "Derive a key per context."),
                    field(
                        "convergent_encryption",
                        FieldKind::Bool,
                        "Deterministic encryption (needs derived).",
                    ),
                    field(
                        "auto_rotate_period",
                        FieldKind::Duration,
                        "Rotate the key this often (0: never).",
                    ),
                    field("key_size", FieldKind::Int, "Size of an HMAC key, in bytes."),
                ])
                .arbitrary_fields()
                .help(
                    "Manage named encryption keys.",
                    "A write creates the key; a read shows its versions.",
                ),
            write("keys/{name}/config", |r| name(r).map(Route::KeyConfig)).help(
                "Configure a named key.",
                "Minimum versions, deletion, export, auto-rotation.",
            ),
            write("keys/{name}/rotate", |r| name(r).map(Route::KeyRotate)).help(
                "Rotate a named key.",
                "Adds a version; new data uses it, old data still decrypts.",
            ),
            write("keys/{name}/trim", |r| name(r).map(Route::KeyTrim)).help(
                "Trim key versions of a named key.",
                "Removes versions below min_available_version.",
            ),
            write("keys/{name}/rollback", |r| name(r).map(Route::KeyRollback))
                .fields(&[field(
                    "version",
                    FieldKind::Int,
                    "The version whose key material comes back (default: the one before the \
                     latest).",
                )])
                .help(
                    "Roll a named key back to an earlier version (coffre).",
                    "Adds a version holding that version's key material; every ciphertext \
                     stays decryptable.",
                ),
            write("encrypt/{name}", |r| name(r).map(Route::Encrypt))
                .changes_nothing()
                .existence_check()
                .fields(&[PLAINTEXT, CONTEXT, KEY_VERSION, BATCH_INPUT, KEY_TYPE])
                .help(
                    "Encrypt a plaintext value or a batch of plaintext blocks using a named key.",
                    "A create on a missing key creates it (upsert).",
                ),
            write("decrypt/{name}", |r| name(r).map(Route::Decrypt))
                .changes_nothing()
                .fields(&[CIPHERTEXT, CONTEXT, BATCH_INPUT])
                .help("Decrypt a ciphertext value using a named key.", ""),
            write("rewrap/{name}", |r| name(r).map(Route::Rewrap))
                .changes_nothing()
                .fields(&[CIPHERTEXT, CONTEXT, KEY_VERSION, BATCH_INPUT])
                .help("Rewrap ciphertext under the latest key version.", ""),
            write("datakey/{plaintext}/{name}", |r| {
                Some(Route::Datakey(r.param("plaintext"), name(r)?))
            })
            .changes_nothing()
            .fields(&[
                CONTEXT,
                field(
                    "bits",
                    FieldKind::Int,
                    "Bits of the data key: 128, 256 or 512.",
                ),
            ])
            .help(
                "Generate a data key.",
                "`plaintext` also returns the key; `wrapped` only its ciphertext.",
            ),
            write("hmac/{name}", |r| Some(Route::Hmac(name(r)?, None)))
                .changes_nothing()
                .fields(&[INPUT, KEY_VERSION, BATCH_INPUT])
                .help("Generate an HMAC for input data using the named key.", ""),
            write("hmac/{name}/{algorithm}", |r| {
                Some(Route::Hmac(name(r)?, opt(r, "algorithm")))
            })
            .changes_nothing()
            .fields(&[INPUT, KEY_VERSION, BATCH_INPUT])
            .help("Generate an HMAC for input data using the named key.", ""),
            write("sign/{name}", |r| Some(Route::Sign(name(r)?, None)))
                .changes_nothing()
                .fields(&[INPUT, KEY_VERSION, BATCH_INPUT])
                .help(
                    "Generate a signature for input data using the named key.",
                    "",
                ),
            write("sign/{name}/{hash}", |r| {
                Some(Route::Sign(name(r)?, opt(r, "hash")))
            })
            .changes_nothing()
            .fields(&[INPUT, KEY_VERSION, BATCH_INPUT])
            .help(
                "Generate a signature for input data using the named key.",
                "",
            ),
            write("verify/{name}", |r| Some(Route::Verify(name(r)?, None)))
                .changes_nothing()
                .fields(&[INPUT, BATCH_INPUT])
                .help(
                    "Verify a signature or HMAC for input data created using the named key.",
                    "",
                ),
            write("verify/{name}/{hash}", |r| {
                Some(Route::Verify(name(r)?, opt(r, "hash")))
            })
            .changes_nothing()
            .fields(&[INPUT, BATCH_INPUT])
            .help(
                "Verify a signature or HMAC for input data created using the named key.",
                "",
            ),
            write("random", |_| Some(Route::Random(""))).help("Generate random bytes.", ""),
            write("random/{source}", |r| {
                Some(Route::Random(r.param("source")))
            })
            .changes_nothing()
            .changes_nothing()
            .help("Generate random bytes.", ""),
            write("random/{source}/{bytes}", |r| {
                Some(Route::Random(r.path.strip_prefix("random/").unwrap_or("")))
            })
            .changes_nothing()
            .help("Generate random bytes.", ""),
            write("hash", |_| Some(Route::Hash(None)))
                .changes_nothing()
                .fields(&[INPUT])
                .help("Generate a hash sum for input data.", ""),
            write("hash/{algorithm}", |r| {
                Some(Route::Hash(opt(r, "algorithm")))
            })
            .changes_nothing()
            .fields(&[INPUT])
            .help("Generate a hash sum for input data.", ""),
            read("export/{type}/{name}", |r| {
                Some(Route::Export(r.param("type"), name(r)?, None))
            })
            .help("Export named encryption or signing keys.", ""),
            read("export/{type}/{name}/{version}", |r| {
                Some(Route::Export(r.param("type"), name(r)?, opt(r, "version")))
            })
            .help("Export named encryption or signing keys.", ""),
            read("backup/{name}", |r| name(r).map(Route::Backup)).help("Backup the named key.", ""),
            write("restore", |_| Some(Route::Restore(None))).help("Restore the named key.", ""),
            write("restore/{name}", |r| {
                name(r).map(|n| Route::Restore(Some(n)))
            })
            .help("Restore the named key.", ""),
        ],
    )
});

#[async_trait]
impl Engine for Transit {
    fn routes(&self) -> &'static dyn Routes {
        &*ROUTES
    }

    async fn invalidate(&self, key: &str) {
        self.shared.invalidate(key);
    }

    /// `encrypt/:name` tells create (the key would be upserted: needs `create`) from update.
    async fn exists(&self, req: &EngineRequest) -> Result<bool> {
        match name(req) {
            Some(name) => Ok(self.shared.load(&req.view, name).await?.is_some()),
            None => Ok(false),
        }
    }

    async fn handle(&self, req: EngineRequest, _ctx: &Ctx<'_>) -> Result<Option<Response>> {
        let shared = &self.shared;
        let view = &req.view;
        let data = &req.data;
        let op = req.operation;
        let Some(r) = ROUTES.route(&req.matched).and_then(|build| build(&req)) else {
            return Err(Error::UnsupportedPath);
        };
        // The table has checked the operation: only `keys/:name` takes more than one.
        let resp = match r {
            Route::KeysList => return keys::list(view).await,
            Route::Key(name) => match op {
                Operation::Read => return keys::read(shared, view, name, data).await,
                Operation::Delete => keys::delete(shared, view, name).await?,
                _ => keys::write(shared, view, name, data).await?,
            },
            Route::Export(t, name, v) => return export::export(shared, view, t, name, v).await,
            Route::Backup(name) => return export::backup(shared, view, name).await,
            Route::KeyConfig(n) => keys::config(shared, view, n, data).await?,
            Route::KeyRotate(n) => keys::rotate(shared, view, n).await?,
            Route::KeyTrim(n) => keys::trim(shared, view, n, data).await?,
            Route::KeyRollback(n) => {
                let to = (&*self.mount, &self.background);
                rotation::rollback(shared, view, n, data, to).await?
            }
            Route::Encrypt(n) => crypt::encrypt(shared, view, n, op, data).await?,
            Route::Decrypt(n) => crypt::decrypt(shared, view, n, data).await?,
            Route::Rewrap(n) => crypt::rewrap(shared, view, n, data).await?,
            Route::Datakey(t, n) => crypt::datakey(shared, view, t, n, data).await?,
            Route::Hmac(n, a) => hmac::hmac(shared, view, n, a, data).await?,
            Route::Sign(n, a) => sign::sign(shared, view, n, a, data).await?,
            Route::Verify(n, a) => sign::verify(shared, view, n, a, data).await?,
            Route::Random(rest) => random_response(rest, data)?,
            Route::Hash(a) => hash_response(a, data)?,
            Route::Restore(n) => export::restore(shared, view, n, data).await?,
        };
        Ok(Some(resp))
    }
}
