//! The run's report: faults struck, writes, each invariant with its count, convergence times.

use std::{collections::BTreeMap, fmt::Write};

use crate::run::Outcome;

/// Violations listed per invariant; the rest are counted.
const LISTED: usize = 10;

pub fn markdown(outcome: &Outcome) -> String {
    let mut out = String::new();
    let verdict = if outcome.held() {
        "every invariant held"
    } else {
        "AN INVARIANT BROKE"
    };
    let _ = writeln!(
        out,
        "# Chaos run: {verdict}\n\nseed {}, {:.0} s of faults, {} replicas on PostgreSQL and Redis, {} revisions written; Python reader {}.\n",
        outcome.seed,
        outcome.duration.as_secs_f64(),
        outcome.replicas,
        outcome.revisions,
        if outcome.python {
            "on"
        } else {
            "off (no --python)"
        },
    );

    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for struck in &outcome.struck {
        *kinds.entry(struck.fault.kind()).or_default() += 1;
    }
    let most_at_once = outcome
        .struck
        .iter()
        .map(|s| {
            outcome
                .struck
                .iter()
                .filter(|o| o.from <= s.from && s.from < o.until.max(o.from))
                .count()
        })
        .max()
        .unwrap_or(0);
    let _ = writeln!(
        out,
        "## Faults: {} struck, up to {most_at_once} at once\n\n| fault | times |\n|---|---|",
        outcome.struck.len()
    );
    for (kind, count) in kinds {
        let _ = writeln!(out, "| {kind} | {count} |");
    }

    let _ = writeln!(out, "\n## Writes\n\n| outcome | writes |\n|---|---|");
    for (outcome, count) in &outcome.writes {
        let _ = writeln!(out, "| {outcome} | {count} |");
    }

    let _ = writeln!(
        out,
        "\n## Invariants\n\n| invariant | checks | violations |\n|---|---|---|"
    );
    for (name, tally) in &outcome.invariants {
        let _ = writeln!(
            out,
            "| {name} | {} | {} |",
            tally.checks,
            tally.violations.len()
        );
    }
    for (name, tally) in outcome.invariants.iter().filter(|(_, t)| !t.held()) {
        let _ = writeln!(out, "\n### Broken: {name}\n");
        for violation in tally.violations.iter().take(LISTED) {
            let _ = writeln!(out, "- {violation}");
        }
        if tally.violations.len() > LISTED {
            let _ = writeln!(out, "- … and {} more", tally.violations.len() - LISTED);
        }
    }
    let _ = writeln!(
        out,
        "\nAround its own reconnections the raw subscriber missed {} and heard again {} revision(s): pub/sub keeps nothing for an absent subscriber, and an event published just before a Redis restart is published again after it; the service and the clients replay or revalidate on every reconnection instead.",
        outcome.reconnections.missed, outcome.reconnections.repeated
    );

    let _ = writeln!(
        out,
        "\n## Convergence after the last fault\n\n| part | converged after |\n|---|---|"
    );
    for (part, at) in &outcome.convergence {
        let at = at.map_or("not within the bound".to_owned(), |d| {
            format!("{:.2} s", d.as_secs_f64())
        });
        let _ = writeln!(out, "| {part} | {at} |");
    }
    if let Some(((fds_before, rss_before), (fds_after, rss_after))) = outcome.witness {
        let _ = writeln!(
            out,
            "\nWitness replica (never killed): {fds_before} → {fds_after} open files, {} → {} MiB resident.",
            rss_before / 1024,
            rss_after / 1024
        );
    }
    let _ = writeln!(out, "\n## Schedule\n\n```");
    for struck in &outcome.struck {
        let _ = writeln!(out, "{}", struck.fault);
    }
    let _ = writeln!(out, "```");
    out
}
