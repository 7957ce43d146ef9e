//! A [`Sketch`]: the recipe of a generated scenario, in whole seconds, small enough to shrink
//! field by field, serializable (the corpus stores sketches), and turned into a catalogue
//! [`Scenario`] or into the builder code that writes the same scenario by hand.

use crate::scenario::{secs, Op, Scenario, MAIN};
use pausebeat::kafka::{ErrorCode, Partition};
use pausebeat_world::{world::default_class, Fault};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// The application threads a sketch's steps may run on, by index.
pub const THREADS: [&str; 3] = [MAIN, "app-2", "app-3"];

/// Records produced into a partition at a time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Produce {
    /// When (seconds).
    pub at: u64,
    /// Into which partition.
    pub partition: Partition,
    /// How many.
    pub count: u32,
}

/// Another member of the group: joins, and leaves (a member that stays would keep its
/// partitions from the consumer forever, and `no-loss` would fail for the workload's sake).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Joins at (seconds).
    pub joins: u64,
    /// Leaves at (seconds).
    pub leaves: u64,
    /// It handles and commits the records of the partitions it holds (corpus entries from
    /// before this field: it does not).
    #[serde(default)]
    pub consumes: bool,
}

/// The error codes a generated poll or commit error may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    /// `UNKNOWN_MEMBER_ID`: the group forgot the member.
    UnknownMember,
    /// The member exceeded max.poll.interval.
    MaxPollExceeded,
    /// `FENCED_INSTANCE_ID` (fatal).
    Fenced,
    /// A client-side timeout (retriable).
    TimedOut,
    /// The broker connection failed.
    BrokerTransport,
    /// A commit found no assignment.
    NoOffset,
}

impl Code {
    /// The world's code.
    pub fn code(self) -> ErrorCode {
        match self {
            Code::UnknownMember => ErrorCode::UnknownMember,
            Code::MaxPollExceeded => ErrorCode::MaxPollExceeded,
            Code::Fenced => ErrorCode::Fenced,
            Code::TimedOut => ErrorCode::TimedOut,
            Code::BrokerTransport => ErrorCode::BrokerTransport,
            Code::NoOffset => ErrorCode::NoOffset,
        }
    }
}

/// A fault, in whole seconds (see [`Fault`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FaultSketch {
    /// Every broker down.
    BrokerDown {
        /// Start.
        from: u64,
        /// End (excluded).
        until: u64,
    },
    /// Creating a consumer fails.
    CreateFails {
        /// Start.
        from: u64,
        /// End (excluded).
        until: u64,
    },
    /// Every poll fails with this code.
    PollErrors {
        /// Start.
        from: u64,
        /// End (excluded).
        until: u64,
        /// The code.
        code: Code,
    },
    /// Every commit fails with this code.
    CommitFails {
        /// Start.
        from: u64,
        /// End (excluded).
        until: u64,
        /// The code.
        code: Code,
    },
    /// A pause in the window lets one already-fetched record out.
    SlipAfterPause {
        /// Start.
        from: u64,
        /// End (excluded).
        until: u64,
    },
    /// `close()` takes this many seconds.
    SlowClose {
        /// Seconds.
        secs: u64,
    },
    /// Creating a consumer takes this many seconds.
    SlowCreate {
        /// Seconds.
        secs: u64,
    },
    /// A commit takes this many seconds.
    SlowCommit {
        /// Seconds.
        secs: u64,
    },
}

impl FaultSketch {
    /// The window, for the windowed kinds.
    pub fn window(&self) -> Option<(u64, u64)> {
        match *self {
            FaultSketch::BrokerDown { from, until }
            | FaultSketch::CreateFails { from, until }
            | FaultSketch::PollErrors { from, until, .. }
            | FaultSketch::CommitFails { from, until, .. }
            | FaultSketch::SlipAfterPause { from, until } => Some((from, until)),
            _ => None,
        }
    }

    /// The same fault over another window (the others unchanged).
    pub fn with_window(&self, f: u64, u: u64) -> FaultSketch {
        let mut out = self.clone();
        match &mut out {
            FaultSketch::BrokerDown { from, until }
            | FaultSketch::CreateFails { from, until }
            | FaultSketch::PollErrors { from, until, .. }
            | FaultSketch::CommitFails { from, until, .. }
            | FaultSketch::SlipAfterPause { from, until } => {
                *from = f;
                *until = u;
            }
            _ => {}
        }
        out
    }

    /// The world's fault.
    pub fn fault(&self) -> Fault {
        match *self {
            FaultSketch::BrokerDown { from, until } => Fault::BrokerDown {
                from: secs(from),
                until: secs(until),
            },
            FaultSketch::CreateFails { from, until } => Fault::CreateFails {
                from: secs(from),
                until: secs(until),
            },
            FaultSketch::PollErrors { from, until, code } => Fault::PollErrors {
                from: secs(from),
                until: secs(until),
                class: default_class(code.code()),
                code: code.code(),
            },
            FaultSketch::CommitFails { from, until, code } => Fault::CommitFails {
                from: secs(from),
                until: secs(until),
                code: code.code(),
            },
            FaultSketch::SlipAfterPause { from, until } => Fault::SlipAfterPause {
                from: secs(from),
                until: secs(until),
            },
            FaultSketch::SlowClose { secs: s } => Fault::SlowClose(secs(s)),
            FaultSketch::SlowCreate { secs: s } => Fault::SlowCreate(secs(s)),
            FaultSketch::SlowCommit { secs: s } => Fault::SlowCommit(secs(s)),
        }
    }

    fn code(&self) -> String {
        let w = |from: u64, until: u64| format!("from: secs({from}), until: secs({until})");
        match *self {
            FaultSketch::BrokerDown { from, until } => {
                format!("Fault::BrokerDown {{ {} }}", w(from, until))
            }
            FaultSketch::CreateFails { from, until } => {
                format!("Fault::CreateFails {{ {} }}", w(from, until))
            }
            FaultSketch::PollErrors { from, until, code } => format!(
                "Fault::PollErrors {{ {}, class: ErrorClass::{:?}, code: ErrorCode::{:?} }}",
                w(from, until),
                default_class(code.code()),
                code.code()
            ),
            FaultSketch::CommitFails { from, until, code } => format!(
                "Fault::CommitFails {{ {}, code: ErrorCode::{:?} }}",
                w(from, until),
                code.code()
            ),
            FaultSketch::SlipAfterPause { from, until } => {
                format!("Fault::SlipAfterPause {{ {} }}", w(from, until))
            }
            FaultSketch::SlowClose { secs } => format!("Fault::SlowClose(secs({secs}))"),
            FaultSketch::SlowCreate { secs } => format!("Fault::SlowCreate(secs({secs}))"),
            FaultSketch::SlowCommit { secs } => format!("Fault::SlowCommit(secs({secs}))"),
        }
    }
}

/// A workload step: an operation on one of [`THREADS`] at a second, or at a second in a window
/// the checkers choose from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepSketch {
    /// The operation (`run`, `pause`, `resume`, `suspend`, `close`).
    #[serde(with = "op_name")]
    pub op: Op,
    /// Index into [`THREADS`].
    pub thread: usize,
    /// When (seconds); with `until`, the first second of the window.
    pub at: u64,
    /// The window's last second (both included), chosen by the checkers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<u64>,
}

mod op_name {
    use crate::scenario::Op;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(op: &Op, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(op.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Op, D::Error> {
        let name = String::deserialize(d)?;
        Op::ALL
            .into_iter()
            .find(|o| o.name() == name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown operation `{name}`")))
    }
}

/// The recipe of a generated scenario (see the module's documentation).
///
/// ```
/// use pausebeat_scenarios::hunt::sketch::{Sketch, StepSketch};
/// use pausebeat_scenarios::scenario::Op;
///
/// let mut s = Sketch::default();
/// s.steps.push(StepSketch { op: Op::Resume, thread: 1, at: 150, until: Some(152) });
/// let sc = s.scenario("found", "a story");
/// // The run at 0 s, the resume on app-2, and the catch-up run at the end.
/// assert_eq!(sc.steps.len(), 3);
/// assert!(s.code("found", "a story").contains(".resume_at(150).on(\"app-2\").between(150, 152)"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sketch {
    /// Partitions of the topic.
    pub partitions: i32,
    /// Records produced.
    pub records: Vec<Produce>,
    /// Other members of the group.
    pub members: Vec<Member>,
    /// Faults.
    pub faults: Vec<FaultSketch>,
    /// The batch period (seconds; 300 by default).
    pub period: u64,
    /// A suspending consumer.
    pub suspend: bool,
    /// The retry-consumer variant.
    pub retry: bool,
    /// The Go consumer's mid-batch pause timer.
    #[serde(default)]
    pub mid_batch_timer: bool,
    /// Batches of 2 records (instead of the Go default's 10,000): runs hand several batches to
    /// the handler, so what happens between batches (the Go mid-batch pause) comes into play.
    #[serde(default)]
    pub small_batches: bool,
    /// Seconds a batch takes in the handler (1 by default).
    pub handler_delay: u64,
    /// Windows in which the handler fails its batches.
    pub handler_fails: Vec<(u64, u64)>,
    /// The workload, in time order. A run at 0 s on main comes first and a catch-up run on
    /// main after everything else comes last (unless the workload closes the consumer): both
    /// are implied, not steps, so that shrinking can never turn a real violation into one the
    /// workload caused (records nobody was ever asked to read).
    pub steps: Vec<StepSketch>,
}

impl Default for Sketch {
    /// One partition with 3 records, the Go defaults, no faults, no steps.
    fn default() -> Self {
        Sketch {
            partitions: 1,
            records: vec![Produce {
                at: 0,
                partition: 0,
                count: 3,
            }],
            members: vec![],
            faults: vec![],
            period: 300,
            suspend: false,
            retry: false,
            mid_batch_timer: false,
            small_batches: false,
            handler_delay: 1,
            handler_fails: vec![],
            steps: vec![],
        }
    }
}

impl Sketch {
    /// True if the workload closes the consumer itself.
    pub fn closes(&self) -> bool {
        self.steps.iter().any(|s| s.op == Op::Close)
    }

    /// The last second anything happens at.
    pub fn last_event(&self) -> u64 {
        let mut t = 0;
        for r in &self.records {
            t = t.max(r.at);
        }
        for m in &self.members {
            t = t.max(m.leaves);
        }
        for f in &self.faults {
            if let Some((_, u)) = f.window() {
                t = t.max(u);
            }
        }
        for &(_, u) in &self.handler_fails {
            t = t.max(u);
        }
        for s in &self.steps {
            t = t.max(s.until.unwrap_or(s.at));
        }
        t
    }

    /// When the implied catch-up run comes: a period after the last event, rounded up to 100 s
    /// (long enough for a restart begun at the last fault's end to complete).
    pub fn catch_up(&self) -> u64 {
        (self.last_event() + self.period.max(100)).div_ceil(100) * 100
    }

    /// Steps + faults, the size the README compares with the hand-written scenarios.
    pub fn size(&self) -> usize {
        self.scenario("size", "").steps.len() + self.faults.len()
    }

    /// How much there is in it, the measure the shrinker drives down: items (steps, faults,
    /// members) weigh most, then threads, partitions and record batches, then windows, records
    /// and settings off their defaults, then times that are not round (a multiple of 100 s is
    /// round, of 50, 10, 5 s less so), then every second of every time and fault window.
    pub fn weight(&self) -> u64 {
        fn unround(t: u64) -> u64 {
            [100, 50, 10, 5]
                .iter()
                .position(|m| t % m == 0)
                .map_or(4, |i| i as u64)
        }
        let items = (self.steps.len() + self.faults.len() + self.members.len()) as u64;
        let threads: u64 = self.steps.iter().map(|s| s.thread as u64).sum();
        let structure = threads + self.partitions.max(0) as u64 + self.records.len() as u64;
        let windows: u64 = self
            .steps
            .iter()
            .map(|s| s.until.map_or(0, |u| u.saturating_sub(s.at)))
            .sum();
        let records: u64 = self.records.iter().map(|r| u64::from(r.count)).sum();
        let settings = windows
            + records
            + u64::from(self.suspend)
            + u64::from(self.retry)
            + u64::from(self.mid_batch_timer)
            + u64::from(self.small_batches)
            + u64::from(self.period != 300)
            + u64::from(self.handler_delay != 1)
            + self.handler_fails.len() as u64;
        let mut times: Vec<u64> = self.steps.iter().map(|s| s.at).collect();
        times.extend(self.records.iter().map(|r| r.at));
        let mut seconds: u64 = 0;
        for f in &self.faults {
            match f.window() {
                Some((a, b)) => {
                    times.extend([a, b]);
                    seconds += b.saturating_sub(a);
                }
                None => {
                    if let FaultSketch::SlowClose { secs }
                    | FaultSketch::SlowCreate { secs }
                    | FaultSketch::SlowCommit { secs } = f
                    {
                        seconds += secs;
                    }
                }
            }
        }
        let unround: u64 = times.iter().map(|t| unround(*t)).sum();
        seconds += times.iter().sum::<u64>();
        1_000_000_000_000 * items
            + 10_000_000_000 * structure
            + 100_000_000 * settings
            + 1_000_000 * unround
            + seconds.min(999_999)
    }

    /// The catalogue scenario it describes.
    pub fn scenario(&self, name: &str, story: &str) -> Scenario {
        let mut s = Scenario::new(name.to_string(), story.to_string())
            .reference("found by pausebeat hunt")
            .partitions(self.partitions);
        for r in &self.records {
            s = s.records_at(r.at, r.partition, r.count);
        }
        for m in &self.members {
            s = if m.consumes {
                s.consuming_member(m.joins, Some(m.leaves))
            } else {
                s.member(m.joins, Some(m.leaves))
            };
        }
        for f in &self.faults {
            s = s.fault(f.fault());
        }
        if self.period != 300 {
            let p = self.period;
            s = s.timing(|t| t.batch_period = secs(p));
        }
        if self.suspend {
            s = s.suspending();
        }
        if self.retry {
            s = s.retry_variant();
        }
        if self.mid_batch_timer {
            s = s.mid_batch_timer();
        }
        if self.small_batches {
            s = s.timing(|t| t.batch_size = 2);
        }
        if self.handler_delay != 1 {
            s = s.handler_takes(secs(self.handler_delay));
        }
        for &(a, b) in &self.handler_fails {
            s = s.handler_fails(a, b);
        }
        s = s.run_at(0);
        for st in &self.steps {
            s = s.call_at(st.op, st.at);
            if st.thread != 0 {
                s = s.on(THREADS[st.thread.min(THREADS.len() - 1)]);
            }
            if let Some(u) = st.until {
                s = s.between(st.at, u);
            }
        }
        if self.closes() {
            s.records_may_remain()
        } else {
            s.run_at(self.catch_up())
        }
    }

    /// The builder code that writes [`scenario`](Self::scenario) by hand, ready to paste into
    /// the catalogue.
    pub fn code(&self, name: &str, story: &str) -> String {
        let mut c = String::new();
        let _ = writeln!(c, "Scenario::new({name:?}, {story:?})");
        if self.partitions != 1 {
            let _ = writeln!(c, "    .partitions({})", self.partitions);
        }
        for r in &self.records {
            if r.at == 0 {
                let _ = writeln!(c, "    .records({}, {})", r.partition, r.count);
            } else {
                let _ = writeln!(c, "    .records_at({}, {}, {})", r.at, r.partition, r.count);
            }
        }
        for m in &self.members {
            let call = if m.consumes {
                "consuming_member"
            } else {
                "member"
            };
            let _ = writeln!(c, "    .{call}({}, Some({}))", m.joins, m.leaves);
        }
        for f in &self.faults {
            let _ = writeln!(c, "    .fault({})", f.code());
        }
        if self.period != 300 {
            let _ = writeln!(c, "    .timing(|t| t.batch_period = secs({}))", self.period);
        }
        if self.suspend {
            let _ = writeln!(c, "    .suspending()");
        }
        if self.retry {
            let _ = writeln!(c, "    .retry_variant()");
        }
        if self.mid_batch_timer {
            let _ = writeln!(c, "    .mid_batch_timer()");
        }
        if self.small_batches {
            let _ = writeln!(c, "    .timing(|t| t.batch_size = 2)");
        }
        if self.handler_delay != 1 {
            let _ = writeln!(c, "    .handler_takes(secs({}))", self.handler_delay);
        }
        for &(a, b) in &self.handler_fails {
            let _ = writeln!(c, "    .handler_fails({a}, {b})");
        }
        let _ = writeln!(c, "    .run_at(0)");
        for st in &self.steps {
            let _ = write!(c, "    .{}_at({})", st.op.name(), st.at);
            if st.thread != 0 {
                let _ = write!(c, ".on({:?})", THREADS[st.thread.min(THREADS.len() - 1)]);
            }
            if let Some(u) = st.until {
                let _ = write!(c, ".between({}, {u})", st.at);
            }
            let _ = writeln!(c);
        }
        if self.closes() {
            let _ = write!(c, "    .records_may_remain()");
        } else {
            let _ = write!(c, "    .run_at({})", self.catch_up());
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_writes_the_same_scenario() {
        let s = Sketch {
            partitions: 2,
            records: vec![
                Produce {
                    at: 0,
                    partition: 0,
                    count: 4,
                },
                Produce {
                    at: 200,
                    partition: 1,
                    count: 2,
                },
            ],
            members: vec![Member {
                joins: 100,
                leaves: 160,
                consumes: false,
            }],
            faults: vec![
                FaultSketch::BrokerDown {
                    from: 303,
                    until: 800,
                },
                FaultSketch::PollErrors {
                    from: 150,
                    until: 160,
                    code: Code::UnknownMember,
                },
            ],
            period: 120,
            suspend: true,
            retry: false,
            mid_batch_timer: false,
            small_batches: false,
            handler_delay: 65,
            handler_fails: vec![],
            steps: vec![StepSketch {
                op: Op::Run,
                thread: 1,
                at: 302,
                until: Some(304),
            }],
        };
        let code = s.code("x", "y");
        assert!(code.contains(".fault(Fault::PollErrors { from: secs(150), until: secs(160), class: ErrorClass::NonRetriable, code: ErrorCode::UnknownMember })"), "{code}");
        assert!(code.contains(".run_at(302).on(\"app-2\").between(302, 304)"));
        assert!(code.ends_with(".run_at(1000)"), "{code}");
        let sc = s.scenario("x", "y");
        assert_eq!(sc.world.faults.len(), 2);
        assert_eq!(sc.steps.len(), 3);
        assert!(sc.timing.suspend);
        assert_eq!(s.size(), 5);
        let back: Sketch = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }
}
