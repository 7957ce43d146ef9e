//! The generator: random [`Sketch`]es, weighted toward what finds races in this field — the
//! operations land near the heartbeat's ticks, the runs' period, the edges of the faults and
//! each other, because that is where a hand-off meets a poll in flight, a timeout meets a
//! restart, and two callers meet.
//!
//! Every choice and its weight is a field of [`Weights`] (documented there and in
//! `docs/hunt.md`). Generation is deterministic for a seed.

use super::sketch::{Code, FaultSketch, Member, Produce, Sketch, StepSketch, THREADS};
use crate::scenario::Op;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// The weights of every choice the generator makes (`(weight, value)` lists are drawn in
/// proportion to the weights).
#[derive(Clone, Debug)]
pub struct Weights {
    /// Partitions of the topic.
    pub partitions: Vec<(u32, i32)>,
    /// The batch period, seconds (the heartbeat of the Go design ticks at max.poll / 2 = 150 s
    /// whatever the period; a short period brings runs close to its ticks).
    pub period: Vec<(u32, u64)>,
    /// Per mille: a suspending consumer.
    pub suspend: u32,
    /// Per mille: the retry variant.
    pub retry: u32,
    /// Per mille: the Go consumer's mid-batch pause timer (max.poll / 2 into a batch; the
    /// designs that have none ignore it).
    pub mid_batch_timer: u32,
    /// Per mille: batches of 2 records, so a run hands several batches to the handler.
    pub small_batches: u32,
    /// Seconds a batch takes in the handler (0: the zero-time hand-off; ≥ 60 s: runs that end
    /// close to the next tick or run; 150 s: max.poll / 2, when the Go mid-batch timer fires).
    pub handler_delay: Vec<(u32, u64)>,
    /// Per mille: the handler fails the batches of a window.
    pub handler_fails: u32,
    /// Application threads with steps (besides the implied first and last runs on main).
    pub threads: Vec<(u32, usize)>,
    /// Steps in the workload.
    pub steps: Vec<(u32, usize)>,
    /// Per mille, for every other operation than `run`: a step calls it (`run` takes the
    /// rest). Operations the design does not offer are never generated.
    pub op: Vec<(u32, Op)>,
    /// Per mille: a step's time is a window the checkers choose from (1-5 s wide).
    pub window: u32,
    /// Where a step or a fault's start lands: near a heartbeat tick (k · max.poll/2 + 0-6 s),
    /// near a run period (k · period + 0-6 s), near a fault's edge (± 0-3 s), near another step
    /// (± 0-3 s), or anywhere in the first 1,200 s.
    pub anchor: Vec<(u32, Anchor)>,
    /// Faults in the world.
    pub faults: Vec<(u32, usize)>,
    /// The kind of each fault.
    pub fault_kind: Vec<(u32, FaultKind)>,
    /// Per mille: an outage also makes creating consumers fail over the same window.
    pub outage_fails_creates: u32,
    /// A windowed fault's length, seconds: short blips, a poll or two, and past
    /// session.timeout / max.poll.interval.
    pub fault_length: Vec<(u32, (u64, u64))>,
    /// Per mille: another member joins (and leaves).
    pub member: u32,
    /// Per mille of those members: it consumes and commits what it takes (else it fetches
    /// nothing).
    pub member_consumes: u32,
    /// Later record batches (besides those at 0 s).
    pub later_records: Vec<(u32, usize)>,
}

/// Where a time is drawn near (see [`Weights::anchor`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchor {
    /// k · max.poll.interval / 2 + 0-6 s: the Go heartbeat's ticks, while its poll is in flight.
    Tick,
    /// k · period + 0-6 s: when runs come.
    Period,
    /// A fault's start or end ± 0-3 s.
    FaultEdge,
    /// Another step's time ± 0-3 s.
    Step,
    /// Anywhere in 0-1,200 s.
    Uniform,
}

/// The kinds of fault generated (see [`FaultSketch`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Every broker down.
    Outage,
    /// Creating consumers fails.
    CreateFails,
    /// Polls lose the membership (unknown member, max.poll exceeded, fenced) or time out.
    PollErrors,
    /// Commits fail.
    CommitFails,
    /// Slow close, create or commit (5-30 s).
    Slow,
    /// Pauses let an already-fetched record out.
    Slip,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            partitions: vec![(70, 1), (25, 2), (5, 3)],
            period: vec![(60, 300), (25, 120), (15, 60)],
            suspend: 350,
            retry: 150,
            mid_batch_timer: 100,
            small_batches: 150,
            handler_delay: vec![(40, 1), (10, 0), (15, 5), (15, 65), (8, 150), (12, 200)],
            handler_fails: 80,
            threads: vec![(35, 1), (45, 2), (20, 3)],
            steps: vec![(20, 1), (30, 2), (30, 3), (20, 4)],
            op: vec![
                (120, Op::Pause),
                (150, Op::Resume),
                (150, Op::Suspend),
                (80, Op::Close),
            ],
            window: 300,
            anchor: vec![
                (4, Anchor::Tick),
                (3, Anchor::Period),
                (3, Anchor::FaultEdge),
                (2, Anchor::Step),
                (1, Anchor::Uniform),
            ],
            faults: vec![(25, 0), (45, 1), (25, 2), (5, 3)],
            fault_kind: vec![
                (3, FaultKind::Outage),
                (1, FaultKind::CreateFails),
                (3, FaultKind::PollErrors),
                (1, FaultKind::CommitFails),
                (1, FaultKind::Slow),
                (2, FaultKind::Slip),
            ],
            outage_fails_creates: 400,
            fault_length: vec![(2, (1, 20)), (2, (20, 120)), (3, (200, 700))],
            member: 200,
            member_consumes: 500,
            later_records: vec![(30, 0), (50, 1), (20, 2)],
        }
    }
}

fn pick<T: Clone>(rng: &mut ChaCha8Rng, options: &[(u32, T)]) -> T {
    let total: u32 = options.iter().map(|o| o.0).sum();
    let mut x = rng.gen_range(0..total.max(1));
    for (w, v) in options {
        if x < *w {
            return v.clone();
        }
        x -= w;
    }
    options[options.len() - 1].1.clone()
}

fn per_mille(rng: &mut ChaCha8Rng, p: u32) -> bool {
    rng.gen_range(0..1000) < p
}

/// What the generator may use of the design and its timing.
#[derive(Clone, Debug)]
pub struct Target {
    /// The operations the design offers.
    pub offers: Vec<Op>,
    /// max.poll.interval, seconds (the Go heartbeat ticks at half of it).
    pub max_poll: u64,
}

/// Generates one sketch.
pub fn sketch(rng: &mut ChaCha8Rng, w: &Weights, target: &Target) -> Sketch {
    let mut s = Sketch {
        partitions: pick(rng, &w.partitions),
        period: pick(rng, &w.period),
        suspend: per_mille(rng, w.suspend),
        retry: per_mille(rng, w.retry),
        mid_batch_timer: per_mille(rng, w.mid_batch_timer),
        handler_delay: pick(rng, &w.handler_delay),
        small_batches: per_mille(rng, w.small_batches),
        records: vec![],
        ..Sketch::default()
    };
    for p in 0..s.partitions {
        s.records.push(Produce {
            at: 0,
            partition: p,
            count: rng.gen_range(1..=6),
        });
    }
    let tick = (target.max_poll / 2).max(1);
    let near = |rng: &mut ChaCha8Rng, s: &Sketch, anchor: Anchor| -> u64 {
        let edges: Vec<u64> = s
            .faults
            .iter()
            .filter_map(|f| f.window())
            .flat_map(|(a, b)| [a, b])
            .collect();
        let steps: Vec<u64> = s.steps.iter().map(|x| x.at).collect();
        let around = |rng: &mut ChaCha8Rng, t: u64| {
            let d: i64 = rng.gen_range(-3..=3);
            t.saturating_add_signed(d)
        };
        match anchor {
            Anchor::Tick => rng.gen_range(1..=8) * tick + rng.gen_range(0..=6),
            Anchor::Period => rng.gen_range(1..=6) * s.period + rng.gen_range(0..=6),
            Anchor::FaultEdge if !edges.is_empty() => {
                let t = edges[rng.gen_range(0..edges.len())];
                around(rng, t)
            }
            Anchor::Step if !steps.is_empty() => {
                let t = steps[rng.gen_range(0..steps.len())];
                around(rng, t)
            }
            _ => rng.gen_range(1..=1200),
        }
    };
    // The world first: faults anchored to ticks and periods, so that steps anchored to the
    // faults' edges land near the ticks too.
    for _ in 0..pick(rng, &w.faults) {
        let anchor = pick(rng, &w.anchor);
        let from = near(rng, &s, anchor).max(1);
        let (lo, hi) = pick(rng, &w.fault_length);
        let until = from + rng.gen_range(lo..=hi);
        let fault = match pick(rng, &w.fault_kind) {
            FaultKind::Outage => {
                if per_mille(rng, w.outage_fails_creates) {
                    s.faults.push(FaultSketch::CreateFails { from, until });
                }
                FaultSketch::BrokerDown { from, until }
            }
            FaultKind::CreateFails => FaultSketch::CreateFails { from, until },
            FaultKind::PollErrors => FaultSketch::PollErrors {
                from,
                until: until.min(from + 120),
                code: pick(
                    rng,
                    &[
                        (4, Code::UnknownMember),
                        (2, Code::MaxPollExceeded),
                        (1, Code::Fenced),
                        (2, Code::TimedOut),
                        (1, Code::BrokerTransport),
                    ],
                ),
            },
            FaultKind::CommitFails => FaultSketch::CommitFails {
                from,
                until,
                code: pick(
                    rng,
                    &[
                        (2, Code::BrokerTransport),
                        (1, Code::NoOffset),
                        (1, Code::TimedOut),
                    ],
                ),
            },
            FaultKind::Slip => FaultSketch::SlipAfterPause { from, until },
            FaultKind::Slow => {
                let secs = rng.gen_range(5..=30);
                match rng.gen_range(0..3) {
                    0 => FaultSketch::SlowClose { secs },
                    1 => FaultSketch::SlowCreate { secs },
                    _ => FaultSketch::SlowCommit { secs },
                }
            }
        };
        s.faults.push(fault);
    }
    if per_mille(rng, w.member) {
        let anchor = pick(rng, &w.anchor);
        let joins = near(rng, &s, anchor).max(1);
        let leaves = joins + rng.gen_range(3..=300);
        s.members.push(Member {
            joins,
            leaves,
            consumes: per_mille(rng, w.member_consumes),
        });
        if s.partitions == 1 {
            // A member takes a share only of a topic with partitions to spare.
            s.partitions = 2;
            s.records.push(Produce {
                at: 0,
                partition: 1,
                count: rng.gen_range(1..=4),
            });
        }
    }
    for _ in 0..pick(rng, &w.later_records) {
        s.records.push(Produce {
            at: rng.gen_range(1..=900),
            partition: rng.gen_range(0..s.partitions),
            count: rng.gen_range(1..=4),
        });
    }
    if per_mille(rng, w.handler_fails) {
        let anchor = pick(rng, &w.anchor);
        let from = near(rng, &s, anchor);
        s.handler_fails.push((from, from + rng.gen_range(1..=120)));
    }
    // Then the workload, every step anchored to the ticks, the periods, the faults' edges or
    // the steps placed before it.
    let ops: Vec<(u32, Op)> = {
        let others: Vec<(u32, Op)> =
            w.op.iter()
                .filter(|(_, o)| target.offers.contains(o))
                .cloned()
                .collect();
        let rest = 1000u32.saturating_sub(others.iter().map(|o| o.0).sum());
        let mut v = vec![(rest.max(1), Op::Run)];
        v.extend(others);
        v
    };
    let threads = pick(rng, &w.threads).clamp(1, THREADS.len());
    for _ in 0..pick(rng, &w.steps) {
        let anchor = pick(rng, &w.anchor);
        let at = near(rng, &s, anchor).max(1);
        let until = per_mille(rng, w.window).then(|| at + rng.gen_range(1..=5));
        s.steps.push(StepSketch {
            op: pick(rng, &ops),
            thread: rng.gen_range(0..threads),
            at,
            until,
        });
    }
    s.steps.sort_by_key(|x| x.at);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn target(offers: &[Op]) -> Target {
        Target {
            offers: offers.to_vec(),
            max_poll: 300,
        }
    }

    #[test]
    fn deterministic_for_a_seed() {
        let w = Weights::default();
        let t = target(&Op::ALL);
        let a: Vec<Sketch> = {
            let mut rng = ChaCha8Rng::seed_from_u64(7);
            (0..50).map(|_| sketch(&mut rng, &w, &t)).collect()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let b: Vec<Sketch> = (0..50).map(|_| sketch(&mut rng, &w, &t)).collect();
        assert_eq!(a, b);
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let c: Vec<Sketch> = (0..50).map(|_| sketch(&mut rng, &w, &t)).collect();
        assert_ne!(a, c);
    }

    #[test]
    fn only_what_the_design_offers_and_valid_worlds() {
        let w = Weights::default();
        let t = target(&[Op::Run, Op::Close]);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut kinds = std::collections::BTreeSet::new();
        for _ in 0..500 {
            let s = sketch(&mut rng, &w, &t);
            for st in &s.steps {
                assert!(matches!(st.op, Op::Run | Op::Close), "{st:?}");
                kinds.insert(st.thread);
            }
            assert!(s.scenario("x", "y").world.validate().is_ok(), "{s:?}");
            assert!(s.steps.windows(2).all(|p| p[0].at <= p[1].at));
        }
        assert_eq!(kinds.len(), 3, "steps on every thread");
    }
}
