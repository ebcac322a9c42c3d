//! Layer compression: pinned encoders (so bytes are stable) and decoders chosen by magic bytes.

use std::io::{self, BufRead, BufReader, Read, Write};

/// The gzip level every duckc layer uses. Changing it changes every layer digest. Level 1
/// (zlib-rs's fastest) writes about 2.3 times faster than level 6 for blobs about a quarter
/// larger; see `docs/architecture.md` ("Layer compression").
pub const GZIP_LEVEL: u32 = 1;
/// The zstd level every duckc layer uses. Changing it changes every layer digest.
pub const ZSTD_LEVEL: i32 = 3;

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip (zlib-rs backend, level [`GZIP_LEVEL`], no name, mtime 0).
    #[default]
    Gzip,
    /// zstd (level [`ZSTD_LEVEL`], single-threaded, no checksum).
    Zstd,
}

impl Compression {
    /// What duckc writes the layers it builds with (`build`, package layers, `run` and `copy`
    /// steps): none. Compressing is what a build paid most for (gzip of an 8 MiB random file
    /// was 60 % of a one-file-edit rebuild), BuildKit and podman keep build results
    /// uncompressed too, and an uncompressed blob's digest depends on nothing but the tar —
    /// not on a compressor's version. `import` and `commit` compress as asked (gzip by
    /// default); a registry push compresses.
    pub const BUILD: Compression = Compression::None;

    /// The OCI media type of a layer blob compressed this way.
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }

    /// The compression a layer media type implies, OCI or Docker; `None` if it is not a layer type.
    pub fn from_media_type(media_type: &str) -> Option<Compression> {
        match media_type {
            "application/vnd.oci.image.layer.v1.tar"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar"
            | "application/vnd.docker.image.rootfs.diff.tar" => Some(Compression::None),
            "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => {
                Some(Compression::Gzip)
            }
            "application/vnd.oci.image.layer.v1.tar+zstd"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => {
                Some(Compression::Zstd)
            }
            _ => None,
        }
    }

    /// Parse a `--compression` value.
    pub fn from_name(name: &str) -> Option<Compression> {
        match name {
            "none" | "uncompressed" => Some(Compression::None),
            "gzip" => Some(Compression::Gzip),
            "zstd" => Some(Compression::Zstd),
            _ => None,
        }
    }
}

/// A compressing writer with pinned parameters. Call [`Encoder::finish`] to flush the trailer.
pub enum Encoder<W: Write> {
    /// Pass-through.
    None(W),
    /// gzip.
    Gzip(flate2::write::GzEncoder<W>),
    /// zstd.
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Encoder<W> {
    /// Start compressing into `inner`.
    pub fn new(inner: W, compression: Compression) -> io::Result<Self> {
        Ok(match compression {
            Compression::None => Encoder::None(inner),
            Compression::Gzip => Encoder::Gzip(
                flate2::GzBuilder::new()
                    .mtime(0)
                    .operating_system(255)
                    .write(inner, flate2::Compression::new(GZIP_LEVEL)),
            ),
            Compression::Zstd => {
                let mut enc = zstd::stream::write::Encoder::new(inner, ZSTD_LEVEL)?;
                enc.include_checksum(false)?;
                enc.include_contentsize(false)?;
                Encoder::Zstd(enc)
            }
        })
    }

    /// Write the trailer and return the inner writer.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Encoder::None(w) => Ok(w),
            Encoder::Gzip(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::None(w) => w.write(buf),
            Encoder::Gzip(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::None(w) => w.flush(),
            Encoder::Gzip(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
        }
    }
}

/// Recognise the compression of a stream from its first bytes.
pub fn sniff(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// A decompressing reader over `inner`, chosen by magic bytes (media types lie often enough).
pub fn decoder<'a, R: Read + 'a>(inner: R) -> io::Result<Box<dyn Read + 'a>> {
    let mut buffered = BufReader::with_capacity(256 * 1024, inner);
    let head = buffered.fill_buf()?;
    Ok(match sniff(head) {
        Compression::None => Box::new(buffered),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(buffered)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(c: Compression) -> Vec<u8> {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut enc = Encoder::new(Vec::new(), c).unwrap();
        enc.write_all(&data).unwrap();
        let bytes = enc.finish().unwrap();
        assert_eq!(sniff(&bytes), c);
        let mut back = Vec::new();
        decoder(&bytes[..]).unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
        bytes
    }

    /// The gzip bytes of a fixed input, pinned: a pushed layer's digest is the digest of
    /// these bytes, so a flate2 or zlib-rs upgrade, or a feature that picks other code at run
    /// time (`runtime_detection`: AVX2, PCLMULQDQ), must not change them.
    #[test]
    fn gzip_bytes_are_pinned() {
        let mut data = Vec::new();
        for i in 0..60_000u32 {
            data.extend_from_slice(format!("{i} {}\n", i.wrapping_mul(2_654_435_761)).as_bytes());
        }
        let mut enc = Encoder::new(Vec::new(), Compression::Gzip).unwrap();
        enc.write_all(&data).unwrap();
        let bytes = enc.finish().unwrap();
        let digest = crate::Digest::of(&bytes);
        // The same with and without `runtime_detection` (checked when it was turned on).
        assert_eq!(
            (bytes.len(), digest.to_string()),
            (
                714_025,
                "sha256:173629e851f4bc1240acf90320500250712543a0d7f3a565ef72d0270d42cba8".into()
            )
        );
    }

    #[test]
    fn every_compression_round_trips_and_is_stable() {
        for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
            assert_eq!(round_trip(c), round_trip(c));
        }
    }
}
