//! The stand-in for the destination every harness hands batches to, and the evidence it logs.

use crate::log::{EventKind, EventLog};
use pausebeat::handler::{Handler, HandlerError};
use pausebeat::kafka::{Offset, Partition, Record};
use std::sync::Arc;

/// What the world produced at a partition and offset (`World::record`).
pub type Produced = Arc<dyn Fn(Partition, Offset) -> Option<Record> + Send + Sync>;
use pausebeat::sync::{Backend, Runtime, Virtual};
use std::time::Duration;

/// A batch handler that takes `delay` of the runtime's time per batch, fails the batches it is
/// given inside `fails` windows, and logs `HandlerBegin` / `HandlerEnd` (the evidence
/// `no-loss` and `paused-means-paused` are judged from).
pub struct LoggingHandler<R: Runtime> {
    rt: R,
    log: EventLog<R>,
    /// What the world produced at a partition and offset: a record handed that differs from it
    /// is logged as altered (`no-loss` judges it).
    produced: Option<Produced>,
    delay: Duration,
    /// If not empty: the delays a batch may take instead, one chosen per batch by the checkers.
    jitter: Vec<Duration>,
    fails: Vec<(Duration, Duration)>,
}

impl<R: Runtime> LoggingHandler<R> {
    /// A handler logging to `log`.
    pub fn new(
        rt: &R,
        log: EventLog<R>,
        delay: Duration,
        fails: Vec<(Duration, Duration)>,
    ) -> Self {
        LoggingHandler {
            rt: rt.clone(),
            log,
            produced: None,
            delay,
            jitter: Vec::new(),
            fails,
        }
    }

    /// Checks every record handed against what the world produced (`World::record`): its
    /// topic, key, value, headers and timestamp must arrive unchanged.
    pub fn checking(mut self, produced: Produced) -> Self {
        self.produced = Some(produced);
        self
    }

    /// Each batch takes one of `delays` (chosen by the checkers, per batch) instead of the
    /// fixed delay; no effect if `delays` is empty.
    pub fn with_jitter(mut self, delays: Vec<Duration>) -> Self {
        self.jitter = delays;
        self
    }
}

impl<R: Runtime> Handler for LoggingHandler<R> {
    fn handle(&self, batch: &[Record]) -> Result<(), HandlerError> {
        if let Some(produced) = &self.produced {
            let altered: Vec<(Partition, Offset)> = batch
                .iter()
                .filter(|r| produced(r.partition, r.offset).as_ref() != Some(*r))
                .map(|r| (r.partition, r.offset))
                .collect();
            if !altered.is_empty() {
                self.log
                    .record(None, EventKind::HandlerAltered { records: altered });
            }
        }
        let records = batch.iter().map(|r| (r.partition, r.offset)).collect();
        self.log.record(None, EventKind::HandlerBegin { records });
        let start = self.rt.now().since_origin();
        let delay = if self.jitter.is_empty() {
            self.delay
        } else {
            self.jitter[self.rt.pick(self.jitter.len())]
        };
        if !delay.is_zero() {
            self.rt.sleep(delay);
        }
        let fail = self.fails.iter().any(|(a, b)| *a <= start && start < *b);
        self.log.record(None, EventKind::HandlerEnd { ok: !fail });
        if fail {
            Err(HandlerError(
                "the destination refused the batch (injected)".into(),
            ))
        } else {
            Ok(())
        }
    }
}

/// The threads other than the caller that are still alive, with what each waits on (for
/// `clean-shutdown`, called after `close()` and its grace period).
pub fn threads_left<B: Backend>(rt: &Virtual<B>) -> Vec<String> {
    let (live, names, blocked) = rt.live_thread_report();
    let live = live.saturating_sub(1);
    if live == 0 {
        return Vec::new();
    }
    let mut left: Vec<String> = blocked.iter().map(|b| b.to_string()).collect();
    // The others are running (woken, not yet blocked again): named, so that a property can
    // tell a thread inside the application's handler from the design's own.
    let mut waiting: Vec<&str> = blocked.iter().map(|b| b.thread.as_str()).collect();
    for name in names {
        match waiting.iter().position(|w| *w == name) {
            Some(i) => {
                waiting.remove(i);
            }
            None if left.len() < live => left.push(format!("`{name}` running")),
            None => {}
        }
    }
    if left.len() < live {
        left.push(format!("{} running", live - left.len()));
    }
    left
}
