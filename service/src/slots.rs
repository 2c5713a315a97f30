//! Long-lived things (Watch streams, MCP sessions and listen streams) counted per replica and
//! per token subject, so that neither the replica's memory nor one caller's share of it grows
//! without bound. A claim is a guard: dropping it gives the place back, however the stream or
//! session ends.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use crate::error::{Error, Result};

/// How many may be open at once.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// On this replica.
    pub total: usize,
    /// Per token subject on this replica (a fleet sharing one service token shares it).
    pub per_principal: usize,
}

/// The open ones of one kind, counted.
pub struct Slots {
    /// What is counted, as errors name it (`Watch streams`).
    what: &'static str,
    /// The variable that sets the limits' total, named in errors so an operator knows the knob.
    flag: &'static str,
    limits: Limits,
    /// Open ones per subject; a subject with none has no entry.
    open: Mutex<HashMap<String, usize>>,
}

impl Slots {
    pub fn new(what: &'static str, flag: &'static str, limits: Limits) -> Arc<Self> {
        Arc::new(Self {
            what,
            flag,
            limits,
            open: Mutex::default(),
        })
    }

    /// A place for one more of `subject`'s, or [`Error::Exhausted`] naming the limit reached.
    pub fn claim(self: &Arc<Self>, subject: &str) -> Result<Slot> {
        let mut open = self.open.lock().expect("slots lock");
        let total: usize = open.values().sum();
        if total >= self.limits.total {
            return Err(Error::Exhausted(format!(
                "this replica has {total} {} open, its limit ({})",
                self.what, self.flag
            )));
        }
        let mine = open.entry(subject.to_owned()).or_default();
        if *mine >= self.limits.per_principal {
            return Err(Error::Exhausted(format!(
                "{subject} has {} {} open, its limit ({}_PER_PRINCIPAL)",
                *mine, self.what, self.flag
            )));
        }
        *mine += 1;
        Ok(Slot {
            slots: self.clone(),
            subject: subject.to_owned(),
        })
    }
}

/// One open place in [`Slots`], given back when dropped.
pub struct Slot {
    slots: Arc<Slots>,
    subject: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().expect("slots lock");
        if let Some(count) = open.get_mut(&self.subject) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.subject);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_at_its_limit_is_refused_others_are_not_and_a_drop_frees_a_place() {
        let limits = Limits {
            total: 3,
            per_principal: 2,
        };
        let slots = Slots::new("things", "MCP_CONFIG_THINGS", limits);
        let ann = [slots.claim("ann").unwrap(), slots.claim("ann").unwrap()];
        let refused = slots.claim("ann").err().expect("ann is at her limit");
        assert!(refused.to_string().contains("_PER_PRINCIPAL"), "{refused}");
        let bob = slots.claim("bob").unwrap();
        let full = slots.claim("cid").err().expect("the replica is full");
        assert!(full.to_string().contains("MCP_CONFIG_THINGS)"), "{full}");
        drop(bob);
        assert!(slots.claim("cid").is_ok());
        drop(ann);
        assert!(slots.open.lock().unwrap().is_empty());
    }
}
