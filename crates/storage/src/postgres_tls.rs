//! TLS to PostgreSQL, with libpq's `sslmode` meanings (rustls, aws-lc-rs provider):
//!
//! | mode | encrypted | certificate checked | host name checked |
//! |---|---|---|---|
//! | `disable` | no | – | – |
//! | `prefer` (default, as libpq) | when the server offers it | no | no |
//! | `require` | yes | no (yes, as `verify-ca`, when a CA file is given, as libpq) | no |
//! | `verify-ca` | yes | against the CA file, else the system's roots | no |
//! | `verify-full` | yes | yes | yes |
//!
//! `prefer` and `require` protect against a passive listener only; production deployments
//! want `verify-full`. A client certificate and key may be given for PostgreSQL's `cert`
//! authentication.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, aws_lc_rs, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::{Result, StorageError};

/// How a connection to PostgreSQL is protected (see the module table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMode {
    Disable,
    #[default]
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl TlsMode {
    /// libpq's `sslmode` names.
    pub fn parse(s: &str) -> Option<TlsMode> {
        Some(match s {
            "disable" => TlsMode::Disable,
            "prefer" => TlsMode::Prefer,
            "require" => TlsMode::Require,
            "verify-ca" => TlsMode::VerifyCa,
            "verify-full" => TlsMode::VerifyFull,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Disable => "disable",
            TlsMode::Prefer => "prefer",
            TlsMode::Require => "require",
            TlsMode::VerifyCa => "verify-ca",
            TlsMode::VerifyFull => "verify-full",
        }
    }

    /// What the driver is told: whether to ask for TLS and whether to insist on it.
    pub(crate) fn ssl_mode(self) -> SslMode {
        match self {
            TlsMode::Disable => SslMode::Disable,
            TlsMode::Prefer => SslMode::Prefer,
            TlsMode::Require | TlsMode::VerifyCa | TlsMode::VerifyFull => SslMode::Require,
        }
    }
}

/// TLS settings of the PostgreSQL connections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PgTls {
    pub mode: TlsMode,
    /// PEM file of the certificate authorities to trust (default: the system's roots).
    pub ca_file: Option<PathBuf>,
    /// PEM certificate chain and private key presented to the server.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

impl PgTls {
    /// The settings a URL's parameters give (mode `prefer` when it names none).
    pub fn from_params(p: PgTlsParams) -> Result<PgTls> {
        let client_cert = match (p.cert_file, p.key_file) {
            (None, None) => None,
            (Some(c), Some(k)) => Some((c, k)),
            _ => {
                return Err(tls_err(
                    "a client certificate needs both its certificate and its key file",
                ));
            }
        };
        Ok(PgTls {
            mode: p.mode.unwrap_or_default(),
            ca_file: p.ca_file,
            client_cert,
        })
    }
}

fn tls_err(what: impl std::fmt::Display) -> StorageError {
    StorageError::Database(format!("PostgreSQL TLS: {what}"))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(aws_lc_rs::default_provider())
}

/// The connector every connection (pool, election, change feed) is made with.
pub(crate) fn connector(tls: &PgTls) -> Result<MakeRustlsConnect> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?;
    let verifier: Arc<dyn ServerCertVerifier> = match (tls.mode, &tls.ca_file) {
        (TlsMode::Disable | TlsMode::Prefer, _) | (TlsMode::Require, None) => {
            Arc::new(Unverified(provider.clone()))
        }
        (TlsMode::Require | TlsMode::VerifyCa, _) => Arc::new(AnyName(webpki(tls, &provider)?)),
        (TlsMode::VerifyFull, _) => webpki(tls, &provider)?,
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match &tls.client_cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
                .map_err(|e| tls_err(format!("client certificate {}: {e}", cert.display())))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| tls_err(format!("client key {}: {e}", key.display())))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| tls_err(format!("client certificate: {e}")))?
        }
    };
    Ok(MakeRustlsConnect::new(config))
}

/// The standard verifier over the CA file, or the system's roots.
fn webpki(tls: &PgTls, provider: &Arc<CryptoProvider>) -> Result<Arc<WebPkiServerVerifier>> {
    let mut roots = RootCertStore::empty();
    match &tls.ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
                .map_err(|e| tls_err(format!("CA file {}: {e}", path.display())))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(tls_err(format!(
                    "CA file {}: no certificate in it",
                    path.display()
                )));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(tls_err(
                    "no system root certificates found; set tls_ca_file".to_string(),
                ));
            }
        }
    }
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(tls_err)
}

/// `prefer` / `require` without a CA: any certificate, but the handshake's signatures are
/// still checked (the session key belongs to whoever holds the certificate's key).
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted root; the name in it is not compared with
/// the host connected to.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Takes libpq's TLS parameters (`sslmode`, `sslrootcert`, `sslcert`, `sslkey`) out of a
/// `postgresql://` URL's query, which the driver does not understand beyond `require`:
/// returns the URL without them and what they said.
pub fn split_tls_params(url: &str) -> Result<(String, PgTlsParams)> {
    let mut params = PgTlsParams::default();
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), params));
    };
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v);
        match k {
            "sslmode" => {
                params.mode = Some(TlsMode::parse(&v).ok_or_else(|| {
                    tls_err(format!(
                        "sslmode {v:?}: expected disable, prefer, require, verify-ca or verify-full"
                    ))
                })?)
            }
            "sslrootcert" => params.ca_file = Some(PathBuf::from(v)),
            "sslcert" => params.cert_file = Some(PathBuf::from(v)),
            "sslkey" => params.key_file = Some(PathBuf::from(v)),
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, params))
}

/// The TLS parameters found in a URL.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PgTlsParams {
    pub mode: Option<TlsMode>,
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

/// `%XX` escapes of a URL query value (paths may carry them).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let v = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(u8::try_from(v).unwrap_or(b'?'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_tls_parameters_leave_the_url() {
        let (url, p) = split_tls_params(
            "postgresql://c@db:5432/coffre?application_name=n1&sslmode=verify-full&sslrootcert=/etc/ca%20dir/ca.pem",
        )
        .expect("split");
        assert_eq!(url, "postgresql://c@db:5432/coffre?application_name=n1");
        assert_eq!(p.mode, Some(TlsMode::VerifyFull));
        assert_eq!(p.ca_file, Some(PathBuf::from("/etc/ca dir/ca.pem")));
        let (url, p) = split_tls_params("postgresql://c@db/coffre?sslmode=disable").expect("split");
        assert_eq!(url, "postgresql://c@db/coffre");
        assert_eq!(p.mode, Some(TlsMode::Disable));
        let (url, p) = split_tls_params("host=db user=c").expect("split");
        assert_eq!(
            (url.as_str(), p),
            ("host=db user=c", PgTlsParams::default())
        );
    }

    #[test]
    fn an_unknown_sslmode_is_refused_by_name() {
        let err = split_tls_params("postgresql://db/x?sslmode=allow").expect_err("allow");
        assert!(err.to_string().contains("\"allow\""), "{err}");
    }

    #[test]
    fn a_missing_ca_file_is_named() {
        let tls = PgTls {
            mode: TlsMode::VerifyFull,
            ca_file: Some(PathBuf::from("/nonexistent/ca.pem")),
            client_cert: None,
        };
        let err = connector(&tls).err().expect("no CA file");
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }
}
