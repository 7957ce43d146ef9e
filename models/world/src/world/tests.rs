//! Tests of the world's own rules, on `Virtual<Std>` (deterministic: one execution, virtual
//! time), plus one small model under loom and one under shuttle to show the world runs under
//! both checkers.

use super::*;
use crate::log::{Event, Expiry};
use pausebeat::kafka::{NoHook, Timestamp};
use pausebeat::sync::{Backend, Model, Std, Virtual};

type Rt = Virtual<Std>;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn at(rt: &impl Runtime) -> u64 {
    rt.now().since_origin().as_secs()
}

fn world(spec: WorldSpec) -> (Rt, World<Rt>) {
    let rt = Rt::new();
    let w = World::new(&rt, spec);
    (rt, w)
}

fn create(w: &World<Rt>, id: Option<&str>) -> WorldHandle<Rt> {
    w.create(id, Arc::new(NoHook)).expect("create")
}

fn events(w: &World<Rt>) -> Vec<Event> {
    w.log().snapshot()
}

/// The events of a kind matched by `f`, with their time in seconds and their handle.
fn find(w: &World<Rt>, f: impl Fn(&EventKind) -> bool) -> Vec<(u64, Option<HandleId>, EventKind)> {
    events(w)
        .into_iter()
        .filter(|e| f(&e.kind))
        .map(|e| (e.at.since_origin().as_secs(), e.handle, e.kind))
        .collect()
}

fn rec(r: Result<Option<Record>, KafkaError>) -> (Partition, Offset) {
    let r = r.expect("poll ok").expect("a record");
    (r.partition, r.offset)
}

fn code(r: Result<impl fmt::Debug, KafkaError>) -> (ErrorClass, ErrorCode) {
    let e = r.expect_err("an error");
    (e.class, e.code)
}

/// Polls until the next poll would block: the records it got.
fn drain(h: &WorldHandle<Rt>) -> Vec<(Partition, Offset)> {
    let mut got = Vec::new();
    while let Some(r) = h.poll(Duration::ZERO).expect("poll") {
        got.push((r.partition, r.offset));
    }
    got
}

/// A hook that records its calls and optionally pauses everything before or after assign.
struct Recorder {
    calls: Mutex<Rt, Vec<String>>,
    pause_before: bool,
    pause_after: bool,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            calls: Mutex::new(Vec::new()),
            pause_before: false,
            pause_after: false,
        }
    }
}

impl RebalanceHook<WorldHandle<Rt>> for Recorder {
    fn revoked(&self, h: &WorldHandle<Rt>, p: &[Partition]) {
        let a = h.assignment().expect("assignment");
        self.calls
            .with(|c| c.push(format!("revoked {p:?} (assigned {a:?})")));
    }
    fn before_assign(&self, h: &WorldHandle<Rt>, p: &[Partition]) {
        let a = h.assignment().expect("assignment");
        self.calls
            .with(|c| c.push(format!("before {p:?} (assigned {a:?})")));
        if self.pause_before {
            h.pause(p).expect("pause");
        }
    }
    fn after_assign(&self, h: &WorldHandle<Rt>, p: &[Partition]) {
        let a = h.assignment().expect("assignment");
        self.calls
            .with(|c| c.push(format!("after {p:?} (assigned {a:?})")));
        if self.pause_after {
            h.pause(p).expect("pause");
        }
    }
}

/// The default spec without the initial rebalance delay (most tests are about other rules).
fn spec() -> WorldSpec {
    WorldSpec::default().with_initial_rebalance_delay(Duration::ZERO)
}

/// Polls until an assignment was served (at most `n` polls of `t`): the polls it took.
fn settle(h: &WorldHandle<Rt>, t: Duration) -> usize {
    for n in 1..=10 {
        h.poll(t).expect("poll");
        if !h.assignment().unwrap().is_empty() {
            return n;
        }
    }
    panic!("no assignment after 10 polls");
}

/// Polls every handle (zero timeout) in rounds until each has served a rebalance and none has
/// one pending: a group whose members all poll settles (each must serve its revoke for the
/// join phase to end).
fn settle_all(hs: &[&WorldHandle<Rt>]) {
    for _ in 0..10 {
        for h in hs {
            h.poll(Duration::ZERO).expect("poll");
        }
    }
}

#[test]
fn the_first_poll_serves_the_assignment_with_hooks_in_order() {
    let (rt, w) = world(spec().produce(secs(0), 0, 1));
    let hook = Arc::new(Recorder::default());
    let c = w.create(None, hook.clone()).unwrap();
    assert_eq!(c.assignment().unwrap(), Vec::<Partition>::new());
    assert_eq!(
        c.poll(secs(5)).unwrap(),
        None,
        "a served rebalance returns None"
    );
    assert_eq!(at(&rt), 0, "at once, not after the timeout");
    assert_eq!(c.assignment().unwrap(), vec![0, 1]);
    assert_eq!(
        hook.calls.with(|c| c.clone()),
        vec![
            "before [0, 1] (assigned [])",
            "after [0, 1] (assigned [0, 1])"
        ]
    );
    assert_eq!(rec(c.poll(secs(5))), (0, 0));
    assert_eq!(c.poll(secs(5)).unwrap(), None);
    assert_eq!(at(&rt), 5, "nothing more: the poll times out");
    let ids: Vec<String> = (0..2).map(|_| create(&w, None).id().to_string()).collect();
    assert_eq!(ids, vec!["c2", "c3"]);
    assert_eq!(w.snapshot().created.len(), 3);
}

#[test]
fn an_empty_groups_first_rebalance_waits_the_initial_delay() {
    let (rt, w) = world(WorldSpec::default().produce(secs(0), 0, 1));
    let c = create(&w, None);
    assert_eq!(c.poll(secs(1)).unwrap(), None);
    assert_eq!(
        (at(&rt), c.assignment().unwrap()),
        (1, Vec::<Partition>::new())
    );
    assert_eq!(c.poll(secs(5)).unwrap(), None, "served at 3 s");
    assert_eq!((at(&rt), c.assignment().unwrap()), (3, vec![0, 1]));
    // A second member joining a group that is not empty: no delay.
    let d = create(&w, None);
    c.poll(secs(1)).unwrap(); // revoke
    assert_eq!(c.assignment().unwrap(), Vec::<Partition>::new());
    c.poll(secs(1)).unwrap(); // assign
    assert_eq!((at(&rt), c.assignment().unwrap()), (3, vec![0]));
    d.poll(secs(1)).unwrap();
    assert_eq!(d.assignment().unwrap(), vec![1]);
}

#[test]
fn records_produced_later_become_visible_at_their_time() {
    let (rt, w) = world(
        spec()
            .with_partitions(1)
            .produce(secs(30), 0, 2)
            .produce(secs(10), 0, 1),
    );
    let c = create(&w, None);
    c.poll(secs(1)).unwrap();
    assert_eq!(w.snapshot().produced[&0], 0);
    assert_eq!(rec(c.poll(secs(100))), (0, 0));
    assert_eq!(at(&rt), 10);
    assert_eq!(c.poll(secs(5)).unwrap(), None);
    assert_eq!(at(&rt), 15);
    assert_eq!(rec(c.poll(secs(100))), (0, 1));
    assert_eq!(at(&rt), 30);
    assert_eq!(rec(c.poll(secs(100))), (0, 2));
    let s = w.snapshot();
    assert_eq!(s.produced[&0], 3);
    assert_eq!(s.scheduled[&0], 3);
}

#[test]
fn records_come_lowest_partition_first_then_by_offset() {
    let (_rt, w) = world(
        spec()
            .with_partitions(3)
            .produce(secs(0), 2, 1)
            .produce(secs(0), 0, 2),
    );
    let c = create(&w, None);
    c.poll(secs(1)).unwrap();
    assert_eq!(drain(&c), vec![(0, 0), (0, 1), (2, 0)]);
}

#[test]
fn poll_at_hand_takes_what_is_there_in_one_go_and_stops_when_asked() {
    let (rt, w) = world(spec().with_partitions(1).produce(secs(0), 0, 5));
    let c = create(&w, None);
    c.poll(secs(1)).unwrap();
    let mut got = Vec::new();
    c.poll_at_hand(&mut |r| {
        got.push(r.offset);
        got.len() < 3
    })
    .unwrap();
    assert_eq!(got, vec![0, 1, 2], "stopped after the third");
    got.clear();
    c.poll_at_hand(&mut |r| {
        got.push(r.offset);
        true
    })
    .unwrap();
    assert_eq!((got, at(&rt)), (vec![3, 4], 0), "the rest, without waiting");
    let ends = find(&w, |k| {
        matches!(k, EventKind::PollEnd(PollOutcome::Record { .. }))
    });
    assert_eq!(ends.len(), 5, "each record logged as a poll");
    // Something else to serve (a rebalance): a regular zero-timeout poll serves it.
    let _d = create(&w, None);
    let mut n = 0;
    c.poll_at_hand(&mut |_| {
        n += 1;
        true
    })
    .unwrap();
    assert_eq!((n, c.assignment().unwrap()), (0, vec![]), "the revoke");
}

#[test]
fn a_static_member_re_created_takes_the_closed_ones_place_without_a_rebalance() {
    let (rt, w) = world(spec().produce(secs(1), 0, 4).produce(secs(1), 1, 2));
    let other = create(&w, None);
    let c1 = create(&w, Some("a"));
    settle_all(&[&other, &c1]);
    rt.sleep(secs(1));
    assert_eq!(c1.assignment().unwrap(), vec![1]);
    assert_eq!(drain(&c1).len(), 2);
    c1.commit(&[(1, 1)]).unwrap();
    let gen = w.snapshot().generation;
    c1.close().unwrap();
    rt.sleep(secs(19));
    assert_eq!(
        w.snapshot().group,
        vec![("c1".to_string(), vec![0]), ("c2".to_string(), vec![1])],
        "a closed static member keeps its place (no LeaveGroup)"
    );
    let c3 = create(&w, Some("a"));
    assert_eq!(
        find(&w, |k| matches!(k, EventKind::TookOver { .. })),
        vec![(
            20,
            Some(c3.id()),
            EventKind::TookOver {
                instance_id: "a".into(),
                from: c1.id()
            }
        )]
    );
    assert_eq!(c3.poll(secs(1)).unwrap(), None, "its assignment at once");
    assert_eq!(c3.assignment().unwrap(), vec![1]);
    assert_eq!(drain(&c3), vec![(1, 1)], "from the committed offset");
    assert_eq!(w.snapshot().generation, gen, "no rebalance");
    assert_eq!(drain(&other), vec![(0, 0), (0, 1), (0, 2), (0, 3)]);
    assert!(find(&w, |k| matches!(k, EventKind::Revoked(_))).is_empty());
    assert!(w.snapshot().fenced.is_empty(), "nobody is fenced");
    // The old member's session no longer matters: nothing expires at 45 s.
    rt.sleep(secs(60));
    let _ = c3.assignment();
    assert!(find(&w, |k| matches!(k, EventKind::Expired(_))).is_empty());
}

#[test]
fn a_static_id_taken_while_its_handle_is_open_fences_the_old_handle() {
    let (_rt, w) = world(spec().produce(secs(0), 0, 1));
    let c1 = create(&w, Some("a"));
    settle(&c1, secs(1));
    c1.commit(&[(0, 0)]).unwrap();
    let c2 = create(&w, Some("a"));
    assert_eq!(
        find(&w, |k| matches!(k, EventKind::Fenced { .. })),
        vec![(
            0,
            Some(c1.id()),
            EventKind::Fenced {
                instance_id: "a".into(),
                by: Some(c2.id())
            }
        )]
    );
    assert_eq!(
        code(c1.poll(secs(1))),
        (ErrorClass::Fatal, ErrorCode::Fenced),
        "one fatal error"
    );
    assert_eq!(
        c1.poll(secs(1)).unwrap(),
        None,
        "then nothing: a silent stall"
    );
    assert_eq!(c1.assignment().unwrap(), Vec::<Partition>::new());
    assert_eq!(
        code(c1.commit(&[(0, 1)])),
        (ErrorClass::Fatal, ErrorCode::Fenced)
    );
    c2.poll(secs(1)).unwrap();
    assert_eq!(
        c2.assignment().unwrap(),
        vec![0, 1],
        "the newcomer has its place"
    );
    assert_eq!(w.snapshot().fenced, vec![c1.id()]);
    // Of two racing joins the later wins: a third fences the second.
    let c3 = create(&w, Some("a"));
    assert_eq!(w.snapshot().fenced, vec![c1.id(), c2.id()]);
    c3.poll(secs(1)).unwrap();
    assert_eq!(c3.assignment().unwrap(), vec![0, 1]);
    // A dynamic member never conflicts.
    let d = create(&w, None);
    d.poll(secs(1)).unwrap();
    assert_eq!(w.snapshot().fenced.len(), 2);
}

#[test]
fn a_closed_static_member_keeps_its_partitions_until_its_session_expires() {
    let (rt, w) = world(spec());
    let c1 = create(&w, Some("s"));
    let c2 = create(&w, None);
    settle_all(&[&c1, &c2]);
    assert_eq!(c2.assignment().unwrap(), vec![1]);
    c1.close().unwrap();
    assert_eq!(c2.poll(secs(100)).unwrap(), None, "the revoke");
    assert_eq!(at(&rt), 45, "the poll woke for the rebalance at the expiry");
    assert_eq!(c2.assignment().unwrap(), Vec::<Partition>::new());
    c2.poll(secs(1)).unwrap();
    assert_eq!(c2.assignment().unwrap(), vec![0, 1]);
    // A dynamic member leaves at once.
    let c3 = create(&w, None);
    settle(&c2, secs(1));
    assert_eq!(c2.assignment().unwrap(), vec![0]);
    c3.close().unwrap();
    c2.poll(secs(1)).unwrap();
    c2.poll(secs(1)).unwrap();
    assert_eq!(c2.assignment().unwrap(), vec![0, 1]);
    assert_eq!(at(&rt), 45);
}

#[test]
fn max_poll_expiry_fails_one_poll_then_revokes_then_rejoins_and_redelivers() {
    let (rt, w) = world(spec().with_partitions(1).produce(secs(0), 0, 5));
    let c = create(&w, None);
    c.poll(secs(1)).unwrap();
    assert_eq!(drain(&c), vec![(0, 0), (0, 1), (0, 2), (0, 3), (0, 4)]);
    c.commit(&[(0, 2)]).unwrap();
    rt.sleep(secs(299));
    assert_eq!(drain(&c), vec![], "299 s without a poll: still a member");
    rt.sleep(secs(301));
    assert_eq!(
        w.snapshot().group,
        vec![],
        "a dynamic member left the group"
    );
    assert_eq!(
        code(c.poll(secs(1))),
        (ErrorClass::NonRetriable, ErrorCode::MaxPollExceeded)
    );
    assert_eq!(
        code(c.commit(&[(0, 4)])),
        (ErrorClass::NonRetriable, ErrorCode::UnknownMember)
    );
    assert_eq!(c.poll(secs(1)).unwrap(), None, "the revoke (lost)");
    assert_eq!(c.assignment().unwrap(), Vec::<Partition>::new());
    settle(&c, secs(1));
    assert_eq!(
        drain(&c),
        vec![(0, 2), (0, 3), (0, 4)],
        "uncommitted: again"
    );
    let ex = find(&w, |k| matches!(k, EventKind::Expired(_)));
    assert_eq!(
        ex,
        vec![(600, Some(c.id()), EventKind::Expired(Expiry::MaxPoll))]
    );
    let notes = find(
        &w,
        |k| matches!(k, EventKind::Fault(s) if s.contains("max.poll")),
    );
    assert_eq!(
        notes.len(),
        1,
        "the late observation names the instant: {notes:?}"
    );
    assert!(matches!(&notes[0].2, EventKind::Fault(s) if s.contains("599.")));
    let reb = find(&w, |k| {
        matches!(k, EventKind::Revoked(_) | EventKind::Assigned { .. })
    });
    assert_eq!(reb.len(), 3, "assign, then revoke, then assign: {reb:?}");
}

#[test]
fn a_static_member_past_max_poll_takes_its_own_place_back() {
    let (rt, w) = world(spec().with_partitions(1).produce(secs(0), 0, 2));
    let other = create(&w, None);
    let c = create(&w, Some("s"));
    settle_all(&[&other, &c]);
    let gen = w.snapshot().generation;
    for _ in 0..31 {
        other.poll(secs(10)).unwrap(); // only the other member polls
    }
    assert_eq!(at(&rt), 310);
    assert_eq!(
        find(&w, |k| matches!(k, EventKind::Expired(_))),
        vec![(300, Some(c.id()), EventKind::Expired(Expiry::MaxPoll))]
    );
    assert_eq!(w.snapshot().group.len(), 2, "no LeaveGroup: still a member");
    assert_eq!(code(c.poll(secs(1))).1, ErrorCode::MaxPollExceeded);
    c.poll(secs(1)).unwrap(); // the revoke (lost)
    c.poll(secs(1)).unwrap(); // rejoins in its own place, same generation
    assert_eq!(w.snapshot().generation, gen);
    assert!(w.snapshot().fenced.is_empty());
}

#[test]
fn a_poll_in_progress_keeps_the_member_alive() {
    let (rt, w) = world(spec().with_max_poll_interval(secs(10)));
    let c = create(&w, None);
    c.poll(secs(1)).unwrap();
    assert_eq!(c.poll(secs(25)).unwrap(), None);
    assert_eq!(at(&rt), 25);
    assert_eq!(c.poll(secs(9)).unwrap(), None);
    assert!(find(&w, |k| matches!(k, EventKind::Expired(_))).is_empty());
}

#[test]
fn a_rebalance_revokes_in_one_poll_and_assigns_in_a_later_one() {
    let (rt, w) = world(spec().produce(secs(0), 1, 2));
    let hook = Arc::new(Recorder::default());
    let c = w.create(None, hook.clone()).unwrap();
    c.poll(secs(1)).unwrap();
    let d = create(&w, None);
    assert_eq!(c.poll(secs(100)).unwrap(), None, "the revoke");
    assert_eq!(c.assignment().unwrap(), Vec::<Partition>::new());
    assert_eq!(at(&rt), 0);
    d.poll(Duration::ZERO).unwrap();
    assert_eq!(
        c.poll(secs(100)).unwrap(),
        None,
        "the assign, in a later poll"
    );
    assert_eq!(c.assignment().unwrap(), vec![0]);
    assert_eq!(
        hook.calls.with(|c| c.clone()),
        vec![
            "before [0, 1] (assigned [])",
            "after [0, 1] (assigned [0, 1])",
            "revoked [0, 1] (assigned [0, 1])",
            "before [0] (assigned [])",
            "after [0] (assigned [0])",
        ]
    );
    // The join phase waits for every member to rejoin: c2 joined at once (its JoinGroup), c1
    // once it served its revoke. A member that does not poll holds everybody up until the
    // rebalance timeout (max.poll.interval), then it is removed.
    let e = create(&w, None); // c3 joins: c1 and c2 must rejoin
    c.poll(secs(1)).unwrap(); // c1 revokes and rejoins; c2 never polls
    assert_eq!(c.poll(secs(1000)).unwrap(), None);
    assert_eq!(at(&rt), 300, "the rebalance timeout");
    let ex = find(&w, |k| matches!(k, EventKind::Expired(_)));
    assert_eq!(ex[0].1, Some(d.id()));
    assert_eq!(c.assignment().unwrap(), vec![0]);
    e.poll(Duration::ZERO).unwrap();
    assert_eq!(e.assignment().unwrap(), vec![1]);
}

#[test]
fn a_rebalance_takes_the_chosen_extra_time() {
    let (rt, w) = world(spec().fault(Fault::RebalanceTakesOneOf(vec![secs(4), secs(1)])));
    let c = create(&w, None);
    c.poll(secs(10)).unwrap();
    assert_eq!((at(&rt), c.assignment().unwrap()), (4, vec![0, 1]));
}

#[test]
fn other_members_joining_and_leaving_rebalance() {
    let (rt, w) = world(
        spec()
            .member(secs(10), Some(secs(20)))
            .produce(secs(0), 1, 1)
            .produce(secs(15), 1, 1),
    );
    let c = create(&w, None);
    c.poll(secs(1)).unwrap();
    assert_eq!(rec(c.poll(secs(1))), (1, 0));
    assert_eq!(c.poll(secs(100)).unwrap(), None);
    assert_eq!(at(&rt), 10, "woken by the member joining");
    assert_eq!(c.assignment().unwrap(), Vec::<Partition>::new(), "revoked");
    c.poll(secs(1)).unwrap();
    assert_eq!(c.assignment().unwrap(), vec![0]);
    assert_eq!(
        w.snapshot().group,
        vec![("c1".to_string(), vec![0]), ("m1".to_string(), vec![1])]
    );
    assert_eq!(c.poll(secs(100)).unwrap(), None, "p1@1 is m1's now");
    assert_eq!(at(&rt), 20);
    c.poll(secs(1)).unwrap();
    assert_eq!(c.assignment().unwrap(), vec![0, 1]);
    assert_eq!(
        rec(c.poll(secs(1))),
        (1, 0),
        "p1 came back: from committed (none: 0)"
    );
    let wl = find(&w, |k| matches!(k, EventKind::Workload(_)));
    assert_eq!(
        wl,
        vec![
            (10, None, EventKind::Workload("member m1 joins".into())),
            (20, None, EventKind::Workload("member m1 leaves".into())),
        ]
    );
}

#[test]
fn every_assigned_partition_starts_at_its_committed_offset_kept_ones_too() {
    let (rt, w) = world(
        spec()
            .member(secs(10), Some(secs(20)))
            .produce(secs(0), 0, 4)
            .produce(secs(0), 1, 4),
    );
    let c = create(&w, None);
    c.poll(secs(1)).unwrap();
    let mut got = Vec::new();
    for _ in 0..6 {
        got.push(rec(c.poll(secs(1))));
    }
    assert_eq!(got[4..], [(1, 0), (1, 1)]);
    c.commit(&[(0, 3)]).unwrap();
    rt.sleep(secs(12));
    settle(&c, secs(1)); // m1 joined: c1 keeps p0
    assert_eq!(c.assignment().unwrap(), vec![0]);
    assert_eq!(
        drain(&c),
        vec![(0, 3)],
        "kept, yet from its committed offset"
    );
}

#[test]
fn a_consuming_member_handles_and_commits_once_the_old_owner_let_go() {
    let (rt, w) = world(
        spec()
            .consuming_member(secs(10), Some(secs(30)))
            .produce(secs(0), 1, 4)
            .produce(secs(15), 1, 2),
    );
    let c = create(&w, None);
    c.poll(secs(1)).unwrap();
    assert_eq!(rec(c.poll(secs(1))), (1, 0));
    c.commit(&[(1, 1)]).unwrap();
    rt.sleep(secs(12)); // m1 joined at 10 s; c1 has not served the revocation yet
    let _ = c.assignment(); // any call moves the world on
    assert_eq!(
        w.snapshot().committed,
        BTreeMap::from([(1, 1)]),
        "the barrier holds"
    );
    c.commit(&[(1, 2)]).unwrap(); // the group is rebalancing: the old generation may commit
    c.poll(secs(1)).unwrap(); // serves the revoke; the join phase ends
    c.poll(secs(1)).unwrap(); // the assignment
    assert_eq!(c.assignment().unwrap(), vec![0]);
    let handled = find(&w, |k| matches!(k, EventKind::OtherMemberHandled { .. }));
    assert_eq!(
        handled.iter().map(|e| e.2.clone()).collect::<Vec<_>>(),
        vec![EventKind::OtherMemberHandled {
            member: "m1".into(),
            partition: 1,
            from: 2,
            to: 4
        }],
        "from the committed offset to the end"
    );
    rt.sleep(secs(10)); // t = 23: the records produced at 15 s are m1's too
    let _ = c.assignment();
    assert_eq!(w.snapshot().committed.get(&1), Some(&6));
    c.poll(secs(100)).unwrap(); // m1 leaves at 30 s
    assert_eq!(at(&rt), 30);
    settle(&c, secs(1));
    assert_eq!(c.assignment().unwrap(), vec![0, 1]);
    assert_eq!(drain(&c), vec![], "m1 handled everything");
}

#[test]
fn pause_survives_a_revoke_and_reassign() {
    let (rt, w) = world(
        spec()
            .member(secs(10), Some(secs(20)))
            .produce(secs(0), 1, 2),
    );
    let c = create(&w, None);
    c.poll(secs(1)).unwrap();
    c.pause(&[1]).unwrap();
    assert_eq!(c.paused(), vec![1]);
    assert_eq!(drain(&c), vec![]);
    settle(&c, secs(100));
    assert_eq!((at(&rt), c.assignment().unwrap()), (10, vec![0]));
    assert_eq!(c.paused(), vec![1], "the flag outlives the revocation");
    c.resume(&c.assignment().unwrap()).unwrap(); // Go's resume: what is assigned now
    c.poll(secs(100)).unwrap();
    settle(&c, secs(1));
    assert_eq!((at(&rt), c.assignment().unwrap()), (20, vec![0, 1]));
    let assigned = find(&w, |k| matches!(k, EventKind::Assigned { .. }));
    assert_eq!(
        assigned.last().unwrap().2,
        EventKind::Assigned {
            partitions: vec![0, 1],
            paused: vec![1]
        }
    );
    assert_eq!(c.poll(secs(50)).unwrap(), None, "p1 stays paused");
    c.resume(&[1]).unwrap();
    assert_eq!(drain(&c), vec![(1, 0), (1, 1)]);
}

#[test]
fn a_pause_in_before_assign_sticks_only_once_the_topic_is_known() {
    // The first assignment: the client has no partition objects yet, the pause is lost.
    for (before, after) in [(true, false), (false, true)] {
        let (_rt, w) = world(spec().produce(secs(0), 0, 1));
        let hook = Arc::new(Recorder {
            pause_before: before,
            pause_after: after,
            ..Recorder::default()
        });
        let c = w.create(None, hook).unwrap();
        c.poll(secs(1)).unwrap();
        let pauses = find(&w, |k| matches!(k, EventKind::Pause { .. }));
        let applied = if after { vec![0, 1] } else { vec![] };
        assert_eq!(
            pauses,
            vec![(
                0,
                Some(c.id()),
                EventKind::Pause {
                    asked: vec![0, 1],
                    applied: applied.clone()
                }
            )]
        );
        assert_eq!(c.paused(), applied);
        let got = drain(&c);
        assert_eq!(got.is_empty(), after, "before: {before}, got {got:?}");
    }
    // A later assignment: the partitions are known, a pause before the assign sticks.
    let (rt, w) = world(
        spec()
            .member(secs(10), Some(secs(20)))
            .produce(secs(0), 1, 1),
    );
    let hook = Arc::new(Recorder {
        pause_before: true,
        ..Recorder::default()
    });
    let c = w.create(None, hook).unwrap();
    c.poll(secs(1)).unwrap();
    assert_eq!(c.paused(), Vec::<Partition>::new());
    rt.sleep(secs(25));
    settle(&c, secs(1));
    settle(&c, secs(1));
    assert_eq!(c.assignment().unwrap(), vec![0, 1]);
    assert_eq!(c.paused(), vec![0, 1]);
    assert_eq!(drain(&c), vec![]);
}

#[test]
fn a_short_outage_reports_connection_errors_once_and_keeps_the_membership() {
    let (rt, w) = world(spec().with_partitions(1).produce(secs(0), 0, 1).fault(
        Fault::BrokerDown {
            from: secs(100),
            until: secs(140),
        },
    ));
    let c = create(&w, None);
    c.poll(secs(1)).unwrap();
    assert_eq!(rec(c.poll(secs(1))), (0, 0));
    let r = ErrorClass::Retriable;
    assert_eq!(code(c.poll(secs(200))), (r, ErrorCode::BrokerTransport));
    assert_eq!(
        at(&rt),
        100,
        "a waiting poll gets it when the outage starts"
    );
    assert_eq!(code(c.poll(secs(5))), (r, ErrorCode::AllBrokersDown));
    assert_eq!(c.poll(secs(5)).unwrap(), None, "then polls wait");
    assert_eq!(at(&rt), 105);
    assert_eq!(
        c.committed(&[0]).map_err(|e| e.code),
        Err(ErrorCode::TimedOut)
    );
    assert_eq!(at(&rt), 115, "a query waits its timeout");
    c.pause(&[0]).unwrap();
    c.resume(&[0]).unwrap();
    c.seek(0, 0).unwrap();
    assert_eq!(c.assignment().unwrap(), vec![0]);
    assert_eq!(
        code(c.poll(secs(20))),
        (r, ErrorCode::BrokerTransport),
        "30 s later"
    );
    assert_eq!(at(&rt), 130);
    c.commit(&[(0, 1)]).unwrap();
    assert_eq!(at(&rt), 140, "the commit waited for the coordinator");
    assert_eq!(rec(c.poll(secs(1))), (0, 0), "sought back, same assignment");
    assert!(find(&w, |k| matches!(k, EventKind::Expired(_))).is_empty());
    let faults = find(&w, |k| matches!(k, EventKind::Fault(_)));
    assert_eq!(faults.len(), 2, "{faults:?}");
    assert_eq!((faults[0].0, faults[1].0), (100, 140));
}

#[test]
fn a_commit_without_a_coordinator_times_out_after_the_session_timeout() {
    let (rt, w) = world(spec().with_partitions(1).fault(Fault::BrokerDown {
        from: secs(10),
        until: secs(100),
    }));
    let c = create(&w, None);
    c.poll(secs(1)).unwrap();
    rt.sleep(secs(10));
    assert_eq!(
        code(c.commit(&[(0, 0)])),
        (ErrorClass::Retriable, ErrorCode::TimedOut)
    );
    assert_eq!(at(&rt), 55, "45 s later");
}

#[test]
fn a_long_outage_expires_the_session_and_the_member_rejoins_after_it() {
    let (rt, w) = world(spec().with_partitions(1).produce(secs(0), 0, 3).fault(
        Fault::BrokerDown {
            from: secs(100),
            until: secs(400),
        },
    ));
    let c = create(&w, Some("s"));
    c.poll(secs(1)).unwrap();
    assert_eq!(drain(&c).len(), 3);
    c.commit(&[(0, 1)]).unwrap();
    rt.sleep(secs(150));
    assert_eq!(code(c.poll(secs(1))).1, ErrorCode::BrokerTransport);
    assert_eq!(code(c.poll(secs(1))).1, ErrorCode::AllBrokersDown);
    assert_eq!(c.poll(secs(1)).unwrap(), None, "the revoke (lost)");
    assert_eq!(c.assignment().unwrap(), Vec::<Partition>::new());
    assert_eq!(
        find(&w, |k| matches!(k, EventKind::Expired(_))),
        vec![(150, Some(c.id()), EventKind::Expired(Expiry::Session))]
    );
    // Creation works during the outage; the new member joins only after it.
    let d = create(&w, None);
    assert_eq!(w.snapshot().group, vec![]);
    rt.sleep(secs(250)); // t = 401
    settle(&c, secs(5));
    assert_eq!(
        drain(&c),
        vec![(0, 1), (0, 2)],
        "positions restart from committed"
    );
    d.poll(secs(1)).unwrap();
    assert_eq!(
        w.snapshot().group,
        vec![("c1".to_string(), vec![0]), ("c2".to_string(), vec![])]
    );
}

#[test]
fn a_closed_handle_refuses_everything() {
    let (_rt, w) = world(spec());
    let c = create(&w, None);
    c.poll(secs(1)).unwrap();
    c.close().unwrap();
    let closed = (ErrorClass::NonRetriable, ErrorCode::Closed);
    assert_eq!(code(c.poll(secs(1))), closed);
    assert_eq!(code(c.pause(&[0])), closed);
    assert_eq!(code(c.resume(&[0])), closed);
    assert_eq!(code(c.assignment()), closed);
    assert_eq!(code(c.seek(0, 0)), closed);
    assert_eq!(code(c.commit(&[(0, 0)])), closed);
    assert_eq!(code(c.committed(&[0])), closed);
    assert_eq!(code(c.close()), closed);
    let failed: Vec<&str> = events(&w)
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::OpFailed {
                op,
                code: ErrorCode::Closed,
            } => Some(op),
            _ => None,
        })
        .collect();
    assert_eq!(
        failed,
        vec![
            "pause",
            "resume",
            "assignment",
            "seek",
            "commit",
            "committed",
            "close"
        ]
    );
    assert!(events(&w)
        .iter()
        .any(|e| e.kind == EventKind::PollEnd(PollOutcome::Error(ErrorCode::Closed))));
    let s = w.snapshot();
    assert_eq!(s.closed, vec![(c.id(), 2)], "a double close is counted");
    assert!(s.open_handles.is_empty());
}

#[test]
fn close_while_another_thread_polls_is_an_overlap_and_the_poll_fails_closed() {
    let (rt, w) = world(spec().fault(Fault::SlowClose(secs(2))));
    let c = create(&w, None);
    c.poll(secs(1)).unwrap();
    let c2 = c.clone();
    let rt2 = rt.clone();
    let poller = rt.spawn("poller", move || (c2.poll(secs(60)), at(&rt2)));
    rt.sleep(secs(1));
    c.close().unwrap();
    assert_eq!(at(&rt), 3, "close took 2 s");
    let (r, ended) = poller.join().unwrap();
    assert_eq!(code(r).1, ErrorCode::Closed);
    assert_eq!(ended, 3, "woken by the close");
    let ov = find(&w, |k| matches!(k, EventKind::Overlap { .. }));
    assert_eq!(
        ov,
        vec![(
            1,
            Some(c.id()),
            EventKind::Overlap {
                op: "close",
                other_thread: "poller".into(),
                other_op: "poll"
            }
        )]
    );
    assert!(
        find(
            &w,
            |k| matches!(k, EventKind::Fault(s) if s.contains("closing"))
        )
        .len()
            == 1
    );
}

#[test]
fn two_threads_polling_one_handle_is_an_overlap() {
    let (rt, w) = world(spec().produce(secs(3), 0, 1));
    let c = create(&w, None);
    c.poll(secs(1)).unwrap();
    let c2 = c.clone();
    let poller = rt.spawn("poller", move || c2.poll(secs(10)));
    rt.sleep(secs(1));
    let mine = c.poll(secs(10));
    let theirs = poller.join().unwrap();
    let mut got = [mine.unwrap(), theirs.unwrap()];
    got.sort_by_key(|r| r.is_some());
    assert_eq!(got[0], None, "one of them timed out");
    assert_eq!(
        got[1].as_ref().map(|r| r.offset),
        Some(0),
        "the other got it"
    );
    let ov = find(&w, |k| matches!(k, EventKind::Overlap { .. }));
    assert_eq!(
        ov,
        vec![(
            1,
            Some(c.id()),
            EventKind::Overlap {
                op: "poll",
                other_thread: "poller".into(),
                other_op: "poll"
            }
        )]
    );
    // Sequential use from two threads is fine.
    let c3 = c.clone();
    rt.spawn("later", move || c3.poll(secs(1)))
        .join()
        .unwrap()
        .unwrap();
    assert_eq!(
        find(&w, |k| matches!(k, EventKind::Overlap { .. })).len(),
        1
    );
}

#[test]
fn a_resume_from_another_thread_wakes_a_waiting_poll() {
    let (rt, w) = world(spec().produce(secs(0), 0, 1));
    let c = create(&w, None);
    c.poll(secs(1)).unwrap();
    c.pause(&[0]).unwrap();
    let c3 = c.clone();
    let rt3 = rt.clone();
    let poller = rt.spawn("poller", move || {
        let r = c3.poll(secs(60));
        (r, at(&rt3))
    });
    rt.sleep(secs(10));
    c.resume(&[0]).unwrap();
    let (r, when) = poller.join().unwrap();
    assert_eq!(rec(r), (0, 0));
    assert_eq!(when, 10, "woken by the resume, not the timeout");
}

#[test]
fn commit_rules() {
    let (rt, w) = world(
        spec()
            .member(secs(0), None)
            .fault(Fault::CommitFails {
                from: secs(100),
                until: secs(200),
                code: ErrorCode::TimedOut,
            })
            .fault(Fault::SlowCommit(secs(2))),
    );
    let c = create(&w, None);
    let in_progress = (ErrorClass::Retriable, ErrorCode::RebalanceInProgress);
    assert_eq!(
        code(c.commit(&[(1, 1)])),
        in_progress,
        "the new generation, not synced yet"
    );
    assert_eq!(at(&rt), 2, "the commit took its time");
    c.poll(secs(1)).unwrap();
    assert_eq!(c.assignment().unwrap(), vec![1], "m1 joined first");
    c.commit(&[(1, 7)]).unwrap();
    c.commit(&[(0, 1)])
        .expect("m1's partition: the coordinator does not check ownership");
    assert_eq!(
        code(c.commit(&[(9, 1)])).1,
        ErrorCode::Other,
        "no such partition"
    );
    c.commit(&[]).expect("nothing to commit");
    assert_eq!(
        c.committed(&[0, 1, 9]).unwrap(),
        vec![(0, Some(1)), (1, Some(7)), (9, None)]
    );
    rt.sleep(secs(100));
    assert_eq!(
        code(c.commit(&[(1, 8)])),
        (ErrorClass::Retriable, ErrorCode::TimedOut)
    );
    rt.sleep(secs(100));
    c.commit(&[(1, 8)]).unwrap();
    c.commit(&[(1, 3)]).expect("backwards: accepted");
    assert_eq!(w.snapshot().committed, BTreeMap::from([(0, 1), (1, 3)]));
    let faults = find(&w, |k| matches!(k, EventKind::Fault(_)));
    assert_eq!(
        faults.len(),
        2,
        "slow commit, then failing commits: {faults:?}"
    );
}

#[test]
fn commits_are_judged_by_generation_and_member() {
    let (_rt, w) = world(spec().with_partitions(1));
    let c = create(&w, None);
    c.poll(secs(1)).unwrap();
    let _d = create(&w, None); // the group rebalances
    c.commit(&[(0, 1)])
        .expect("PreparingRebalance: the current generation may commit");
    c.poll(secs(1)).unwrap(); // c1 serves the revoke and rejoins: the join phase ends
    assert_eq!(
        code(c.commit(&[(0, 2)])),
        (ErrorClass::Retriable, ErrorCode::RebalanceInProgress),
        "the new generation, not synced yet"
    );
    c.poll(secs(1)).unwrap(); // the assignment
    c.commit(&[(0, 2)]).unwrap();
    assert_eq!(w.snapshot().committed, BTreeMap::from([(0, 2)]));
    // A member the group removed: unknown.
    let (rt, w) = world(spec().with_partitions(1).with_max_poll_interval(secs(10)));
    let c = create(&w, None);
    c.poll(secs(1)).unwrap();
    rt.sleep(secs(20));
    assert_eq!(
        code(c.commit(&[(0, 1)])),
        (ErrorClass::NonRetriable, ErrorCode::UnknownMember)
    );
    assert!(w.snapshot().committed.is_empty());
}

#[test]
fn a_commit_in_the_revoke_callback_of_a_kept_membership_succeeds() {
    struct CommitOnRevoke(Mutex<Rt, Vec<Result<(), KafkaError>>>);
    impl RebalanceHook<WorldHandle<Rt>> for CommitOnRevoke {
        fn revoked(&self, h: &WorldHandle<Rt>, p: &[Partition]) {
            let offsets: Vec<_> = p.iter().map(|&p| (p, 0)).collect();
            let r = h.commit(&offsets);
            self.0.with(|v| v.push(r));
        }
    }
    let (_rt, w) = world(spec().member(secs(10), None));
    let hook = Arc::new(CommitOnRevoke(Mutex::new(Vec::new())));
    let c = w.create(None, hook.clone()).unwrap();
    c.poll(secs(1)).unwrap();
    c.poll(secs(100)).unwrap();
    c.poll(secs(100)).unwrap();
    assert_eq!(c.assignment().unwrap(), vec![0]);
    assert_eq!(hook.0.with(|v| v.clone()), vec![Ok(())]);
}

#[test]
fn unsubscribe_leaves_the_group_once_the_revoke_is_served_even_for_a_static_member() {
    let (rt, w) = world(spec());
    let c = create(&w, Some("s"));
    let d = create(&w, None);
    settle_all(&[&c, &d]);
    c.unsubscribe().unwrap();
    c.poll(secs(1)).unwrap(); // serves the revoke, then leaves
    assert_eq!(c.assignment().unwrap(), Vec::<Partition>::new());
    c.close().unwrap();
    settle(&d, secs(1));
    settle(&d, secs(1));
    assert_eq!(
        d.assignment().unwrap(),
        vec![0, 1],
        "no session to wait for"
    );
    assert!(at(&rt) <= 1, "{}", at(&rt));
    // Closed right after unsubscribe (no poll served the revoke): a terminating static member
    // sends no LeaveGroup; its place is kept until its session runs out.
    let (rt, w) = world(spec());
    let c = create(&w, Some("s"));
    let d = create(&w, None);
    settle_all(&[&c, &d]);
    c.unsubscribe().unwrap();
    c.close().unwrap();
    assert_eq!(d.assignment().unwrap(), vec![1]);
    d.poll(secs(100)).unwrap();
    assert_eq!(at(&rt), 45);
}

#[test]
fn seek_moves_an_assigned_partition_only() {
    let (_rt, w) = world(spec().with_partitions(1).produce(secs(0), 0, 3));
    let c = create(&w, None);
    assert_eq!(
        code(c.seek(0, 1)),
        (ErrorClass::NonRetriable, ErrorCode::Other)
    );
    c.poll(secs(1)).unwrap();
    assert_eq!(drain(&c).len(), 3);
    c.seek(0, 1).unwrap();
    assert_eq!(drain(&c), vec![(0, 1), (0, 2)]);
    assert!(find(&w, |k| matches!(k, EventKind::OpFailed { op: "seek", .. })).len() == 1);
}

#[test]
fn poll_errors_create_failures_and_slow_creation() {
    let (rt, w) = world(
        spec()
            .fault(Fault::CreateFails {
                from: secs(0),
                until: secs(10),
            })
            .fault(Fault::SlowCreate(secs(3)))
            .fault(Fault::PollErrors {
                from: secs(20),
                until: secs(30),
                class: ErrorClass::Retriable,
                code: ErrorCode::Other,
            }),
    );
    assert_eq!(
        code(w.create(None, Arc::new(NoHook))),
        (ErrorClass::NonRetriable, ErrorCode::CreateFailed)
    );
    assert_eq!(at(&rt), 3);
    rt.sleep(secs(5));
    let c = create(&w, None);
    assert_eq!(
        (at(&rt), c.id()),
        (11, HandleId(1)),
        "ids count created handles only"
    );
    c.poll(secs(1)).unwrap();
    let injected = (ErrorClass::Retriable, ErrorCode::Other);
    assert_eq!(code(c.poll(secs(100))), injected);
    assert_eq!(at(&rt), 20, "a waiting poll fails when the window opens");
    assert_eq!(code(c.poll(secs(1))), injected);
    rt.sleep(secs(10));
    assert_eq!(c.poll(secs(1)).unwrap(), None);
    assert_eq!(
        find(&w, |k| matches!(k, EventKind::CreateFailed { .. })).len(),
        1
    );
    assert_eq!(find(&w, |k| matches!(k, EventKind::Fault(_))).len(), 3);
}

#[test]
fn invalid_specs_are_refused_by_try_new_and_tolerated_by_new() {
    let rt = Rt::new();
    let bad = WorldSpec::default()
        .with_partitions(1)
        .produce(secs(0), 3, 1);
    assert_eq!(
        World::try_new(&rt, bad.clone()).err(),
        Some(SpecError::NoSuchPartition {
            partition: 3,
            partitions: 1
        })
    );
    let w = World::new(&rt, bad);
    assert_eq!(w.snapshot().scheduled, BTreeMap::from([(0, 0)]));
    assert_eq!(find(&w, |k| matches!(k, EventKind::Workload(_))).len(), 1);
    assert!(World::try_new(&rt, WorldSpec::default().with_partitions(0)).is_err());
    let w0 = World::new(&rt, WorldSpec::default().with_partitions(0));
    assert_eq!(w0.snapshot().produced.len(), 1);
    let backwards = WorldSpec::default().member(secs(5), Some(secs(1)));
    assert_eq!(backwards.validate(), Err(SpecError::LeavesBeforeJoining(1)));
}

/// A small scripted run, rendered as text: the same every time.
fn scripted_trace() -> Vec<String> {
    let (rt, w) = world(
        WorldSpec::default()
            .produce(secs(0), 0, 3)
            .produce(secs(50), 1, 2)
            .member(secs(20), Some(secs(70)))
            .fault(Fault::BrokerDown {
                from: secs(80),
                until: secs(90),
            }),
    );
    let c = create(&w, Some("x"));
    let c2 = c.clone();
    let t = rt.spawn("heartbeat", move || {
        for _ in 0..20 {
            let _ = c2.poll(secs(5));
        }
    });
    rt.sleep(secs(42));
    c.pause(&[0, 1]).unwrap();
    t.join().unwrap();
    c.close().unwrap();
    events(&w).iter().map(|e| e.to_string()).collect()
}

#[test]
fn runs_are_deterministic() {
    let a = scripted_trace();
    assert!(a.len() > 20, "{a:#?}");
    assert_eq!(a, scripted_trace());
}

/// poll ∥ close on one handle, under the checkers: whatever the interleaving, the poll gets the
/// record or `Closed`, the handle is closed once, and an overlap is logged exactly when the two
/// calls overlapped in the log. It counts the executions with and without an overlap, to show
/// that a checker reached both.
struct PollVersusClose {
    overlapped: pausebeat::sync::AtomicU64<pausebeat::sync::StdRuntime>,
    apart: pausebeat::sync::AtomicU64<pausebeat::sync::StdRuntime>,
}

impl Default for PollVersusClose {
    fn default() -> Self {
        PollVersusClose {
            overlapped: pausebeat::sync::AtomicU64::new(0),
            apart: pausebeat::sync::AtomicU64::new(0),
        }
    }
}

impl Model for PollVersusClose {
    type Failure = String;
    fn execute<B: Backend>(&self, rt: &Virtual<B>) -> Result<(), String> {
        let w = World::new(
            rt,
            WorldSpec::default()
                .with_partitions(1)
                .produce(secs(0), 0, 1),
        );
        let c = w
            .create(None, Arc::new(NoHook))
            .map_err(|e| e.to_string())?;
        let c2 = c.clone();
        let poller = rt.spawn("poller", move || c2.poll(secs(5)));
        c.close().map_err(|e| e.to_string())?;
        let r = poller.join().map_err(|_| "the poller panicked")?;
        match &r {
            Ok(None)
            | Err(KafkaError {
                code: ErrorCode::Closed,
                ..
            }) => {}
            other => return Err(format!("poll returned {other:?}")),
        }
        let log = w.log().snapshot();
        let seq = |k: &EventKind| log.iter().find(|e| &e.kind == k).map(|e| e.seq);
        let overlapped = match (
            seq(&EventKind::PollBegin),
            log.iter()
                .rev()
                .find(|e| matches!(e.kind, EventKind::PollEnd(_)))
                .map(|e| e.seq),
            seq(&EventKind::CloseBegin),
            seq(&EventKind::CloseEnd),
        ) {
            (Some(pb), Some(pe), Some(cb), Some(ce)) => {
                (pb < cb && cb < pe) || (cb < pb && pb < ce)
            }
            _ => return Err(format!("missing events: {log:?}")),
        };
        let overlaps = log
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Overlap { .. }))
            .count();
        if overlaps != usize::from(overlapped) {
            return Err(format!(
                "overlapped: {overlapped}, overlaps logged: {overlaps}"
            ));
        }
        if overlapped {
            self.overlapped.fetch_add(1);
        } else {
            self.apart.fetch_add(1);
        }
        if w.snapshot().closed != vec![(c.id(), 1)] {
            return Err("not closed exactly once".into());
        }
        Ok(())
    }
}

#[test]
fn poll_versus_close_on_std() {
    PollVersusClose::default().execute(&Rt::new()).unwrap();
}

#[test]
fn poll_versus_close_under_loom() {
    use pausebeat::sync::explore::{explore, Checker, Outcome};
    let model = Arc::new(PollVersusClose::default());
    let r = explore(
        &Checker::Loom {
            preemptions: 2,
            max_executions: 3_000,
        },
        model.clone(),
    );
    assert!(matches!(r.outcome, Outcome::Pass { .. }), "{r}");
    assert!(model.overlapped.load() > 0 && model.apart.load() > 0, "{r}");
}

#[test]
fn poll_versus_close_under_shuttle() {
    use pausebeat::sync::explore::{explore, Checker, Outcome};
    for c in [
        Checker::Pct {
            depth: 3,
            schedules: 300,
            seed: 1,
        },
        Checker::Random {
            schedules: 300,
            seed: 1,
        },
    ] {
        let model = Arc::new(PollVersusClose::default());
        let r = explore(&c, model.clone());
        assert!(matches!(r.outcome, Outcome::Pass { .. }), "{r}");
        assert!(model.overlapped.load() > 0 && model.apart.load() > 0, "{r}");
    }
}

#[test]
fn a_close_and_a_create_take_the_chosen_one_of_their_durations() {
    // Outside the checkers `pick` takes the first choice; under them every choice is explored
    // (the catalogue's `restart-with-varying-create-and-close` kills a mutant only on some).
    for (choices, took) in [(vec![secs(3), secs(9)], 3), (vec![secs(9), secs(3)], 9)] {
        let spec = spec()
            .fault(Fault::CloseTakesOneOf(choices.clone()))
            .fault(Fault::CreateTakesOneOf(choices));
        let (rt, w) = world(spec);
        let c = create(&w, None);
        assert_eq!(at(&rt), took, "the create");
        c.close().unwrap();
        assert_eq!(at(&rt), 2 * took, "the close");
    }
}

#[test]
fn records_are_whole_and_each_is_distinct() {
    let (_rt, w) = world(spec().with_partitions(1).produce(secs(0), 0, 2));
    let c = create(&w, None);
    c.poll(secs(1)).unwrap();
    let a = c.poll(secs(1)).unwrap().unwrap();
    let b = c.poll(secs(1)).unwrap().unwrap();
    assert_eq!(&*a.topic, "pausebeat");
    assert!(a.key.is_some() && a.payload.is_some());
    assert_eq!(
        a.headers.len(),
        2,
        "a repeated header name, one with a null value"
    );
    assert_eq!(a.headers[0].key, a.headers[1].key);
    assert_eq!(a.headers[1].value, None);
    assert_eq!(a.timestamp, Timestamp::CreateTime(0));
    assert_ne!(
        (a.key.clone(), a.payload.clone()),
        (b.key.clone(), b.payload.clone())
    );
    assert_eq!(
        w.record(0, 1),
        Some(b),
        "World::record says what a poll hands out"
    );
    assert_eq!(w.record(1, 0), None);
}
