//! Faithful ports of the seed's Go batch consumer (jitsu bulker's `AbstractBatchConsumer` with
//! its batch variant), before and after PR #1313, **bugs included**.
//!
//! These are *models*, not code to improve: every part names the section of
//! `docs/go-batch-consumer.md` it follows (§2 fields and timers, §3 control flow,
//! §4 what the PR changed). One port serves both designs; a [`Variant`] switch sits at exactly the
//! places PR #1313 touched (§4):
//!
//! 1. `resumeChannel` capacity: 0 (a rendezvous) before, 1 with the PR;
//! 2. `pause()` drains a stale signal (PR only);
//! 3. the heartbeat's signal branch re-resumes the *current* consumer (PR only);
//! 4. the heartbeat's two restart sites call `restartConsumerAsync` (PR) instead of the synchronous
//!    `restartConsumer`; the synchronous sites (`pauseKafkaConsumer`, commit failure,
//!    `processFailed`) stay synchronous in both.
//!
//! Start them through [`pausebeat_world::Design`]: [`GoOriginal`] (`go-original`) and [`Pr1313`]
//! (`pr-1313`), or directly with [`GoConsumer::start`].
//!
//! # Goroutines and threads
//!
//! The scenario's main thread plays G1 (the cron goroutine: [`Instance::run`] is one `RunJob`).
//! Every other goroutine is a thread spawned with [`Runtime::spawn`], named as in the traces:
//!
//! | thread | Go | spawned by | ends |
//! |---|---|---|---|
//! | `heartbeat` | G2, the pause heartbeat (under `safego.RunWithRestart`) | every `pause()` whose CAS succeeds | when it takes the resume signal, or retired && idle |
//! | `restart` | G3, `restartConsumerAsync` (PR only) | the heartbeat's restart sites, if no async restart runs | when the restart stored a consumer, or retired && idle |
//! | `closer` | G4, "close the previous consumer" | every `restartConsumer` not skipped for `retired` | after one close |
//! | `pause-timer` | GT, `time.AfterFunc(maxPoll/2, pause(true))` | every batch with records, only with `Timing::mid_batch_timer` | when stopped or after it fired |
//!
//! So a path costs: 1 (main) + 1 per pause cycle (a resumed heartbeat ends and the next pause
//! spawns a new one) + 1 per restart (`closer`) + 1 more per asynchronous restart (`restart`) +
//! 1 per batch with records when the mid-batch timer is on. A safego restart of the heartbeat
//! reuses its thread. Examples (the timelines of `tests/timelines.rs`): two runs with a pause
//! after each = 3 threads (main and two heartbeats); §5(a) on go-original = 3 (main, heartbeat,
//! closer), on pr-1313 = 4 (+ restart); §5(b) on pr-1313 = 4 (main, heartbeat, restart, closer),
//! on go-original = 2; §5(b) through the mid-batch timer on pr-1313 = 5 (+ pause-timer), which is
//! loom's limit (5 per execution, exited threads included). Each extra run that pauses again, and
//! each further restart, needs one more.
//!
//! # A modeling caveat: computation is free
//!
//! After the hand-off on `resumeChannel` the heartbeat still has to clear `paused` (its CAS comes
//! after the receive). In the model the run that took over can reach its closing `pause()` first,
//! at the same virtual instant; `pause()` then finds `paused` still true, starts no heartbeat,
//! and the old heartbeat ends: nobody polls while paused. In Go the run takes milliseconds (polls,
//! the destination load, the commit) against the heartbeat's microseconds, so this is unlikely
//! there, but loom and shuttle's PCT find it at once on a run whose handler takes no time
//! (`tests/checkers.rs`). With the PR the same outcome is real whenever `resume()` lands while the
//! heartbeat is inside its poll (§5(c)2). Scenarios that want the happy path should give the
//! handler some virtual time.
//!
//! # What is modeled how
//!
//! * `consumer` (`atomic.Pointer`) is a `Mutex<Option<Arc<handle>>>` with Load / Store / Swap,
//!   re-loaded at the same places as the Go code.
//! * Go panics (nil dereferences, closing the `closed` channel twice) are values, not Rust panics:
//!   in a goroutine without `recover` they are reported as [`DesignEvent::Crash`] and end that
//!   goroutine; in the heartbeat, `safego` recovers them, waits 2 s and reruns the closure with
//!   fresh locals (`paused` untouched). In G1 (whether gocron recovers is unverified, §5(c)7) a
//!   panic is reported as a crash, the `RunJob` defer still runs (Go runs deferred calls while
//!   panicking) and the run ends.
//! * `ReadMessage(5s)` is confluent-kafka-go's loop: poll until a record, an error or the
//!   deadline; an error whose code is `TimedOut` counts as the timeout.
//! * The Go mutex held across `ConsumeAll` is not modeled: the scenario drives runs from one
//!   thread, so it is never contended, and `running` (the `RunJob` re-entrancy guard) is.
//! * Not in the seam, so not modeled: `Unsubscribe` before the closer's `Close`; the admin client
//!   (`AlterConsumerGroupOffsets` in the commit-failure restart's `beforeInit` is taken to fail,
//!   so the Go fallback, a commit on the new consumer, runs); the retry consumer's
//!   `shouldConsumeFunc` scan (with `Timing::resume_first` a run calls `resume()` where
//!   `shouldConsume` does and then consumes); the transactional retry-topic producer of
//!   `processFailed` (it is reduced to its `resume()` and a seek back to the batch's first record,
//!   so the failed batch is read again; it never asks for a next batch); the global retry topic's
//!   manual assignment; destination leases and config hashes.
//! * The watermark query uses [`ConsumerHandle::high_watermark`] on partition 0 (Go asks
//!   partition 0 of a batch topic). A backend that cannot tell (`Ok(None)`) makes every run
//!   consume (no "nothing new" skip, no stop at the high watermark).
//! * [`Instance::close`] is `Retire()` followed by the shutdown path (§3.12): if the consumer is
//!   idle it calls `close()` the way `pauseOrSuspend`'s retired && idle branch does; then it waits,
//!   through the clock, for the consumer's goroutines to end, but at most `SHUTDOWN_TIMEOUT_SEC`
//!   (10 s), the longest Go's shutdown waits before the process exits. Goroutines still running
//!   then (a paused heartbeat waiting for its next 150 s tick, c-12) keep running in the model and
//!   end by themselves once they see retired && idle.
//!
//! [`Runtime::spawn`]: pausebeat::sync::Runtime::spawn
//! [`DesignEvent::Crash`]: pausebeat::probe::DesignEvent::Crash
//! [`ConsumerHandle::high_watermark`]: pausebeat::kafka::ConsumerHandle::high_watermark

#![warn(missing_docs)]

mod batch;
mod consumer;
pub mod expect;
mod heartbeat;
mod restart;

pub use consumer::GoConsumer;

use pausebeat::kafka::ConsumerFactory;
use pausebeat::sync::Runtime;
use pausebeat_world::{Design, Env, Instance};

/// Which version of the Go consumer the port behaves as. The switch sits only where PR #1313
/// changed the code (§4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// Before the PR (jitsu ba873a1 / bulker c5548cf).
    Original,
    /// With PR #1313 (jitsu 1532390).
    Pr1313,
}

impl Variant {
    /// The capacity of `resumeChannel` (§4.1): 0 before the PR, 1 with it.
    ///
    /// ```
    /// use pausebeat_go::Variant;
    /// assert_eq!(Variant::Original.resume_channel_capacity(), 0);
    /// assert_eq!(Variant::Pr1313.resume_channel_capacity(), 1);
    /// ```
    pub fn resume_channel_capacity(self) -> usize {
        match self {
            Variant::Original => 0,
            Variant::Pr1313 => 1,
        }
    }

    /// The design name of this variant in the catalogue.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Original => GoOriginal::NAME,
            Variant::Pr1313 => Pr1313::NAME,
        }
    }
}

/// The Go batch consumer before PR #1313 (`go-original`).
///
/// ```
/// use pausebeat_go::GoOriginal;
/// use pausebeat_world::Design;
/// assert_eq!(GoOriginal::NAME, "go-original");
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct GoOriginal;

/// Why loom does not run a scenario for go-original.
const TOO_MANY_THREADS: &str =
    "the story's callers, the heartbeat and the world's other members need more than loom's 5 threads on nearly every path";
/// Why loom does not run a scenario for pr-1313.
const TOO_MANY_THREADS_ASYNC: &str =
    "each asynchronous restart starts a thread: with the story's callers and the heartbeat, more than loom's 5 on nearly every path";

impl Design for GoOriginal {
    const NAME: &'static str = "go-original";
    const ABOUT: &'static str =
        "the Go batch consumer before PR #1313: rendezvous resume channel, synchronous restarts in the heartbeat";
    const EXPECTATIONS: &'static [pausebeat_world::Expectation] = expect::GO_ORIGINAL;
    const LOOM_TOO_BIG: &'static [(&'static str, &'static str)] = &[
        ("restart-with-static-id", TOO_MANY_THREADS),
        ("run-after-failing-polls", TOO_MANY_THREADS),
    ];
    const MAY_MISS: &'static [(&'static str, &'static str, &'static str)] = &[
        (
            "retry-consumer-resumes-each-run",
            "random",
            "the second resume() must come before the heartbeat clears `paused`: one exact preemption the random scheduler may not draw in 500 schedules (loom and PCT find it)",
        ),
        (
            "member-takes-over-an-uncommitted-partition",
            "random",
            "one ordering of the resume hand-off and the rebalance: loom and PCT find it",
        ),
    ];
    const UNREACHABLE: &'static [(&'static str, &'static str)] = &[(
        "fenced-under-a-slow-batch",
        "while the handler runs the only poll is the mid-batch pause's, 150 s into the batch (§3.3, §3.6), at 1200 s: after the fenced polls (1060-1170 s), so nothing restarts under the batch",
    )];
    fn start<R: Runtime, F: ConsumerFactory>(env: Env<R, F>) -> Box<dyn Instance> {
        Box::new(GoConsumer::start(env, Variant::Original))
    }
}

/// The Go batch consumer with PR #1313 (`pr-1313`).
///
/// ```
/// use pausebeat_go::Pr1313;
/// use pausebeat_world::Design;
/// assert_eq!(Pr1313::NAME, "pr-1313");
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Pr1313;

impl Design for Pr1313 {
    const NAME: &'static str = "pr-1313";
    const ABOUT: &'static str =
        "the Go batch consumer with PR #1313: buffered resume channel, asynchronous restarts from the heartbeat";
    const EXPECTATIONS: &'static [pausebeat_world::Expectation] = expect::PR_1313;
    const LOOM_TOO_BIG: &'static [(&'static str, &'static str)] = &[
        ("resume-during-outage", TOO_MANY_THREADS_ASYNC),
        ("mid-batch-pause-race", TOO_MANY_THREADS_ASYNC),
        ("run-after-failing-polls", TOO_MANY_THREADS_ASYNC),
    ];
    const MAY_MISS: &'static [(&'static str, &'static str, &'static str)] = &[
        (
            "resume-during-outage",
            "random",
            "the run's poll must overlap the heartbeat's between two asynchronous restarts: one exact preemption the random scheduler may not draw (PCT finds it)",
        ),
        (
            "run-after-failing-polls",
            "pct",
            "found after 395 of the default 500 schedules when measured: a budget's worth of luck",
        ),
        (
            "run-after-failing-polls",
            "random",
            "found after 218 of the default 500 schedules when measured: a budget's worth of luck",
        ),
        (
            "member-takes-over-an-uncommitted-partition",
            "random",
            "one ordering of the resume hand-off and the rebalance: loom and PCT find it",
        ),
    ];
    const UNREACHABLE: &'static [(&'static str, &'static str)] =
        <GoOriginal as Design>::UNREACHABLE;
    fn start<R: Runtime, F: ConsumerFactory>(env: Env<R, F>) -> Box<dyn Instance> {
        Box::new(GoConsumer::start(env, Variant::Pr1313))
    }
}
