//! Packages from apt repositories: repository access, resolution, the download cache, `duck.lock`,
//! and the package, dpkg-database and configure layers built from them.

pub mod apt_sources;
pub mod cached;
pub mod control;
pub mod deb;
pub mod download;
pub mod dpkg;
pub mod fetch;
pub mod index;
pub mod layers;
pub mod lock;
pub mod locking;
pub mod relation;
pub mod release;
pub mod repo;
pub mod resolve;
pub mod source;

/// One line per KDL diagnostic: `line L: message`.
pub(crate) fn kdl_error_message(error: &kdl::KdlError) -> String {
    let mut lines = Vec::new();
    for d in &error.diagnostics {
        let line = error.input[..d.span.offset().min(error.input.len())]
            .matches('\n')
            .count()
            + 1;
        let message = d
            .message
            .clone()
            .or_else(|| d.label.clone())
            .unwrap_or_else(|| "invalid KDL".into());
        lines.push(format!("line {line}: {message}"));
    }
    if lines.is_empty() {
        "invalid KDL".into()
    } else {
        lines.join("; ")
    }
}

#[cfg(test)]
mod docs_tests {
    /// Every ```kdl,lock block of docs/packages.md is a valid `duck.lock` and every ```kdl,config
    /// block a valid repositories config (plain ```kdl blocks are specs, checked by tests/spec.rs).
    #[test]
    fn kdl_blocks_in_the_docs_parse() {
        let doc = include_str!("../../../docs/packages.md");
        let body = |block: &str| block.split("```").next().unwrap_or_default().to_owned();
        let locks: Vec<String> = doc.split("```kdl,lock\n").skip(1).map(body).collect();
        let configs: Vec<String> = doc.split("```kdl,config\n").skip(1).map(body).collect();
        for text in &locks {
            crate::lock::Lock::parse(text).unwrap();
        }
        let origin = crate::source::Origin::ConfigFile("docs/packages.md".into());
        for text in &configs {
            crate::source::parse_config(text, &origin).unwrap();
        }
        assert_eq!((locks.len(), configs.len()), (1, 1));
    }
}
