//! Snapshot tests of the KDL frontend: each fixture's rendered diagnostics (or tree).

use duckc_diagnostic::{Style, render};

/// Parses `input` and renders its diagnostics as `duckc check` would print them.
fn check(input: &str) -> String {
    let parse = crate::parse(input);
    render(&parse.diagnostics, "env.kdl", input, Style::Plain)
}

#[test]
fn clean_spec_has_no_diagnostics() {
    let input = r#"
import "std/busybox"
env "app" {
    from "std/scratch:base"
    platform "linux/amd64"
    packages "?essential" "?priority(required)" "python3=3.11.2-1+b1" "libc6:amd64"
    copy "src/" "/app/" chown="1000:1000" chmod="0644"
    run "make"
    env A="1"
}
"#;
    assert_eq!(check(input), "");
}

#[test]
fn kdl_syntax_error() {
    insta::assert_snapshot!(check(
        r#"env "app" {
    from "scratch"
    run "make
}
"#
    ));
}

#[test]
fn kdl_syntax_error_is_narrowed() {
    // kdl reports this from the start of the `env` node; we point at the property.
    insta::assert_snapshot!(check(
        r#"env "app" {
    from "scratch"
    copy "a" "/a" chmod=
}
"#
    ));
}

#[test]
fn unclosed_block() {
    insta::assert_snapshot!(check(
        r#"env "app" {
    from "scratch"
"#
    ));
}

#[test]
fn syntax_error_suppresses_everything_else() {
    // `frm` and `bogus` would be errors too, but a file that is not KDL reports only that.
    let input = r#"
bogus 1
env "app" {
    frm "scratch"
    run 1.x
}
"#;
    let parse = crate::parse(input);
    assert!(parse.file.broken);
    assert_eq!(parse.diagnostics.len(), 1, "{:#?}", parse.diagnostics);
    insta::assert_snapshot!(check(input));
}

#[test]
fn nesting_too_deep() {
    let input = "env \"a\" {\n".repeat(100_000);
    let parse = crate::parse(&input);
    assert!(parse.file.broken);
    // Render against the first lines only: the snapshot shows the place, not 100,000 lines.
    insta::assert_snapshot!(render(
        &parse.diagnostics,
        "env.kdl",
        &input[..400],
        Style::Plain
    ));
}

#[test]
fn unknown_node_with_suggestion() {
    insta::assert_snapshot!(check(
        r#"env "app" {
    form "scratch"
    wrokdir "/app"
    frobnicate 1
}
"#
    ));
}

#[test]
fn unknown_top_level_node() {
    insta::assert_snapshot!(check(
        r#"improt "std/busybox"
run "make"
env "app" {
    from "scratch"
    import "std/busybox"
}
"#
    ));
}

#[test]
fn argument_count() {
    insta::assert_snapshot!(check(
        r#"env "app" {
    from "scratch" "busybox"
    copy "only-one"
    workdir
    label "k" "v" "extra" "more"
}
"#
    ));
}

#[test]
fn argument_types() {
    insta::assert_snapshot!(check(
        r#"env "app" {
    from #true
    run 42
    env N=1
    workdir 1.5
}
"#
    ));
}

#[test]
fn unknown_property() {
    insta::assert_snapshot!(check(
        r#"env "app" nme="x" {
    from "scratch"
    copy "a" "/a" chmood="0755" owner="me"
    run "make" netwrok="host"
    workdir "/app" create=#true
}
"#
    ));
}

#[test]
fn invalid_values() {
    insta::assert_snapshot!(check(
        r#"env "app" {
    from "scratch"
    platform "linux/amd46" "windows/amd64"
    packages "?frobnicate" "Python3"
    copy "../secret" "/etc/" chmod="999"
    copy "a" "b" "/not-a-dir"
    run "make" network="wifi"
    expose 0 "80/icmp" 8080 "53/udp"
    tag "Your/Duck:v3"
    user "a b"
    env my-var="y"
}
"#
    ));
}

#[test]
fn missing_and_duplicate_from() {
    insta::assert_snapshot!(check(
        r#"env "empty" {
    run "make"
}
env "twice" {
    from "scratch"
    platform "linux/amd64"
    from "base"
    platform "linux/arm64"
}
env "scratch" {
    from "scratch"
}
"#
    ));
}

#[test]
fn children_and_type_annotations() {
    insta::assert_snapshot!(check(
        r#"import "std/busybox" { nested }
env "app" {
    from "scratch"
    run "make" {
        run "inner"
    }
    (u8)expose 80
}
"#
    ));
}

#[test]
fn tree_of_a_clean_spec() {
    let input = r#"env "app" {
    from "std/scratch:base"
    copy "src/" "main.py" "/app/" chown="1000:1000" chmod="0755"
    run "make" "-j4" network="host"
    run "echo hi"
    expose 8080 "53/udp"
}
"#;
    let parse = crate::parse(input);
    assert!(parse.diagnostics.is_empty(), "{:#?}", parse.diagnostics);
    insta::assert_debug_snapshot!(parse.file);
}

/// Arbitrary bytes never panic the frontend (a cheap stand-in for the fuzz target).
#[test]
fn garbage_never_panics() {
    let pieces = [
        "env", "\"a\"", "{", "}", "/*", "*/", "//", "\n", "#\"", "\"#", "=", "(", ")", "é", "\\",
        "/-", "#true", "1.", ";", "\"\"\"", "0x",
    ];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..2000 {
        let mut text = String::new();
        for _ in 0..(state % 40) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            text.push_str(pieces[(state % pieces.len() as u64) as usize]);
            text.push(' ');
        }
        let parse = crate::parse(&text);
        let _ = render(&parse.diagnostics, "f", &text, Style::Plain);
    }
}

/// `parse_by_node` gives what `parse` gives, whatever the text: the shipped specs, texts made
/// to stop the splitter, and thousands of random edits of a spec.
#[test]
fn parsing_node_by_node_is_parsing_the_whole() {
    // Whether the text was parsed in pieces (not the whole after giving up).
    fn same(text: &str) -> bool {
        let mut pieces = 0;
        let joined = crate::parse_by_node(text, |t| {
            pieces += 1;
            Box::leak(Box::new(crate::parse(t)))
        });
        assert_eq!(joined, crate::parse(text), "{text:?}");
        let whole = crate::chunks::split(text).is_some_and(|r| r.len() == pieces);
        whole && pieces > 1 && !joined.file.broken
    }
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let mut corpus: Vec<String> = Vec::new();
    for dir in [
        "stdlib",
        "examples/basic",
        "examples/hello",
        "examples/python",
        "examples/robotics",
    ] {
        for entry in std::fs::read_dir(format!("{root}/{dir}")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "kdl") {
                corpus.push(std::fs::read_to_string(path).unwrap());
            }
        }
    }
    assert!(corpus.len() >= 5, "{}", corpus.len());
    corpus.extend(
        [
            "import \"std/busybox\"; import \"std/debian\"   \n\nenv \"a\" { from \"scratch\"; run \"x\" }\n",
            "env \"a\" {\n  from \"scratch\"\n}   // trailing\n// between\n\n  env \"b\" {\n from \"a\"\n}",
            "env \"a\" {\n  from \"scratch\"\n}\nenv \"b\" \\\n  { from \"a\" }\n",
            "/- env \"a\" {\n  from \"scratch\"\n}\nenv \"b\" { from \"scratch\" }\n",
            "env \"a\" { from \"scratch\" }\n/* env \"b\" {\n} */\nenv \"c\" { from \"a\" }\n",
            "env \"a\" { from #\"scr\natch\"# }\nenv \"b\" { from \"a\" }\n",
            "env \"a\" { run \"\"\"\n  x\n  \"\"\" }\nenv \"b\" { from \"a\" }\n",
            "env \"a\" { run \"one \\\n  two\" }\nenv \"b\" { from \"a\" }\n",
            "env \"a\" { from \"scratch\" }\r\nenv \"b\" { from \"a\" }\r\n",
            "env \"a\" { from \"scratch\" }\renv \"b\" { from \"a\" }\n",
            "env \"a\" { from \"scratch\" } // ends\u{2028}env \"b\" { from \"a\" }\n",
            "\u{feff}env \"a\" { from \"scratch\" }\nenv \"b\" { from \"a\" }\n",
            "env \"a\" { from \"scratch\" }\n}\nenv \"b\" { from \"a\" }\n",
            "env \"a\" {\n from \"scratch\"\nenv \"b\" { from \"a\" }\n",
            "env \"a\" { from \"scratch\" }\nenv \"b\" { from \"a\n\" }\n",
            "env \"a\" { from \"scratch\" }\nnope \"b\"\nrun \"x\"\nenv \"a\" { frm \"a\" }\n",
            "env \"a\" { from \"sc→ratch\" }\n(t)env \"b\" { from \"a\" }\n",
            "",
            "\n\n// only a comment",
        ]
        .map(str::to_owned),
    );
    let in_pieces = corpus.iter().filter(|t| same(t)).count();
    assert!(in_pieces >= 8, "{in_pieces}");
    // Random edits: characters that matter to KDL, inserted and deleted anywhere.
    let alphabet = [
        "{",
        "}",
        "\"",
        "\n",
        " ",
        "/",
        "*",
        "-",
        ";",
        "#",
        "\\",
        "a",
        "=",
        "(",
        ")",
        "é",
        "→",
        "\r\n",
        "env \"x\" {\n",
        "run \"y\"\n",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let mut in_pieces = 0;
    for round in 0..3000 {
        let mut text = corpus[round % corpus.len()].clone();
        for _ in 0..=next(3) {
            let mut at = next(text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            if next(3) == 0 && at < text.len() {
                let mut end = (at + 1 + next(8)).min(text.len());
                while !text.is_char_boundary(end) {
                    end += 1;
                }
                text.replace_range(at..end, "");
            } else {
                text.insert_str(at, alphabet[next(alphabet.len())]);
            }
        }
        in_pieces += usize::from(same(&text));
    }
    assert!(in_pieces > 300, "{in_pieces}");
}
