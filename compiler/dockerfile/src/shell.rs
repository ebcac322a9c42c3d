//! Just enough of a POSIX shell tokenizer for the lints: simple commands, their words with byte
//! ranges, and pipes. It never fails; what it does not understand it keeps as word text.

/// A word of a command, quotes removed, with its byte range in the script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Word {
    pub text: String,
    pub start: usize,
    pub end: usize,
}

/// A simple command: words between operators (`&&`, `||`, `|`, `;`, `&`, newline, parentheses).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SimpleCommand {
    pub words: Vec<Word>,
}

impl SimpleCommand {
    /// The words from the command name on: leading `VAR=value` assignments and wrappers such as
    /// `sudo` or `env` skipped.
    pub fn argv(&self) -> &[Word] {
        let mut i = 0;
        while let Some(w) = self.words.get(i) {
            let assignment = w.text.split_once('=').is_some_and(|(k, _)| is_name(k));
            if assignment
                || matches!(
                    w.text.as_str(),
                    "sudo" | "env" | "time" | "nohup" | "exec" | "command"
                )
            {
                i += 1;
            } else {
                break;
            }
        }
        &self.words[i..]
    }

    pub fn name(&self) -> Option<&str> {
        self.argv().first().map(|w| w.text.as_str())
    }

    pub fn start(&self) -> usize {
        self.words.first().map_or(0, |w| w.start)
    }

    pub fn end(&self) -> usize {
        self.words.last().map_or(0, |w| w.end)
    }
}

fn is_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A tokenized script.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Script {
    pub commands: Vec<SimpleCommand>,
    /// Byte offsets of each `|` pipe operator (not `||`), and the index of the command it follows.
    pub pipes: Vec<(usize, usize)>,
}

pub(crate) fn tokenize(s: &str) -> Script {
    let b = s.as_bytes();
    let mut script = Script::default();
    let mut cmd = SimpleCommand::default();
    let mut word: Option<Word> = None;
    let mut i = 0;
    let end_word = |word: &mut Option<Word>, cmd: &mut SimpleCommand| {
        if let Some(w) = word.take() {
            cmd.words.push(w);
        }
    };
    let end_cmd = |cmd: &mut SimpleCommand, script: &mut Script| {
        if !cmd.words.is_empty() {
            script.commands.push(std::mem::take(cmd));
        }
    };
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\r' => {
                end_word(&mut word, &mut cmd);
                i += 1;
            }
            b'#' if word.is_none() => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'\n' | b';' | b'&' | b'|' | b'(' | b')' => {
                end_word(&mut word, &mut cmd);
                if c == b'|' && b.get(i + 1) != Some(&b'|') {
                    end_cmd(&mut cmd, &mut script);
                    script.pipes.push((i, script.commands.len()));
                    i += 1;
                    continue;
                }
                end_cmd(&mut cmd, &mut script);
                i += if matches!(
                    (c, b.get(i + 1)),
                    (b'&', Some(b'&')) | (b'|', Some(b'|')) | (b';', Some(b';'))
                ) {
                    2
                } else {
                    1
                };
            }
            b'>' | b'<' => {
                // Redirections: the operator is dropped, the target stays a word.
                end_word(&mut word, &mut cmd);
                i += 1;
                while i < b.len() && matches!(b[i], b'>' | b'<' | b'&') {
                    i += 1;
                }
            }
            _ => {
                let w = word.get_or_insert_with(|| Word {
                    text: String::new(),
                    start: i,
                    end: i,
                });
                i = word_piece(s, i, &mut w.text);
                w.end = i;
            }
        }
    }
    end_word(&mut word, &mut cmd);
    end_cmd(&mut cmd, &mut script);
    script
}

/// Read one piece of a word at `i` (a quoted string, an escape, a substitution, or a character),
/// appending its unquoted text; returns the offset after it.
fn word_piece(s: &str, i: usize, out: &mut String) -> usize {
    let b = s.as_bytes();
    match b[i] {
        b'\'' => {
            let end = s[i + 1..].find('\'').map_or(s.len(), |j| i + 1 + j);
            out.push_str(&s[i + 1..end]);
            (end + 1).min(s.len())
        }
        b'"' => {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                if b[j] == b'\\' && j + 1 < b.len() {
                    j += 1;
                }
                j += 1;
            }
            out.push_str(&s[i + 1..j.min(s.len())]);
            (j + 1).min(s.len())
        }
        b'\\' => {
            let next = s[i + 1..].chars().next();
            match next {
                Some('\n') | None => i + 1 + next.map_or(0, char::len_utf8),
                Some(c) => {
                    out.push(c);
                    i + 1 + c.len_utf8()
                }
            }
        }
        b'$' if b.get(i + 1) == Some(&b'(') || b.get(i + 1) == Some(&b'{') => {
            let (open, close) = if b[i + 1] == b'(' {
                (b'(', b')')
            } else {
                (b'{', b'}')
            };
            let mut depth = 0usize;
            let mut j = i + 1;
            while j < b.len() {
                if b[j] == open {
                    depth += 1;
                } else if b[j] == close {
                    depth -= 1;
                    if depth == 0 {
                        j += 1;
                        break;
                    }
                }
                j += 1;
            }
            out.push_str(&s[i..j.min(s.len())]);
            j.min(s.len())
        }
        b'`' => {
            let end = s[i + 1..].find('`').map_or(s.len(), |j| i + 1 + j + 1);
            out.push_str(&s[i..end.min(s.len())]);
            end.min(s.len())
        }
        _ => {
            let c = s[i..].chars().next().unwrap_or(' ');
            out.push(c);
            i + c.len_utf8()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(s: &str) -> Vec<Vec<String>> {
        tokenize(s)
            .commands
            .iter()
            .map(|c| c.argv().iter().map(|w| w.text.clone()).collect())
            .collect()
    }

    #[test]
    fn commands_and_operators() {
        assert_eq!(
            names(
                "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y 'a b' ; rm -rf /x"
            ),
            vec![
                vec!["apt-get", "update"],
                vec!["apt-get", "install", "-y", "a b"],
                vec!["rm", "-rf", "/x"]
            ]
        );
        let s = tokenize("curl -s x | tar -xz || echo \"a | b\" > /dev/null");
        assert_eq!(s.pipes, vec![(10, 1)]);
        assert_eq!(s.commands.len(), 3);
        assert_eq!(
            names("echo $(a | b) `c|d` # | e"),
            vec![vec!["echo", "$(a | b)", "`c|d`"]]
        );
    }

    #[test]
    fn word_ranges() {
        let s = "cd  /app && make";
        let t = tokenize(s);
        assert_eq!(&s[t.commands[0].start()..t.commands[0].end()], "cd  /app");
    }
}
