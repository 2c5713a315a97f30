//! Line diffs of two texts as the UI shows them: changed lines with three lines of context,
//! unified or side by side.

use serde::Serialize;
use similar::{ChangeTag, TextDiff};

/// Lines of context shown around a change.
const CONTEXT: usize = 3;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub(super) struct Line {
    /// `equal`, `insert` or `delete`.
    pub tag: &'static str,
    /// 1-based line numbers in the old and the new text.
    pub old: Option<usize>,
    pub new: Option<usize>,
    pub text: String,
}

/// One row of a side-by-side diff: the old line on the left, the new on the right.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(super) struct Pair {
    pub left: Option<Line>,
    pub right: Option<Line>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub(super) struct Diff {
    pub changed: bool,
    /// Groups of lines around changes.
    pub hunks: Vec<Vec<Line>>,
    /// The same groups, side by side.
    pub split: Vec<Vec<Pair>>,
}

pub(super) fn diff(old: &str, new: &str) -> Diff {
    let text_diff = TextDiff::from_lines(old, new);
    let hunks: Vec<Vec<Line>> = text_diff
        .grouped_ops(CONTEXT)
        .iter()
        .map(|group| {
            group
                .iter()
                .flat_map(|op| text_diff.iter_changes(op))
                .map(|change| Line {
                    tag: match change.tag() {
                        ChangeTag::Equal => "equal",
                        ChangeTag::Insert => "insert",
                        ChangeTag::Delete => "delete",
                    },
                    old: change.old_index().map(|i| i + 1),
                    new: change.new_index().map(|i| i + 1),
                    text: change.value().trim_end_matches('\n').to_owned(),
                })
                .collect()
        })
        .collect();
    Diff {
        changed: !hunks.is_empty(),
        split: hunks.iter().map(|hunk| side_by_side(hunk)).collect(),
        hunks,
    }
}

/// Pairs each run of deleted lines with the inserted lines that follow it.
fn side_by_side(hunk: &[Line]) -> Vec<Pair> {
    let mut pairs = Vec::new();
    let mut i = 0;
    while i < hunk.len() {
        if hunk[i].tag == "equal" {
            pairs.push(Pair {
                left: Some(hunk[i].clone()),
                right: Some(hunk[i].clone()),
            });
            i += 1;
            continue;
        }
        let deletes: Vec<Line> = hunk[i..]
            .iter()
            .take_while(|l| l.tag == "delete")
            .cloned()
            .collect();
        i += deletes.len();
        let inserts: Vec<Line> = hunk[i..]
            .iter()
            .take_while(|l| l.tag == "insert")
            .cloned()
            .collect();
        i += inserts.len();
        for row in 0..deletes.len().max(inserts.len()) {
            pairs.push(Pair {
                left: deletes.get(row).cloned(),
                right: inserts.get(row).cloned(),
            });
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_lines_come_with_context_and_pair_up_side_by_side() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\ni\n";
        let new = "a\nb\nc\nd\nE\nf\ng\nh\ni\nj\n";
        let d = diff(old, new);
        assert!(d.changed);
        assert_eq!(d.hunks.len(), 1);
        let tags: Vec<_> = d.hunks[0]
            .iter()
            .map(|l| (l.tag, l.text.as_str()))
            .collect();
        assert_eq!(
            tags,
            [
                ("equal", "b"),
                ("equal", "c"),
                ("equal", "d"),
                ("delete", "e"),
                ("insert", "E"),
                ("equal", "f"),
                ("equal", "g"),
                ("equal", "h"),
                ("equal", "i"),
                ("insert", "j"),
            ]
        );
        let replaced = &d.split[0][3];
        assert_eq!(replaced.left.as_ref().unwrap().text, "e");
        assert_eq!(replaced.right.as_ref().unwrap().text, "E");
        assert_eq!(replaced.right.as_ref().unwrap().new, Some(5));
        assert!(!diff(old, old).changed);
    }
}
