//! The cluster PKI: a cluster CA and one certificate per role (coordinator, node, admin), as
//! made by `quiver certs init --dir D` or in memory by `quiver local`, and certificates of
//! single nodes signed by that CA (`quiver certs node`).
//!
//! Every certificate carries the fixed DNS name [`SERVER_NAME`] (the name every connection
//! verifies) and its role as a URI subject alternative name `urn:quiver:role:<role>`, from which
//! [`role_of_cert`] reads it back. `certs init` keeps the CA's key in [`CA_KEY_FILE`] for
//! `certs node` alone: no process of the cluster reads it, so it belongs offline.

mod identity;

pub use identity::{role_of_cert, TlsIdentity};

use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The DNS name in every cluster certificate, used as the TLS server name of every connection.
pub const SERVER_NAME: &str = "quiver.cluster";

/// The file holding the cluster CA certificate in a certificate directory.
pub const CA_FILE: &str = "ca.crt";

/// The file holding the cluster CA's private key in a certificate directory (secret; only
/// `quiver certs node` reads it).
pub const CA_KEY_FILE: &str = "ca.key";

/// The longest node name `quiver certs node` accepts.
pub const MAX_NODE_NAME: usize = 64;

/// Prefix of the URI subject alternative name that carries a certificate's role.
const ROLE_URI_PREFIX: &str = "urn:quiver:role:";

/// What a certificate allows its holder to be; decides what a peer may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    /// The coordinator.
    Coordinator,
    /// A worker node.
    Node,
    /// An operator's command line: the only role that may submit jobs or deploy models.
    Admin,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 3] = [Role::Coordinator, Role::Node, Role::Admin];

    /// The role's name, as used in file names and certificates.
    pub fn name(self) -> &'static str {
        match self {
            Role::Coordinator => "coordinator",
            Role::Node => "node",
            Role::Admin => "admin",
        }
    }

    /// The role with this name, if any.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }

    /// The certificate file of this role in a certificate directory (`node.crt`).
    pub fn cert_file(self) -> String {
        format!("{}.crt", self.name())
    }

    /// The private key file of this role in a certificate directory (`node.key`).
    pub fn key_file(self) -> String {
        format!("{}.key", self.name())
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why certificates could not be created, read or used.
#[derive(thiserror::Error, Debug)]
pub enum PkiError {
    /// A certificate or key file does not exist.
    #[error("{} not found: run `quiver certs init --dir {}` to create the cluster certificates", file.display(), dir.display())]
    Missing {
        /// The missing file.
        file: PathBuf,
        /// The certificate directory.
        dir: PathBuf,
    },
    /// A file could not be read or written.
    #[error("cannot access {}: {source}", file.display())]
    Io {
        /// The file or directory.
        file: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// A file exists but does not hold what it should.
    #[error("{} is not usable: {reason}; run `quiver certs init --dir DIR` into an empty directory to create a consistent set", file.display())]
    BadFile {
        /// The file.
        file: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A certificate holds another role than the one asked for.
    #[error("{} is a {found} certificate, expected a {expected} one", file.display())]
    WrongRole {
        /// The certificate file.
        file: PathBuf,
        /// The role asked for.
        expected: Role,
        /// The role in the certificate.
        found: Role,
    },
    /// A certificate does not chain to the cluster CA next to it.
    #[error("{} was not issued by {}: {reason}; both must come from the same `quiver certs init --dir DIR`", file.display(), ca_file.display())]
    NotIssuedByCa {
        /// The certificate file.
        file: PathBuf,
        /// The CA file.
        ca_file: PathBuf,
        /// The verifier's reason.
        reason: String,
    },
    /// `init_dir` found a file it would have replaced.
    #[error("refusing to overwrite {}: it already exists; choose an empty directory, or delete the old certificates first (every process of the cluster then needs the new ones)", file.display())]
    Exists {
        /// The existing file.
        file: PathBuf,
    },
    /// A certificate has no (or an unknown) Quiver role.
    #[error("certificate has no Quiver role: {reason}")]
    NoRole {
        /// What was found instead.
        reason: String,
    },
    /// A node name `quiver certs node` cannot put in a certificate.
    #[error("bad node name {name:?}: use 1 to {MAX_NODE_NAME} letters, digits, '.', '-' or '_'")]
    BadNodeName {
        /// The name given.
        name: String,
    },
    /// Certificate generation failed.
    #[error("cannot generate certificates: {0}")]
    Generate(#[from] rcgen::Error),
}

/// One role's certificate and private key, PEM encoded.
#[derive(Clone)]
pub struct RoleCert {
    /// The certificate (PEM).
    pub cert_pem: String,
    /// The PKCS#8 private key (PEM). Secret.
    pub key_pem: String,
}

impl fmt::Debug for RoleCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoleCert")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<secret>")
            .finish()
    }
}

/// A complete cluster certificate set: the CA certificate and key, and each role's
/// certificate and key.
#[derive(Clone)]
pub struct CertBundle {
    /// The cluster CA certificate (PEM).
    pub ca_cert_pem: String,
    /// The cluster CA's PKCS#8 private key (PEM). Secret: it signs certificates.
    pub ca_key_pem: String,
    /// The coordinator's certificate and key.
    pub coordinator: RoleCert,
    /// The nodes' certificate and key.
    pub node: RoleCert,
    /// The admin certificate and key.
    pub admin: RoleCert,
}

impl fmt::Debug for CertBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertBundle")
            .field("ca_cert_pem", &self.ca_cert_pem)
            .field("ca_key_pem", &"<secret>")
            .field("coordinator", &self.coordinator)
            .field("node", &self.node)
            .field("admin", &self.admin)
            .finish()
    }
}

impl CertBundle {
    /// The certificate and key of a role.
    pub fn role(&self, role: Role) -> &RoleCert {
        match role {
            Role::Coordinator => &self.coordinator,
            Role::Node => &self.node,
            Role::Admin => &self.admin,
        }
    }

    /// Every file of a certificate directory: name, contents, and whether it is secret.
    fn files(&self) -> Vec<(String, &str, bool)> {
        let mut files = vec![
            (CA_FILE.to_string(), self.ca_cert_pem.as_str(), false),
            (CA_KEY_FILE.to_string(), self.ca_key_pem.as_str(), true),
        ];
        for role in Role::ALL {
            let rc = self.role(role);
            files.push((role.cert_file(), rc.cert_pem.as_str(), false));
            files.push((role.key_file(), rc.key_pem.as_str(), true));
        }
        files
    }
}

/// Generates a fresh cluster CA and a certificate and key for every role, in memory.
pub fn generate_bundle() -> Result<CertBundle, PkiError> {
    let mut ca_params = CertificateParams::default();
    ca_params.distinguished_name = name("Quiver cluster CA", None);
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate()?;
    let ca_key_pem = ca_key.serialize_pem();
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key)?;
    let issue = |role: Role| issue(role, &format!("Quiver {role}"), &*ca);
    Ok(CertBundle {
        ca_cert_pem: ca.pem(),
        ca_key_pem,
        coordinator: issue(Role::Coordinator)?,
        node: issue(Role::Node)?,
        admin: issue(Role::Admin)?,
    })
}

/// A fresh key and a certificate of `role` for it, named `common_name`, signed by `ca`.
fn issue(
    role: Role,
    common_name: &str,
    ca: &Issuer<'_, impl rcgen::SigningKey>,
) -> Result<RoleCert, PkiError> {
    let mut params = CertificateParams::new(vec![SERVER_NAME.to_string()])?;
    params
        .subject_alt_names
        .push(SanType::URI(Ia5String::try_from(format!(
            "{ROLE_URI_PREFIX}{}",
            role.name()
        ))?));
    params.distinguished_name = name(common_name, Some(role));
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, ca)?;
    Ok(RoleCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// A subject name: `O=Quiver, CN=<cn>` and the role as organisational unit.
fn name(common_name: &str, role: Option<Role>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Quiver");
    if let Some(role) = role {
        dn.push(DnType::OrganizationalUnitName, role.name());
    }
    dn.push(DnType::CommonName, common_name);
    dn
}

/// Creates `dir` if needed and writes a fresh cluster certificate set into it: `ca.crt`,
/// `ca.key` and `{coordinator,node,admin}.{crt,key}` (keys readable by the owner only, mode
/// 0600). Refuses, before writing anything, if any of these files already exists.
pub fn init_dir(dir: &Path) -> Result<(), PkiError> {
    write_files(dir, generate_bundle()?.files())
}

/// Signs a certificate of its own for the node `name` with the CA in `ca_dir` (`ca.crt` and
/// `ca.key`, as `certs init` wrote them) and writes `ca.crt`, `node.crt` and `node.key` into
/// `out` (created if needed), ready for `quiver node --certs OUT`: a leaked key of one node
/// is then not every node's. Refuses, before writing anything, if any of them exists.
pub fn sign_node(ca_dir: &Path, name: &str, out: &Path) -> Result<(), PkiError> {
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    if name.is_empty() || name.len() > MAX_NODE_NAME || !name.chars().all(valid) {
        return Err(PkiError::BadNodeName { name: name.into() });
    }
    let read = |file_name: &str, what: &str| -> Result<String, PkiError> {
        let file = ca_dir.join(file_name);
        match std::fs::read_to_string(&file) {
            Ok(text) => Ok(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(PkiError::BadFile {
                file,
                reason: format!("missing: {what}"),
            }),
            Err(source) => Err(PkiError::Io { file, source }),
        }
    };
    let ca_cert_pem = read(CA_FILE, "the cluster CA certificate")?;
    let ca_key_pem = read(
        CA_KEY_FILE,
        "the CA key (certificate folders written before `certs init` kept it cannot sign \
         node certificates)",
    )?;
    let bad = |file_name: &str, e: rcgen::Error| PkiError::BadFile {
        file: ca_dir.join(file_name),
        reason: e.to_string(),
    };
    let key = KeyPair::from_pem(&ca_key_pem).map_err(|e| bad(CA_KEY_FILE, e))?;
    let ca = Issuer::from_ca_cert_pem(&ca_cert_pem, key).map_err(|e| bad(CA_FILE, e))?;
    let node = issue(Role::Node, &format!("Quiver node {name}"), &ca)?;
    // A CA key that is not the certificate's signs certificates nobody accepts: say so first.
    TlsIdentity::from_pems(out, &ca_cert_pem, &node, Role::Node).map_err(|e| match e {
        PkiError::NotIssuedByCa { reason, .. } => PkiError::BadFile {
            file: ca_dir.join(CA_KEY_FILE),
            reason: format!(
                "it is not the key of {}: {reason}",
                ca_dir.join(CA_FILE).display()
            ),
        },
        other => other,
    })?;
    write_files(
        out,
        vec![
            (CA_FILE.to_string(), ca_cert_pem.as_str(), false),
            (Role::Node.cert_file(), node.cert_pem.as_str(), false),
            (Role::Node.key_file(), node.key_pem.as_str(), true),
        ],
    )
}

/// Creates `dir` if needed and writes `files` (name, contents, secret) into it, secret ones
/// readable by the owner only. Refuses, before writing anything, if any of them exists.
fn write_files(dir: &Path, files: Vec<(String, &str, bool)>) -> Result<(), PkiError> {
    std::fs::create_dir_all(dir).map_err(|source| PkiError::Io {
        file: dir.to_path_buf(),
        source,
    })?;
    for (file_name, _, _) in &files {
        let file = dir.join(file_name);
        // `symlink_metadata` also sees dangling symlinks, which a write would follow.
        if std::fs::symlink_metadata(&file).is_ok() {
            return Err(PkiError::Exists { file });
        }
    }
    for (file_name, contents, secret) in files {
        write_new(
            &dir.join(file_name),
            contents,
            if secret { 0o600 } else { 0o644 },
        )?;
    }
    Ok(())
}

/// Writes a file that must not exist yet, created with `mode`.
fn write_new(file: &Path, contents: &str, mode: u32) -> Result<(), PkiError> {
    let io_err = |source: std::io::Error| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            PkiError::Exists {
                file: file.to_path_buf(),
            }
        } else {
            PkiError::Io {
                file: file.to_path_buf(),
                source,
            }
        }
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(file)
        .map_err(io_err)?;
    f.write_all(contents.as_bytes()).map_err(io_err)?;
    f.sync_all().map_err(io_err)
}

/// The one TLS crypto provider of the process: ring, passed explicitly to every builder so a
/// second provider elsewhere in the dependency graph can never make a builder panic.
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
