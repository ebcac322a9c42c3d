//! The inventory as a CycloneDX 1.5 JSON BOM: the image as the metadata component, its base,
//! every Debian package (`library`, with a package URL) and every file copied from the context
//! (`file`) as components.

use serde_json::{Value, json};

use crate::{Inventory, deb_purl, id_part, oci_purl};

/// A `urn:uuid:` serial number made from the image digest (the same image, the same BOM).
fn serial(inv: &Inventory) -> String {
    let h = inv.digest.hex();
    format!(
        "urn:uuid:{}-{}-5{}-8{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// The CycloneDX 1.5 BOM for `inv`.
pub fn document(inv: &Inventory) -> Value {
    let mut components = Vec::new();
    let mut depends = Vec::new();
    if let Some((name, digest)) = &inv.base {
        components.push(json!({
            "type": "container",
            "bom-ref": "base",
            "name": name,
            "version": digest.to_string(),
            "purl": oci_purl(name, digest),
            "hashes": [{"alg": "SHA-256", "content": digest.hex()}],
            "description": "the base image this image was built from",
        }));
        depends.push("base".to_owned());
    }
    for p in &inv.packages {
        let r = format!("deb-{}-{}", id_part(&p.name), id_part(&p.architecture));
        let mut c = json!({
            "type": "library",
            "bom-ref": r,
            "name": p.name,
            "version": p.version,
            "purl": deb_purl(inv, p),
        });
        if let Some(sha) = &p.deb_sha256 {
            c["hashes"] = json!([{"alg": "SHA-256", "content": sha}]);
        }
        if let Some(l) = &p.license {
            c["licenses"] = json!([{"expression": l.expression}]);
        }
        components.push(c);
        depends.push(r);
    }
    for f in &inv.files {
        let r = format!("file-{}", id_part(&f.path));
        components.push(json!({
            "type": "file",
            "bom-ref": r,
            "name": f.path,
            "hashes": [
                {"alg": "SHA-1", "content": f.sha1},
                {"alg": "SHA-256", "content": f.sha256},
            ],
            "description": format!("copied from the build context: {}", f.context),
        }));
        depends.push(r);
    }
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": serial(inv),
        "version": 1,
        "metadata": {
            "timestamp": inv.created,
            "tools": {"components": [{
                "type": "application",
                "name": "duckc",
                "version": env!("CARGO_PKG_VERSION"),
            }]},
            "component": {
                "type": "container",
                "bom-ref": "image",
                "name": inv.name,
                "version": inv.digest.to_string(),
                "purl": oci_purl(&inv.name, &inv.digest),
                "hashes": [{"alg": "SHA-256", "content": inv.digest.hex()}],
            },
        },
        "components": components,
        "dependencies": [{"ref": "image", "dependsOn": depends}],
    })
}
