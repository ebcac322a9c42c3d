//! The `Release` file of a suite: its signature (checked with `gpgv`) and the sha256 of every
//! index file it lists.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::control;

/// A parsed, already verified, `Release` file.
#[derive(Debug, Clone)]
pub struct Release {
    /// `Architectures:`; empty when the field is missing.
    pub architectures: Vec<String>,
    /// `Components:`; empty when the field is missing.
    pub components: Vec<String>,
    /// Path below `dists/SUITE/` → (size, sha256).
    pub sha256: BTreeMap<String, (u64, String)>,
}

/// Why a Release file cannot be used. Codes `packages::bad_release`, `packages::release_signature`,
/// `packages::keyring`, `packages::gpgv`.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    #[diagnostic(
        code(packages::bad_release),
        help(
            "the repository's Release file is damaged, or the URI is not an apt repository: check the repository line"
        )
    )]
    #[error("the Release file is not a control file: {0}")]
    Control(#[from] control::Error),
    #[diagnostic(
        code(packages::bad_release),
        help(
            "the repository's Release file is damaged, or the URI is not an apt repository: check the repository line"
        )
    )]
    #[error("the Release file is empty")]
    Empty,
    #[diagnostic(
        code(packages::bad_release),
        help(
            "the repository's Release file is damaged, or the URI is not an apt repository: check the repository line"
        )
    )]
    #[error("the Release file lists no SHA256 digests")]
    NoSha256,
    #[diagnostic(
        code(packages::bad_release),
        help(
            "the repository's Release file is damaged, or the URI is not an apt repository: check the repository line"
        )
    )]
    #[error("bad SHA256 line in the Release file: `{0}`")]
    BadLine(String),
    #[error(
        "the Release file is not signed by a key in {}: {detail}",
        keyrings_text(keyrings)
    )]
    #[diagnostic(
        code(packages::release_signature),
        help(
            "name the keyring that holds the repository's signing key in its line, `[signed-by=/path/to/keyring.gpg] URI SUITE COMPONENT`, or check that the URI is the repository you meant"
        )
    )]
    BadSignature {
        keyrings: Vec<PathBuf>,
        detail: String,
    },
    #[error(
        "cannot check the Release signature: no keyring (the default `{}` is not installed)",
        crate::source::DEFAULT_KEYRING
    )]
    #[diagnostic(
        code(packages::no_keyring),
        help(
            "install Debian's `debian-archive-keyring`, or name the repository's keyring in its line: `[signed-by=/path/to/keyring.gpg] URI SUITE COMPONENT`"
        )
    )]
    NoKeyring,
    #[error("cannot read keyring `{}`: {source}", path.display())]
    #[diagnostic(
        code(packages::keyring),
        help("check the `signed-by` path in the repository line (or the config file's `keyring`)")
    )]
    Keyring {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("keyring `{}` is not valid ASCII-armored OpenPGP", path.display())]
    #[diagnostic(
        code(packages::keyring),
        help("give a binary keyring (`.gpg`) or an ASCII-armored one (`.asc`) as gpg exports it")
    )]
    Armor { path: PathBuf },
    #[error("cannot run `gpgv` (install Debian's `gpgv`): {0}")]
    #[diagnostic(
        code(packages::gpgv),
        help("install `gpgv` (`apt-get install gpgv`): it checks the Release signature")
    )]
    Gpgv(std::io::Error),
    #[error("cannot write a temporary file for `gpgv`: {0}")]
    #[diagnostic(
        code(packages::gpgv),
        help("check that the temporary directory (`TMPDIR`) is writable and the disk not full")
    )]
    Temp(std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn keyrings_text(keyrings: &[PathBuf]) -> String {
    let names: Vec<_> = keyrings
        .iter()
        .map(|k| format!("`{}`", k.display()))
        .collect();
    names.join(", ")
}

impl Release {
    /// Parse the (verified) text of a `Release` file.
    pub fn parse(text: &str) -> Result<Release> {
        let paragraphs = control::parse(text)?;
        let p = paragraphs.first().ok_or(Error::Empty)?;
        let words = |f: &str| {
            p.get(f)
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        };
        let mut sha256 = BTreeMap::new();
        for line in p.get("SHA256").ok_or(Error::NoSha256)?.lines() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let parts: Vec<&str> = line.split_whitespace().collect();
            let [hash, size, path] = parts.as_slice() else {
                return Err(Error::BadLine(line.to_owned()));
            };
            let size = size.parse().map_err(|_| Error::BadLine(line.to_owned()))?;
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Error::BadLine(line.to_owned()));
            }
            sha256.insert((*path).to_owned(), (size, hash.to_ascii_lowercase()));
        }
        Ok(Release {
            architectures: words("Architectures"),
            components: words("Components"),
            sha256,
        })
    }
}

/// Check a clearsigned `InRelease` and return the text that was signed. Only what `gpgv`
/// vouches for is returned: text around the signed block is dropped.
pub fn verify_clearsigned(data: &[u8], keyrings: &[PathBuf]) -> Result<Vec<u8>> {
    let dir = tempfile::tempdir().map_err(Error::Temp)?;
    let input = dir.path().join("InRelease");
    let output = dir.path().join("Release");
    std::fs::write(&input, data).map_err(Error::Temp)?;
    gpgv(dir.path(), keyrings, &[&input], Some(&output))?;
    std::fs::read(&output).map_err(Error::Temp)
}

/// Check a `Release` file against its detached `Release.gpg`.
pub fn verify_detached(release: &[u8], signature: &[u8], keyrings: &[PathBuf]) -> Result<()> {
    let dir = tempfile::tempdir().map_err(Error::Temp)?;
    let data = dir.path().join("Release");
    let sig = dir.path().join("Release.gpg");
    std::fs::write(&data, release).map_err(Error::Temp)?;
    std::fs::write(&sig, signature).map_err(Error::Temp)?;
    gpgv(dir.path(), keyrings, &[&sig, &data], None)
}

/// The signed text of a clearsigned message, without checking the signature: only for
/// repositories marked trusted.
pub fn strip_clearsign(data: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(data);
    let Some(start) = text.find("-----BEGIN PGP SIGNED MESSAGE-----") else {
        return data.to_vec();
    };
    let body = &text[start..];
    // Armor headers (`Hash: …`) end at the first empty line.
    let Some(header_end) = body.find("\n\n") else {
        return Vec::new();
    };
    let body = &body[header_end + 2..];
    let end = body
        .find("\n-----BEGIN PGP SIGNATURE-----")
        .unwrap_or(body.len());
    let mut out = String::new();
    for line in body[..end].lines() {
        out.push_str(line.strip_prefix("- ").unwrap_or(line));
        out.push('\n');
    }
    out.into_bytes()
}

/// Run `gpgv` in a scratch home. A signature is good when gpgv reports at least one good
/// signature (`GOODSIG`: not expired, not revoked) and no bad one; a signature by an unknown
/// key next to a good one is ignored, as apt does.
fn gpgv(scratch: &Path, keyrings: &[PathBuf], args: &[&Path], output: Option<&Path>) -> Result<()> {
    if keyrings.is_empty() {
        return Err(Error::NoKeyring);
    }
    let mut cmd = Command::new("gpgv");
    cmd.env("GNUPGHOME", scratch)
        .arg("--homedir")
        .arg(scratch)
        .arg("--status-fd")
        .arg("1");
    for (i, keyring) in keyrings.iter().enumerate() {
        cmd.arg("--keyring")
            .arg(binary_keyring(keyring, scratch, i)?);
    }
    if let Some(output) = output {
        cmd.arg("--output").arg(output);
    }
    cmd.args(args);
    let out = cmd.output().map_err(Error::Gpgv)?;
    let status = String::from_utf8_lossy(&out.stdout);
    let has = |word: &str| {
        status
            .lines()
            .any(|l| l.split_whitespace().nth(1) == Some(word))
    };
    if has("GOODSIG") && !has("BADSIG") {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let detail = stderr
        .lines()
        .map(|l| l.trim_start_matches("gpgv: ").trim())
        .rfind(|l| !l.is_empty() && !l.starts_with("Signature made") && !l.starts_with("using "))
        .unwrap_or("no signature")
        .to_owned();
    Err(Error::BadSignature {
        keyrings: keyrings.to_vec(),
        detail,
    })
}

/// gpgv reads only binary keyrings: dearmor an ASCII-armored one (`.asc`) into the scratch dir.
fn binary_keyring(keyring: &Path, scratch: &Path, i: usize) -> Result<PathBuf> {
    let data = std::fs::read(keyring).map_err(|source| Error::Keyring {
        path: keyring.to_owned(),
        source,
    })?;
    if !data.starts_with(b"-----BEGIN PGP") {
        return Ok(keyring.to_owned());
    }
    let text = String::from_utf8_lossy(&data);
    let mut binary = Vec::new();
    for block in text.split("-----BEGIN PGP PUBLIC KEY BLOCK-----").skip(1) {
        let block = block
            .split("-----END PGP PUBLIC KEY BLOCK-----")
            .next()
            .unwrap_or_default();
        let Some((_, body)) = block
            .split_once("\n\n")
            .or_else(|| block.split_once("\r\n\r\n"))
        else {
            return Err(Error::Armor {
                path: keyring.to_owned(),
            });
        };
        let b64: String = body
            .lines()
            .map(str::trim)
            .take_while(|l| !l.starts_with('='))
            .collect();
        binary.extend(base64_decode(&b64).ok_or_else(|| Error::Armor {
            path: keyring.to_owned(),
        })?);
    }
    if binary.is_empty() {
        return Err(Error::Armor {
            path: keyring.to_owned(),
        });
    }
    let path = scratch.join(format!("keyring-{i}.gpg"));
    std::fs::write(&path, binary).map_err(Error::Temp)?;
    Ok(path)
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_digests() {
        let r = Release::parse(
            "Suite: s\nArchitectures: amd64 arm64\nComponents: main\nSHA256:\n \
             0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef 42 main/binary-amd64/Packages.xz\n",
        )
        .unwrap();
        assert_eq!(r.architectures, ["amd64", "arm64"]);
        assert_eq!(r.sha256["main/binary-amd64/Packages.xz"].0, 42);
        assert!(matches!(Release::parse("Suite: s\n"), Err(Error::NoSha256)));
        assert!(matches!(
            Release::parse("SHA256:\n xyz 1 p\n"),
            Err(Error::BadLine(_))
        ));
    }

    #[test]
    fn strip_clearsign_unescapes() {
        let signed = b"junk\n-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nSuite: s\n- -dash\n-----BEGIN PGP SIGNATURE-----\nxx\n";
        assert_eq!(
            String::from_utf8(strip_clearsign(signed)).unwrap(),
            "Suite: s\n-dash\n"
        );
    }

    #[test]
    fn base64() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("aGVsbG8hIQ==").unwrap(), b"hello!!");
        assert!(base64_decode("a*b").is_none());
    }
}
