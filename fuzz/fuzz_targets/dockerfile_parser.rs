//! Fuzz the Dockerfile frontend: any text parses, evaluates and lints without panicking, and
//! every span it reports lies inside the input on character boundaries.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let checked = duckc_dockerfile::check(text, &duckc_dockerfile::CheckOptions::default());
    let valid = |s: duckc_dockerfile::Span| {
        s.start <= s.end
            && s.end <= text.len()
            && text.is_char_boundary(s.start)
            && text.is_char_boundary(s.end)
    };
    for d in &checked.diagnostics {
        for label in &d.labels {
            assert!(valid(label.span), "{:?} outside the input", label.span);
        }
    }
    for inst in &checked.file.instructions {
        assert!(valid(inst.span), "{:?} outside the input", inst.span);
    }
    let _ = duckc_dockerfile::pretty(&checked.file, text);
});
