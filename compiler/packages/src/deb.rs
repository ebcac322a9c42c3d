//! Reading a `.deb`: an `ar` archive of `debian-binary`, `control.tar.*` (the control file,
//! maintainer scripts, `conffiles`, `md5sums`) and `data.tar.*` (the files to install).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::control::{self, Paragraph};

/// Why a `.deb` cannot be read. Codes `packages::deb…`.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    #[error("cannot read `{}`: {source}", path.display())]
    #[diagnostic(code(packages::deb_read))]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{}` is not a Debian package: {what}", path.display())]
    #[diagnostic(
        code(packages::bad_deb),
        help(
            "the repository serves a damaged package; report it to the repository's maintainers, or pin another version with `duckc lock --update`"
        )
    )]
    Invalid { path: PathBuf, what: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The control part of a package.
#[derive(Debug, Clone)]
pub struct Control {
    /// The `control` file as written in the package.
    pub text: String,
    pub paragraph: Paragraph,
    /// Every other member of `control.tar`: maintainer scripts, `conffiles`, `md5sums`,
    /// `triggers`, `shlibs`, … by file name.
    pub files: BTreeMap<String, Vec<u8>>,
}

impl Control {
    /// A field of the control paragraph.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.paragraph.get(name)
    }

    /// The absolute paths listed in `conffiles` (`remove-on-upgrade` flags dropped).
    pub fn conffiles(&self) -> Vec<String> {
        let Some(bytes) = self.files.get("conffiles") else {
            return Vec::new();
        };
        String::from_utf8_lossy(bytes)
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|p| p.starts_with('/'))
            .map(str::to_owned)
            .collect()
    }
}

/// The decompressor for a `control.tar*` / `data.tar*` member, by its name.
fn decompress<'a>(name: &str, inner: impl Read + 'a) -> Option<Box<dyn Read + 'a>> {
    let ext = name.rsplit_once(".tar").map(|(_, e)| e)?;
    Some(match ext {
        "" => Box::new(inner),
        ".gz" => Box::new(flate2::read::GzDecoder::new(inner)),
        ".xz" => Box::new(liblzma::read::XzDecoder::new(inner)),
        ".zst" => Box::new(zstd::stream::read::Decoder::new(inner).ok()?),
        _ => return None,
    })
}

/// Walks the members of the `.deb` archive in `reader` (the file at `path`, which errors
/// name): the first must be `debian-binary`; `visit` gets every later member's name and raw
/// stream, and returns `Some` to stop there with that value.
fn each_member<T>(
    reader: impl Read,
    path: &Path,
    mut visit: impl FnMut(&str, &mut dyn Read) -> Result<Option<T>>,
) -> Result<Option<T>> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let mut archive = ar::Archive::new(reader);
    let mut first = true;
    while let Some(entry) = archive.next_entry() {
        let mut entry = entry.map_err(io)?;
        let name = String::from_utf8_lossy(entry.header().identifier())
            .trim_end_matches('/')
            .to_owned();
        if first {
            if name != "debian-binary" {
                return Err(invalid(
                    path,
                    format!("the first member is `{name}`, not `debian-binary`"),
                ));
            }
            first = false;
            continue;
        }
        if let Some(out) = visit(&name, &mut entry)? {
            return Ok(Some(out));
        }
    }
    Ok(None)
}

fn invalid(path: &Path, what: String) -> Error {
    Error::Invalid {
        path: path.to_owned(),
        what,
    }
}

/// The uncompressed stream of member `name` (`control.tar.xz`, `data.tar.zst`, …).
fn decompressed<'a>(name: &str, raw: &'a mut dyn Read, path: &Path) -> Result<Box<dyn Read + 'a>> {
    decompress(name, raw)
        .ok_or_else(|| invalid(path, format!("unsupported compression of `{name}`")))
}

/// Reads the control part of the package at `path`.
pub fn read_control(path: &Path) -> Result<Control> {
    let file = File::open(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let files = each_member(BufReader::new(file), path, |name, raw| {
        if !name.starts_with("control.tar") {
            return Ok(None);
        }
        control_files(&mut decompressed(name, raw, path)?, path).map(Some)
    })?
    .ok_or_else(|| invalid(path, "no `control.tar.*` member".into()))?;
    control_from_files(files, path)
}

/// Every regular file at the top of a `control.tar` stream, by name.
fn control_files(reader: &mut dyn Read, path: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
    let invalid = |what: String| Error::Invalid {
        path: path.to_owned(),
        what,
    };
    let mut files = BTreeMap::new();
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|e| invalid(format!("control.tar: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| invalid(format!("control.tar: {e}")))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry
            .path()
            .map_err(|e| invalid(format!("control.tar: {e}")))?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_owned();
        if name.is_empty() || name.contains('/') {
            continue;
        }
        let mut bytes = Vec::new();
        entry
            .by_ref()
            .take(16 << 20)
            .read_to_end(&mut bytes)
            .map_err(|e| invalid(format!("control.tar: {e}")))?;
        files.insert(name, bytes);
    }
    Ok(files)
}

fn control_from_files(mut files: BTreeMap<String, Vec<u8>>, path: &Path) -> Result<Control> {
    let invalid = |what: String| Error::Invalid {
        path: path.to_owned(),
        what,
    };
    let text = files
        .remove("control")
        .ok_or_else(|| invalid("control.tar has no `control` file".into()))?;
    let text = String::from_utf8(text).map_err(|_| invalid("`control` is not UTF-8".into()))?;
    let paragraph = control::parse(&text)
        .map_err(|e| invalid(format!("control: {e}")))?
        .into_iter()
        .next()
        .ok_or_else(|| invalid("`control` is empty".into()))?;
    if paragraph.get("Package").is_none() {
        return Err(invalid("`control` has no `Package` field".into()));
    }
    Ok(Control {
        text,
        paragraph,
        files,
    })
}

/// Reads a whole package from `reader` (the bytes of the `.deb` at `path`, which errors name)
/// in one pass: its control part, then `data` over the uncompressed `data.tar` stream, which
/// must come after it (as `dpkg-deb` writes them).
pub fn read_stream<T>(
    reader: impl Read,
    path: &Path,
    data: impl FnOnce(&Control, &mut dyn Read) -> Result<T>,
) -> Result<(Control, T)> {
    let mut control = None;
    let mut data = Some(data);
    let out = each_member(reader, path, |name, raw| {
        if name.starts_with("control.tar") && control.is_none() {
            let files = control_files(&mut decompressed(name, raw, path)?, path)?;
            control = Some(control_from_files(files, path)?);
            Ok(None)
        } else if name.starts_with("data.tar") {
            let (Some(control), Some(data)) = (&control, data.take()) else {
                return Err(invalid(
                    path,
                    "`data.tar` comes before `control.tar`".into(),
                ));
            };
            data(control, &mut decompressed(name, raw, path)?).map(Some)
        } else {
            Ok(None)
        }
    })?;
    match (control, out) {
        (Some(control), Some(out)) => Ok((control, out)),
        _ => Err(invalid(path, "no `data.tar.*` member".into())),
    }
}
