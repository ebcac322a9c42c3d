//! Byte spans into the Dockerfile text (duckc's one [`Span`]), values with their spans, and the
//! map from a logical line back to the source.

use std::fmt;

pub use duckc_diagnostic::Span;

/// A value with the span of the text it came from.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Span) -> Spanned<T> {
        Spanned { value, span }
    }
}

impl<T: fmt::Debug> fmt::Debug for Spanned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}@{:?}", self.value, self.span)
    }
}

/// Maps byte offsets in a logical line (physical lines joined after removing line continuations,
/// comment lines and empty lines) back to offsets in the source text.
///
/// Each segment is a run of bytes copied verbatim from the source, so inside a segment the map is
/// a shift; across segments it jumps over the removed text.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SpanMap {
    /// `(logical start, source start)`, sorted by logical start.
    segments: Vec<(usize, usize)>,
    /// Length of the logical text.
    len: usize,
}

impl SpanMap {
    /// Record that the next `len` logical bytes come from the source at `source_start`.
    pub(crate) fn push(&mut self, source_start: usize, len: usize) {
        if len == 0 {
            return;
        }
        if let Some(&(ls, ss)) = self.segments.last()
            && ss + (self.len - ls) == source_start
        {
            self.len += len;
            return;
        }
        self.segments.push((self.len, source_start));
        self.len += len;
    }

    /// The source offset of logical offset `pos`.
    pub fn offset(&self, pos: usize) -> usize {
        let i = match self.segments.binary_search_by(|&(ls, _)| ls.cmp(&pos)) {
            Ok(i) => i,
            Err(0) => return self.segments.first().map_or(pos, |&(_, ss)| ss),
            Err(i) => i - 1,
        };
        let (ls, ss) = self.segments[i];
        ss + (pos - ls)
    }

    /// The source span of the logical range `start..end`.
    pub fn span(&self, start: usize, end: usize) -> Span {
        if end <= start {
            let at = self.offset(start);
            return Span::new(at, at);
        }
        Span::new(self.offset(start), self.offset(end - 1) + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_jumps_over_removed_text() {
        let mut map = SpanMap::default();
        map.push(10, 5); // logical 0..5 -> 10..15
        map.push(20, 3); // logical 5..8 -> 20..23
        assert_eq!(map.offset(0), 10);
        assert_eq!(map.offset(4), 14);
        assert_eq!(map.offset(5), 20);
        assert_eq!(map.span(3, 7), Span::new(13, 22));
        assert_eq!(map.span(5, 5), Span::new(20, 20));
    }

    #[test]
    fn adjacent_segments_merge() {
        let mut map = SpanMap::default();
        map.push(0, 3);
        map.push(3, 3);
        assert_eq!(map.segments.len(), 1);
        assert_eq!(map.span(0, 6), Span::new(0, 6));
    }
}
