//! The inventory as an SPDX 2.3 JSON document: the image as the described package, its base
//! (`DESCENDANT_OF`), every Debian package and every file copied from the context
//! (`CONTAINS`). Licenses that SPDX does not list are `LicenseRef-` ids described in
//! `hasExtractedLicensingInfos`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::{Inventory, deb_purl, id_part, oci_purl};

/// The document's namespace prefix; the image digest makes it unique.
pub const NAMESPACE: &str = "https://spdx.org/spdxdocs/duckc";

fn checksum(algorithm: &str, hex: &str) -> Value {
    json!({"algorithm": algorithm, "checksumValue": hex})
}

/// SPDX's package verification code of the copied files: the sha1 of their sorted sha1s.
fn verification_code(inv: &Inventory) -> String {
    use sha1::Digest as _;
    let mut sums: Vec<&str> = inv.files.iter().map(|f| f.sha1.as_str()).collect();
    sums.sort();
    hex::encode(sha1::Sha1::digest(sums.concat().as_bytes()))
}

/// The SPDX 2.3 document for `inv`.
pub fn document(inv: &Inventory) -> Value {
    let image_id = "SPDXRef-Image";
    let mut packages = vec![json!({
        "SPDXID": image_id,
        "name": inv.name,
        "versionInfo": inv.digest.to_string(),
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "CONTAINER",
        "checksums": [checksum("SHA256", &inv.digest.hex())],
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "externalRefs": [{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": oci_purl(&inv.name, &inv.digest),
        }],
        "comment": format!("platform {}", inv.platform),
    })];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": image_id,
    })];
    let contains = |id: &str| {
        json!({
            "spdxElementId": image_id,
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        })
    };
    if let Some((name, digest)) = &inv.base {
        packages.push(json!({
            "SPDXID": "SPDXRef-Base",
            "name": name,
            "versionInfo": digest.to_string(),
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "primaryPackagePurpose": "CONTAINER",
            "checksums": [checksum("SHA256", &digest.hex())],
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": oci_purl(name, digest),
            }],
            "comment": "the base image this image was built from",
        }));
        relationships.push(json!({
            "spdxElementId": image_id,
            "relationshipType": "DESCENDANT_OF",
            "relatedSpdxElement": "SPDXRef-Base",
        }));
    }
    let mut extracted: BTreeMap<String, String> = BTreeMap::new();
    for p in &inv.packages {
        let id = format!(
            "SPDXRef-deb-{}-{}",
            id_part(&p.name),
            id_part(&p.architecture)
        );
        let license = match &p.license {
            Some(l) => {
                for (r, name) in &l.refs {
                    extracted.insert(r.clone(), name.clone());
                }
                l.expression.clone()
            }
            None => "NOASSERTION".to_owned(),
        };
        let mut pkg = json!({
            "SPDXID": id,
            "name": p.name,
            "versionInfo": p.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": license,
            "copyrightText": "NOASSERTION",
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": deb_purl(inv, p),
            }],
        });
        if let Some(sha) = &p.deb_sha256 {
            pkg["checksums"] = json!([checksum("SHA256", sha)]);
        }
        if let Some(source) = p.source.as_ref().filter(|s| **s != p.name) {
            pkg["sourceInfo"] = json!(format!("built from the Debian source package {source}"));
        }
        packages.push(pkg);
        relationships.push(contains(&id));
    }
    // The files copied from the context belong to a package of their own, the build context,
    // which the image is GENERATED_FROM: a package that lists its files must have analysed
    // them all, and the image's other files are not listed.
    let mut files = Vec::new();
    let mut ids = Vec::new();
    for (i, f) in inv.files.iter().enumerate() {
        let id = format!("SPDXRef-File-{}", i + 1);
        files.push(json!({
            "SPDXID": id,
            "fileName": format!(".{}", f.path),
            "checksums": [checksum("SHA1", &f.sha1), checksum("SHA256", &f.sha256)],
            "licenseConcluded": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "comment": format!("copied from the build context: {}", f.context),
        }));
        ids.push(id);
    }
    if !files.is_empty() {
        packages.push(json!({
            "SPDXID": "SPDXRef-Context",
            "name": "build context",
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": true,
            "packageVerificationCode": {
                "packageVerificationCodeValue": verification_code(inv),
            },
            "hasFiles": ids,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "comment": "the files the build copied from its context into the image",
        }));
        relationships.push(json!({
            "spdxElementId": image_id,
            "relationshipType": "GENERATED_FROM",
            "relatedSpdxElement": "SPDXRef-Context",
        }));
    }
    let mut doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": inv.name,
        "documentNamespace": format!("{NAMESPACE}/{}-{}", id_part(&inv.name), inv.digest.hex()),
        "creationInfo": {
            "created": inv.created,
            "creators": [format!("Tool: duckc-{}", env!("CARGO_PKG_VERSION"))],
        },
        "packages": packages,
        "relationships": relationships,
    });
    if !files.is_empty() {
        doc["files"] = json!(files);
    }
    if !extracted.is_empty() {
        doc["hasExtractedLicensingInfos"] = extracted
            .into_iter()
            .map(|(id, name)| {
                json!({
                    "licenseId": id,
                    "name": name,
                    "extractedText": format!("The Debian license short name `{name}`; its text is in the package's /usr/share/doc/PACKAGE/copyright."),
                })
            })
            .collect();
    }
    doc
}
