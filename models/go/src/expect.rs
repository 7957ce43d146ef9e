//! What the catalogue is expected to find in the Go designs, scenario by scenario, with the
//! reason and the section of `docs/go-batch-consumer.md` each matches. Anything not listed is
//! expected to pass. Where one interleaving shows a race as one property and another shows it as
//! a second one (a close racing a poll is `handle-exclusive`; what it leads to a minute later is
//! `suspend-final`), an entry lists every property a violating schedule may name first.

use pausebeat_world::properties::Property;
use pausebeat_world::Expectation;

/// `go-original`'s expected violations.
pub const GO_ORIGINAL: &[Expectation] = &[
    Expectation {
        scenario: "resume-during-outage",
        violates: &[Property::ResumeBounded],
        why: "§5(a) the seed's \"Resume timeout\": the unbuffered hand-off waits 300 s for a heartbeat stuck in synchronous restarts",
    },
    Expectation {
        scenario: "instant-handler",
        violates: &[Property::ResumeBounded, Property::HandleExclusive, Property::MembershipKept],
        why: "zero-time hand-off race: the run's closing pause() beats the heartbeat's paused=false, so nobody polls (§5(c)-6); resume waits on a heartbeat poll; close races that poll (§5(c)-7)",
    },
    Expectation {
        scenario: "rebalance-while-paused",
        violates: &[Property::NoLoss, Property::ResumeEffective],
        why: "§6 the Go consumer reads partition 0 only (its topics have one partition): p1's records are never read; §5(c)-5 a partition returned after resume stays paused",
    },
    Expectation {
        scenario: "long-handler-before-pause",
        violates: &[Property::MembershipKept],
        why: "§5(c)-6 max.poll gap: the first heartbeat poll comes one 150 s tick after a late pause, past max.poll.interval since the last poll",
    },
    Expectation {
        scenario: "close-as-a-slow-batch-ends",
        violates: &[Property::MembershipKept],
        why: "§5(c)-6 as in long-handler-before-pause: the 200 s batch ends, the run pauses, and the heartbeat's first poll comes a tick later, past max.poll.interval",
    },
    Expectation {
        scenario: "mid-batch-pause-race",
        violates: &[Property::ResumeBounded, Property::PausedMeansPaused],
        why: "§5(c)-4: the mid-batch pause fires as the handler returns; the next resume() waits for the heartbeat's immediate poll",
    },
    Expectation {
        scenario: "close-while-paused",
        violates: &[Property::CleanShutdown],
        why: "§5(c)-12: a retired paused consumer's heartbeat lingers until its next 150 s tick, past the 10 s shutdown timeout",
    },
    Expectation {
        scenario: "slow-final-close",
        violates: &[Property::CleanShutdown],
        why: "§5(c)-12 as in close-while-paused: the paused heartbeat outlives close() until its next tick",
    },
    Expectation {
        scenario: "close-during-a-slow-restart",
        violates: &[Property::CleanShutdown],
        why: "§5(c)-12 as in close-while-paused: the retired heartbeat outlives close() until its next tick",
    },
    Expectation {
        scenario: "commit-hiccup-before-close",
        violates: &[Property::CleanShutdown],
        why: "§5(c)-12 as in close-while-paused (the failed commit itself restarts the consumer, committing through the admin API first: §3.9 beforeInit)",
    },
    Expectation {
        scenario: "restart-with-varying-create-and-close",
        violates: &[Property::CleanShutdown],
        why: "§5(c)-12 as in close-while-paused: the retired heartbeat outlives close() until its next tick, whatever the client's closes and creates take",
    },
    Expectation {
        scenario: "close-during-a-slow-create",
        violates: &[Property::CleanShutdown],
        why: "§5(c)-12 as in close-while-paused: the retired heartbeat outlives close() until its next tick",
    },
    Expectation {
        scenario: "close-during-a-slow-commit",
        violates: &[Property::CleanShutdown, Property::ResumeBounded, Property::HandleExclusive],
        why: "as meet-run-close: §5(c)-12 the paused heartbeat outlives close(); §5(c)-7 close runs while the heartbeat polls; §5(a) the run's resume waits for the heartbeat's poll",
    },
    Expectation {
        scenario: "kept-partition-while-held",
        violates: &[Property::MembershipKept],
        why: "§5(c)-6 as in outage-under-slow-batch: the run's two 200 s batches end at 400 s, the heartbeat's first poll comes a tick later, past max.poll.interval",
    },
    Expectation {
        scenario: "run-after-failing-polls",
        violates: &[Property::ResumeEffective],
        why: "§5(c)-5: the restarted consumer's first assignment is served by the heartbeat's poll while the app-2 run's resume() reads the assignment (still empty) and resumes nothing; the rebalance callback paused the new partition, which stays paused",
    },
    Expectation {
        scenario: "batches-across-partitions",
        violates: &[Property::CommittedBeforeClose],
        why: "§3.3 with §6: a batch is committed with CommitMessage of its last record only, which covers that record's partition (the Go topics have one); the batch's records of other partitions are handled and never committed",
    },
    Expectation {
        scenario: "rejoin-under-a-slow-batch",
        violates: &[Property::NoDuplicates],
        why: "new, found by hunt (§3.3 commit after the batch): the batch read before the session expired is committed after the mid-batch heartbeat's rejoin reset the fetch position to the old committed offset, so the next run hands it again past its own commit (the Go consumer never checks that its partitions were reassigned under the batch)",
    },
    Expectation {
        scenario: "revoked-before-hand-off",
        violates: &[Property::NoLoss],
        why: "§6 as in rebalance-while-paused: the Go consumer reads partition 0 only; p1's records are never handled",
    },
    Expectation {
        scenario: "outage-under-slow-batch",
        violates: &[Property::MembershipKept],
        why: "§5(c)-6 as in long-handler-before-pause: the 200 s batch ends, the heartbeat's first poll comes a tick later, past max.poll.interval",
    },
    Expectation {
        scenario: "suspend-during-outage",
        violates: &[Property::SuspendFinal],
        why: "§5(a)-6: the heartbeat's synchronous restart is in flight when run 2 suspends; it stores a new consumer after suspend() returned (found by pausebeat hunt)",
    },
    Expectation {
        scenario: "retry-consumer-resumes-each-run",
        violates: &[Property::ResumeBounded, Property::NoLoss],
        why: "§3.7 + §5(c)-9: the retry run resumes twice in a row; if the second resume() comes before the heartbeat, which took the first signal, cleared `paused`, it sends to a heartbeat that is gone and times out after 300 s",
    },
    Expectation {
        scenario: "meet-run-run",
        violates: &[Property::ResumeBounded],
        why: "§5(a) in miniature: the run's resume() ties with the heartbeat's 150 s tick; the heartbeat takes the tick and the rendezvous waits out its 5 s poll (the second run is coalesced, §3.1)",
    },
    Expectation {
        scenario: "meet-run-run-restarting",
        violates: &[Property::ResumeBounded, Property::NoLoss],
        why: "as meet-run-run (§5(a)): the resume waits for the heartbeat's poll; on other schedules both runs end on the lost membership (a batch read's error ends the run, no restart: §3.13), the second resume ends the heartbeat and the closing pause finds `paused` still true and starts none (§5(c)-9): nobody polls, the later records are never read",
    },
    Expectation {
        scenario: "meet-run-run-rebalance",
        violates: &[Property::NoLoss, Property::ResumeBounded, Property::ResumeEffective],
        why: "§6 the Go consumer reads partition 0 only: p1's records are never handled; and the tie of meet-run-run (§5(a))",
    },
    Expectation {
        scenario: "meet-run-close",
        violates: &[Property::CleanShutdown, Property::ResumeBounded, Property::HandleExclusive],
        why: "§5(c)-12 shutdown does not stop the paused heartbeat, which outlives close() until its next tick; §5(c)-7 close runs while the heartbeat polls; the tie of meet-run-run",
    },
    Expectation {
        scenario: "meet-run-close-restarting",
        violates: &[Property::CleanShutdown, Property::ResumeBounded, Property::HandleExclusive, Property::SingleConsumer],
        why: "as meet-run-close (§5(c)-12, §5(c)-7, §5(a)); and the heartbeat's restart closes c1 in its closer goroutine while it stays published, which shutdown closes again (§5(c)-7)",
    },
    Expectation {
        scenario: "meet-run-close-rebalance",
        violates: &[Property::CleanShutdown, Property::ResumeBounded, Property::HandleExclusive],
        why: "as meet-run-close (§5(c)-12, §5(c)-7, §5(a))",
    },
    Expectation {
        scenario: "meet-run-close-outage",
        violates: &[Property::CleanShutdown, Property::SingleConsumer],
        why: "§5(c)-7: the heartbeat's synchronous restart has its closer goroutine close c1, which stays published (§3.9); shutdown's close() swaps it out and closes it again; §5(c)-12",
    },
    Expectation {
        scenario: "meet-close-close",
        violates: &[Property::HandleExclusive, Property::CleanShutdown],
        why: "§5(c)-7: shutdown closes the consumer without stopping the heartbeat first, while it is inside its poll; §5(c)-12",
    },
    Expectation {
        scenario: "meet-close-close-restarting",
        violates: &[Property::HandleExclusive, Property::CleanShutdown, Property::SingleConsumer],
        why: "as meet-close-close (§5(c)-7, §5(c)-12); and the restart's closer closes c1, which shutdown closes again",
    },
    Expectation {
        scenario: "meet-close-close-rebalance",
        violates: &[Property::HandleExclusive, Property::CleanShutdown],
        why: "as meet-close-close (§5(c)-7, §5(c)-12)",
    },
    Expectation {
        scenario: "meet-close-close-outage",
        violates: &[Property::SingleConsumer, Property::CleanShutdown],
        why: "§5(c)-7: the restart's closer closes c1, still published; shutdown closes it a second time",
    },
    Expectation {
        scenario: "member-takes-over-an-uncommitted-partition",
        violates: &[Property::NoLoss, Property::ResumeEffective],
        why: "§5(c)-2/§5(c)-5: the 300 s run's resume() returns while `paused` is still true (the heartbeat has taken the hand-off but not cleared it); the run's poll serves the rebalance of the member leaving (revoke, then assign in a later poll) and rebalanceCallback pauses the returned partitions before the assign, which sticks on partitions librdkafka already knows; nothing resumes them, so p0@3 is never read",
    },
];

/// `pr-1313`'s expected violations.
pub const PR_1313: &[Expectation] = &[
    Expectation {
        scenario: "resume-during-outage",
        violates: &[Property::HandleExclusive, Property::NoSelfFencing, Property::SingleConsumer],
        why: "§5(c)-1 the buffered resume lets the run poll while the heartbeat still polls; §5(c)-8/10 async restarts overlap and reuse the static id",
    },
    Expectation {
        scenario: "suspend-while-heartbeat-polls",
        violates: &[Property::SuspendFinal],
        why: "§5(b) the reviewer's finding: close races the heartbeat's poll, the poll error starts an async restart that recreates the consumer after suspend",
    },
    Expectation {
        scenario: "instant-handler",
        violates: &[Property::MembershipKept, Property::HandleExclusive, Property::NoLoss],
        why: "zero-time hand-off race as in go-original, plus §5(c)-1 (the buffered signal lets run and heartbeat poll together: the heartbeat rewinds a record the run skips, and the run commits past it)",
    },
    Expectation {
        scenario: "rebalance-while-paused",
        violates: &[Property::NoLoss, Property::ResumeEffective],
        why: "as go-original (§6, §5(c)-5)",
    },
    Expectation {
        scenario: "long-handler-before-pause",
        violates: &[Property::MembershipKept],
        why: "§5(c)-6, unchanged by the PR",
    },
    Expectation {
        scenario: "close-as-a-slow-batch-ends",
        violates: &[Property::MembershipKept],
        why: "§5(c)-6, unchanged by the PR (as in long-handler-before-pause)",
    },
    Expectation {
        scenario: "mid-batch-pause-race",
        violates: &[Property::MembershipKept, Property::HandleExclusive, Property::NoLoss, Property::PausedMeansPaused],
        why: "§5(c)-4 with §5(c)-1: run and heartbeat poll together; the heartbeat rewinds a record the run skips, and the run commits past it",
    },
    Expectation {
        scenario: "close-while-paused",
        violates: &[Property::CleanShutdown],
        why: "§5(c)-12, unchanged by the PR",
    },
    Expectation {
        scenario: "revoked-before-hand-off",
        violates: &[Property::NoLoss],
        why: "§6, unchanged by the PR",
    },
    Expectation {
        scenario: "outage-under-slow-batch",
        violates: &[Property::MembershipKept],
        why: "§5(c)-6, unchanged by the PR",
    },
    Expectation {
        scenario: "suspend-during-outage",
        violates: &[Property::SingleConsumer, Property::SuspendFinal],
        why: "§5(c)-7: the async restart closed c1 and left it published; the suspend closes it again (and the restart's create, once creates work, undoes the suspend: §5(b))",
    },
    Expectation {
        scenario: "slow-final-close",
        violates: &[Property::CleanShutdown],
        why: "§5(c)-12, unchanged by the PR",
    },
    Expectation {
        scenario: "close-during-a-slow-restart",
        violates: &[Property::CleanShutdown],
        why: "§5(c)-12, unchanged by the PR",
    },
    Expectation {
        scenario: "commit-hiccup-before-close",
        violates: &[Property::CleanShutdown],
        why: "§5(c)-12, unchanged by the PR",
    },
    Expectation {
        scenario: "restart-with-varying-create-and-close",
        violates: &[Property::CleanShutdown],
        why: "§5(c)-12, unchanged by the PR",
    },
    Expectation {
        scenario: "close-during-a-slow-create",
        violates: &[Property::CleanShutdown],
        why: "§5(c)-12, unchanged by the PR",
    },
    Expectation {
        scenario: "close-during-a-slow-commit",
        violates: &[Property::CleanShutdown, Property::ResumeBounded, Property::HandleExclusive],
        why: "as go-original (§5(c)-12, §5(c)-7); with the buffered resume the run's poll meets the heartbeat's (§5(c)-1)",
    },
    Expectation {
        scenario: "kept-partition-while-held",
        violates: &[Property::MembershipKept],
        why: "§5(c)-6, unchanged by the PR",
    },
    Expectation {
        scenario: "run-after-failing-polls",
        violates: &[Property::NoDuplicates, Property::ResumeEffective, Property::HandleExclusive],
        why: "§5(c)-1: the buffered resume lets the run poll while the heartbeat still polls; the heartbeat rewinds a record the run already handled and committed, which the next run reads again; §5(c)-5 as go-original on other schedules",
    },
    Expectation {
        scenario: "batches-across-partitions",
        violates: &[Property::CommittedBeforeClose],
        why: "§3.3 with §6 as go-original: the PR does not change the commit after a batch",
    },
    Expectation {
        scenario: "rejoin-under-a-slow-batch",
        violates: &[Property::NoDuplicates],
        why: "as go-original: the PR does not change the commit after a batch",
    },
    Expectation {
        scenario: "meet-run-run",
        violates: &[Property::MembershipKept, Property::HandleExclusive, Property::NoLoss],
        why: "§5(c)-1/-2: the run resumes while the heartbeat is inside its poll (the 150 s tick), both poll c1; the run's closing pause() finds `paused` still true (the heartbeat has not taken the buffered signal) and starts no heartbeat; the old one ends: nobody polls until the next run; on other schedules the heartbeat rewinds a record the run then commits past",
    },
    Expectation {
        scenario: "meet-run-run-restarting",
        violates: &[Property::MembershipKept, Property::HandleExclusive, Property::NoLoss, Property::ResumeBounded, Property::NoSelfFencing],
        why: "as meet-run-run (§5(c)-1/-2); §5(c)-3: resume() asks the closed c1 of an async restart in flight for its assignment and fails; §5(c)-8/-10 (jitsu #1491): the run's synchronous restart and the heartbeat's asynchronous one both create a consumer under the static id, the later joins while the earlier is open and fences it",
    },
    Expectation {
        scenario: "meet-run-run-rebalance",
        violates: &[Property::NoLoss, Property::MembershipKept, Property::HandleExclusive, Property::ResumeEffective],
        why: "§6 partition 0 only: p1's records are never handled; §5(c)-1/-2 as meet-run-run; §5(c)-2/-5: the rebalance's assignment comes while `paused` is still true after the resume, rebalanceCallback pauses it before the assign (a pause that sticks on partitions the client knows) and nothing resumes it",
    },
    Expectation {
        scenario: "meet-run-close",
        violates: &[Property::CleanShutdown, Property::HandleExclusive],
        why: "§5(c)-12 the heartbeat outlives shutdown; §5(c)-7 close while the heartbeat polls",
    },
    Expectation {
        scenario: "meet-run-close-restarting",
        violates: &[Property::CleanShutdown, Property::HandleExclusive, Property::SingleConsumer],
        why: "as meet-run-close (§5(c)-12, §5(c)-7); and the restart's closer closes c1, which shutdown closes again",
    },
    Expectation {
        scenario: "meet-run-close-rebalance",
        violates: &[Property::CleanShutdown, Property::HandleExclusive],
        why: "as meet-run-close (§5(c)-12, §5(c)-7)",
    },
    Expectation {
        scenario: "meet-run-close-outage",
        violates: &[Property::CleanShutdown, Property::SingleConsumer],
        why: "§5(c)-7: the async restart's closer closes c1, still published; shutdown closes it again; §5(c)-12",
    },
    Expectation {
        scenario: "meet-close-close",
        violates: &[Property::HandleExclusive, Property::CleanShutdown],
        why: "§5(c)-7 and §5(c)-12, unchanged by the PR",
    },
    Expectation {
        scenario: "meet-close-close-restarting",
        violates: &[Property::HandleExclusive, Property::CleanShutdown, Property::SingleConsumer],
        why: "as meet-close-close (§5(c)-7, §5(c)-12); and the restart's closer closes c1, which shutdown closes again",
    },
    Expectation {
        scenario: "meet-close-close-rebalance",
        violates: &[Property::HandleExclusive, Property::CleanShutdown],
        why: "as meet-close-close (§5(c)-7, §5(c)-12)",
    },
    Expectation {
        scenario: "meet-close-close-outage",
        violates: &[Property::SingleConsumer, Property::CleanShutdown],
        why: "§5(c)-7: the restart's closer closes c1, still published; shutdown closes it a second time",
    },
    Expectation {
        scenario: "member-takes-over-an-uncommitted-partition",
        violates: &[Property::NoLoss, Property::ResumeEffective],
        why: "as go-original (§5(c)-2/§5(c)-5): the 300 s run's resume() returns while `paused` is still true (the heartbeat has taken the hand-off but not cleared it); the run's poll serves the rebalance of the member leaving (revoke, then assign in a later poll) and rebalanceCallback pauses the returned partitions before the assign, which sticks on partitions librdkafka already knows; nothing resumes them, so p0@3 is never read",
    },
];
