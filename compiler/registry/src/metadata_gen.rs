// Hostile image metadata (index, manifest, config) from a stream of choice bytes, for testing
// the parsers a pull and a load go through.
//
// Shared by the unit test `random_hostile_metadata_is_refused_or_read` (seeded choices) and the
// cargo-fuzz target `fuzz/fuzz_targets/manifest_parser.rs` (libFuzzer's choices), which
// `include!`s this file: std, `duckc_store` and `duckc_image` only (both crates depend on them),
// no `crate::` paths. The documents are JSON text built from a vocabulary of what a hostile
// registry or archive sends (digests that are paths or other algorithms, sizes out of range,
// artifact and encrypted media types, platforms with escapes, `urls`, indexes nested in
// indexes, thousands of entries), then maybe cut or changed byte by byte. Real digests are left
// as placeholders (`@CONFIG@`, `@LAYER@`, `@MANIFEST@`, and `@CONFIG_SIZE@`, `@MANIFEST_SIZE@`)
// that `link` fills in with the hashes of the final bytes, so that most documents link up and
// reach the code past the digest checks.

/// Reads choices; past the end every choice is 0.
pub struct Choices<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Choices<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Choices { bytes, at: 0 }
    }

    fn byte(&mut self) -> u8 {
        let b = self.bytes.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[usize::from(self.byte()) % from.len()]
    }

    /// True one time in `n` (about).
    fn one_in(&mut self, n: u8) -> bool {
        self.byte().is_multiple_of(n)
    }
}

/// The documents of one hostile image: the layer is an empty tar (1,024 zero bytes).
pub struct Metadata {
    /// The image config.
    pub config: Vec<u8>,
    /// The manifest, with `@CONFIG@`, `@CONFIG_SIZE@` and `@LAYER@` to fill in.
    pub manifest: Vec<u8>,
    /// The `Content-Type` a registry serves the manifest with.
    pub manifest_type: &'static str,
    /// The index, with `@MANIFEST@` and `@MANIFEST_SIZE@` to fill in.
    pub index: Vec<u8>,
    /// The `Content-Type` a registry serves the index with.
    pub index_type: &'static str,
}

const DIGESTS: &[&str] = &[
    "\"@LAYER@\"",
    "\"@LAYER@\"",
    "\"@LAYER@\"",
    "\"sha256:../../../../tmp/x\"",
    "\"sha256:ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB\"",
    "\"sha256:abc\"",
    "\"sha512:abababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababab\"",
    "\"md5:abababababababababababababababab\"",
    "\"\"",
    "\"sha256:0000000000000000000000000000000000000000000000000000000000000000\"",
    "\"sha256:@LAYER@\"",
    "null",
    "7",
    "[\"@LAYER@\"]",
];

const SIZES: &[&str] = &[
    "1024",
    "1024",
    "1024",
    "0",
    "-1",
    "1.5",
    "1e400",
    "18446744073709551615",
    "18446744073709551616",
    "9223372036854775807",
    "9223372036854775808",
    "\"1024\"",
    "null",
    "1023",
];

const LAYER_TYPES: &[&str] = &[
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip+encrypted",
    "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
    "application/octet-stream",
    "",
    "\\u001b[31mred",
];

const CONFIG_TYPES: &[&str] = &[
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
    "application/vnd.oci.empty.v1+json",
    "application/vnd.cncf.helm.config.v1+json",
    "",
];

const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "text/plain",
    "",
];

const OSES: &[&str] = &[
    "linux",
    "linux",
    "windows",
    "unknown",
    "\\u001b]2;owned\\u0007",
    "",
];
const ARCHES: &[&str] = &["@ARCH@", "@ARCH@", "arm", "s390x", "\\u001b[31m", ""];

const STRINGS: &[&str] = &[
    "\"0:0\"",
    "\"../../etc/passwd\"",
    "\"relative/dir\"",
    "\"/../../../tmp/x\"",
    "\"\\u0000\"",
    "\"\\u001b]2;owned\\u0007\"",
    "[\"A=b\", \"JUNK\", \"=\"]",
    "{\"../../x\": {}, \"\": {}}",
    "{\"99999/tcp\": {}, \"junk\": {}}",
    "null",
    "12",
];

const CONFIG_KEYS: &[&str] = &[
    "User",
    "WorkingDir",
    "Env",
    "Cmd",
    "Entrypoint",
    "Volumes",
    "ExposedPorts",
    "Labels",
    "StopSignal",
];

fn descriptor(c: &mut Choices<'_>, media_type: &str, digest: &str, size: &str) -> String {
    let mut out = String::from("{");
    if !c.one_in(16) {
        out.push_str(&format!("\"mediaType\":\"{media_type}\","));
    }
    out.push_str(&format!("\"digest\":{digest},\"size\":{size}"));
    if c.one_in(8) {
        out.push_str(",\"urls\":[\"http://127.0.0.1:9/x\",\"file:///etc/shadow\"]");
    }
    if c.one_in(8) {
        out.push_str(",\"annotations\":{\"org.opencontainers.image.ref.name\":\"../../x\"}");
    }
    out.push('}');
    out
}

/// Make one image's documents from `c`.
pub fn hostile_metadata(c: &mut Choices<'_>) -> Metadata {
    // The config: the layer's diff_id (or junk), and junk in the fields `run` reads.
    let diff_ids = match c.byte() % 6 {
        0 => String::new(),
        1 => "\"@LAYER@\",\"@LAYER@\"".to_owned(),
        2 => "\"sha256:../x\"".to_owned(),
        _ => "\"@LAYER@\"".to_owned(),
    };
    let mut fields = Vec::new();
    for _ in 0..c.byte() % 4 {
        fields.push(format!("\"{}\":{}", c.pick(CONFIG_KEYS), c.pick(STRINGS)));
    }
    let config = format!(
        "{{\"architecture\":\"{}\",\"os\":\"{}\",\"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[{diff_ids}]}},\"config\":{{{}}}}}",
        c.pick(ARCHES),
        c.pick(OSES),
        fields.join(",")
    );

    // The manifest: a config descriptor and 0-3 layers, or 2,000 of the same one.
    let config_desc = {
        let digest = if c.one_in(6) {
            c.pick(DIGESTS).replace("@LAYER@", "@CONFIG@")
        } else {
            "\"@CONFIG@\"".to_owned()
        };
        let size = if c.one_in(6) {
            c.pick(SIZES).to_owned()
        } else {
            "@CONFIG_SIZE@".to_owned()
        };
        let media_type = c.pick(CONFIG_TYPES);
        descriptor(c, media_type, &digest, &size)
    };
    let mut layers = Vec::new();
    let count = match c.byte() % 8 {
        0 => 0,
        1 => 2000,
        n => usize::from(n % 3) + 1,
    };
    let layer_digest = c.pick(DIGESTS);
    let layer_size = c.pick(SIZES);
    let layer_type = c.pick(LAYER_TYPES);
    for _ in 0..count.min(2000) {
        layers.push(descriptor(c, layer_type, layer_digest, layer_size));
    }
    let manifest_type = c.pick(MANIFEST_TYPES);
    let mut manifest = format!(
        "{{\"schemaVersion\":{},\"mediaType\":\"{manifest_type}\",\"config\":{config_desc},\"layers\":[{}]}}",
        c.pick(&["2", "2", "1", "\"2\""]),
        layers.join(",")
    );
    if c.one_in(10) {
        // An index where a manifest should be.
        manifest = "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"digest\":\"@MANIFEST@\",\"size\":@MANIFEST_SIZE@}]}".to_owned();
    }

    // The index: entries for the manifest (platforms from the vocabulary), maybe 5,000 of
    // them, maybe an entry that is itself an index.
    let entries = match c.byte() % 8 {
        0 => 0,
        1 => 5000,
        n => usize::from(n % 3) + 1,
    };
    let mut list = Vec::new();
    for i in 0..entries {
        let platform = if c.one_in(8) {
            String::new()
        } else {
            format!(
                ",\"platform\":{{\"os\":\"{}\",\"architecture\":\"{}\"}}",
                c.pick(OSES),
                c.pick(ARCHES)
            )
        };
        let digest = if i > 0 && c.one_in(4) {
            c.pick(DIGESTS).replace("@LAYER@", "@MANIFEST@")
        } else {
            "\"@MANIFEST@\"".to_owned()
        };
        let size = if c.one_in(6) {
            c.pick(SIZES).to_owned()
        } else {
            "@MANIFEST_SIZE@".to_owned()
        };
        let media_type = c.pick(MANIFEST_TYPES);
        list.push(format!(
            "{{\"mediaType\":\"{media_type}\",\"digest\":{digest},\"size\":{size}{platform}}}"
        ));
        if entries > 10 && i > 0 {
            // The rest alike: 5,000 choices would run out.
            let last = list.last().cloned().unwrap_or_default();
            list.resize(entries, last);
            break;
        }
    }
    let index_type = c.pick(MANIFEST_TYPES);
    let index = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"{index_type}\",\"manifests\":[{}]}}",
        list.join(",")
    );

    let mut docs = [
        config.into_bytes(),
        manifest.into_bytes(),
        index.into_bytes(),
    ];
    // Then maybe break one document: cut it, or change, insert or remove bytes.
    for _ in 0..c.byte() % 3 {
        let doc = &mut docs[usize::from(c.byte()) % 3];
        if doc.is_empty() {
            continue;
        }
        let at = (usize::from(c.byte()) << 8 | usize::from(c.byte())) % doc.len();
        match c.byte() % 4 {
            0 => doc.truncate(at),
            1 => doc[at] = c.pick(b"{}[]\",:0-9e\\\x00\x1b\xff"),
            2 => doc.insert(at, c.pick(b"{}[]\",:0-9e\\\x00\x1b\xff")),
            _ => {
                doc.remove(at);
            }
        }
    }
    let [config, manifest, index] = docs;
    Metadata {
        config,
        manifest,
        manifest_type,
        index,
        index_type,
    }
}

/// The documents with their placeholders filled in: (config, manifest, index, layer) bytes.
pub fn link(m: &Metadata) -> [Vec<u8>; 4] {
    use duckc_store::Digest;
    let layer = vec![0u8; 1024];
    let fill = |doc: &[u8], pairs: &[(&str, String)]| -> Vec<u8> {
        let mut text = String::from_utf8_lossy(doc).into_owned();
        for (from, to) in pairs {
            text = text.replace(from, to);
        }
        text.into_bytes()
    };
    let arch = ("@ARCH@", duckc_image::host_arch().to_owned());
    let layer_d = ("@LAYER@", Digest::of(&layer).to_string());
    let config = fill(&m.config, &[layer_d.clone(), arch.clone()]);
    let manifest = fill(
        &m.manifest,
        &[
            ("@CONFIG@", Digest::of(&config).to_string()),
            ("@CONFIG_SIZE@", config.len().to_string()),
            ("@MANIFEST@", Digest::of(&config).to_string()),
            ("@MANIFEST_SIZE@", config.len().to_string()),
            layer_d,
            arch.clone(),
        ],
    );
    let index = fill(
        &m.index,
        &[
            ("@MANIFEST@", Digest::of(&manifest).to_string()),
            ("@MANIFEST_SIZE@", manifest.len().to_string()),
            arch,
        ],
    );
    [config, manifest, index, layer]
}

/// `index` and `blobs` written as an OCI image layout in the directory `layout` (`oci-layout`,
/// `index.json`, `blobs/sha256/HEX`), as an archive or `skopeo copy` would leave them.
pub fn write_layout(layout: &std::path::Path, index: &[u8], blobs: &[&[u8]]) {
    use duckc_store::Digest;
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    std::fs::write(layout.join("index.json"), index).unwrap();
    for blob in blobs {
        std::fs::write(
            layout.join("blobs/sha256").join(Digest::of(blob).hex()),
            blob,
        )
        .unwrap();
    }
}
