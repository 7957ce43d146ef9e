//! A conformance story: its environment, its client calls, and the trace a target leaves.

use pausebeat::kafka::{
    ConsumerFactory, ConsumerHandle, ErrorClass, ErrorCode, HandleId, KafkaError, Offset,
    Partition, RebalanceHook, Record,
};
use pausebeat::sync::{AtomicBool, Instant, Runtime};
use pausebeat_world::{Event, EventKind, PollOutcome};
use std::sync::Arc;
use std::time::Duration;

/// Seconds.
pub(super) const fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Milliseconds.
pub(super) const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Another member of the group: on the world a virtual member, on the mock a consumer polled by
/// a thread of its own.
#[derive(Clone, Debug)]
pub struct Member {
    /// When it joins.
    pub joins: Duration,
    /// When it leaves (closes; a dynamic member sends LeaveGroup).
    pub leaves: Option<Duration>,
}

/// What a story runs against.
#[derive(Clone, Debug)]
pub struct Env {
    /// Partitions of the topic.
    pub partitions: i32,
    /// `session.timeout.ms`.
    pub session: Duration,
    /// `max.poll.interval.ms`.
    pub max_poll: Duration,
    /// The broker's `group.initial.rebalance.delay.ms`.
    pub initial_delay: Duration,
    /// Records produced: at, partition, how many.
    pub records: Vec<(Duration, Partition, u32)>,
    /// Every broker down in these windows.
    pub outages: Vec<(Duration, Duration)>,
    /// Other members.
    pub members: Vec<Member>,
}

impl Default for Env {
    /// Two partitions, session 4 s, max.poll 6 s, no initial rebalance delay, nothing else.
    fn default() -> Self {
        Env {
            partitions: 2,
            session: s(4),
            max_poll: s(6),
            initial_delay: Duration::ZERO,
            records: Vec::new(),
            outages: Vec::new(),
            members: Vec::new(),
        }
    }
}

impl Env {
    pub(super) fn records(mut self, at: Duration, p: Partition, n: u32) -> Self {
        self.records.push((at, p, n));
        self
    }
    pub(super) fn outage(mut self, from: Duration, until: Duration) -> Self {
        self.outages.push((from, until));
        self
    }
    pub(super) fn member(mut self, joins: Duration, leaves: Option<Duration>) -> Self {
        self.members.push(Member { joins, leaves });
        self
    }
    pub(super) fn partitions(mut self, n: i32) -> Self {
        self.partitions = n;
        self
    }
}

/// What a handle's rebalance callback does besides being logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hook {
    /// Nothing.
    Plain,
    /// Pauses the partitions it is about to be given (confluent-kafka-go's callback).
    PauseBeforeAssign,
    /// Commits these offsets when partitions are revoked (the revoke callback's commit).
    CommitOnRevoke(Vec<(Partition, Offset)>),
}

/// When a `PollUntil` stops polling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    /// An assignment was served (non-empty).
    Assigned,
    /// A revoke was served.
    Revoked,
    /// A record came.
    Record,
    /// A poll returned an error.
    Error,
}

/// A client call of the story (handles are numbered by the story: 0, 1, …).
#[derive(Clone, Debug)]
pub enum Step {
    /// Create and subscribe handle `h`, with a static id or not.
    Create {
        /// The handle's number.
        h: usize,
        /// `group.instance.id`.
        id: Option<&'static str>,
        /// Its rebalance callback.
        hook: Hook,
    },
    /// One poll.
    Poll {
        /// The handle.
        h: usize,
        /// Its timeout.
        timeout: Duration,
    },
    /// Polls (500 ms each) until something happens, at most `max`.
    PollUntil {
        /// The handle.
        h: usize,
        /// What.
        until: Until,
        /// How long at most.
        max: Duration,
    },
    /// Polls (500 ms each) for `d`, whatever comes.
    PollFor {
        /// The handle.
        h: usize,
        /// How long.
        d: Duration,
    },
    /// Pauses these partitions.
    Pause {
        /// The handle.
        h: usize,
        /// The partitions.
        partitions: Vec<Partition>,
    },
    /// Resumes these partitions.
    Resume {
        /// The handle.
        h: usize,
        /// The partitions.
        partitions: Vec<Partition>,
    },
    /// Seeks.
    Seek {
        /// The handle.
        h: usize,
        /// The partition.
        partition: Partition,
        /// The offset.
        offset: Offset,
    },
    /// Commits.
    Commit {
        /// The handle.
        h: usize,
        /// The offsets.
        offsets: Vec<(Partition, Offset)>,
    },
    /// Asks the committed offsets.
    Committed {
        /// The handle.
        h: usize,
        /// The partitions.
        partitions: Vec<Partition>,
    },
    /// Asks the assignment.
    Assignment {
        /// The handle.
        h: usize,
    },
    /// Leaves the group.
    Unsubscribe {
        /// The handle.
        h: usize,
    },
    /// Closes.
    Close {
        /// The handle.
        h: usize,
    },
    /// A thread polls the handle (100 ms polls) from now on, until `Quiet`.
    Background {
        /// The handle.
        h: usize,
    },
    /// Stops the background polls of the handle.
    Quiet {
        /// The handle.
        h: usize,
    },
    /// Waits until this long after the start.
    SleepUntil(Duration),
    /// Waits this long.
    Sleep(Duration),
}

/// What a step returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Succeeded (nothing to report).
    Ok,
    /// Failed.
    Err(ErrorClass, ErrorCode),
    /// A poll's record.
    Record(Partition, Offset),
    /// A poll returned nothing.
    Nothing,
    /// A list of partitions (an assignment).
    Parts(Vec<Partition>),
    /// Committed offsets.
    Offsets(Vec<(Partition, Option<Offset>)>),
    /// `PollUntil`: whether it happened.
    Reached(bool),
}

impl Outcome {
    fn of_err(e: &KafkaError) -> Self {
        Outcome::Err(e.class, e.code)
    }
}

/// One step's result.
#[derive(Clone, Debug)]
pub struct StepResult {
    /// Its index in the story.
    pub step: usize,
    /// The log's length when it began and when it ended (its events are in between).
    pub seq: (usize, usize),
    /// When it began, since the start.
    pub at: Duration,
    /// How long it took.
    pub took: Duration,
    /// What it returned.
    pub outcome: Outcome,
}

/// What a target left: its event log, each step's result, the handles' ids, its session timeout.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    /// The event log.
    pub events: Vec<Event>,
    /// Per step.
    pub results: Vec<StepResult>,
    /// The id of each numbered handle.
    pub handles: Vec<HandleId>,
    /// When the story started (log time).
    pub start: Duration,
}

impl Trace {
    /// The result of step `i`.
    pub fn result(&self, i: usize) -> Option<&StepResult> {
        self.results.iter().find(|r| r.step == i)
    }

    /// The outcome of step `i` (`Nothing` if it has none).
    pub fn outcome(&self, i: usize) -> Outcome {
        self.result(i)
            .map_or(Outcome::Nothing, |r| r.outcome.clone())
    }

    /// How long step `i` took.
    pub fn took(&self, i: usize) -> Duration {
        self.result(i).map_or(Duration::ZERO, |r| r.took)
    }

    /// Where step `i`'s events begin in the log (the end of the log if it never ran).
    pub fn seq_of(&self, i: usize) -> usize {
        self.result(i).map_or(self.events.len(), |r| r.seq.0)
    }

    /// The events of handle `h` (by number), with their time since the start.
    pub fn of(&self, h: usize) -> Vec<(Duration, &EventKind)> {
        self.of_seq(h).into_iter().map(|(_, t, k)| (t, k)).collect()
    }

    /// The events of handle `h` (by number), with their log position and time since the start.
    pub fn of_seq(&self, h: usize) -> Vec<(usize, Duration, &EventKind)> {
        let Some(id) = self.handles.get(h) else {
            return Vec::new();
        };
        self.events
            .iter()
            .filter(|e| e.handle == Some(*id))
            .map(|e| {
                (
                    e.seq,
                    e.at.since_origin().saturating_sub(self.start),
                    &e.kind,
                )
            })
            .collect()
    }

    /// The records handle `h` read, in order, with their log position and when.
    pub fn records(&self, h: usize) -> Vec<(usize, Duration, Partition, Offset)> {
        self.of_seq(h)
            .into_iter()
            .filter_map(|(seq, t, k)| match k {
                EventKind::PollEnd(PollOutcome::Record { partition, offset }) => {
                    Some((seq, t, *partition, *offset))
                }
                _ => None,
            })
            .collect()
    }

    /// The rebalance events of handle `h`: `revoke` / `assign [..]`, each tagged with the number
    /// of the poll it was served in (polls counted from the handle's first).
    pub fn rebalances(&self, h: usize) -> Vec<(usize, String)> {
        let mut polls = 0;
        let mut out = Vec::new();
        for (_, k) in self.of(h) {
            match k {
                EventKind::PollBegin => polls += 1,
                EventKind::Revoked(_) => out.push((polls, "revoke".to_string())),
                EventKind::Assigned { partitions, .. } if !partitions.is_empty() => {
                    out.push((polls, format!("assign {partitions:?}")))
                }
                _ => {}
            }
        }
        out
    }

    /// The poll errors of handle `h` (code and when).
    pub fn poll_errors(&self, h: usize) -> Vec<(Duration, ErrorCode)> {
        self.of(h)
            .into_iter()
            .filter_map(|(t, k)| match k {
                EventKind::PollEnd(PollOutcome::Error(c)) => Some((t, *c)),
                _ => None,
            })
            .collect()
    }

    /// The trace as text: every event and every step result.
    pub fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self.events.iter().map(|e| e.to_string()).collect();
        for r in &self.results {
            out.push(format!(
                "step {} at {:.3}s took {:.3}s -> {:?}",
                r.step,
                r.at.as_secs_f64(),
                r.took.as_secs_f64(),
                r.outcome
            ));
        }
        out
    }
}

/// A duration, said roughly against the session timeout: what conformance compares of timing
/// (the world's virtual time is exact, the mock's real time is not).
pub fn bucket(d: Duration, session: Duration) -> &'static str {
    if d < ms(300) {
        "at once"
    } else if d < session.mul_f64(0.7) {
        "under the session timeout"
    } else if d < session.mul_f64(1.6) {
        "about the session timeout"
    } else {
        "longer"
    }
}

/// The rebalance callback of a story's handle.
struct StoryHook<R: Runtime> {
    kind: Hook,
    _rt: std::marker::PhantomData<R>,
}

impl<R: Runtime, H: ConsumerHandle> RebalanceHook<H> for StoryHook<R> {
    fn revoked(&self, handle: &H, _partitions: &[Partition]) {
        if let Hook::CommitOnRevoke(offsets) = &self.kind {
            let _ = handle.commit(offsets);
        }
    }
    fn before_assign(&self, handle: &H, partitions: &[Partition]) {
        if self.kind == Hook::PauseBeforeAssign {
            let _ = handle.pause(partitions);
        }
    }
}

struct Poller<R: Runtime> {
    stop: Arc<AtomicBool<R>>,
    thread: pausebeat::sync::JoinHandle<R, ()>,
}

/// Plays `steps` with `factory` on `rt`'s clock, from `t0`.
pub(super) fn play<R: Runtime, F: ConsumerFactory>(
    rt: &R,
    factory: &F,
    steps: &[Step],
    t0: Instant,
    mark: &dyn Fn() -> usize,
) -> Result<(Vec<StepResult>, Vec<HandleId>), String> {
    let mut handles: Vec<Option<Arc<F::Handle>>> = Vec::new();
    let mut pollers: Vec<(usize, Poller<R>)> = Vec::new();
    let mut results = Vec::new();
    let mut ids = Vec::new();
    fn get<H>(handles: &[Option<Arc<H>>], h: usize) -> Result<Arc<H>, String> {
        handles
            .get(h)
            .cloned()
            .flatten()
            .ok_or_else(|| format!("handle {h} was not created"))
    }
    for (i, step) in steps.iter().enumerate() {
        let began = rt.now();
        let first = mark();
        let outcome = match step {
            Step::Create { h, id, hook } => {
                let hook = Arc::new(StoryHook::<R> {
                    kind: hook.clone(),
                    _rt: std::marker::PhantomData,
                });
                match factory.create(*id, hook) {
                    Ok(c) => {
                        if ids.len() <= *h {
                            ids.resize(*h + 1, HandleId::default());
                        }
                        ids[*h] = c.id();
                        if handles.len() <= *h {
                            handles.resize(*h + 1, None);
                        }
                        handles[*h] = Some(Arc::new(c));
                        Outcome::Ok
                    }
                    Err(e) => Outcome::of_err(&e),
                }
            }
            Step::Poll { h, timeout } => poll_outcome(get(&handles, *h)?.poll(*timeout)),
            Step::PollUntil { h, until, max } => {
                let c = get(&handles, *h)?;
                let deadline = began + *max;
                let mut reached = Outcome::Reached(false);
                while rt.now() < deadline {
                    let left = deadline.saturating_since(rt.now()).min(ms(500));
                    let before = c.assignment().unwrap_or_default();
                    let r = c.poll(left);
                    let after = c.assignment().unwrap_or_default();
                    let got = match (until, &r) {
                        (Until::Record, Ok(Some(rec))) => {
                            Some(Outcome::Record(rec.partition, rec.offset))
                        }
                        (Until::Error, Err(e)) => Some(Outcome::of_err(e)),
                        (Until::Assigned, Ok(_)) if !after.is_empty() && after != before => {
                            Some(Outcome::Parts(after))
                        }
                        (Until::Revoked, _) if !before.is_empty() && after.is_empty() => {
                            Some(Outcome::Reached(true))
                        }
                        _ => None,
                    };
                    if let Some(o) = got {
                        reached = o;
                        break;
                    }
                }
                reached
            }
            Step::PollFor { h, d } => {
                let c = get(&handles, *h)?;
                let deadline = began + *d;
                while rt.now() < deadline {
                    let left = deadline.saturating_since(rt.now()).min(ms(500));
                    let _ = c.poll(left);
                }
                Outcome::Ok
            }
            Step::Pause { h, partitions } => unit(get(&handles, *h)?.pause(partitions)),
            Step::Resume { h, partitions } => unit(get(&handles, *h)?.resume(partitions)),
            Step::Seek {
                h,
                partition,
                offset,
            } => unit(get(&handles, *h)?.seek(*partition, *offset)),
            Step::Commit { h, offsets } => unit(get(&handles, *h)?.commit(offsets)),
            Step::Committed { h, partitions } => match get(&handles, *h)?.committed(partitions) {
                Ok(v) => Outcome::Offsets(v),
                Err(e) => Outcome::of_err(&e),
            },
            Step::Assignment { h } => match get(&handles, *h)?.assignment() {
                Ok(v) => Outcome::Parts(v),
                Err(e) => Outcome::of_err(&e),
            },
            Step::Unsubscribe { h } => unit(get(&handles, *h)?.unsubscribe()),
            Step::Close { h } => unit(get(&handles, *h)?.close()),
            Step::Background { h } => {
                let c = get(&handles, *h)?;
                let stop = Arc::new(AtomicBool::new(false));
                let flag = stop.clone();
                let thread = rt.spawn(&format!("bg-{h}"), move || {
                    while !flag.load() {
                        let _ = c.poll(ms(100));
                    }
                });
                pollers.push((*h, Poller { stop, thread }));
                Outcome::Ok
            }
            Step::Quiet { h } => {
                if let Some(i) = pollers.iter().position(|(n, _)| n == h) {
                    let (_, p) = pollers.swap_remove(i);
                    p.stop.store(true);
                    let _ = p.thread.join();
                }
                Outcome::Ok
            }
            Step::SleepUntil(t) => {
                let at = t0 + *t;
                let now = rt.now();
                if at > now {
                    rt.sleep(at.saturating_since(now));
                }
                Outcome::Ok
            }
            Step::Sleep(d) => {
                rt.sleep(*d);
                Outcome::Ok
            }
        };
        results.push(StepResult {
            step: i,
            seq: (first, mark()),
            at: began.saturating_since(t0),
            took: rt.now().saturating_since(began),
            outcome,
        });
    }
    for (_, p) in pollers {
        p.stop.store(true);
        let _ = p.thread.join();
    }
    // Close what the story left open (not part of the comparison: after the last step).
    for c in handles.into_iter().flatten() {
        let _ = c.close();
    }
    Ok((results, ids))
}

fn unit(r: Result<(), KafkaError>) -> Outcome {
    match r {
        Ok(()) => Outcome::Ok,
        Err(e) => Outcome::of_err(&e),
    }
}

fn poll_outcome(r: Result<Option<Record>, KafkaError>) -> Outcome {
    match r {
        Ok(Some(rec)) => Outcome::Record(rec.partition, rec.offset),
        Ok(None) => Outcome::Nothing,
        Err(e) => Outcome::of_err(&e),
    }
}
