//! The Transit secrets engine: encryption, signing, HMAC and data keys as a service, with
//! versioned keys that rotate without breaking what was encrypted or signed before.
//! API-compatible with Vault's `transit` (see `docs/TRANSIT.md`).
//!
//! Routes (relative to the mount):
//!
//! | path | operations |
//! |---|---|
//! | `keys` | list |
//! | `keys/:name` | create/update (create key), read, delete |
//! | `keys/:name/config`, `keys/:name/rotate`, `keys/:name/trim` | update |
//! | `encrypt/:name` | create (upserts the key) / update |
//! | `decrypt/:name`, `rewrap/:name`, `datakey/(plaintext\|wrapped)/:name` | update |
//! | `hmac/:name[/:algorithm]`, `sign/:name[/:hash]`, `verify/:name[/:hash]` | update |
//! | `random[/:source][/:bytes]`, `hash[/:algorithm]` | update |
//! | `export/:type/:name[/:version]`, `backup/:name` | read |
//! | `restore[/:name]` | update |
//!
//! Keys live in the mount's view (encrypted by the barrier) and are cached parsed, per mount
//! (see [`store`]); cryptography comes from `coffre_crypto::transit`.

mod batch;
mod crypt;
mod export;
mod hmac;
mod keys;
mod policy;
mod sign;
mod store;
#[cfg(test)]
mod tests;
mod tools;

use std::sync::Arc;

use async_trait::async_trait;

use super::{Engine, EngineRequest};
use crate::error::{Error, Result};
use crate::mount::MountEntry;
use crate::request::{Operation, Response};
use policy::valid_name;
use store::Shared;

pub(crate) use tools::{hash_response, random_response};

/// The transit engine of one mount.
pub(crate) struct Transit {
    shared: Arc<Shared>,
    rotator: store::RotatorContext,
}

impl Transit {
    /// The engine for `entry`; instances of the same mount share their cache and lock. The
    /// auto-rotation task starts here (at unseal or mount time), not on first use, so keys of
    /// an idle mount still rotate on schedule.
    pub(crate) fn new(entry: &MountEntry, ctx: &crate::engines::EngineContext<'_>) -> Transit {
        let (view, background) = (ctx.view, ctx.background);
        let shared: Arc<Shared> = ctx.states.get(&entry.uuid);
        let rotator = store::RotatorContext {
            view: view.clone(),
            mount: Arc::new(entry.clone()),
            background: background.clone(),
        };
        shared.ensure_rotator(&rotator);
        Transit { shared, rotator }
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

fn route(path: &str) -> Option<Route<'_>> {
    let segs: Vec<&str> = path.split('/').collect();
    let name = |s: &&str| valid_name(s);
    let r = match segs.as_slice() {
        ["keys"] | ["keys", ""] => Route::KeysList,
        ["keys", n] if name(n) => Route::Key(n),
        ["keys", n, "config"] if name(n) => Route::KeyConfig(n),
        ["keys", n, "rotate"] if name(n) => Route::KeyRotate(n),
        ["keys", n, "trim"] if name(n) => Route::KeyTrim(n),
        ["encrypt", n] if name(n) => Route::Encrypt(n),
        ["decrypt", n] if name(n) => Route::Decrypt(n),
        ["rewrap", n] if name(n) => Route::Rewrap(n),
        ["datakey", t, n] if name(n) && !t.is_empty() => Route::Datakey(t, n),
        ["hmac", n] if name(n) => Route::Hmac(n, None),
        ["hmac", n, a] if name(n) && !a.is_empty() => Route::Hmac(n, Some(a)),
        ["sign", n] if name(n) => Route::Sign(n, None),
        ["sign", n, a] if name(n) && !a.is_empty() => Route::Sign(n, Some(a)),
        ["verify", n] if name(n) => Route::Verify(n, None),
        ["verify", n, a] if name(n) && !a.is_empty() => Route::Verify(n, Some(a)),
        ["random"] => Route::Random(""),
        ["random", rest @ ..] if rest.len() <= 2 && rest.iter().all(|s| !s.is_empty()) => {
            Route::Random(&path["random/".len()..])
        }
        ["hash"] => Route::Hash(None),
        ["hash", a] if !a.is_empty() => Route::Hash(Some(a)),
        ["export", t, n] if name(n) => Route::Export(t, n, None),
        ["export", t, n, v] if name(n) && !v.is_empty() => Route::Export(t, n, Some(v)),
        ["backup", n] if name(n) => Route::Backup(n),
        ["restore"] => Route::Restore(None),
        ["restore", n] if name(n) => Route::Restore(Some(n)),
        _ => return None,
    };
    Some(r)
}

fn write_only(op: Operation) -> Result<()> {
    if op.is_write() {
        Ok(())
    } else {
        Err(Error::UnsupportedOperation)
    }
}

#[async_trait]
impl Engine for Transit {
    /// `encrypt/:name` tells create (the key would be upserted: needs `create`) from update;
    /// every other write is an update.
    async fn exists(&self, req: &EngineRequest) -> Result<Option<bool>> {
        match route(&req.path) {
            Some(Route::Encrypt(name)) => {
                Ok(Some(self.shared.load(&req.view, name).await?.is_some()))
            }
            _ => Ok(None),
        }
    }

    async fn handle(&self, req: EngineRequest) -> Result<Option<Response>> {
        let shared = &self.shared;
        shared.ensure_rotator(&self.rotator);
        let view = &req.view;
        let data = &req.data;
        let op = req.operation;
        let Some(r) = route(&req.path) else {
            return Err(Error::UnsupportedPath);
        };
        let resp = match r {
            Route::KeysList => {
                if op != Operation::List {
                    return Err(Error::UnsupportedOperation);
                }
                return keys::list(view).await;
            }
            Route::Key(name) => match op {
                Operation::Read => return keys::read(shared, view, name, data).await,
                Operation::Create | Operation::Update => {
                    keys::write(shared, view, name, data).await?
                }
                Operation::Delete => keys::delete(shared, view, name).await?,
                _ => return Err(Error::UnsupportedOperation),
            },
            Route::Export(t, name, v) => {
                if op != Operation::Read {
                    return Err(Error::UnsupportedOperation);
                }
                return export::export(shared, view, t, name, v).await;
            }
            Route::Backup(name) => {
                if op != Operation::Read {
                    return Err(Error::UnsupportedOperation);
                }
                return export::backup(shared, view, name).await;
            }
            other => {
                write_only(op)?;
                match other {
                    Route::KeyConfig(n) => keys::config(shared, view, n, data).await?,
                    Route::KeyRotate(n) => keys::rotate(shared, view, n).await?,
                    Route::KeyTrim(n) => keys::trim(shared, view, n, data).await?,
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
                    Route::KeysList | Route::Key(_) | Route::Export(..) | Route::Backup(_) => {
                        return Err(Error::UnsupportedOperation);
                    }
                }
            }
        };
        Ok(Some(resp))
    }
}
