//! The one request pipeline: authenticate → authorize → route → (existence check) → dispatch.
//! An engine can only be reached through [`Unsealed::handle`], and dispatch requires an
//! [`Authorized`] proof that only [`Unsealed::authorize`] can mint.

use std::sync::Arc;

use crate::core::Unsealed;
use crate::engines::EngineRequest;
use crate::error::{Error, Result};
use crate::request::{Operation, Request, Response};
use crate::sys;
use crate::token::TokenEntry;

/// Proof that the ACL allowed a request. The private field keeps other modules from
/// constructing one, so skipping the check does not compile.
pub(crate) struct Authorized {
    _private: (),
}

impl Unsealed {
    /// Resolves the caller's token; a missing, unknown or expired token is a 403.
    async fn authenticate(&self, req: &Request) -> Result<Arc<TokenEntry>> {
        let Some(token) = req.token.as_deref().filter(|t| !t.is_empty()) else {
            return Err(Error::PermissionDenied);
        };
        self.tokens
            .lookup(token)
            .await?
            .ok_or(Error::PermissionDenied)
    }

    /// Checks the token's policies for the request. Until ACL policies exist, only the root
    /// policy grants anything.
    fn authorize(&self, token: Arc<TokenEntry>, _op: Operation, _path: &str) -> Result<Authorized> {
        if token.is_root() {
            Ok(Authorized { _private: () })
        } else {
            Err(Error::PermissionDenied)
        }
    }

    /// Runs a request through the pipeline.
    pub(crate) async fn handle(&self, mut req: Request) -> Result<Option<Response>> {
        let token = self.authenticate(&req).await?;
        let router = self.router.load_full();
        let Some((route, rel)) = router.route(&req.path) else {
            // Vault checks the ACL before routing, so an unknown path is a 403 unless the
            // token would be allowed there.
            self.authorize(token, req.operation, &req.path)?;
            return Err(Error::NoHandler(req.path.clone()));
        };
        let rel = rel.to_string();

        let Some(engine) = route.engine.clone() else {
            let auth = self.authorize(token, req.operation, &req.path)?;
            return sys::handle(self, &rel, req, auth).await;
        };

        let mut ereq = EngineRequest {
            operation: req.operation,
            path: rel,
            data: std::mem::take(&mut req.data),
            view: route.view.clone(),
            mount: route.entry.clone(),
        };
        if ereq.operation.is_write() {
            ereq.operation = match engine.exists(&ereq).await? {
                Some(false) => Operation::Create,
                Some(true) | None => Operation::Update,
            };
        }
        let _auth = self.authorize(token, ereq.operation, &req.path)?;
        engine.handle(ereq).await
    }
}
