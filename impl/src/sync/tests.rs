//! Tests of the sync abstraction itself, each run on every backend: virtual time on `std`
//! threads, loom (exhaustive within a preemption bound) and shuttle (PCT and random). Every
//! property is also shown failing when the semantics it checks are broken.

use super::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn at(rt: &impl Runtime) -> u64 {
    rt.now().since_origin().as_secs()
}

/// Runs `model` on every backend and returns the first failure.
fn on_every_backend<M: Model<Failure = String>>(model: M) -> Result<(), String> {
    let model = Arc::new(model);
    model.execute(&Virtual::<Std>::new())?;
    #[cfg(feature = "checkers")]
    {
        use explore::{explore, Checker, Outcome};
        let checkers = [
            Checker::Loom {
                preemptions: 3,
                max_executions: 20_000,
            },
            Checker::Pct {
                depth: 3,
                schedules: 300,
                seed: 7,
            },
            Checker::Random {
                schedules: 300,
                seed: 7,
            },
        ];
        for c in &checkers {
            match explore(c, model.clone()).outcome {
                Outcome::Pass { .. } => {}
                Outcome::Violation { failure, schedule } => {
                    return Err(format!("{}: {failure} (replay {schedule})", c.name()))
                }
                Outcome::Error(e) => return Err(format!("{}: error {e}", c.name())),
            }
        }
    }
    Ok(())
}

/// A sender on a channel of capacity `cap`, a receiver that takes the value only at t=10 s.
/// Rendezvous means the send completes at 10 s, not before.
struct Rendezvous {
    cap: usize,
}

impl Model for Rendezvous {
    type Failure = String;
    fn execute<B: Backend>(&self, rt: &Virtual<B>) -> Result<(), String> {
        let ch: Chan<Virtual<B>, u8> = Chan::new(rt, self.cap);
        let (tx, rt2) = (ch.clone(), rt.clone());
        let sender = rt.spawn("sender", move || {
            tx.send(1).map_err(|_| "closed".to_string())?;
            Ok::<u64, String>(at(&rt2))
        });
        rt.sleep(secs(10));
        let got = ch.recv();
        let sent_at = sender.join().map_err(|_| "sender panicked")??;
        if got != Some(1) {
            return Err(format!("received {got:?}"));
        }
        if sent_at < 10 {
            return Err(format!(
                "the send completed at {sent_at}s, before the receiver took the value at 10s"
            ));
        }
        Ok(())
    }
}

#[test]
fn rendezvous_send_completes_only_when_taken() {
    on_every_backend(Rendezvous { cap: 0 }).unwrap();
}

#[test]
fn rendezvous_check_fails_on_a_buffered_channel() {
    let e = on_every_backend(Rendezvous { cap: 1 }).unwrap_err();
    assert!(e.contains("before the receiver"), "{e}");
}

/// Capacity 2: two sends complete at once, the third waits for a receive at 10 s.
struct Buffered {
    cap: usize,
}

impl Model for Buffered {
    type Failure = String;
    fn execute<B: Backend>(&self, rt: &Virtual<B>) -> Result<(), String> {
        let ch: Chan<Virtual<B>, u8> = Chan::new(rt, self.cap);
        let (tx, rt2) = (ch.clone(), rt.clone());
        let sender = rt.spawn("sender", move || {
            let mut times = vec![];
            for i in 0..3 {
                tx.send(i).map_err(|_| "closed".to_string())?;
                times.push(at(&rt2));
            }
            Ok::<_, String>(times)
        });
        rt.sleep(secs(10));
        let got: Vec<_> = (0..3).filter_map(|_| ch.recv()).collect();
        let times = sender.join().map_err(|_| "sender panicked")??;
        if got != vec![0, 1, 2] {
            return Err(format!("received {got:?}, not in order"));
        }
        if times != vec![0, 0, 10] {
            return Err(format!("sends completed at {times:?}, expected [0, 0, 10]"));
        }
        Ok(())
    }
}

#[test]
fn buffered_channel_blocks_only_when_full() {
    on_every_backend(Buffered { cap: 2 }).unwrap();
}

#[test]
fn buffered_check_fails_on_the_wrong_capacity() {
    assert!(on_every_backend(Buffered { cap: 1 }).is_err());
    assert!(on_every_backend(Buffered { cap: 3 }).is_err());
}

/// A receiver on an empty channel and a sender on a full one; close at 5 s wakes both.
struct CloseWakes {
    close: bool,
}

impl Model for CloseWakes {
    type Failure = String;
    fn execute<B: Backend>(&self, rt: &Virtual<B>) -> Result<(), String> {
        let empty: Chan<Virtual<B>, u8> = Chan::new(rt, 0);
        let full: Chan<Virtual<B>, u8> = Chan::new(rt, 1);
        full.try_send(0).map_err(|_| "could not fill")?;
        let (e2, f2, rt2, rt3) = (empty.clone(), full.clone(), rt.clone(), rt.clone());
        let r = rt.spawn("receiver", move || (e2.recv(), at(&rt2)));
        let s = rt.spawn("sender", move || (f2.send(1).is_err(), at(&rt3)));
        rt.sleep(secs(5));
        if self.close {
            empty.close();
            full.close();
        }
        let run = catch_unwind(AssertUnwindSafe(|| (r.join(), s.join())));
        let Ok((Ok(r), Ok(s))) = run else {
            return Err(format!(
                "not woken: {}",
                rt.abort_reason().map(|a| a.to_string()).unwrap_or_default()
            ));
        };
        if r != (None, 5) || s != (true, 5) {
            return Err(format!("receiver got {r:?}, sender {s:?}"));
        }
        Ok(())
    }
}

#[test]
fn close_wakes_receivers_and_senders() {
    on_every_backend(CloseWakes { close: true }).unwrap();
}

#[test]
fn close_check_fails_without_close() {
    let e = on_every_backend(CloseWakes { close: false }).unwrap_err();
    assert!(e.contains("deadlock"), "{e}");
}

/// Timers fire in deadline order, whatever order they were armed in, at their deadlines.
struct TimerOrder;

impl Model for TimerOrder {
    type Failure = String;
    fn execute<B: Backend>(&self, rt: &Virtual<B>) -> Result<(), String> {
        let log = Arc::new(Mutex::<Virtual<B>, Vec<u64>>::new(vec![]));
        let handles: Vec<_> = [30, 10, 20]
            .into_iter()
            .map(|d| {
                let (log, rt2) = (log.clone(), rt.clone());
                rt.spawn(&format!("sleep{d}"), move || {
                    rt2.sleep(secs(d));
                    log.with(|l| l.push(at(&rt2)));
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| "panicked")?;
        }
        timers_in_order(&log.with(|l| l.clone()))
    }
}

fn timers_in_order(fired: &[u64]) -> Result<(), String> {
    if fired == [10, 20, 30] {
        Ok(())
    } else {
        Err(format!("timers fired at {fired:?}"))
    }
}

#[test]
fn timers_fire_in_deadline_order() {
    on_every_backend(TimerOrder).unwrap();
    assert!(timers_in_order(&[10, 30, 20]).is_err());
    assert!(timers_in_order(&[0, 0, 0]).is_err());
}

/// While one thread computes (any number of steps), a sleeping thread's deadline does not pass.
struct TimeStandsStill {
    then_wait_1s: bool,
}

impl Model for TimeStandsStill {
    type Failure = String;
    fn execute<B: Backend>(&self, rt: &Virtual<B>) -> Result<(), String> {
        let rt2 = rt.clone();
        let sleeper = rt.spawn("sleeper", move || rt2.sleep(secs(5)));
        let busy = AtomicU64::<Virtual<B>>::new(0);
        for _ in 0..20 {
            busy.fetch_add(1);
            B::yield_now();
        }
        if self.then_wait_1s {
            // Now both threads wait: time jumps to the earlier deadline, 1 s, not the sleeper's 5 s.
            let sig = rt.signal();
            let _ = sig.wait(Some(rt.now() + secs(1)), "a 1s wait");
        }
        let seen = at(rt);
        sleeper.join().map_err(|_| "panicked")?;
        if seen != 0 && !self.then_wait_1s {
            return Err(format!(
                "time moved to {seen}s while this thread was running"
            ));
        }
        if self.then_wait_1s && seen != 1 {
            return Err(format!("a 1s wait ended at {seen}s"));
        }
        Ok(())
    }
}

#[test]
fn time_does_not_advance_while_a_thread_can_run() {
    on_every_backend(TimeStandsStill {
        then_wait_1s: false,
    })
    .unwrap();
    // and the shortest deadline wins once everyone waits
    on_every_backend(TimeStandsStill { then_wait_1s: true }).unwrap();
}

/// Two threads due at the same instant; which runs first must be explored both ways.
#[cfg(feature = "checkers")]
struct Tie {
    orders: Arc<StdMutex<Vec<String>>>,
}

#[cfg(feature = "checkers")]
impl Model for Tie {
    type Failure = String;
    fn execute<B: Backend>(&self, rt: &Virtual<B>) -> Result<(), String> {
        let log = Arc::new(Mutex::<Virtual<B>, String>::new(String::new()));
        let spawn = |name: &'static str| {
            let (log, rt2) = (log.clone(), rt.clone());
            rt.spawn(name, move || {
                rt2.sleep(secs(10));
                log.with(|l| l.push_str(name));
            })
        };
        let (a, b) = (spawn("a"), spawn("b"));
        a.join().map_err(|_| "panicked")?;
        b.join().map_err(|_| "panicked")?;
        let order = log.with(|l| l.clone());
        self.orders.lock().unwrap().push(order);
        Ok(())
    }
}

#[cfg(feature = "checkers")]
fn tie_orders(checker: explore::Checker) -> std::collections::BTreeSet<String> {
    let orders = Arc::new(StdMutex::new(vec![]));
    let model = Arc::new(Tie {
        orders: orders.clone(),
    });
    let r = explore::explore(&checker, model);
    assert!(matches!(r.outcome, explore::Outcome::Pass { .. }), "{r}");
    let seen = orders.lock().unwrap().iter().cloned().collect();
    seen
}

#[cfg(feature = "checkers")]
#[test]
fn both_orders_of_a_tie_are_reachable() {
    use explore::Checker;
    let both: std::collections::BTreeSet<String> = ["ab".to_string(), "ba".to_string()].into();
    let loom = Checker::Loom {
        preemptions: 2,
        max_executions: 50_000,
    };
    let random = Checker::Random {
        schedules: 300,
        seed: 1,
    };
    let loom0 = Checker::Loom {
        preemptions: 0,
        max_executions: 50_000,
    };
    let pct = Checker::Pct {
        depth: 2,
        schedules: 300,
        seed: 1,
    };
    assert_eq!(tie_orders(loom), both, "loom, bound 2");
    assert_eq!(tie_orders(random), both, "shuttle random");
    assert_eq!(tie_orders(pct), both, "shuttle pct");
    // The check can fail: with no preemptions loom sees a single order.
    assert_eq!(tie_orders(loom0).len(), 1, "loom, bound 0");
}

/// Two threads waiting on channels nobody will ever use: a deadlock that names both.
struct Deadlock {
    feed: bool,
}

impl Model for Deadlock {
    type Failure = String;
    fn execute<B: Backend>(&self, rt: &Virtual<B>) -> Result<(), String> {
        let a: Chan<Virtual<B>, ()> = Chan::new(rt, 0);
        let b: Chan<Virtual<B>, ()> = Chan::new(rt, 0);
        let (a2, b2) = (a.clone(), b.clone());
        let ta = rt.spawn("waiter-a", move || a2.recv());
        let tb = rt.spawn("waiter-b", move || b2.recv());
        if self.feed {
            a.send(()).map_err(|_| "closed")?;
            b.send(()).map_err(|_| "closed")?;
        }
        let joined = catch_unwind(AssertUnwindSafe(|| (ta.join(), tb.join())));
        match rt.abort_reason() {
            None if joined.is_ok() => Ok(()),
            None => Err("a thread panicked without an abort".into()),
            Some(reason) => Err(reason.to_string()),
        }
    }
}

#[test]
fn deadlock_is_reported_with_who_waits_where() {
    let e = on_every_backend(Deadlock { feed: false }).unwrap_err();
    assert!(e.contains("deadlock at"), "{e}");
    assert!(e.contains("`waiter-a` waits on recv"), "{e}");
    assert!(e.contains("`waiter-b` waits on recv"), "{e}");
    assert!(
        e.contains("`main` waits on join waiter-a") || e.contains("waits on join"),
        "{e}"
    );
    on_every_backend(Deadlock { feed: true }).unwrap();
}

/// `select`: a ready arm wins over a later deadline; a deadline wins over a silent channel; when
/// two arms are ready, shuttle explores both winners.
struct SelectChoice {
    winners: Arc<StdMutex<Vec<usize>>>,
}

impl Model for SelectChoice {
    type Failure = String;
    fn execute<B: Backend>(&self, rt: &Virtual<B>) -> Result<(), String> {
        let a: Chan<Virtual<B>, u8> = Chan::new(rt, 1);
        let b: Chan<Virtual<B>, u8> = Chan::new(rt, 1);
        // Only b ready: b wins at once.
        b.try_send(2).map_err(|_| "full")?;
        let (mut ra, mut rb) = (RecvArm::new(&a), RecvArm::new(&b));
        let w = Select::new(rt, "s1")
            .arm(&mut ra)
            .arm(&mut rb)
            .deadline(rt.now() + secs(5))
            .wait();
        if w != Some(1) || rb.take() != Some(Some(2)) || at(rt) != 0 {
            return Err(format!("only b ready, but arm {w:?} won at {}s", at(rt)));
        }
        // Nothing ready: the deadline wins after exactly 5 s.
        let (mut ra, mut rb) = (RecvArm::new(&a), RecvArm::new(&b));
        let w = Select::new(rt, "s2")
            .arm(&mut ra)
            .arm(&mut rb)
            .deadline(rt.now() + secs(5))
            .wait();
        if w.is_some() || at(rt) != 5 {
            return Err(format!("nothing ready, but {w:?} at {}s", at(rt)));
        }
        // Both ready: either may win.
        a.try_send(1).map_err(|_| "full")?;
        b.try_send(2).map_err(|_| "full")?;
        let (mut ra, mut rb) = (RecvArm::new(&a), RecvArm::new(&b));
        let w = Select::new(rt, "s3").arm(&mut ra).arm(&mut rb).wait();
        self.winners.lock().unwrap().push(w.unwrap_or(9));
        Ok(())
    }
}

#[test]
fn select_picks_ready_arms_and_deadlines() {
    on_every_backend(SelectChoice {
        winners: Arc::new(StdMutex::new(vec![])),
    })
    .unwrap();
}

#[cfg(feature = "checkers")]
#[test]
fn select_between_ready_arms_is_explored_by_shuttle_not_loom() {
    use explore::{explore, Checker};
    let winners = |c: Checker| {
        let w = Arc::new(StdMutex::new(vec![]));
        let r = explore(&c, Arc::new(SelectChoice { winners: w.clone() }));
        assert!(matches!(r.outcome, explore::Outcome::Pass { .. }), "{r}");
        let set: std::collections::BTreeSet<usize> = w.lock().unwrap().iter().copied().collect();
        set
    };
    let both: std::collections::BTreeSet<usize> = [0, 1].into();
    assert_eq!(
        winners(Checker::Random {
            schedules: 200,
            seed: 3
        }),
        both
    );
    // loom has no data choice: it always takes the first ready arm (documented in backend_loom).
    assert_eq!(
        winners(Checker::Loom {
            preemptions: 2,
            max_executions: 10_000
        })
        .len(),
        1
    );
}

/// A select over two channels while two threads send on them (a rendezvous send, a buffered
/// one): no wake-up is lost (both selects end), each fires exactly one arm, and each value is
/// received exactly once.
struct SelectWakeUps;

impl Model for SelectWakeUps {
    type Failure = String;
    fn execute<B: Backend>(&self, rt: &Virtual<B>) -> Result<(), String> {
        let a: Chan<Virtual<B>, u8> = Chan::new(rt, 0);
        let b: Chan<Virtual<B>, u8> = Chan::new(rt, 1);
        let (ta, tb) = (a.clone(), b.clone());
        let sa = rt.spawn("send-a", move || ta.send(1).is_ok());
        let sb = rt.spawn("send-b", move || tb.try_send(2).is_ok());
        let mut got = vec![];
        for _ in 0..2 {
            let (mut ra, mut rb) = (RecvArm::new(&a), RecvArm::new(&b));
            let w = Select::new(rt, "a or b").arm(&mut ra).arm(&mut rb).wait();
            match (w, ra.take(), rb.take()) {
                (Some(0), Some(Some(v)), None) | (Some(1), None, Some(Some(v))) => got.push(v),
                other => return Err(format!("the select fired {other:?}")),
            }
        }
        let sent = (sa.join().ok(), sb.join().ok());
        if sent != (Some(true), Some(true)) {
            return Err(format!("senders: {sent:?}"));
        }
        got.sort_unstable();
        if got != [1, 2] {
            return Err(format!("received {got:?}"));
        }
        Ok(())
    }
}

#[test]
fn select_loses_no_wake_up_and_fires_one_arm() {
    on_every_backend(SelectWakeUps).unwrap();
}

/// A send with a timeout on a rendezvous channel either happens (the receiver has the value) or
/// does not (the value comes back), never both, however the timeout and the receive interleave.
struct SendTimeoutAtomic;

impl Model for SendTimeoutAtomic {
    type Failure = String;
    fn execute<B: Backend>(&self, rt: &Virtual<B>) -> Result<(), String> {
        let ch: Chan<Virtual<B>, u8> = Chan::new(rt, 0);
        let (rx, rt2) = (ch.clone(), rt.clone());
        let receiver = rt.spawn("receiver", move || {
            rt2.sleep(secs(10)); // exactly at the sender's deadline: a tie
            rx.try_recv().ok()
        });
        let sent = ch.send_timeout(7, secs(10));
        let got = receiver.join().map_err(|_| "panicked")?;
        match (sent, got) {
            (Ok(()), Some(7)) | (Err(TrySendError::Full(7)), None) => Ok(()),
            (s, g) => Err(format!("send said {s:?} but the receiver got {g:?}")),
        }
    }
}

#[test]
fn a_timed_out_send_is_all_or_nothing() {
    on_every_backend(SendTimeoutAtomic).unwrap();
}

/// The ticker: ticks at multiples of its period; missed ticks collapse into one.
#[test]
fn ticker_collapses_missed_ticks() {
    let rt = Virtual::<Std>::new();
    let mut t = Ticker::new(&rt, secs(150));
    rt.sleep(secs(400));
    assert_eq!(Select::new(&rt, "t").arm(&mut t).wait(), Some(0));
    assert_eq!(at(&rt), 400, "the tick at 150 (missed 300) fires at once");
    assert_eq!(t.next_tick().since_origin(), secs(450));
    assert_eq!(Select::new(&rt, "t").arm(&mut t).wait(), Some(0));
    assert_eq!(at(&rt), 450);
}

#[test]
fn horizon_ends_an_endless_ticker() {
    let rt = Virtual::<Std>::with_horizon(secs(1000));
    let r = catch_unwind(AssertUnwindSafe(|| loop {
        let mut t = Ticker::new(&rt, secs(150));
        Select::new(&rt, "forever").arm(&mut t).wait();
    }));
    assert!(r.is_err());
    assert!(matches!(
        rt.abort_reason(),
        Some(AbortReason::Horizon { .. })
    ));
}

#[test]
fn std_runtime_runs_in_real_time() {
    let rt = StdRuntime::new();
    let ch: Chan<StdRuntime, u8> = Chan::new(&rt, 0);
    let t0 = std::time::Instant::now();
    assert_eq!(
        ch.recv_timeout(Duration::from_millis(20)),
        Err(RecvError::Empty)
    );
    assert!(t0.elapsed() >= Duration::from_millis(20));
    let tx = ch.clone();
    let h = rt.spawn("tx", move || tx.send(3));
    assert_eq!(ch.recv(), Some(3));
    assert!(h.join().unwrap().is_ok());
    let p = rt.spawn("panics", || panic!("boom"));
    assert!(p.join().is_err());
}

#[cfg(feature = "checkers")]
#[test]
fn loom_thread_limit_is_an_abort_not_a_crash() {
    use explore::{explore, Checker, Outcome};
    struct Many;
    impl Model for Many {
        type Failure = String;
        fn execute<B: Backend>(&self, rt: &Virtual<B>) -> Result<(), String> {
            let r = catch_unwind(AssertUnwindSafe(|| {
                let hs: Vec<_> = (0..5).map(|i| rt.spawn(&format!("t{i}"), || ())).collect();
                hs.into_iter().for_each(|h| drop(h.join()));
            }));
            match (r, rt.abort_reason()) {
                (Err(_), Some(a)) => Err(a.to_string()),
                _ => Ok(()),
            }
        }
    }
    let r = explore(
        &Checker::Loom {
            preemptions: 1,
            max_executions: 100,
        },
        Arc::new(Many),
    );
    match r.outcome {
        Outcome::Violation { failure, .. } => {
            assert!(failure.contains("more than 5 threads"), "{failure}")
        }
        o => panic!("{o:?}"),
    }
}

#[cfg(feature = "checkers")]
#[test]
fn a_violation_replays_to_the_same_result() {
    use explore::{explore, replay, Checker, Outcome};
    for c in [
        Checker::Pct {
            depth: 2,
            schedules: 100,
            seed: 5,
        },
        Checker::Loom {
            preemptions: 2,
            max_executions: 1000,
        },
    ] {
        let r = explore(&c, Arc::new(Rendezvous { cap: 1 }));
        let Outcome::Violation { failure, schedule } = r.outcome else {
            panic!("{}: expected a violation", c.name());
        };
        for _ in 0..2 {
            let again = replay(&schedule, Arc::new(Rendezvous { cap: 1 })).unwrap();
            assert_eq!(again, Err(failure.clone()), "{schedule}");
        }
    }
    assert!(replay("nonsense", Arc::new(Rendezvous { cap: 0 })).is_err());
}
