//! Packages from apt repositories: repository access, resolution, the download cache and `duck.lock`.

pub mod control;
pub mod download;
pub mod fetch;
pub mod index;
pub mod lock;
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
