//! Gradual rollouts: which orgs are in a default entry's cohort.
//!
//! An org is in when it is listed, or when its bucket — a hash of (org, server, kind, key),
//! 0..100 — is below the percentage. The bucket never changes, so raising the percentage keeps
//! every org that was in, and each entry draws its own orgs (a 10 % rollout of two prompts does
//! not land on the same tenth of the orgs).

use sha2::{Digest, Sha256};

use super::{InvalidInput, Kind, Slug};

/// Most orgs a cohort lists by name.
pub const MAX_LISTED_ORGS: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cohort {
    /// 0..=100.
    pub percent: u8,
    /// Always in, whatever their bucket.
    pub orgs: Vec<Slug>,
}

impl Cohort {
    /// A cohort as a caller gives it, every bad part named.
    pub fn parse(percent: u64, orgs: &[String]) -> Result<Self, InvalidInput> {
        let percent = u8::try_from(percent)
            .ok()
            .filter(|p| *p <= 100)
            .ok_or_else(|| InvalidInput::new("percent", "between 0 and 100"))?;
        if orgs.len() > MAX_LISTED_ORGS {
            return Err(InvalidInput::new(
                "orgs",
                format!("at most {MAX_LISTED_ORGS} orgs"),
            ));
        }
        let mut listed = orgs
            .iter()
            .enumerate()
            .map(|(i, org)| Slug::parse(&format!("orgs[{i}]"), org))
            .collect::<Result<Vec<_>, _>>()?;
        listed.sort();
        listed.dedup();
        Ok(Self {
            percent,
            orgs: listed,
        })
    }

    pub fn contains(&self, org: &Slug, server: &Slug, kind: Kind, key: &str) -> bool {
        self.orgs.contains(org) || bucket(org, server, kind, key) < self.percent
    }

    /// Every org, no matter its bucket.
    pub fn everyone() -> Self {
        Self {
            percent: 100,
            orgs: Vec::new(),
        }
    }
}

/// An org's place, 0..100, in the rollouts of one entry.
pub fn bucket(org: &Slug, server: &Slug, kind: Kind, key: &str) -> u8 {
    let digest = Sha256::new()
        .chain_update(org.as_str())
        .chain_update([0])
        .chain_update(server.as_str())
        .chain_update([0])
        .chain_update(kind.as_str())
        .chain_update([0])
        .chain_update(key)
        .finalize();
    let head = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    (head % 100) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slug(s: &str) -> Slug {
        Slug::parse("s", s).unwrap()
    }

    fn members(cohort: &Cohort, orgs: &[Slug]) -> Vec<Slug> {
        let github = slug("github");
        orgs.iter()
            .filter(|org| cohort.contains(org, &github, Kind::Prompts, "review-pr"))
            .cloned()
            .collect()
    }

    #[test]
    fn raising_the_percentage_keeps_every_org_that_was_in() {
        let orgs: Vec<Slug> = (0..1000).map(|i| slug(&format!("org{i}"))).collect();
        let ten = members(&Cohort::parse(10, &[]).unwrap(), &orgs);
        let fifty = members(&Cohort::parse(50, &[]).unwrap(), &orgs);
        assert!(ten.iter().all(|org| fifty.contains(org)));
        // Roughly the share asked for (the hash spreads orgs evenly).
        assert!((60..140).contains(&ten.len()), "{}", ten.len());
        assert!((420..580).contains(&fifty.len()), "{}", fifty.len());
        assert!(members(&Cohort::parse(0, &[]).unwrap(), &orgs).is_empty());
        assert_eq!(members(&Cohort::everyone(), &orgs).len(), 1000);
    }

    #[test]
    fn listed_orgs_are_in_and_bad_input_is_named() {
        let cohort = Cohort::parse(0, &["acme".into(), "acme".into()]).unwrap();
        assert_eq!(cohort.orgs, [slug("acme")]);
        assert_eq!(
            members(&cohort, &[slug("acme"), slug("globex")]),
            [slug("acme")]
        );
        assert_eq!(Cohort::parse(101, &[]).unwrap_err().field, "percent");
        assert_eq!(
            Cohort::parse(5, &["ok".into(), "Not Ok".into()])
                .unwrap_err()
                .field,
            "orgs[1]"
        );
    }

    #[test]
    fn the_bucket_is_pinned() {
        // Pinned (SHA-256 of "acme\0github\0PROMPTS\0review-pr", first 8 bytes big-endian,
        // mod 100): a bucket that moved would move orgs in and out of running rollouts, and a
        // client in another language computes the same.
        let github = slug("github");
        assert_eq!(
            bucket(&slug("acme"), &github, Kind::Prompts, "review-pr"),
            5
        );
        assert_eq!(
            bucket(&slug("acme"), &github, Kind::Prompts, "release-notes"),
            62
        );
    }
}
