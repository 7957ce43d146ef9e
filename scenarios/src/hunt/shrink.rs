//! Shrinking: from a violating [`Sketch`], try smaller ones — fewer steps, faults, members,
//! threads, records and partitions, no chosen windows, plainer settings, shorter and rounder
//! times — keeping each one that still violates the same property, until none of them does.
//!
//! Every candidate is strictly lighter ([`Sketch::weight`]) than the sketch it comes from, so
//! shrinking ends.

use super::sketch::{FaultSketch, Sketch};

/// Every one-step reduction of `s`, biggest first.
pub fn candidates(s: &Sketch) -> Vec<Sketch> {
    let mut out: Vec<Sketch> = vec![];
    let mut push = |c: Sketch| {
        if c.weight() < s.weight() && !out.contains(&c) {
            out.push(c);
        }
    };
    // Whole items away.
    for i in 0..s.steps.len() {
        let mut c = s.clone();
        c.steps.remove(i);
        push(c);
    }
    for i in 0..s.faults.len() {
        let mut c = s.clone();
        c.faults.remove(i);
        push(c);
    }
    for i in 0..s.members.len() {
        let mut c = s.clone();
        c.members.remove(i);
        push(c);
    }
    for i in 0..s.members.len() {
        if s.members[i].consumes {
            let mut c = s.clone();
            c.members[i].consumes = false;
            push(c);
        }
    }
    for i in 0..s.handler_fails.len() {
        let mut c = s.clone();
        c.handler_fails.remove(i);
        push(c);
    }
    for i in 0..s.records.len() {
        let mut c = s.clone();
        c.records.remove(i);
        push(c);
    }
    // Fewer threads: a thread's steps move to the one before it.
    for t in 1..3 {
        if s.steps.iter().any(|x| x.thread == t) {
            let mut c = s.clone();
            for x in &mut c.steps {
                if x.thread == t {
                    x.thread = t - 1;
                }
            }
            push(c);
        }
    }
    // Fewer partitions: everything into partition 0 of a one-partition topic (not with other
    // members: they take their share of a topic with partitions to spare).
    if s.partitions > 1 && s.members.is_empty() {
        let mut c = s.clone();
        c.partitions = 1;
        for r in &mut c.records {
            r.partition = 0;
        }
        push(c);
    }
    // Plainer settings.
    {
        let mut c = s.clone();
        c.suspend = false;
        push(c);
        let mut c = s.clone();
        c.retry = false;
        push(c);
        let mut c = s.clone();
        c.mid_batch_timer = false;
        push(c);
        let mut c = s.clone();
        c.small_batches = false;
        push(c);
        if s.period != 300 {
            let mut c = s.clone();
            c.period = 300;
            push(c);
        }
        if s.handler_delay != 1 {
            let mut c = s.clone();
            c.handler_delay = 1;
            push(c);
        }
    }
    // Fewer records.
    for i in 0..s.records.len() {
        for n in [1, s.records[i].count / 2] {
            if n >= 1 && n < s.records[i].count {
                let mut c = s.clone();
                c.records[i].count = n;
                push(c);
            }
        }
    }
    // No chosen window: the step at one of its ends.
    for i in 0..s.steps.len() {
        if let Some(u) = s.steps[i].until {
            let mut c = s.clone();
            c.steps[i].until = None;
            push(c.clone());
            c.steps[i].at = u;
            push(c);
            let mut c = s.clone();
            c.steps[i].until = Some(s.steps[i].at + (u - s.steps[i].at) / 2);
            if c.steps[i].until == Some(c.steps[i].at) {
                c.steps[i].until = None;
            }
            push(c);
        }
    }
    // Shorter fault windows.
    for i in 0..s.faults.len() {
        if let Some((a, b)) = s.faults[i].window() {
            if b > a + 1 {
                let mut c = s.clone();
                c.faults[i] = s.faults[i].with_window(a, a + (b - a).div_ceil(2));
                push(c);
            }
        }
        if let FaultSketch::SlowClose { secs }
        | FaultSketch::SlowCreate { secs }
        | FaultSketch::SlowCommit { secs } = s.faults[i]
        {
            if secs > 1 {
                let mut c = s.clone();
                c.faults[i] = match s.faults[i] {
                    FaultSketch::SlowClose { .. } => FaultSketch::SlowClose { secs: secs / 2 },
                    FaultSketch::SlowCreate { .. } => FaultSketch::SlowCreate { secs: secs / 2 },
                    _ => FaultSketch::SlowCommit { secs: secs / 2 },
                };
                push(c);
            }
        }
    }
    // Earlier, rounder times: a step's time rounded to 100, 50, 10 or 5 s (up or down, keeping
    // the steps in order), and the fault edges likewise.
    for i in 0..s.steps.len() {
        for t in rounder(s.steps[i].at) {
            let mut c = s.clone();
            let w = s.steps[i].until.map(|u| u - s.steps[i].at);
            c.steps[i].at = t;
            c.steps[i].until = w.map(|w| t + w);
            c.steps.sort_by_key(|x| x.at);
            push(c);
        }
    }
    for i in 0..s.faults.len() {
        if let Some((a, b)) = s.faults[i].window() {
            for t in rounder(a).into_iter().filter(|t| *t < b) {
                let mut c = s.clone();
                c.faults[i] = s.faults[i].with_window(t, b);
                push(c);
            }
            for t in rounder(b).into_iter().filter(|t| *t > a) {
                let mut c = s.clone();
                c.faults[i] = s.faults[i].with_window(a, t);
                push(c);
            }
        }
    }
    for i in 0..s.records.len() {
        for t in rounder(s.records[i].at) {
            let mut c = s.clone();
            c.records[i].at = t;
            push(c);
        }
    }
    out
}

/// Rounder values near `t`, roundest first.
fn rounder(t: u64) -> Vec<u64> {
    let mut out = vec![];
    for m in [100, 50, 10, 5] {
        for r in [t / m * m, t.div_ceil(m) * m] {
            if r != t && !out.contains(&r) && roundness(r) > roundness(t) {
                out.push(r);
            }
        }
    }
    out
}

fn roundness(t: u64) -> usize {
    [5, 10, 50, 100].iter().filter(|m| t % **m == 0).count()
}

/// Shrinks `s` greedily: the first lighter candidate that `still_fails` is kept and the search
/// starts over from it, until no candidate fails or `max_checks` checks were spent. Returns
/// the smallest failing sketch and the number of checks spent.
pub fn shrink(
    s: &Sketch,
    max_checks: usize,
    mut still_fails: impl FnMut(&Sketch) -> bool,
) -> (Sketch, usize) {
    let mut best = s.clone();
    let mut checks = 0;
    'outer: loop {
        for c in candidates(&best) {
            if checks >= max_checks {
                break 'outer;
            }
            checks += 1;
            if still_fails(&c) {
                best = c;
                continue 'outer;
            }
        }
        break;
    }
    (best, checks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hunt::sketch::StepSketch;
    use crate::scenario::Op;

    fn big() -> Sketch {
        Sketch {
            partitions: 2,
            steps: vec![
                StepSketch {
                    op: Op::Pause,
                    thread: 2,
                    at: 147,
                    until: Some(151),
                },
                StepSketch {
                    op: Op::Resume,
                    thread: 1,
                    at: 305,
                    until: None,
                },
                StepSketch {
                    op: Op::Run,
                    thread: 0,
                    at: 452,
                    until: None,
                },
            ],
            faults: vec![
                FaultSketch::BrokerDown {
                    from: 304,
                    until: 777,
                },
                FaultSketch::SlowClose { secs: 17 },
            ],
            suspend: true,
            ..Sketch::default()
        }
    }

    #[test]
    fn every_candidate_is_lighter() {
        let s = big();
        let cs = candidates(&s);
        assert!(cs.len() > 20);
        assert!(cs.iter().all(|c| c.weight() < s.weight()));
    }

    #[test]
    fn shrinks_to_what_the_failure_needs() {
        // A "bug" that needs a resume while the brokers are down.
        let fails = |s: &Sketch| {
            s.steps.iter().any(|st| {
                st.op == Op::Resume
                    && s.faults.iter().any(|f| {
                        matches!(f, FaultSketch::BrokerDown { from, until } if *from <= st.at && st.at < *until)
                    })
            })
        };
        assert!(fails(&big()));
        let (small, checks) = shrink(&big(), 1000, fails);
        assert!(fails(&small));
        assert_eq!(small.steps.len(), 1, "{small:?}");
        assert_eq!(small.steps[0].thread, 0);
        assert_eq!(small.faults.len(), 1);
        assert!(!small.suspend);
        assert_eq!(small.partitions, 1);
        assert_eq!(small.steps[0].at % 100, 0, "a round time: {small:?}");
        assert!(checks < 1000);
        // Nothing lighter fails any more.
        assert!(candidates(&small).iter().all(|c| !fails(c)));
    }

    #[test]
    fn rounder_times() {
        assert_eq!(rounder(303), vec![300, 400, 350, 310, 305]);
        assert_eq!(rounder(305), vec![300, 400, 350, 310]);
        assert_eq!(rounder(300), Vec::<u64>::new());
        assert_eq!(rounder(150), vec![100, 200]);
    }
}
