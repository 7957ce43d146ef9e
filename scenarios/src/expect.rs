//! The table of expected outcomes: which design is expected to violate what on which scenario,
//! and why (with the section of `docs/go-batch-consumer.md` it matches). Anything not listed is
//! expected to pass. `verify` exits 1 on any outcome that differs, in either direction: a
//! vetted-design violation, or a known Go bug no longer found.
//!
//! Where one interleaving shows a race as one property and another shows it as a second one (a
//! close racing a poll is `handle-exclusive`; what it leads to a minute later is `suspend-final`),
//! the entry lists every property a violating schedule may name first.

use crate::properties::Property;

/// The expected outcome of a (design, scenario) pair under every checker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    /// Every schedule passes.
    Pass,
    /// Some schedule violates one of these properties (named first, see `Property::ALL`).
    Violation(&'static [Property]),
}

impl Expected {
    /// True if a violation naming `p` first is expected.
    pub fn allows(self, p: Property) -> bool {
        matches!(self, Expected::Violation(ps) if ps.contains(&p))
    }
}

/// An expectation and its reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expectation {
    /// The outcome.
    pub outcome: Expected,
    /// Why, with the reference section.
    pub why: &'static str,
}

use Property::*;

const GO: &str = "go-original";
const PR: &str = "pr-1313";

/// (design, scenario, the properties a violating schedule may name first, why).
pub const TABLE: &[(&str, &str, &[Property], &str)] = &[
    (GO, "resume-during-outage", &[ResumeBounded],
     "§5(a) the seed's \"Resume timeout\": the unbuffered hand-off waits 300 s for a heartbeat stuck in synchronous restarts"),
    (PR, "resume-during-outage", &[HandleExclusive, NoSelfFencing, SingleConsumer],
     "§5(c)-1 the buffered resume lets the run poll while the heartbeat still polls; §5(c)-8/10 async restarts overlap and reuse the static id"),
    (PR, "suspend-while-heartbeat-polls", &[SuspendFinal],
     "§5(b) the reviewer's finding: close races the heartbeat's poll, the poll error starts an async restart that recreates the consumer after suspend"),
    (GO, "instant-handler", &[ResumeBounded, HandleExclusive, MembershipKept],
     "zero-time hand-off race: the run's closing pause() beats the heartbeat's paused=false, so nobody polls (§5(c)-6); resume waits on a heartbeat poll; close races that poll (§5(c)-7)"),
    (PR, "instant-handler", &[MembershipKept, HandleExclusive],
     "zero-time hand-off race as in go-original, plus §5(c)-1 (the buffered signal lets run and heartbeat poll together)"),
    (GO, "rebalance-while-paused", &[NoLoss, ResumeEffective],
     "§6 the Go consumer reads partition 0 only (its topics have one partition): p1's records are never read; §5(c)-5 a partition returned after resume stays paused"),
    (PR, "rebalance-while-paused", &[NoLoss, ResumeEffective],
     "as go-original (§6, §5(c)-5)"),
    (GO, "long-handler-before-pause", &[MembershipKept],
     "§5(c)-6 max.poll gap: the first heartbeat poll comes one 150 s tick after a late pause, past max.poll.interval since the last poll"),
    (PR, "long-handler-before-pause", &[MembershipKept], "§5(c)-6, unchanged by the PR"),
    (GO, "restart-with-static-id", &[NoLoss, NoSelfFencing, MembershipKept],
     "§5(c)-10 / jitsu #1491: the restart reuses the static instance id while the slowly closed old member's session lives: fenced, then a silent stall"),
    (PR, "restart-with-static-id", &[NoLoss, NoSelfFencing, MembershipKept],
     "§5(c)-10 as go-original; the async restart does not change it"),
    (GO, "mid-batch-pause-race", &[ResumeBounded, PausedMeansPaused],
     "§5(c)-4: the mid-batch pause fires as the handler returns; the next resume() waits for the heartbeat's immediate poll"),
    (PR, "mid-batch-pause-race", &[MembershipKept, HandleExclusive, NoLoss, PausedMeansPaused],
     "§5(c)-4 with §5(c)-1: run and heartbeat poll together; the heartbeat rewinds a record the run skips, and the run commits past it"),
    (GO, "close-while-paused", &[CleanShutdown],
     "§5(c)-12: a retired paused consumer's heartbeat lingers until its next 150 s tick, past the 10 s shutdown timeout"),
    (PR, "close-while-paused", &[CleanShutdown], "§5(c)-12, unchanged by the PR"),
    (GO, "quick-reopen-after-suspend", &[NoSelfFencing],
     "§3.10 + §5(c)-10: after a suspend, initConsumer reuses the static id while the closed member (no LeaveGroup) still holds it"),
    (PR, "quick-reopen-after-suspend", &[NoSelfFencing], "as go-original; the PR does not touch initConsumer"),
    (GO, "retry-consumer-resumes-each-run", &[ResumeBounded, NoLoss],
     "§3.7 + §5(c)-9: the retry run resumes twice in a row; if the second resume() comes before the heartbeat, which took the first signal, cleared `paused`, it sends to a heartbeat that is gone and times out after 300 s"),
    // Two application threads calling run and close at once (`meetings`); the Go designs offer
    // no pause/resume/suspend to the application (they are internal to a run), so only these
    // meetings apply to them.
    (GO, "meet-run-run", &[ResumeBounded],
     "§5(a) in miniature: the run's resume() ties with the heartbeat's 150 s tick; the heartbeat takes the tick and the rendezvous waits out its 5 s poll (the second run is coalesced, §3.1)"),
    (GO, "meet-run-run-restarting", &[ResumeBounded], "as meet-run-run (§5(a)): the resume waits for the heartbeat's poll"),
    (GO, "meet-run-run-rebalance", &[NoLoss, ResumeBounded, ResumeEffective],
     "§6 the Go consumer reads partition 0 only: p1's records are never handled; and the tie of meet-run-run (§5(a))"),
    (GO, "meet-run-close", &[CleanShutdown, ResumeBounded, HandleExclusive],
     "§5(c)-12 shutdown does not stop the paused heartbeat, which outlives close() until its next tick; §5(c)-7 close runs while the heartbeat polls; the tie of meet-run-run"),
    (GO, "meet-run-close-restarting", &[CleanShutdown, ResumeBounded, HandleExclusive, SingleConsumer],
     "as meet-run-close (§5(c)-12, §5(c)-7, §5(a)); and the heartbeat's restart closes c1 in its closer goroutine while it stays published, which shutdown closes again (§5(c)-7)"),
    (GO, "meet-run-close-rebalance", &[CleanShutdown, ResumeBounded, HandleExclusive], "as meet-run-close (§5(c)-12, §5(c)-7, §5(a))"),
    (GO, "meet-run-close-outage", &[CleanShutdown, SingleConsumer],
     "§5(c)-7: the heartbeat's synchronous restart has its closer goroutine close c1, which stays published (§3.9); shutdown's close() swaps it out and closes it again; §5(c)-12"),
    (GO, "meet-close-close", &[HandleExclusive, CleanShutdown],
     "§5(c)-7: shutdown closes the consumer without stopping the heartbeat first, while it is inside its poll; §5(c)-12"),
    (GO, "meet-close-close-restarting", &[HandleExclusive, CleanShutdown, SingleConsumer],
     "as meet-close-close (§5(c)-7, §5(c)-12); and the restart's closer closes c1, which shutdown closes again"),
    (GO, "meet-close-close-rebalance", &[HandleExclusive, CleanShutdown], "as meet-close-close (§5(c)-7, §5(c)-12)"),
    (GO, "meet-close-close-outage", &[SingleConsumer, CleanShutdown],
     "§5(c)-7: the restart's closer closes c1, still published; shutdown closes it a second time"),
    (PR, "meet-run-run", &[MembershipKept, HandleExclusive, NoLoss],
     "§5(c)-1/-2: the run resumes while the heartbeat is inside its poll (the 150 s tick), both poll c1; the run's closing pause() finds `paused` still true (the heartbeat has not taken the buffered signal) and starts no heartbeat; the old one ends: nobody polls until the next run; on other schedules the heartbeat rewinds a record the run then commits past"),
    (PR, "meet-run-run-restarting", &[MembershipKept, HandleExclusive, NoLoss, ResumeBounded],
     "as meet-run-run (§5(c)-1/-2); and §5(c)-3: resume() asks the closed c1 of an async restart in flight for its assignment and fails"),
    (PR, "meet-run-run-rebalance", &[NoLoss, MembershipKept, HandleExclusive],
     "§6 partition 0 only: p1's records are never handled; and §5(c)-1/-2 as meet-run-run"),
    (PR, "meet-run-close", &[CleanShutdown, HandleExclusive],
     "§5(c)-12 the heartbeat outlives shutdown; §5(c)-7 close while the heartbeat polls"),
    (PR, "meet-run-close-restarting", &[CleanShutdown, HandleExclusive, SingleConsumer],
     "as meet-run-close (§5(c)-12, §5(c)-7); and the restart's closer closes c1, which shutdown closes again"),
    (PR, "meet-run-close-rebalance", &[CleanShutdown, HandleExclusive], "as meet-run-close (§5(c)-12, §5(c)-7)"),
    (PR, "meet-run-close-outage", &[CleanShutdown, SingleConsumer],
     "§5(c)-7: the async restart's closer closes c1, still published; shutdown closes it again; §5(c)-12"),
    (PR, "meet-close-close", &[HandleExclusive, CleanShutdown], "§5(c)-7 and §5(c)-12, unchanged by the PR"),
    (PR, "meet-close-close-restarting", &[HandleExclusive, CleanShutdown, SingleConsumer],
     "as meet-close-close (§5(c)-7, §5(c)-12); and the restart's closer closes c1, which shutdown closes again"),
    (PR, "meet-close-close-rebalance", &[HandleExclusive, CleanShutdown], "as meet-close-close (§5(c)-7, §5(c)-12)"),
    (PR, "meet-close-close-outage", &[SingleConsumer, CleanShutdown],
     "§5(c)-7: the restart's closer closes c1, still published; shutdown closes it a second time"),
];

/// (design, scenario, checker) where a violation that needs one exact preemption may be missed
/// within the default budget: a pass is accepted there too (the other checkers must find it).
pub const MAY_MISS: &[(&str, &str, &str)] = &[
    (GO, "retry-consumer-resumes-each-run", "random"),
    (PR, "resume-during-outage", "random"),
];

/// True if `checker` may pass where a violation is expected.
pub fn may_miss(design: &str, scenario: &str, checker: &str) -> bool {
    MAY_MISS
        .iter()
        .any(|(d, s, c)| *d == design && *s == scenario && *c == checker)
}

/// Pairs loom cannot run: the model needs more than loom's 5 threads in (nearly) every
/// execution. Executions that need more are pruned and counted (a check whose every execution
/// was pruned is vacuous); these pairs are not run under loom at all.
pub const LOOM_TOO_BIG: &[(&str, &str)] = &[
    (PR, "resume-during-outage"),
    (GO, "restart-with-static-id"),
    (PR, "mid-batch-pause-race"),
];

/// The expectation for a pair.
pub fn expectation(design: &str, scenario: &str) -> Expectation {
    TABLE
        .iter()
        .find(|(d, s, _, _)| *d == design && *s == scenario)
        .map_or(
            Expectation {
                outcome: Expected::Pass,
                why: "",
            },
            |(_, _, p, why)| Expectation {
                outcome: Expected::Violation(p),
                why,
            },
        )
}

/// True if loom can run the pair.
pub fn loom_fits(design: &str, scenario: &str) -> bool {
    !LOOM_TOO_BIG
        .iter()
        .any(|(d, s)| *d == design && *s == scenario)
}
