//! "Did you mean …?": the nearest known name by edit distance.

/// The candidate closest to `name` (case-insensitive), if it is close enough to be a typo.
pub(crate) fn nearest<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let name = name.to_ascii_lowercase();
    let max = match name.chars().count() {
        0..=2 => 1,
        3..=5 => 2,
        _ => 3,
    };
    candidates
        .iter()
        .map(|c| (distance(&name, &c.to_ascii_lowercase()), *c))
        .filter(|&(d, _)| d <= max)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Levenshtein distance, counting characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    #[test]
    fn suggestions() {
        let names = ["COPY", "CMD", "RUN", "WORKDIR"];
        assert_eq!(super::nearest("COPPY", &names), Some("COPY"));
        assert_eq!(super::nearest("workdri", &names), Some("WORKDIR"));
        assert_eq!(super::nearest("frobnicate", &names), None);
    }
}
