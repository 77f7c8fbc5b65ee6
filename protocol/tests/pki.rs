//! Cluster certificates: `init_dir` files and modes, refusal to overwrite, loading every role,
//! and the errors for missing, mixed up and foreign files.

use quiver_protocol::pki::{
    generate_bundle, init_dir, role_of_cert, PkiError, Role, TlsIdentity, CA_FILE, SERVER_NAME,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use x509_parser::extensions::GeneralName;

const FILES: [(&str, u32); 8] = [
    ("ca.crt", 0o644),
    ("ca.key", 0o600),
    ("coordinator.crt", 0o644),
    ("coordinator.key", 0o600),
    ("node.crt", 0o644),
    ("node.key", 0o600),
    ("admin.crt", 0o644),
    ("admin.key", 0o600),
];

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn init_dir_writes_the_eight_files_with_private_keys_owner_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("certs");
    init_dir(&dir).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut expected: Vec<String> = FILES.iter().map(|(n, _)| n.to_string()).collect();
    expected.sort();
    assert_eq!(names, expected);
    for (name, want) in FILES {
        let path = dir.join(name);
        if want == 0o600 {
            assert_eq!(mode(&path), 0o600, "{name}");
        } else {
            // 0644 as created, less what the umask removes; never writable by others.
            assert_eq!(mode(&path) & !want, 0, "{name}");
            assert_eq!(mode(&path) & 0o600, 0o600, "{name} readable by its owner");
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let tag = if name.ends_with(".key") {
            "PRIVATE KEY-----"
        } else {
            "BEGIN CERTIFICATE-----"
        };
        assert!(text.contains(tag), "{name}: {text}");
    }
    for role in Role::ALL {
        assert_eq!(TlsIdentity::load(&dir, role).unwrap().role(), role);
    }
}

#[test]
fn init_dir_refuses_to_overwrite_and_leaves_the_old_files() {
    let tmp = tempfile::tempdir().unwrap();
    init_dir(tmp.path()).unwrap();
    let before = std::fs::read(tmp.path().join("node.key")).unwrap();
    let err = init_dir(tmp.path()).unwrap_err();
    assert!(matches!(err, PkiError::Exists { .. }), "{err}");
    assert!(err.to_string().contains("refusing to overwrite"), "{err}");
    assert!(err.to_string().contains(CA_FILE), "{err}");
    assert_eq!(std::fs::read(tmp.path().join("node.key")).unwrap(), before);

    // One existing file of the set is enough to refuse, and nothing else is written.
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("admin.key"), "mine").unwrap();
    let err = init_dir(other.path()).unwrap_err();
    assert!(err.to_string().contains("admin.key"), "{err}");
    assert_eq!(std::fs::read_dir(other.path()).unwrap().count(), 1);
    assert_eq!(
        std::fs::read_to_string(other.path().join("admin.key")).unwrap(),
        "mine"
    );
}

#[test]
fn certificates_carry_the_server_name_and_their_role() {
    let bundle = generate_bundle().unwrap();
    for role in Role::ALL {
        let der = CertificateDer::from_pem_slice(bundle.role(role).cert_pem.as_bytes()).unwrap();
        assert_eq!(role_of_cert(&der).unwrap(), role);
        let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).unwrap();
        let san = cert.subject_alternative_name().unwrap().unwrap();
        let dns: Vec<&str> = san
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                GeneralName::DNSName(d) => Some(*d),
                _ => None,
            })
            .collect();
        assert_eq!(dns, vec![SERVER_NAME]);
        assert!(!cert.is_ca());
        assert_eq!(
            TlsIdentity::from_bundle(&bundle, role).unwrap().role(),
            role
        );
    }
    let ca = CertificateDer::from_pem_slice(bundle.ca_cert_pem.as_bytes()).unwrap();
    let (_, ca) = x509_parser::parse_x509_certificate(ca.as_ref()).unwrap();
    assert!(ca.is_ca());
    assert!(
        role_of_cert(&CertificateDer::from_pem_slice(bundle.ca_cert_pem.as_bytes()).unwrap())
            .is_err()
    );
    assert!(
        !format!("{bundle:?}").contains("PRIVATE KEY"),
        "keys never printed"
    );
}

#[test]
fn a_missing_file_is_named_with_the_command_that_creates_it() {
    let tmp = tempfile::tempdir().unwrap();
    let err = TlsIdentity::load(tmp.path(), Role::Node).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, PkiError::Missing { .. }), "{msg}");
    assert!(msg.contains("ca.crt"), "{msg}");
    assert!(
        msg.contains(&format!("quiver certs init --dir {}", tmp.path().display())),
        "{msg}"
    );

    init_dir(tmp.path()).unwrap();
    std::fs::remove_file(tmp.path().join("node.key")).unwrap();
    let msg = TlsIdentity::load(tmp.path(), Role::Node)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("node.key not found"), "{msg}");
}

#[test]
fn mixed_up_files_are_refused_with_the_file_at_fault() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    init_dir(dir).unwrap();

    // A node certificate where the coordinator's should be.
    let copy = tempfile::tempdir().unwrap();
    for (name, _) in FILES {
        std::fs::copy(dir.join(name), copy.path().join(name)).unwrap();
    }
    std::fs::copy(dir.join("node.crt"), copy.path().join("coordinator.crt")).unwrap();
    let err = TlsIdentity::load(copy.path(), Role::Coordinator).unwrap_err();
    assert!(
        matches!(
            err,
            PkiError::WrongRole {
                expected: Role::Coordinator,
                found: Role::Node,
                ..
            }
        ),
        "{err}"
    );

    // A key that belongs to another certificate.
    std::fs::copy(
        dir.join("coordinator.crt"),
        copy.path().join("coordinator.crt"),
    )
    .unwrap();
    std::fs::copy(dir.join("admin.key"), copy.path().join("coordinator.key")).unwrap();
    let msg = TlsIdentity::load(copy.path(), Role::Coordinator)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("coordinator.key is not usable"), "{msg}");

    // A certificate set from another `certs init` next to this CA.
    let other = tempfile::tempdir().unwrap();
    init_dir(other.path()).unwrap();
    std::fs::copy(
        other.path().join("admin.crt"),
        copy.path().join("admin.crt"),
    )
    .unwrap();
    std::fs::copy(
        other.path().join("admin.key"),
        copy.path().join("admin.key"),
    )
    .unwrap();
    let err = TlsIdentity::load(copy.path(), Role::Admin).unwrap_err();
    assert!(matches!(err, PkiError::NotIssuedByCa { .. }), "{err}");
    assert!(
        err.to_string().contains("admin.crt was not issued by"),
        "{err}"
    );

    // Garbage instead of a CA certificate.
    std::fs::write(copy.path().join("ca.crt"), "hello").unwrap();
    let msg = TlsIdentity::load(copy.path(), Role::Node)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("ca.crt is not usable"), "{msg}");
}
