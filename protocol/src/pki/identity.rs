//! A process's TLS identity (cluster CA roots, its certificate chain and key, its role), loaded
//! from a certificate directory or a generated bundle and checked before use, and reading the
//! role back out of a certificate.

use super::{provider, CertBundle, PkiError, Role, RoleCert, CA_FILE, ROLE_URI_PREFIX};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use x509_parser::extensions::GeneralName;

/// The cluster CA roots, this process's certificate chain and private key, and its role.
pub struct TlsIdentity {
    roots: Arc<RootCertStore>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    role: Role,
}

impl Clone for TlsIdentity {
    fn clone(&self) -> Self {
        TlsIdentity {
            roots: Arc::clone(&self.roots),
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            role: self.role,
        }
    }
}

impl fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("role", &self.role)
            .field("roots", &self.roots.len())
            .field("chain", &self.chain.len())
            .finish_non_exhaustive()
    }
}

/// The three files an identity is made of, with the names errors report.
struct Files<'a> {
    ca: (PathBuf, &'a [u8]),
    cert: (PathBuf, &'a [u8]),
    key: (PathBuf, &'a [u8]),
}

impl TlsIdentity {
    /// Loads `ca.crt`, `<role>.crt` and `<role>.key` from a certificate directory and checks
    /// that the key matches the certificate, the certificate is of `role`, and it was issued by
    /// the CA. Errors name the file at fault and how to create a good set.
    pub fn load(dir: &Path, role: Role) -> Result<Self, PkiError> {
        let read = |name: String| -> Result<(PathBuf, Vec<u8>), PkiError> {
            let file = dir.join(name);
            match std::fs::read(&file) {
                Ok(bytes) => Ok((file, bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(PkiError::Missing {
                    file,
                    dir: dir.to_path_buf(),
                }),
                Err(source) => Err(PkiError::Io { file, source }),
            }
        };
        let ca = read(CA_FILE.to_string())?;
        let cert = read(role.cert_file())?;
        let key = read(role.key_file())?;
        warn_if_shared(&key.0);
        Self::build(
            Files {
                ca: (ca.0, &ca.1),
                cert: (cert.0, &cert.1),
                key: (key.0, &key.1),
            },
            role,
        )
    }

    /// The identity of `role` from an in-memory bundle, checked as [`TlsIdentity::load`] does.
    pub fn from_bundle(bundle: &CertBundle, role: Role) -> Result<Self, PkiError> {
        let base = Path::new("<generated>");
        Self::from_pems(base, &bundle.ca_cert_pem, bundle.role(role), role)
    }

    /// The identity of `role` from a CA certificate and a role's certificate and key in
    /// memory, checked as [`TlsIdentity::load`] does; errors name them as files in `base`.
    pub(crate) fn from_pems(
        base: &Path,
        ca_cert_pem: &str,
        rc: &RoleCert,
        role: Role,
    ) -> Result<Self, PkiError> {
        Self::build(
            Files {
                ca: (base.join(CA_FILE), ca_cert_pem.as_bytes()),
                cert: (base.join(role.cert_file()), rc.cert_pem.as_bytes()),
                key: (base.join(role.key_file()), rc.key_pem.as_bytes()),
            },
            role,
        )
    }

    /// The role this identity presents.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The cluster CA roots.
    pub(crate) fn roots(&self) -> Arc<RootCertStore> {
        Arc::clone(&self.roots)
    }

    /// This process's certificate chain, leaf first.
    pub(crate) fn chain(&self) -> Vec<CertificateDer<'static>> {
        self.chain.clone()
    }

    /// This process's private key.
    pub(crate) fn key(&self) -> PrivateKeyDer<'static> {
        self.key.clone_key()
    }

    fn build(files: Files<'_>, role: Role) -> Result<Self, PkiError> {
        let bad = |file: &Path, reason: String| PkiError::BadFile {
            file: file.to_path_buf(),
            reason,
        };
        let (ca_file, ca_pem) = files.ca;
        let (cert_file, cert_pem) = files.cert;
        let (key_file, key_pem) = files.key;

        let mut roots = RootCertStore::empty();
        for cert in certs(ca_pem).map_err(|r| bad(&ca_file, r))? {
            roots
                .add(cert)
                .map_err(|e| bad(&ca_file, format!("not a usable CA certificate: {e}")))?;
        }
        let chain = certs(cert_pem).map_err(|r| bad(&cert_file, r))?;
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|e| bad(&key_file, format!("no PEM private key found: {e}")))?;

        let found = role_of_cert(&chain[0]).map_err(|e| bad(&cert_file, e.to_string()))?;
        if found != role {
            return Err(PkiError::WrongRole {
                file: cert_file,
                expected: role,
                found,
            });
        }
        let provider = provider();
        rustls::sign::CertifiedKey::from_der(chain.clone(), key.clone_key(), &provider).map_err(
            |e| {
                bad(
                    &key_file,
                    format!("does not match {}: {e}", cert_file.display()),
                )
            },
        )?;
        let roots = Arc::new(roots);
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::clone(&roots), provider)
            .build()
            .map_err(|e| bad(&ca_file, format!("cannot verify with it: {e}")))?;
        verifier
            .verify_client_cert(&chain[0], &chain[1..], UnixTime::now())
            .map_err(|e| PkiError::NotIssuedByCa {
                file: cert_file.clone(),
                ca_file: ca_file.clone(),
                reason: e.to_string(),
            })?;
        Ok(TlsIdentity {
            roots,
            chain,
            key,
            role,
        })
    }
}

/// Logs a warning when a private key file is readable by other users than its owner.
fn warn_if_shared(key_file: &Path) {
    if let Ok(meta) = std::fs::metadata(key_file) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                "{} is readable by other users (mode {mode:o}): run `chmod 600 {}`",
                key_file.display(),
                key_file.display()
            );
        }
    }
}

/// Every certificate of a PEM file; at least one.
fn certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not a PEM certificate file: {e}"))?;
    if certs.is_empty() {
        return Err("no PEM certificate found".to_string());
    }
    Ok(certs)
}

/// The role written in a certificate (its `urn:quiver:role:<role>` URI name). This does not
/// verify the certificate: call it on chains a TLS handshake or [`TlsIdentity`] verified.
pub fn role_of_cert(cert: &CertificateDer<'_>) -> Result<Role, PkiError> {
    let no_role = |reason: String| PkiError::NoRole { reason };
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|e| no_role(format!("not an X.509 certificate: {e}")))?;
    let san = parsed
        .subject_alternative_name()
        .map_err(|e| no_role(format!("bad subject alternative names: {e}")))?
        .ok_or_else(|| no_role("it has no subject alternative names".to_string()))?;
    let mut roles = san.value.general_names.iter().filter_map(|n| match n {
        GeneralName::URI(uri) => uri.strip_prefix(ROLE_URI_PREFIX),
        _ => None,
    });
    let name = roles
        .next()
        .ok_or_else(|| no_role(format!("no `{ROLE_URI_PREFIX}<role>` name")))?;
    if roles.next().is_some() {
        return Err(no_role("it names more than one role".to_string()));
    }
    Role::parse(name).ok_or_else(|| {
        no_role(format!(
            "unknown role `{name}` (known: coordinator, node, admin)"
        ))
    })
}
