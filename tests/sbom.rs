//! End-to-end tests of `duckc sbom`: an image built from busybox with a package from the test
//! apt repository (tests/common/apt.rs) and files from the context; the SPDX document passes
//! the real validator (`pyspdxtools`, from the `spdx-tools` Python package) and says what the
//! build knew exactly; the CycloneDX one says the same.

mod common;

use std::path::Path;
use std::process::Command;

use common::store::load_busybox;
use common::{apt, duckc, ok, output, require_root, require_tool};

const SPEC: &str = r#"env "app" {
    from "busybox:latest"
    packages "gawk"
    copy "copyright" "/usr/share/doc/gawk/copyright"
    copy "hello.txt" "/srv/hello.txt"
    tag "sbomtest/app:latest"
}
"#;

const COPYRIGHT: &str = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: gawk

Files: *
Copyright: 2023 The Duck Foundation
License: GPL-3+

Files: extension/*
Copyright: 2023 The Duck Foundation
License: GPL-2+ with Duck exception
";

/// Validates a CycloneDX 1.5 JSON file with `cyclonedx-python-lib`; exits non-zero if invalid.
const CDX_VALIDATE: &str = "import sys
from cyclonedx.validation.json import JsonStrictValidator
from cyclonedx.schema import SchemaVersion
err = JsonStrictValidator(SchemaVersion.V1_5).validate_str(open(sys.argv[1]).read())
if err:
    sys.exit(f'invalid: {err}')
";

/// The bin directory of the virtual environment the validators are installed in: the first
/// `PATH` entry with `pyspdxtools` in it, else `/opt/duckc-spdx/bin`, where `.ci/run` and the
/// README install `spdx-tools` and `cyclonedx-python-lib`. `None` (a skip, a failure under
/// `CI=true`) when neither has it.
fn validators() -> Option<std::path::PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .find(|d| d.join("pyspdxtools").is_file() && d.join("python3").exists())
    });
    let found = on_path.or_else(|| {
        let opt = Path::new("/opt/duckc-spdx/bin");
        opt.join("pyspdxtools").is_file().then(|| opt.to_path_buf())
    });
    if found.is_none() {
        if common::in_ci() {
            panic!("`pyspdxtools` is missing; .ci/run must install it in /opt/duckc-spdx");
        }
        eprintln!("skipped: `pyspdxtools` is not installed (see README.md, Run the tests)");
    }
    found
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex(&sha2::Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn sbom_of_a_built_image() {
    if !require_root() || !require_tool("umoci") || validators().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let ctx = tmp.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("env.kdl"), SPEC).unwrap();
    std::fs::write(ctx.join("copyright"), COPYRIGHT).unwrap();
    std::fs::write(ctx.join("hello.txt"), "quack\n").unwrap();
    load_busybox(&store);
    ok(duckc(&store)
        .current_dir(&ctx)
        .args(["build", "--progress", "plain"])
        .env("DUCKC_APT_REPOSITORY", apt::repo().line()));

    let spdx = tmp.path().join("app.spdx.json");
    ok(duckc(&store).args(["sbom", "sbomtest/app", "-o", spdx.to_str().unwrap()]));
    // The real validator.
    let out = output(
        Command::new(validators().unwrap().join("pyspdxtools"))
            .arg("-i")
            .arg(&spdx),
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && !text.contains("invalid"),
        "{text}\n{}",
        std::fs::read_to_string(&spdx).unwrap()
    );

    let doc = json(&spdx);
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    let packages = doc["packages"].as_array().unwrap();
    let gawk = packages
        .iter()
        .find(|p| p["name"] == "gawk")
        .unwrap_or_else(|| panic!("{doc:#}"));
    assert_eq!(gawk["versionInfo"], "5.2.1-2");
    let arch = if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "amd64"
    };
    let deb = apt::sha256(
        &apt::repo()
            .root
            .join(format!("pool/main/g/gawk/gawk_5.2.1-2_{arch}.deb")),
    );
    assert_eq!(
        gawk["checksums"][0]["checksumValue"],
        deb.as_str(),
        "{gawk:#}"
    );
    assert_eq!(
        gawk["licenseDeclared"], "LicenseRef-GPL-2plus-with-Duck-exception AND GPL-3.0-or-later",
        "{gawk:#}"
    );
    assert!(
        doc["hasExtractedLicensingInfos"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["licenseId"] == "LicenseRef-GPL-2plus-with-Duck-exception"),
        "{doc:#}"
    );
    // The base, by the digest the build used.
    let inspect = ok(duckc(&store).args(["inspect", "busybox:latest"]));
    let busybox: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    let base = packages
        .iter()
        .find(|p| p["SPDXID"] == "SPDXRef-Base")
        .unwrap_or_else(|| panic!("{doc:#}"));
    assert_eq!(base["name"], "busybox:latest");
    assert_eq!(base["versionInfo"], busybox[0]["ManifestDigest"]);
    // The files copied from the context, by digest.
    let files = doc["files"].as_array().unwrap();
    let hello = files
        .iter()
        .find(|f| f["fileName"] == "./srv/hello.txt")
        .unwrap_or_else(|| panic!("{doc:#}"));
    assert!(
        hello["checksums"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["algorithm"] == "SHA256" && c["checksumValue"] == sha256_hex(b"quack\n"))
    );
    assert_eq!(files.len(), 2, "{doc:#}");

    // The same image gives the same bytes.
    let again = ok(duckc(&store).args(["sbom", "sbomtest/app"]));
    assert_eq!(again.as_bytes(), std::fs::read(&spdx).unwrap());

    // CycloneDX says the same.
    let cdx = tmp.path().join("app.cdx.json");
    ok(duckc(&store).args([
        "sbom",
        "--format",
        "cyclonedx",
        "sbomtest/app",
        "-o",
        cdx.to_str().unwrap(),
    ]));
    // The CycloneDX library's strict schema validator (the venv that has pyspdxtools).
    let out = output(
        Command::new(validators().unwrap().join("python3"))
            .arg("-c")
            .arg(CDX_VALIDATE)
            .arg(&cdx),
    );
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let bom = json(&cdx);
    assert_eq!(bom["bomFormat"], "CycloneDX");
    assert_eq!(bom["specVersion"], "1.5");
    let gawk = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "gawk")
        .unwrap_or_else(|| panic!("{bom:#}"));
    assert_eq!(gawk["version"], "5.2.1-2");
    assert_eq!(gawk["hashes"][0]["content"], deb.as_str());
    assert!(
        gawk["purl"]
            .as_str()
            .unwrap()
            .starts_with("pkg:deb/debian/gawk@5.2.1-2?arch="),
        "{gawk:#}"
    );

    // A missing image: an error that says what to do.
    let out = output(duckc(&store).args(["sbom", "no/such:image"]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("duckc images"));
}
