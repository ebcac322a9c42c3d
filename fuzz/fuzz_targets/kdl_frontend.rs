//! Fuzzes the KDL frontend: any bytes that are UTF-8 must parse without panicking, give spans
//! inside the text, and render. Run with `cargo fuzz run kdl_frontend` in `fuzz/`.
#![no_main]

use duckc_diagnostic::{Style, render};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let parse = duckc_syntax::parse(text);
    for d in &parse.diagnostics {
        assert!(d.span.start <= d.span.end && d.span.end <= text.len(), "span {:?} outside the text", d.span);
        for (span, _) in &d.related {
            assert!(span.end <= text.len());
        }
    }
    if parse.file.broken {
        assert!(parse.file.items.is_empty());
        assert!(!parse.diagnostics.is_empty(), "a broken file says why");
    }
    let _ = render(&parse.diagnostics, "fuzz.kdl", text, Style::Plain);
});
