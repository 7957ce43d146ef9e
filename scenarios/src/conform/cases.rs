//! The conformance cases, one per world rule (`docs/world.md` lists them with their oracles).
//!
//! Every case uses the default environment (two partitions, session 4 s, max.poll 6 s, no
//! initial rebalance delay) unless it says otherwise. Projections say what matters in words
//! and leave out what the two targets may legitimately do differently (which partition of two a
//! member gets: librdkafka's leader orders members by their random member ids; exact timings:
//! virtual time is exact, the mock's real time is not, so durations are compared in buckets).

use super::script::{bucket, ms, s, Env, Hook, Outcome, Step, Trace, Until};
use super::{Case, Departure};
use pausebeat::kafka::{ErrorCode, Partition};
use pausebeat_world::EventKind;
use std::time::Duration;

fn create(h: usize) -> Step {
    Step::Create {
        h,
        id: None,
        hook: Hook::Plain,
    }
}
fn create_static(h: usize, id: &'static str) -> Step {
    Step::Create {
        h,
        id: Some(id),
        hook: Hook::Plain,
    }
}
fn create_with(h: usize, hook: Hook) -> Step {
    Step::Create { h, id: None, hook }
}
fn until(h: usize, until: Until, max: Duration) -> Step {
    Step::PollUntil { h, until, max }
}
fn assigned(h: usize) -> Step {
    until(h, Until::Assigned, s(15))
}
fn revoked(h: usize) -> Step {
    until(h, Until::Revoked, s(15))
}
fn record(h: usize) -> Step {
    until(h, Until::Record, s(5))
}
fn poll_for(h: usize, d: Duration) -> Step {
    Step::PollFor { h, d }
}
fn commit(h: usize, offsets: &[(Partition, i64)]) -> Step {
    Step::Commit {
        h,
        offsets: offsets.to_vec(),
    }
}
fn committed(h: usize, partitions: &[Partition]) -> Step {
    Step::Committed {
        h,
        partitions: partitions.to_vec(),
    }
}
fn pause(h: usize, partitions: &[Partition]) -> Step {
    Step::Pause {
        h,
        partitions: partitions.to_vec(),
    }
}
fn resume(h: usize, partitions: &[Partition]) -> Step {
    Step::Resume {
        h,
        partitions: partitions.to_vec(),
    }
}

/// `ok`, `err <Code> (<Class>)`, a record, …: an outcome in words.
fn say(o: &Outcome) -> String {
    match o {
        Outcome::Ok => "ok".into(),
        Outcome::Err(class, code) => format!("err {code:?} ({class:?})"),
        Outcome::Record(p, o) => format!("p{p}@{o}"),
        Outcome::Nothing => "nothing".into(),
        Outcome::Parts(v) => format!("{v:?}"),
        Outcome::Offsets(v) => format!("{v:?}"),
        Outcome::Reached(b) => if *b { "yes" } else { "no" }.into(),
    }
}

/// The records handle `h` read after step `i` began.
fn records_after(t: &Trace, h: usize, i: usize) -> Vec<(Partition, i64)> {
    let from = t.seq_of(i);
    t.records(h)
        .into_iter()
        .filter(|r| r.0 >= from)
        .map(|r| (r.2, r.3))
        .collect()
}

/// The records handle `h` read from the start of step `i` to the start of step `j`.
fn records_between(t: &Trace, h: usize, i: usize, j: usize) -> usize {
    let (a, b) = (t.seq_of(i), t.seq_of(j));
    t.records(h).iter().filter(|r| r.0 >= a && r.0 < b).count()
}

/// The partitions of handle `h`'s latest assignment served by the end of step `i`.
fn assignment_by(t: &Trace, h: usize, i: usize) -> Vec<Partition> {
    let end = t.result(i).map_or(usize::MAX, |r| r.seq.1);
    let mut last = Vec::new();
    for (seq, _, k) in t.of_seq(h) {
        if seq >= end {
            break;
        }
        match k {
            EventKind::Assigned { partitions, .. } => last = partitions.clone(),
            EventKind::Revoked(_) => last.clear(),
            _ => {}
        }
    }
    last
}

/// When handle `h` was first given every partition of a `n`-partition topic after step `i`
/// began, measured from that step.
fn all_assigned_after(t: &Trace, h: usize, i: usize, n: usize) -> Option<Duration> {
    let (from, seq) = (t.result(i)?.at, t.seq_of(i));
    t.of_seq(h).into_iter().find_map(|(s, at, k)| match k {
        EventKind::Assigned { partitions, .. } if s >= seq && partitions.len() == n => {
            Some(at.saturating_sub(from))
        }
        _ => None,
    })
}

fn fenced(t: &Trace, h: usize) -> bool {
    t.of(h)
        .iter()
        .any(|(_, k)| matches!(k, EventKind::Fenced { .. }))
}

const MOCK_STATIC: &str = "librdkafka's mock cluster has no static membership: it finds members by member id only (rdkafka_mock_cgrp.c `rd_kafka_mock_cgrp_member_add`), so a re-created static member joins as a new member, the old one lingers until its session runs out, and nobody is fenced";
const KAFKA_TAKEOVER: &str = "Kafka (KIP-345; apache/kafka group-coordinator GroupMetadataManager.updateStaticMemberThenRebalanceOrCompleteJoin, ClassicGroup.replaceStaticMember): a JoinGroup with a known group.instance.id and an unknown member id replaces the member: the newcomer gets its assignment in the same generation, without a rebalance; requests of the old member id get FENCED_INSTANCE_ID (ClassicGroup.validateMember)";

/// Every case, in the order `pausebeat conform` plays them.
pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "first-assignment-comes-in-a-poll",
            rule: "a created handle has no assignment until a poll serves it; that poll returns nothing; records follow",
            oracle: "librdkafka rdkafka_cgrp.c rd_kafka_cgrp_handle_SyncGroup → rd_kafka_rebalance_op (an op served by the app's poll); rust-rdkafka base_consumer.rs: poll returns None after a rebalance event",
            env: Env::default().records(s(0), 0, 2),
            steps: vec![create(0), Step::Assignment { h: 0 }, assigned(0), Step::Assignment { h: 0 }, record(0)],
            project: |t| {
                format!(
                    "after create: {}; a poll served it: {}; then {}; first record {}",
                    say(&t.outcome(1)),
                    say(&t.outcome(2)),
                    say(&t.outcome(3)),
                    t.records(0).first().map_or("none".into(), |r| format!("p{}@{}", r.2, r.3))
                )
            },
            departure: None,
            quick: true,
        },
        Case {
            name: "rebalance-is-served-in-two-polls",
            rule: "a rebalance revokes the whole assignment in one poll (assignment empty after it) and assigns in a later poll",
            oracle: "librdkafka rdkafka_cgrp.c: heartbeat REBALANCE_IN_PROGRESS → rd_kafka_cgrp_revoke_all_rejoin (REVOKE op); JoinGroup only after the app's unassign (rd_kafka_cgrp_unassign_done → rd_kafka_cgrp_rejoin); SyncGroup → ASSIGN op served by a later poll",
            env: Env::default().member(s(3), None),
            steps: vec![create(0), assigned(0), revoked(0), Step::Assignment { h: 0 }, assigned(0)],
            project: |t| {
                let r = t.rebalances(0);
                let revoke = r.iter().position(|(_, w)| w == "revoke");
                let later = revoke.and_then(|i| r.get(i + 1)).map(|(p, _)| *p);
                let revoke_poll = revoke.map(|i| r[i].0);
                format!(
                    "revoke served: {}; assignment after it: {}; next assign in a later poll: {}; then {} of 2 partitions",
                    revoke.is_some(),
                    say(&t.outcome(3)),
                    matches!((revoke_poll, later), (Some(a), Some(b)) if b > a),
                    assignment_by(t, 0, 4).len()
                )
            },
            departure: None,
            quick: true,
        },
        Case {
            name: "a-rebalance-ends-once-every-member-rejoined",
            rule: "a rebalance's join phase ends as soon as every member has rejoined (or at the rebalance timeout, max.poll.interval)",
            oracle: "Kafka group-coordinator GroupMetadataManager.maybeCompleteJoinElseSchedule / maybeCompleteJoinPhase (completes once ClassicGroup.hasAllMembersJoined), the rebalance timeout = the members' largest rebalanceTimeoutMs (librdkafka sends max.poll.interval.ms)",
            env: Env::default().member(s(3), None),
            steps: vec![create(0), assigned(0), revoked(0), assigned(0)],
            project: |t| format!("assigned again {} after the revoke", bucket(t.took(3), s(4))),
            departure: Some(Departure {
                kafka: "assigned again at once after the revoke",
                reference: "librdkafka's mock elects only when its rebalance timer fires, session.timeout − 1 s after the rebalance began, even when everyone rejoined earlier (rdkafka_mock_cgrp.c rd_kafka_mock_cgrp_classic_rebalance); Kafka completes the join phase once every member rejoined (GroupMetadataManager.maybeCompleteJoinPhase)",
            }),
            quick: false,
        },
        Case {
            name: "kept-partition-restarts-from-committed",
            rule: "every partition assigned, one kept across a rebalance included, starts at its committed offset",
            oracle: "librdkafka rdkafka_assignment.c rd_kafka_assignment_add (INVALID → STORED: read the committed offset), rd_kafka_assignment_serve_removals (the position is dropped at unassign)",
            env: Env::default().records(s(0), 0, 5).records(s(0), 1, 5).member(s(4), None),
            steps: vec![
                create(0),
                assigned(0),
                poll_for(0, s(2)),
                commit(0, &[(0, 2), (1, 2)]),
                revoked(0),
                assigned(0),
                record(0),
            ],
            project: |t| {
                let before = records_after(t, 0, 2).len();
                let after = records_after(t, 0, 6);
                format!(
                    "read {before} before; first record after the rebalance at offset {}",
                    after.first().map_or("none".into(), |r| r.1.to_string())
                )
            },
            departure: None,
            quick: true,
        },
        Case {
            name: "fetch-starts-at-committed-or-earliest",
            rule: "a newly assigned partition starts at its committed offset, or at 0 when nothing is committed (auto.offset.reset=earliest)",
            oracle: "librdkafka rdkafka_partition.c rd_kafka_toppar_fetch_start (committed offset; -1 → rd_kafka_offset_reset with auto.offset.reset)",
            env: Env::default().records(s(0), 0, 4).records(s(0), 1, 4),
            steps: vec![
                create(0),
                assigned(0),
                commit(0, &[(0, 3)]),
                Step::Close { h: 0 },
                create(1),
                assigned(1),
                poll_for(1, s(2)),
            ],
            project: |t| {
                let rs = t.records(1);
                let first = |p: Partition| {
                    rs.iter()
                        .find(|r| r.2 == p)
                        .map_or("none".into(), |r| r.3.to_string())
                };
                format!("p0 from {}, p1 from {}", first(0), first(1))
            },
            departure: None,
            quick: false,
        },
        Case {
            name: "pause-before-the-first-assign-is-lost",
            rule: "a pause of partitions the client has never been assigned (the rebalance callback before the first assign) does not stick",
            oracle: "librdkafka rdkafka_partition.c rd_kafka_toppar_get2 with create_on_miss off: no partition object yet, the pause is dropped (_UNKNOWN_PARTITION per element); rust-rdkafka's pre_rebalance runs before rd_kafka_assign",
            env: Env::default().records(s(0), 0, 3),
            steps: vec![create_with(0, Hook::PauseBeforeAssign), assigned(0), poll_for(0, s(2))],
            project: |t| {
                format!(
                    "records after the first assignment: {}",
                    if records_after(t, 0, 1).is_empty() { "held (paused)" } else { "flow" }
                )
            },
            departure: None,
            quick: false,
        },
        Case {
            name: "pause-before-a-later-assign-sticks",
            rule: "once the handle has had an assignment, a pause of a partition not assigned now (the callback before a later assign) sets its flag: the partition comes back paused",
            oracle: "librdkafka rdkafka_partition.c rd_kafka_toppar_get2 → rd_kafka_toppar_desired_add (the topic is known: the object is found or created, RD_KAFKA_TOPPAR_F_APP_PAUSE set)",
            env: Env::default().member(s(3), None).records(s(7), 0, 3).records(s(7), 1, 3),
            steps: vec![
                create_with(0, Hook::PauseBeforeAssign),
                assigned(0),
                resume(0, &[0, 1]),
                revoked(0),
                assigned(0),
                Step::SleepUntil(s(7)),
                poll_for(0, s(2)),
            ],
            project: |t| {
                format!(
                    "records after the second assignment: {}",
                    if records_after(t, 0, 6).is_empty() { "held (paused)" } else { "flow" }
                )
            },
            departure: None,
            quick: false,
        },
        Case {
            name: "pause-survives-a-rebalance",
            rule: "a pause flag survives revoke and reassign; only resume clears it",
            oracle: "librdkafka rdkafka_assignment.c: serve_removals and serve_pending touch only RD_KAFKA_TOPPAR_F_LIB_PAUSE; F_APP_PAUSE is cleared only by rd_kafka_toppar_pause_resume (resume)",
            env: Env::default().member(s(3), None).records(s(6), 0, 3).records(s(6), 1, 3),
            steps: vec![
                create(0),
                assigned(0),
                pause(0, &[0, 1]),
                revoked(0),
                assigned(0),
                Step::SleepUntil(s(6)),
                poll_for(0, s(2)),
                resume(0, &[0, 1]),
                record(0),
            ],
            project: |t| {
                // Which of the two partitions the member leaves it is the leader's choice.
                let after = match t.outcome(8) {
                    Outcome::Record(_, o) => format!("a record at offset {o}"),
                    other => say(&other),
                };
                format!(
                    "while paused after the rebalance: {} record(s); after resume: {after}",
                    records_between(t, 0, 6, 7)
                )
            },
            departure: None,
            quick: false,
        },
        Case {
            name: "no-record-after-pause-returns",
            rule: "no record of a paused partition comes out of a poll that starts after pause() returned; resume continues after the last record returned",
            oracle: "librdkafka rdkafka_partition.c rd_kafka_toppar_op_pause_resume (version barrier bumped in the caller's thread; outdated ops dropped at pop, rdkafka_queue.c rd_kafka_op_filter); rd_kafka_toppar_pause_resume keeps rktp_app_pos as the next fetch start",
            env: Env::default().partitions(1).records(s(0), 0, 50),
            steps: vec![create(0), record(0), pause(0, &[0]), poll_for(0, s(2)), resume(0, &[0]), record(0)],
            project: |t| {
                format!(
                    "records while paused: {}; first after resume: {}",
                    records_between(t, 0, 3, 4),
                    say(&t.outcome(5))
                )
            },
            departure: None,
            quick: true,
        },
        Case {
            name: "seek-rewinds-an-assigned-partition",
            rule: "seek makes the next record of an assigned partition the one sought",
            oracle: "librdkafka rdkafka_partition.c rd_kafka_toppar_seek (version barrier, next_fetch_start = the offset)",
            env: Env::default().partitions(1).records(s(0), 0, 5),
            steps: vec![
                create(0),
                record(0),
                record(0),
                Step::Seek { h: 0, partition: 0, offset: 0 },
                record(0),
            ],
            project: |t| format!("seek: {}; next record {}", say(&t.outcome(3)), say(&t.outcome(4))),
            departure: None,
            quick: true,
        },
        Case {
            name: "seek-of-an-unassigned-partition-fails",
            rule: "seek of a partition not assigned fails (non-retriable)",
            oracle: "librdkafka rdkafka.c rd_kafka_seek → rd_kafka_toppar_seek: no partition object → _UNKNOWN_PARTITION",
            env: Env::default(),
            steps: vec![create(0), Step::Seek { h: 0, partition: 0, offset: 1 }],
            project: |t| format!("seek before any assignment: {}", say(&t.outcome(1))),
            departure: None,
            quick: true,
        },
        Case {
            name: "commit-then-committed",
            rule: "a commit of the current generation is kept; committed() returns it, None for a partition never committed",
            oracle: "Kafka group-coordinator OffsetMetadataManager.commitOffset / fetchOffsets; librdkafka rd_kafka_committed",
            env: Env::default(),
            steps: vec![create(0), assigned(0), commit(0, &[(0, 3)]), committed(0, &[0, 1])],
            project: |t| format!("commit {}; committed {}", say(&t.outcome(2)), say(&t.outcome(3))),
            departure: None,
            quick: true,
        },
        Case {
            name: "a-commit-may-move-an-offset-back",
            rule: "the coordinator keeps the last commit, lower or not",
            oracle: "Kafka group-coordinator OffsetMetadataManager.commitOffset (one record per partition, unconditionally; no monotonicity check)",
            env: Env::default(),
            steps: vec![create(0), assigned(0), commit(0, &[(0, 5)]), commit(0, &[(0, 2)]), committed(0, &[0])],
            project: |t| {
                format!("commits {} then {}; committed {}", say(&t.outcome(2)), say(&t.outcome(3)), say(&t.outcome(4)))
            },
            departure: None,
            quick: true,
        },
        Case {
            name: "a-member-may-commit-a-partition-it-does-not-hold",
            rule: "the coordinator checks member and generation, never who owns the partitions",
            oracle: "Kafka group-coordinator ClassicGroup.validateOffsetCommit (member, generation, state) and OffsetMetadataManager.commitOffset (no ownership check); librdkafka's mock: the same (rdkafka_mock_handlers.c OffsetCommit)",
            env: Env::default().member(s(3), None),
            steps: vec![
                create(0),
                assigned(0),
                revoked(0),
                assigned(0),
                commit(0, &[(0, 4), (1, 4)]),
                committed(0, &[0, 1]),
            ],
            project: |t| {
                format!(
                    "holding {} of 2: commit of both {}; committed {}",
                    assignment_by(t, 0, 3).len(),
                    say(&t.outcome(4)),
                    say(&t.outcome(5))
                )
            },
            departure: None,
            quick: false,
        },
        Case {
            name: "commit-in-the-revoke-callback",
            rule: "a commit of the current generation while the group rebalances (PreparingRebalance: in the revoke callback) is accepted",
            oracle: "Kafka group-coordinator ClassicGroup.validateOffsetCommit: only CompletingRebalance is refused (REBALANCE_IN_PROGRESS); GroupCoordinator.scala: \"During PreparingRebalance phase, we still allow a commit request\"",
            env: Env::default().member(s(3), None),
            steps: vec![
                create_with(0, Hook::CommitOnRevoke(vec![(0, 1), (1, 1)])),
                assigned(0),
                revoked(0),
                assigned(0),
                committed(0, &[0, 1]),
            ],
            project: |t| format!("committed after the revoke callback's commit: {}", say(&t.outcome(4))),
            departure: Some(Departure {
                kafka: "committed after the revoke callback's commit: [(0, Some(1)), (1, Some(1))]",
                reference: "librdkafka's mock answers REBALANCE_IN_PROGRESS to every commit while the group is Joining or Syncing (rdkafka_mock_cgrp.c rd_kafka_mock_cgrp_check_state); Kafka accepts the current generation in PreparingRebalance (ClassicGroup.validateOffsetCommit)",
            }),
            quick: false,
        },
        Case {
            name: "commit-without-a-coordinator-times-out",
            rule: "a commit without brokers waits for a coordinator up to session.timeout, then fails TimedOut (retriable)",
            oracle: "librdkafka rdkafka_cgrp.c rd_kafka_cgrp_defer_offset_commit (ts_timeout = now + session.timeout.ms) and rd_kafka_cgrp_timeout_scan (_WAIT_COORD); the rdkafka backend classifies _WAIT_COORD as TimedOut, retriable",
            env: Env::default().outage(s(4), s(12)),
            steps: vec![create(0), assigned(0), Step::SleepUntil(s(5)), commit(0, &[(0, 1)])],
            project: |t| format!("{} after {}", say(&t.outcome(3)), bucket(t.took(3), s(4))),
            departure: None,
            quick: false,
        },
        Case {
            name: "commit-waits-for-a-coordinator-that-comes-back",
            rule: "a commit made while the brokers are down goes through once they are back within session.timeout",
            oracle: "librdkafka rdkafka_cgrp.c rd_kafka_cgrp_defer_offset_commit: the parked commit is re-sent when the coordinator is known again",
            env: Env::default().outage(s(3), ms(4_200)),
            steps: vec![create(0), assigned(0), Step::SleepUntil(ms(3_300)), commit(0, &[(0, 1)]), committed(0, &[0])],
            project: |t| {
                format!("{} after {}; committed {}", say(&t.outcome(3)), bucket(t.took(3), s(4)), say(&t.outcome(4)))
            },
            departure: None,
            quick: false,
        },
        Case {
            name: "an-outage-reports-connection-errors-as-events",
            rule: "without brokers a poll returns BrokerTransport / AllBrokersDown as error events (retriable, not on every poll); polls in between return nothing",
            oracle: "librdkafka rdkafka_broker.c rd_kafka_broker_set_error (connect refused → _TRANSPORT, identical repeats suppressed 30 s) and rd_kafka_broker_set_state (_ALL_BROKERS_DOWN); rust-rdkafka returns them as MessageConsumption errors",
            env: Env::default().outage(s(3), ms(6_500)),
            steps: vec![create(0), assigned(0), Step::SleepUntil(s(3)), poll_for(0, ms(3_400))],
            project: |t| {
                let errs = t.poll_errors(0);
                let mut codes: Vec<ErrorCode> = errs.iter().map(|e| e.1).collect();
                codes.sort_by_key(|c| format!("{c:?}"));
                codes.dedup();
                let polls = t
                    .of(0)
                    .iter()
                    .filter(|(at, k)| *at >= s(3) && matches!(k, EventKind::PollBegin))
                    .count();
                format!(
                    "error codes {codes:?}; fewer errors than polls: {}",
                    errs.len() < polls
                )
            },
            departure: None,
            quick: false,
        },
        Case {
            name: "an-outage-past-the-session-loses-the-assignment",
            rule: "an outage longer than session.timeout: the client revokes (lost) during it, rejoins after, and reads from the committed offset",
            oracle: "librdkafka rdkafka_cgrp.c rd_kafka_cgrp_session_timeout_check (assignment lost → revoke, member id reset) and rd_kafka_cgrp_join after the coordinator is back",
            env: Env::default().partitions(1).records(s(0), 0, 3).outage(s(3), s(12)),
            steps: vec![
                create(0),
                assigned(0),
                poll_for(0, s(1)),
                commit(0, &[(0, 1)]),
                poll_for(0, s(9)),
                assigned(0),
                record(0),
            ],
            project: |t| {
                let during = t
                    .rebalances(0)
                    .iter()
                    .any(|(_, w)| w == "revoke");
                format!(
                    "revoked during the outage: {during}; assigned again after: {}; first record then {}",
                    say(&t.outcome(5)),
                    say(&t.outcome(6))
                )
            },
            departure: None,
            quick: false,
        },
        Case {
            name: "max-poll-exceeded-leaves-and-rejoins",
            rule: "not polled for max.poll.interval: one MaxPollExceeded error (a dynamic member has left: its commits fail UnknownMember), then a revoke, then the assignment again, from the committed offset",
            oracle: "librdkafka rdkafka_cgrp.c rd_kafka_cgrp_max_poll_interval_check_tmr_cb (one _MAX_POLL_EXCEEDED, leave, member id reset, revoke_all_rejoin_maybe lost)",
            env: Env::default().partitions(1).records(s(0), 0, 3),
            steps: vec![
                create(0),
                assigned(0),
                poll_for(0, s(1)),
                commit(0, &[(0, 1)]),
                Step::Sleep(s(8)),
                Step::Poll { h: 0, timeout: s(1) },
                commit(0, &[(0, 2)]),
                revoked(0),
                assigned(0),
                record(0),
            ],
            project: |t| {
                format!(
                    "next poll: {}; a commit then: {}; revoke: {}; assigned again: {}; first record {}",
                    say(&t.outcome(5)),
                    say(&t.outcome(6)),
                    say(&t.outcome(7)),
                    say(&t.outcome(8)),
                    say(&t.outcome(9))
                )
            },
            departure: None,
            quick: false,
        },
        Case {
            name: "a-closed-static-member-keeps-its-partitions",
            rule: "a static member that closes sends no LeaveGroup: its partitions stay with it until its session runs out",
            oracle: "librdkafka rdkafka_cgrp.c rd_kafka_cgrp_leave_maybe (KIP-345: static members do not leave on close); Kafka removes a member at its session timeout (GroupMetadataManager.expireClassicGroupMemberHeartbeat)",
            env: Env::default(),
            steps: vec![
                create_static(0, "a"),
                create(1),
                Step::Background { h: 1 },
                assigned(0),
                Step::Sleep(s(2)),
                Step::Close { h: 0 },
                Step::Sleep(s(12)),
                Step::Quiet { h: 1 },
            ],
            project: |t| {
                let moved = all_assigned_after(t, 1, 5, 2);
                format!(
                    "the other member gets both partitions {}",
                    match moved {
                        Some(d) if d >= s(4).mul_f64(0.9) => "only after the session timeout",
                        Some(_) => "before the session timeout",
                        None => "never",
                    }
                )
            },
            departure: None,
            quick: false,
        },
        Case {
            name: "a-closed-dynamic-member-leaves",
            rule: "a dynamic member that closes sends LeaveGroup: the group rebalances without waiting for its session",
            oracle: "librdkafka rdkafka_cgrp.c rd_kafka_cgrp_leave_maybe (LeaveGroup for dynamic members); Kafka GroupMetadataManager.classicGroupLeave (removal and rebalance at once)",
            env: Env::default(),
            steps: vec![
                create(0),
                create(1),
                Step::Background { h: 1 },
                assigned(0),
                Step::Sleep(s(2)),
                Step::Close { h: 0 },
                Step::Sleep(s(8)),
                Step::Quiet { h: 1 },
            ],
            project: |t| {
                format!(
                    "the other member gets both partitions {}",
                    match all_assigned_after(t, 1, 5, 2) {
                        Some(d) if d >= s(4).mul_f64(0.9) => "only after the session timeout",
                        Some(_) => "before the session timeout",
                        None => "never",
                    }
                )
            },
            departure: None,
            quick: false,
        },
        Case {
            name: "unsubscribe-then-poll-leaves-even-a-static-member",
            rule: "unsubscribe() revokes the assignment; once a poll served the revoke the member sends LeaveGroup, a static member included: the group rebalances without waiting for its session",
            oracle: "librdkafka rdkafka_cgrp.c rd_kafka_cgrp_unsubscribe (RD_KAFKA_CGRP_F_LEAVE_ON_UNASSIGN_DONE; rd_kafka_cgrp_unassign_done → rd_kafka_cgrp_leave_maybe, which skips static members only when terminating)",
            env: Env::default(),
            steps: vec![
                create_static(0, "a"),
                create(1),
                Step::Background { h: 1 },
                assigned(0),
                Step::Sleep(s(2)),
                Step::Unsubscribe { h: 0 },
                Step::Poll { h: 0, timeout: ms(500) },
                Step::Sleep(s(8)),
                Step::Quiet { h: 1 },
            ],
            project: |t| {
                format!(
                    "the other member gets both partitions {}",
                    match all_assigned_after(t, 1, 5, 2) {
                        Some(d) if d >= s(4).mul_f64(0.9) => "only after the session timeout",
                        Some(_) => "before the session timeout",
                        None => "never",
                    }
                )
            },
            departure: None,
            quick: false,
        },
        Case {
            name: "unsubscribe-then-close-of-a-static-member-sends-no-leave",
            rule: "a close right after unsubscribe() (no poll served the revoke) terminates the handle: a static member then sends no LeaveGroup (Go's restart closer: Unsubscribe(); Close())",
            oracle: "librdkafka rdkafka_cgrp.c rd_kafka_cgrp_leave_maybe: \"KIP-345: Static group members must not send a LeaveGroupRequest on termination\" (RD_KAFKA_CGRP_F_TERMINATE set by the close before the unassign is done)",
            env: Env::default(),
            steps: vec![
                create_static(0, "a"),
                create(1),
                Step::Background { h: 1 },
                assigned(0),
                Step::Sleep(s(2)),
                Step::Unsubscribe { h: 0 },
                Step::Close { h: 0 },
                Step::Sleep(s(12)),
                Step::Quiet { h: 1 },
            ],
            project: |t| {
                format!(
                    "the other member gets both partitions {}",
                    match all_assigned_after(t, 1, 5, 2) {
                        Some(d) if d >= s(4).mul_f64(0.9) => "only after the session timeout",
                        Some(_) => "before the session timeout",
                        None => "never",
                    }
                )
            },
            departure: None,
            quick: false,
        },
        Case {
            name: "a-re-created-static-member-takes-the-closed-ones-place",
            rule: "a handle created with the static id of a closed member that still holds its place takes that place and assignment at once, without a rebalance, and fences nobody",
            oracle: KAFKA_TAKEOVER,
            env: Env::default(),
            steps: vec![
                create_static(0, "a"),
                assigned(0),
                Step::Close { h: 0 },
                create_static(1, "a"),
                assigned(1),
            ],
            project: |t| {
                format!(
                    "the newcomer has {:?} {}; anyone fenced: {}",
                    assignment_by(t, 1, 4),
                    bucket(t.took(4), s(4)),
                    fenced(t, 0) || fenced(t, 1)
                )
            },
            departure: Some(Departure {
                kafka: "the newcomer has [0, 1] at once; anyone fenced: false",
                reference: MOCK_STATIC,
            }),
            quick: false,
        },
        Case {
            name: "a-static-id-taken-while-open-fences-the-old-handle",
            rule: "a handle created with the static id of a member whose handle is still open takes its place; the old handle's next poll fails Fenced (fatal) once, then returns nothing",
            oracle: KAFKA_TAKEOVER,
            env: Env::default(),
            steps: vec![
                create_static(0, "a"),
                assigned(0),
                create_static(1, "a"),
                Step::Poll { h: 0, timeout: s(2) },
                Step::Poll { h: 0, timeout: s(1) },
            ],
            project: |t| {
                format!("the old handle's next polls: {}, {}", say(&t.outcome(3)), say(&t.outcome(4)))
            },
            departure: Some(Departure {
                kafka: "the old handle's next polls: err Fenced (Fatal), nothing",
                reference: MOCK_STATIC,
            }),
            quick: false,
        },
        Case {
            name: "a-closed-handle-refuses-every-call",
            rule: "after close every call fails Closed (non-retriable)",
            oracle: "the seam's contract (ConsumerHandle::close); the rdkafka backend marks the handle closed before librdkafka's destroy",
            env: Env::default(),
            steps: vec![create(0), assigned(0), Step::Close { h: 0 }, Step::Poll { h: 0, timeout: s(1) }, commit(0, &[(0, 1)])],
            project: |t| format!("poll {}; commit {}", say(&t.outcome(3)), say(&t.outcome(4))),
            departure: None,
            quick: true,
        },
        Case {
            name: "a-poll-with-nothing-waits-its-timeout",
            rule: "a poll with nothing to return waits its whole timeout and returns nothing (never a timed-out error)",
            oracle: "librdkafka rdkafka_queue.c rd_kafka_q_pop_serve (waits the timeout); rust-rdkafka BaseConsumer::poll returns None",
            env: Env::default(),
            steps: vec![create(0), assigned(0), Step::Poll { h: 0, timeout: ms(1_500) }],
            project: |t| {
                let took = t.took(2);
                format!(
                    "{} after {}",
                    say(&t.outcome(2)),
                    if took >= ms(1_400) && took < ms(2_500) { "its timeout" } else { "another time" }
                )
            },
            departure: None,
            quick: true,
        },
        Case {
            name: "an-empty-groups-first-rebalance-waits-the-initial-delay",
            rule: "the first rebalance of an empty group waits group.initial.rebalance.delay",
            oracle: "Kafka GroupMetadataManager.maybeCompleteJoinElseSchedule / initial rebalance (group.initial.rebalance.delay.ms, default 3000); librdkafka's mock: rd_kafka_mock_cgrp_classic_rebalance (group_initial_rebalance_delay_ms)",
            env: Env { initial_delay: s(3), ..Env::default() },
            steps: vec![create(0), assigned(0)],
            project: |t| {
                let took = t.took(1);
                format!(
                    "assigned after {}",
                    if took >= ms(2_500) && took < ms(4_500) { "the initial delay" } else { "another time" }
                )
            },
            departure: None,
            quick: false,
        },
        Case {
            name: "committed-without-brokers-times-out",
            rule: "committed() without brokers waits its timeout (10 s) and fails TimedOut (retriable)",
            oracle: "librdkafka rdkafka.c rd_kafka_committed (loops while the coordinator is unknown until the timeout: _TIMED_OUT); the rdkafka backend's op_timeout",
            env: Env::default().outage(s(2), s(14)),
            steps: vec![create(0), assigned(0), Step::SleepUntil(s(3)), committed(0, &[0])],
            project: |t| {
                let took = t.took(3);
                format!(
                    "{} after {}",
                    say(&t.outcome(3)),
                    if took >= s(9) && took < s(12) { "its timeout" } else { "another time" }
                )
            },
            departure: None,
            quick: false,
        },
    ]
}
