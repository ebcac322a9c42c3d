//! Documents as the editor holds them: their text, byte offsets ⇄ LSP positions (UTF-16 code
//! units, as LSP counts by default), and incremental edits.
//!
//! Positions from the client are never trusted: a line past the end is the end of the text, a
//! character past the end of its line is the end of the line, and a character in the middle of
//! a UTF-16 surrogate pair (or of a UTF-8 sequence) is the start of that character. Nothing
//! here panics on any position.

use lsp_types::{Position, Range};

/// The start of every line of a text, for conversions both ways.
#[derive(Debug, Clone)]
pub struct LineIndex {
    /// Byte offset of the start of each line (the first is 0).
    starts: Vec<usize>,
    len: usize,
}

impl LineIndex {
    pub fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        );
        LineIndex {
            starts,
            len: text.len(),
        }
    }

    /// The LSP position of byte `offset` of `text` (clamped to the text, rounded down to a
    /// character boundary).
    pub fn position(&self, text: &str, offset: usize) -> Position {
        let mut offset = offset.min(self.len).min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let start = self.starts[line];
        let character: usize = text[start..offset].chars().map(char::len_utf16).sum();
        Position::new(line as u32, character as u32)
    }

    /// The LSP range of bytes `start..end`.
    pub fn range(&self, text: &str, start: usize, end: usize) -> Range {
        Range::new(
            self.position(text, start),
            self.position(text, end.max(start)),
        )
    }

    /// The byte offset of an LSP position, clamped as the module says.
    pub fn offset(&self, text: &str, pos: Position) -> usize {
        let line = pos.line as usize;
        let Some(&start) = self.starts.get(line) else {
            return text.len();
        };
        let end = self
            .starts
            .get(line + 1)
            .map_or(text.len(), |&next| next - 1)
            .min(text.len());
        let mut units = 0usize;
        for (i, c) in text[start..end].char_indices() {
            let next = units + c.len_utf16();
            if next > pos.character as usize {
                return start + i;
            }
            units = next;
        }
        end
    }
}

/// An open document.
#[derive(Debug, Clone)]
pub struct Document {
    pub text: String,
    pub version: i32,
    pub index: LineIndex,
}

impl Document {
    pub fn new(text: String, version: i32) -> Self {
        let index = LineIndex::new(&text);
        Document {
            text,
            version,
            index,
        }
    }

    /// Applies one `didChange` content change: a range replaced, or the whole text.
    pub fn apply(&mut self, range: Option<Range>, new: &str) {
        match range {
            None => self.text = new.to_owned(),
            Some(r) => {
                let a = self.index.offset(&self.text, r.start);
                let b = self.index.offset(&self.text, r.end);
                let (a, b) = (a.min(b), a.max(b));
                self.text.replace_range(a..b, new);
            }
        }
        self.index = LineIndex::new(&self.text);
    }

    pub fn position(&self, offset: usize) -> Position {
        self.index.position(&self.text, offset)
    }

    pub fn range(&self, start: usize, end: usize) -> Range {
        self.index.range(&self.text, start, end)
    }

    pub fn offset(&self, pos: Position) -> usize {
        self.index.offset(&self.text, pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_positions_round_trip_and_clamp() {
        // `é` is 2 bytes and 1 unit; the duck is 4 bytes and 2 units (a surrogate pair).
        let text = "aé🦆b\nx\n";
        let ix = LineIndex::new(text);
        assert_eq!(ix.position(text, 7), Position::new(0, 4));
        assert_eq!(ix.offset(text, Position::new(0, 4)), 7);
        // The middle of the pair: the duck's start.
        assert_eq!(ix.offset(text, Position::new(0, 3)), 3);
        // Past the end of a line, and past the last line.
        assert_eq!(ix.offset(text, Position::new(0, 99)), 8);
        assert_eq!(ix.offset(text, Position::new(1, 1)), 10);
        assert_eq!(ix.offset(text, Position::new(9, 0)), text.len());
        // A byte offset inside the duck rounds down.
        assert_eq!(ix.position(text, 5), Position::new(0, 2));
        assert_eq!(ix.position(text, 999), Position::new(2, 0));
    }

    #[test]
    fn edits_apply_in_utf16_units() {
        let mut doc = Document::new("🦆x\nline\n".to_owned(), 1);
        doc.apply(
            Some(Range::new(Position::new(0, 2), Position::new(0, 3))),
            "y",
        );
        assert_eq!(doc.text, "🦆y\nline\n");
        // A reversed range past the end deletes to the end.
        doc.apply(
            Some(Range::new(Position::new(7, 0), Position::new(1, 2))),
            "",
        );
        assert_eq!(doc.text, "🦆y\nli");
    }
}
