//! The circuit breaker in front of the service: after [`FAILURES_TO_OPEN`] calls in a row that
//! could not reach it, no call is sent for a cool-down (reads answer their cached copy, or
//! fail at once); then one call is let through, whose outcome closes or reopens it.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

/// Calls in a row that could not reach the service before the breaker opens.
pub const FAILURES_TO_OPEN: u32 = 3;

pub(crate) struct Breaker {
    cooldown: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    failures: u32,
    /// Open until then; `None`: closed.
    open_until: Option<Instant>,
}

impl Breaker {
    pub(crate) fn new(cooldown: Duration) -> Self {
        Self {
            cooldown,
            state: Mutex::default(),
        }
    }

    /// Whether a call may be sent now. Once the cool-down has passed, the first caller is the
    /// probe; the others wait for its outcome as if still open.
    pub(crate) fn allows(&self) -> bool {
        let mut state = self.state.lock().expect("breaker lock");
        match state.open_until {
            None => true,
            Some(until) if Instant::now() >= until => {
                state.open_until = Some(Instant::now() + self.cooldown);
                true
            }
            Some(_) => false,
        }
    }

    /// A call's outcome: whether it reached the service (an answer or a refusal both do).
    pub(crate) fn record(&self, reached: bool) {
        let mut state = self.state.lock().expect("breaker lock");
        if reached {
            *state = State::default();
        } else {
            state.failures += 1;
            if state.failures >= FAILURES_TO_OPEN {
                state.open_until = Some(Instant::now() + self.cooldown);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_opens_after_failures_in_a_row_lets_one_probe_through_and_closes_on_success() {
        let breaker = Breaker::new(Duration::ZERO);
        for _ in 0..FAILURES_TO_OPEN - 1 {
            breaker.record(false);
            assert!(breaker.allows());
        }
        breaker.record(true);
        for _ in 0..FAILURES_TO_OPEN {
            breaker.record(false);
        }
        // The cool-down (zero here) has passed: one probe, then the others wait on it.
        assert!(breaker.allows());
        breaker.record(false);
        assert!(
            breaker.allows(),
            "a failed probe reopens for another cool-down"
        );
        breaker.record(true);
        assert!(breaker.allows() && breaker.allows(), "closed again");
    }

    #[test]
    fn while_open_nothing_is_let_through() {
        let breaker = Breaker::new(Duration::from_secs(3600));
        for _ in 0..FAILURES_TO_OPEN {
            breaker.record(false);
        }
        assert!(!breaker.allows());
        assert!(!breaker.allows());
    }
}
