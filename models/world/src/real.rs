//! A real run judged by the same properties as a model run: the recording of the consumer's
//! calls ([`crate::record::Recorded`]), the handler's evidence ([`LoggedHandler`]), the
//! application's calls ([`RealRun::call`]) and the design's own events (the [`EventLog`] is its
//! [`Probe`](pausebeat::probe::Probe)) go to one log, which [`RealRun::judge`] hands to
//! [`properties::judge`](crate::properties::judge).
//!
//! What a real run cannot have is left out rather than invented: no execution is aborted (no
//! deadlock detector runs: `no-deadlock` holds vacuously), and the threads still alive after the
//! final close are the ones the caller names.
//!
//! ```
//! use pausebeat::sync::{Runtime, StdRuntime};
//! use pausebeat_world::properties::{Bounds, Property, Rules};
//! use pausebeat_world::real::RealRun;
//! use pausebeat_world::Op;
//! use std::collections::BTreeMap;
//! use std::time::Duration;
//!
//! let rt = StdRuntime::new();
//! let run = RealRun::new(&rt);
//! // A resume that took far longer than its bound.
//! run.call(Op::Resume, || {
//!     rt.sleep(Duration::from_millis(30));
//!     Ok::<(), String>(())
//! });
//! let rules = Rules {
//!     bounds: Bounds { resume: Duration::from_millis(10), ..Bounds::default() },
//!     max_poll_interval: Duration::from_secs(300),
//!     judge_shutdown: false,
//!     all_records_due: false,
//! };
//! let v = run.judge(&rules, BTreeMap::new(), Vec::new());
//! assert_eq!(v[0].property, Property::ResumeBounded);
//! ```

use crate::log::{EventKind, EventLog};
use crate::properties::{judge, Execution, Rules, Violation};
use crate::Op;
use pausebeat::handler::{Handler, HandlerError};
use pausebeat::kafka::{Offset, Partition, Record};
use pausebeat::sync::Runtime;
use std::collections::BTreeMap;
use std::fmt::Display;

/// The log of one real run and the means to fill it.
#[derive(Clone)]
pub struct RealRun<R: Runtime> {
    rt: R,
    log: EventLog<R>,
}

impl<R: Runtime> std::fmt::Debug for RealRun<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealRun")
            .field("events", &self.log.len())
            .finish()
    }
}

impl<R: Runtime> RealRun<R> {
    /// An empty run on `rt`'s clock.
    pub fn new(rt: &R) -> Self {
        RealRun {
            rt: rt.clone(),
            log: EventLog::new(rt),
        }
    }

    /// The log (also the design's probe, and where a [`crate::record::Recorded`] factory
    /// writes).
    pub fn log(&self) -> EventLog<R> {
        self.log.clone()
    }

    /// Makes an application call of `op`, logged as the harness logs a scenario's calls
    /// (called, returned, with the error if any).
    pub fn call<T, E: Display>(&self, op: Op, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        self.log.record(None, EventKind::Call { op });
        let r = f();
        let error = r.as_ref().err().map(|e| e.to_string());
        self.log.record(None, EventKind::Return { op, error });
        r
    }

    /// Judges the run: every property, in [`crate::properties::Property::ALL`]'s order.
    /// `produced` is each partition's high watermark at the end; `threads_left` the design's
    /// threads still alive after its final close.
    pub fn judge(
        &self,
        rules: &Rules,
        produced: BTreeMap<Partition, Offset>,
        threads_left: Vec<String>,
    ) -> Vec<Violation> {
        let events = self.log.snapshot();
        let x = Execution {
            rules,
            events: &events,
            produced,
            abort: None,
            threads_left,
            end: self.rt.now(),
        };
        judge(&x)
    }

    /// The log as text, one line per event.
    pub fn trace(&self) -> Vec<String> {
        self.log.snapshot().iter().map(|e| e.to_string()).collect()
    }
}

/// A handler that logs each batch it is given and how it ended (the evidence `no-loss`,
/// `no-duplicates` and `paused-means-paused` are judged from), then lets `inner` handle it.
pub struct LoggedHandler<R: Runtime, H> {
    log: EventLog<R>,
    inner: H,
}

impl<R: Runtime, H: Handler> LoggedHandler<R, H> {
    /// Wraps `inner`, logging to `log`.
    pub fn new(log: EventLog<R>, inner: H) -> Self {
        LoggedHandler { log, inner }
    }

    /// The wrapped handler.
    pub fn inner(&self) -> &H {
        &self.inner
    }
}

impl<R: Runtime, H: Handler> Handler for LoggedHandler<R, H> {
    fn handle(&self, batch: &[Record]) -> Result<(), HandlerError> {
        let records = batch.iter().map(|r| (r.partition, r.offset)).collect();
        self.log.record(None, EventKind::HandlerBegin { records });
        let r = self.inner.handle(batch);
        self.log
            .record(None, EventKind::HandlerEnd { ok: r.is_ok() });
        r
    }
}
