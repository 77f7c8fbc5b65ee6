//! Certificates of single nodes (`quiver certs node`): signed by the cluster CA of a
//! `certs init` folder, each with a key of its own, loadable as a node identity that
//! verifies against the cluster CA; and the refusals: bad names, a folder without the CA
//! key, a CA key that is not the certificate's, files that exist already.

use quiver_protocol::pki::{init_dir, sign_node, PkiError, Role, TlsIdentity, MAX_NODE_NAME};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap()
}

fn common_name(dir: &Path) -> String {
    let der = CertificateDer::from_pem_slice(read(dir, "node.crt").as_bytes()).unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let cn = cert.subject().iter_common_name().next().unwrap();
    cn.as_str().unwrap().to_string()
}

#[test]
fn each_node_gets_a_key_of_its_own_signed_by_the_cluster_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    init_dir(&ca).unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("nested/b"));
    sign_node(&ca, "node-a", &a).unwrap();
    sign_node(&ca, "node_b.2", &b).unwrap();

    for (dir, name) in [(&a, "node-a"), (&b, "node_b.2")] {
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        assert_eq!(files, ["ca.crt", "node.crt", "node.key"]);
        let key_mode = std::fs::metadata(dir.join("node.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(key_mode & 0o777, 0o600);
        assert_eq!(read(dir, "ca.crt"), read(&ca, "ca.crt"));
        assert_eq!(
            TlsIdentity::load(dir, Role::Node).unwrap().role(),
            Role::Node
        );
        assert_eq!(common_name(dir), format!("Quiver node {name}"));
    }
    // Keys of their own: neither each other's nor the shared node key of `certs init`.
    let keys = [
        read(&a, "node.key"),
        read(&b, "node.key"),
        read(&ca, "node.key"),
    ];
    assert!(keys[0] != keys[1] && keys[0] != keys[2] && keys[1] != keys[2]);
    assert_ne!(read(&a, "node.crt"), read(&b, "node.crt"));
}

#[test]
fn bad_names_are_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    init_dir(&ca).unwrap();
    let long = "n".repeat(MAX_NODE_NAME + 1);
    for name in ["", "a/b", "node a", "../x", "é", long.as_str()] {
        let out = tmp.path().join("out");
        let err = sign_node(&ca, name, &out).unwrap_err();
        assert!(
            matches!(err, PkiError::BadNodeName { .. }),
            "{name:?}: {err}"
        );
        assert!(err.to_string().contains("letters, digits"), "{err}");
        assert!(!out.exists(), "{name:?} wrote {}", out.display());
    }
    let longest = "n".repeat(MAX_NODE_NAME);
    sign_node(&ca, &longest, &tmp.path().join("longest")).unwrap();
}

#[test]
fn a_folder_without_the_ca_key_or_with_another_cas_key_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (ca, other) = (tmp.path().join("ca"), tmp.path().join("other"));
    init_dir(&ca).unwrap();
    init_dir(&other).unwrap();

    // A folder written before `certs init` kept the CA key.
    let old = tmp.path().join("old");
    std::fs::create_dir(&old).unwrap();
    std::fs::copy(ca.join("ca.crt"), old.join("ca.crt")).unwrap();
    let err = sign_node(&old, "n1", &tmp.path().join("out1")).unwrap_err();
    assert!(
        err.to_string().contains("ca.key") && err.to_string().contains("missing"),
        "{err}"
    );
    assert!(!tmp.path().join("out1").exists());

    // The CA certificate of one cluster with the key of another.
    std::fs::copy(other.join("ca.key"), old.join("ca.key")).unwrap();
    let err = sign_node(&old, "n1", &tmp.path().join("out2")).unwrap_err();
    assert!(
        err.to_string().contains("ca.key") && err.to_string().contains("not the key of"),
        "{err}"
    );
    assert!(!tmp.path().join("out2").exists());

    // Not a key at all.
    std::fs::write(old.join("ca.key"), "not a key").unwrap();
    let err = sign_node(&old, "n1", &tmp.path().join("out3")).unwrap_err();
    assert!(
        matches!(err, PkiError::BadFile { ref file, .. } if file.ends_with("ca.key")),
        "{err}"
    );
}

#[test]
fn existing_node_files_are_never_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    init_dir(&ca).unwrap();
    let out = tmp.path().join("out");
    sign_node(&ca, "n1", &out).unwrap();
    let before = read(&out, "node.key");
    let err = sign_node(&ca, "n2", &out).unwrap_err();
    assert!(matches!(err, PkiError::Exists { .. }), "{err}");
    assert_eq!(read(&out, "node.key"), before);
    // Nor into a `certs init` folder, whose shared node certificate would be replaced.
    let err = sign_node(&ca, "n3", &ca).unwrap_err();
    assert!(matches!(err, PkiError::Exists { .. }), "{err}");
}
