//! Test certificates made with the `openssl` command (installed with
//! OpenSSL, which revokd links anyway): a CA per test and leaf certificates
//! it signs, valid for `127.0.0.1` and `localhost`, in a temporary
//! directory that goes with the guard.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

/// A CA and the directory its files live in.
pub struct TestCa {
    dir: TempDir,
    name: String,
    pub cert: PathBuf,
    key: PathBuf,
}

/// A leaf certificate (chain: the leaf alone) and its key.
#[derive(Clone, Debug)]
pub struct Leaf {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The key types a leaf may have, in the PEM forms revokd reads.
#[derive(Clone, Copy, Debug)]
pub enum KeyKind {
    /// P-256 in SEC1 (`BEGIN EC PRIVATE KEY`).
    EcSec1,
    /// RSA 2048 in PKCS#1 (`BEGIN RSA PRIVATE KEY`).
    RsaPkcs1,
    /// RSA 2048 in PKCS#8 (`BEGIN PRIVATE KEY`).
    RsaPkcs8,
    /// Ed25519 in PKCS#8.
    Ed25519,
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("cannot run `openssl` (install Debian's openssl)");
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

impl TestCa {
    /// A new self-signed CA named `name` (its CN), in a temporary
    /// directory.
    pub fn new(name: &str) -> Self {
        Self::new_in(&std::env::temp_dir(), name)
    }

    /// [`TestCa::new`] in a new directory under `parent`.
    pub fn new_in(parent: &Path, name: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("revokd-ca-")
            .tempdir_in(parent)
            .expect("temp dir");
        let cert = dir.path().join(format!("{name}-ca.pem"));
        let key = dir.path().join(format!("{name}-ca.key"));
        openssl(
            dir.path(),
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN={name} test CA"),
                "-keyout",
                key.to_str().unwrap(),
                "-out",
                cert.to_str().unwrap(),
            ],
        );
        Self {
            dir,
            name: name.to_owned(),
            cert,
            key,
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A P-256 leaf for `127.0.0.1` and `localhost`, with common name `cn`
    /// and serial `serial`, usable by servers and clients.
    pub fn leaf(&self, cn: &str, serial: u32) -> Leaf {
        self.leaf_with(cn, serial, KeyKind::EcSec1)
    }

    /// [`TestCa::leaf`] with a key of `kind`.
    pub fn leaf_with(&self, cn: &str, serial: u32, kind: KeyKind) -> Leaf {
        let dir = self.dir.path();
        let base = format!("{}-{cn}-{serial}", self.name);
        let key = dir.join(format!("{base}.key"));
        let csr = dir.join(format!("{base}.csr"));
        let cert = dir.join(format!("{base}.pem"));
        let ext = dir.join(format!("{base}.ext"));
        let key_s = key.to_str().unwrap();
        match kind {
            KeyKind::EcSec1 => openssl(
                dir,
                &[
                    "ecparam",
                    "-name",
                    "prime256v1",
                    "-genkey",
                    "-noout",
                    "-out",
                    key_s,
                ],
            ),
            KeyKind::RsaPkcs1 => openssl(dir, &["genrsa", "-traditional", "-out", key_s, "2048"]),
            KeyKind::RsaPkcs8 => openssl(
                dir,
                &[
                    "genpkey",
                    "-algorithm",
                    "RSA",
                    "-pkeyopt",
                    "rsa_keygen_bits:2048",
                    "-out",
                    key_s,
                ],
            ),
            KeyKind::Ed25519 => openssl(dir, &["genpkey", "-algorithm", "ed25519", "-out", key_s]),
        }
        openssl(
            dir,
            &[
                "req",
                "-new",
                "-key",
                key_s,
                "-subj",
                &format!("/CN={cn}"),
                "-out",
                csr.to_str().unwrap(),
            ],
        );
        std::fs::write(
            &ext,
            "basicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth,clientAuth\n\
             subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                csr.to_str().unwrap(),
                "-CA",
                self.cert.to_str().unwrap(),
                "-CAkey",
                self.key.to_str().unwrap(),
                "-set_serial",
                &serial.to_string(),
                "-days",
                "2",
                "-extfile",
                ext.to_str().unwrap(),
                "-out",
                cert.to_str().unwrap(),
            ],
        );
        Leaf { cert, key }
    }
}
