//! The fault schedule: drawn from a seed, so a run that broke something can be run again.

use std::{collections::HashMap, fmt, time::Duration};

/// What a fault strikes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// A replica's process.
    Replica(usize),
    Postgres,
    Redis,
    /// The link from a replica to PostgreSQL.
    PostgresLink(usize),
    /// The link from a replica to Redis.
    RedisLink(usize),
}

/// What it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// `kill -9` (a replica, Redis), restarted when the fault ends.
    Kill,
    /// `pg_ctl stop -m immediate`, started again when the fault ends.
    Stop,
    /// SIGSTOP, SIGCONT when the fault ends: a hung peer, not a closed one.
    Freeze,
    /// Every byte on the link arrives this much later.
    Delay(Duration),
    /// Nothing crosses the link, nothing is closed.
    Blackhole,
    /// Every open connection on the link is reset.
    Reset,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// From the start of the run.
    pub at: Duration,
    /// How long it lasts (zero for a reset).
    pub hold: Duration,
    pub target: Target,
    pub action: Action,
}

impl Fault {
    /// The kind, for counting: "kill replica", "delay link to PostgreSQL", …
    pub fn kind(&self) -> &'static str {
        match (self.target, self.action) {
            (Target::Replica(_), _) => "kill -9 replica",
            (Target::Postgres, _) => "stop PostgreSQL (immediate)",
            (Target::Redis, Action::Kill) => "kill -9 Redis",
            (Target::Redis, _) => "freeze Redis (SIGSTOP)",
            (Target::PostgresLink(_), Action::Delay(_)) => "delay link to PostgreSQL",
            (Target::PostgresLink(_), Action::Blackhole) => "blackhole link to PostgreSQL",
            (Target::PostgresLink(_), _) => "reset link to PostgreSQL",
            (Target::RedisLink(_), Action::Delay(_)) => "delay link to Redis",
            (Target::RedisLink(_), Action::Blackhole) => "blackhole link to Redis",
            (Target::RedisLink(_), _) => "reset link to Redis",
        }
    }

    pub fn until(&self) -> Duration {
        self.at + self.hold
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>7.2}s +{:.1}s {:?} {:?}",
            self.at.as_secs_f64(),
            self.hold.as_secs_f64(),
            self.target,
            self.action
        )
    }
}

/// The run's shape: how long faults are injected and over how many replicas.
pub struct Shape {
    pub seed: u64,
    pub duration: Duration,
    pub replicas: usize,
    /// Never killed, so leaks can be measured over the whole run.
    pub witness: usize,
}

/// Time before the first fault (the system warms up) and after a fault ends before the same
/// target is struck again.
const WARM_UP: Duration = Duration::from_secs(3);
const SETTLE: Duration = Duration::from_millis(500);

/// Faults at random moments (0.3–2 s apart), each on a random target that is not already
/// struck, holding up to 6 s: several overlap at any time.
pub fn plan(shape: &Shape) -> Vec<Fault> {
    let mut rng = fastrand::Rng::with_seed(shape.seed);
    let mut busy_until: HashMap<Target, Duration> = HashMap::new();
    let mut faults = Vec::new();
    let mut at = WARM_UP;
    loop {
        at += Duration::from_millis(rng.u64(300..2000));
        if at >= shape.duration {
            return faults;
        }
        let fault = draw(&mut rng, shape, at);
        if busy_until
            .get(&fault.target)
            .is_some_and(|until| *until > at)
        {
            continue;
        }
        busy_until.insert(fault.target, fault.until() + SETTLE);
        faults.push(fault);
    }
}

fn draw(rng: &mut fastrand::Rng, shape: &Shape, at: Duration) -> Fault {
    let millis =
        |rng: &mut fastrand::Rng, from: u64, to: u64| Duration::from_millis(rng.u64(from..to));
    let replica = rng.usize(0..shape.replicas);
    let (target, action, hold) = match rng.u32(0..10) {
        0 | 1 => {
            let killable = (0..shape.replicas)
                .filter(|r| *r != shape.witness)
                .collect::<Vec<_>>();
            let victim = killable[rng.usize(0..killable.len())];
            (
                Target::Replica(victim),
                Action::Kill,
                millis(rng, 500, 4000),
            )
        }
        2 => (Target::Postgres, Action::Stop, millis(rng, 1000, 5000)),
        // Long enough, at times, for the relay to be stuck (`cluster::RELAY_STUCK_SECS`).
        3 => (Target::Redis, Action::Kill, millis(rng, 500, 6000)),
        4 => (Target::Redis, Action::Freeze, millis(rng, 500, 6000)),
        5 => {
            let delay = millis(rng, 20, 400);
            (
                Target::PostgresLink(replica),
                Action::Delay(delay),
                millis(rng, 1000, 5000),
            )
        }
        6 => {
            let delay = millis(rng, 20, 400);
            (
                Target::RedisLink(replica),
                Action::Delay(delay),
                millis(rng, 1000, 5000),
            )
        }
        7 => (
            Target::PostgresLink(replica),
            Action::Blackhole,
            millis(rng, 500, 4000),
        ),
        8 => (
            Target::RedisLink(replica),
            Action::Blackhole,
            millis(rng, 500, 4000),
        ),
        _ if rng.bool() => (Target::PostgresLink(replica), Action::Reset, Duration::ZERO),
        _ => (Target::RedisLink(replica), Action::Reset, Duration::ZERO),
    };
    Fault {
        at,
        hold,
        target,
        action,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(seed: u64) -> Shape {
        Shape {
            seed,
            duration: Duration::from_secs(120),
            replicas: 3,
            witness: 2,
        }
    }

    #[test]
    fn a_seed_gives_the_same_schedule_and_another_seed_another() {
        assert_eq!(plan(&shape(7)), plan(&shape(7)));
        assert_ne!(plan(&shape(7)), plan(&shape(8)));
    }

    #[test]
    fn faults_overlap_but_never_strike_a_target_already_struck() {
        let faults = plan(&shape(42));
        assert!(faults.len() > 40, "{} faults in 120 s", faults.len());
        let overlapping = faults
            .windows(2)
            .filter(|pair| pair[1].at < pair[0].until())
            .count();
        assert!(
            overlapping > 5,
            "only {overlapping} faults overlap the one before"
        );
        for (i, fault) in faults.iter().enumerate() {
            for earlier in &faults[..i] {
                assert!(
                    earlier.target != fault.target || earlier.until() + SETTLE <= fault.at,
                    "{earlier} and {fault} strike one target at once"
                );
            }
        }
    }

    #[test]
    fn every_kind_of_fault_is_drawn_and_the_witness_is_never_killed() {
        let faults = plan(&Shape {
            duration: Duration::from_secs(600),
            ..shape(1)
        });
        let kinds: std::collections::BTreeSet<&str> = faults.iter().map(Fault::kind).collect();
        assert_eq!(kinds.len(), 10, "{kinds:?}");
        assert!(faults.iter().all(|f| f.target != Target::Replica(2)));
        assert!(faults.iter().all(|f| f.until() <= Duration::from_secs(606)));
    }
}
