//! The promises a chaos run checks, as pure functions of what was observed.

use std::collections::{BTreeMap, BTreeSet};

/// One invariant's standing: how many times it was checked and what broke it.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub checks: u64,
    pub violations: Vec<String>,
}

impl Tally {
    pub fn check(&mut self, holds: bool, violation: impl FnOnce() -> String) {
        self.checks += 1;
        if !holds {
            self.violations.push(violation());
        }
    }

    pub fn held(&self) -> bool {
        self.violations.is_empty()
    }
}

/// A write the service acknowledged (2xx): its revision, entry and the text it wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub revision: u64,
    pub key: String,
    pub text: String,
}

/// Every acknowledged write is in the change log, as the entry it wrote.
pub fn acks_in_log(acks: &[Ack], log: &BTreeMap<u64, String>) -> Tally {
    let mut tally = Tally::default();
    for ack in acks {
        tally.check(log.get(&ack.revision) == Some(&ack.key), || {
            format!(
                "acknowledged write r{} of {} is not in the change log as that entry",
                ack.revision, ack.key
            )
        });
    }
    tally
}

/// Checks a stream that must deliver every revision of the log exactly once, in order (a Watch
/// that resumes from the last revision it saw after every reconnection).
pub fn complete_sequence(seen: &[u64], log: &BTreeSet<u64>) -> Tally {
    let mut tally = Tally::default();
    let mut previous = 0;
    for &revision in seen {
        tally.check(revision > previous, || {
            format!("r{revision} after r{previous}: repeated or out of order")
        });
        tally.check(log.contains(&revision), || {
            format!("r{revision} was delivered but is not in the change log")
        });
        previous = previous.max(revision);
    }
    let delivered: BTreeSet<u64> = seen.iter().copied().collect();
    for missing in log.difference(&delivered) {
        tally.violations.push(format!(
            "r{missing} is in the change log but was never delivered"
        ));
    }
    tally.checks += log.len() as u64;
    tally
}

/// Checks a raw subscriber's revisions, each with the connection it arrived on: on one
/// connection, every revision once, in order, with no gap. Across a reconnection (Redis
/// restarted, the link cut) pub/sub promises nothing: what was published while the subscriber
/// was away is lost to it, and after a Redis restart an event whose publication the relay had not
/// recorded yet is published again. Both are counted, not violations: a subscriber must treat a
/// reconnection as "anything may have happened" (clients flush; replicas replay).
pub fn subscriber_sequence(seen: &[(u64, u64)], log: &BTreeSet<u64>) -> (Tally, Reconnections) {
    let mut tally = Tally::default();
    let mut across = Reconnections::default();
    let mut previous: Option<(u64, u64)> = None;
    for &(connection, revision) in seen {
        if let Some((previous_connection, previous_revision)) = previous {
            let skipped = log
                .range(previous_revision + 1..revision.max(previous_revision + 1))
                .count();
            if connection == previous_connection {
                tally.check(revision > previous_revision, || {
                    format!("r{revision} after r{previous_revision} on one connection: published twice or out of order")
                });
                tally.check(skipped == 0, || {
                    format!("{skipped} revision(s) between r{previous_revision} and r{revision} never arrived on a connection that stayed up")
                });
            } else {
                across.missed += skipped;
                if revision <= previous_revision {
                    across.repeated += log.range(revision..=previous_revision).count();
                }
            }
        }
        previous = Some((connection, revision));
    }
    (tally, across)
}

/// What a subscriber missed or heard again around its reconnections.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reconnections {
    pub missed: usize,
    pub repeated: usize,
}

/// A read a client served after it was told of a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// The revision of the change it was told of (0: a flush, or a periodic read).
    pub event: u64,
    /// The view's revision as served.
    pub revision: u64,
    /// Served as the last known view while the service could not be reached.
    pub stale: bool,
}

/// No client keeps as current a view older than a change it has been told of.
pub fn never_older_than_told(reads: &[Served]) -> Tally {
    let mut tally = Tally::default();
    for read in reads.iter().filter(|read| read.event > 0) {
        tally.check(read.stale || read.revision >= read.event, || {
            format!(
                "served r{} as current after being told of r{}",
                read.revision, read.event
            )
        });
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(revisions: &[u64]) -> BTreeSet<u64> {
        revisions.iter().copied().collect()
    }

    #[test]
    fn an_acknowledged_write_missing_from_the_log_or_under_another_entry_is_caught() {
        let acks = [
            Ack {
                revision: 1,
                key: "a".into(),
                text: "x".into(),
            },
            Ack {
                revision: 2,
                key: "b".into(),
                text: "y".into(),
            },
            Ack {
                revision: 4,
                key: "c".into(),
                text: "z".into(),
            },
        ];
        let log = BTreeMap::from([
            (1, "a".to_owned()),
            (2, "c".to_owned()),
            (3, "d".to_owned()),
        ]);
        let tally = acks_in_log(&acks, &log);
        assert_eq!(tally.checks, 3);
        assert_eq!(tally.violations.len(), 2, "{:?}", tally.violations);
    }

    #[test]
    fn a_complete_sequence_has_every_revision_once_in_order() {
        // Revision 3 rolled back: sequences may skip numbers the log does not hold.
        let revisions = log(&[1, 2, 4, 5]);
        assert!(complete_sequence(&[1, 2, 4, 5], &revisions).held());
        let repeated = complete_sequence(&[1, 2, 2, 4, 5], &revisions);
        assert_eq!(repeated.violations.len(), 1, "{:?}", repeated.violations);
        let reordered = complete_sequence(&[1, 4, 2, 5], &revisions);
        assert_eq!(reordered.violations.len(), 1, "{:?}", reordered.violations);
        let gap = complete_sequence(&[1, 2, 5], &revisions);
        assert_eq!(
            gap.violations,
            ["r4 is in the change log but was never delivered"]
        );
        let unknown = complete_sequence(&[1, 2, 3, 4, 5], &revisions);
        assert_eq!(unknown.violations.len(), 1, "{:?}", unknown.violations);
    }

    #[test]
    fn one_connection_carries_every_revision_once_in_order_and_a_reconnection_is_counted() {
        let revisions = log(&[1, 2, 3, 4, 5, 6]);
        let (tally, across) = subscriber_sequence(&[(0, 1), (0, 2), (1, 5), (1, 6)], &revisions);
        assert!(tally.held(), "{:?}", tally.violations);
        assert_eq!(
            across,
            Reconnections {
                missed: 2,
                repeated: 0
            }
        );
        let (again, across) = subscriber_sequence(&[(0, 1), (0, 2), (1, 2), (1, 3)], &revisions);
        assert!(again.held(), "{:?}", again.violations);
        assert_eq!(
            across,
            Reconnections {
                missed: 0,
                repeated: 1
            }
        );
        let (gap, _) = subscriber_sequence(&[(0, 1), (0, 3)], &revisions);
        assert_eq!(gap.violations.len(), 1);
        let (twice, _) = subscriber_sequence(&[(0, 1), (0, 2), (0, 2)], &revisions);
        assert_eq!(twice.violations.len(), 1);
        let (reordered, _) = subscriber_sequence(&[(0, 1), (0, 3), (0, 2)], &revisions);
        assert!(!reordered.held());
    }

    #[test]
    fn a_view_older_than_the_change_told_of_is_caught_unless_served_as_stale() {
        let reads = [
            Served {
                event: 5,
                revision: 5,
                stale: false,
            },
            Served {
                event: 6,
                revision: 7,
                stale: false,
            },
            Served {
                event: 8,
                revision: 7,
                stale: true,
            },
            Served {
                event: 0,
                revision: 1,
                stale: false,
            },
            Served {
                event: 9,
                revision: 8,
                stale: false,
            },
        ];
        let tally = never_older_than_told(&reads);
        assert_eq!(tally.checks, 4);
        assert_eq!(
            tally.violations,
            ["served r8 as current after being told of r9"]
        );
    }
}
