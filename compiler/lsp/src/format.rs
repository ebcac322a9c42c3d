//! Formatting a KDL spec (`duckc fmt` and the server's `textDocument/formatting`): the KDL
//! library's formatter, which keeps comments and indents by four spaces.

/// The formatted text of a spec, or why it cannot be formatted (it is not valid KDL: `duckc
/// check` shows where).
pub fn format_spec(text: &str) -> Result<String, String> {
    if duckc_syntax::parse(text).file.broken {
        return Err(
            "the spec is not valid KDL; fix the errors `duckc check` shows, then format it"
                .to_owned(),
        );
    }
    let mut doc: kdl::KdlDocument = text.parse().map_err(|e: kdl::KdlError| e.to_string())?;
    doc.autoformat();
    let mut out = doc.to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_keeps_comments_and_is_idempotent() {
        let text = "// the base\nenv   \"a\"{\nfrom \"scratch\" // inline\n  run   \"make\"\n}\n";
        let out = format_spec(text).unwrap();
        assert!(out.contains("// the base"), "{out}");
        assert!(out.contains("// inline"), "{out}");
        assert!(out.contains("\n    run \"make\"\n"), "{out}");
        assert_eq!(format_spec(&out).unwrap(), out);
        assert!(format_spec("env \"a\" {").is_err());
    }
}
