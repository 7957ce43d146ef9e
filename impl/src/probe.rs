//! Design-level events: what a consumer design reports about itself, so that the properties of
//! the scenario catalogue can be judged. In production the probe is [`NoProbe`], a zero-sized
//! no-op that compiles away.

use crate::kafka::{Offset, Partition};

/// Something a consumer design did, as seen from its API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DesignEvent {
    /// A run (a batch period's work) started.
    RunStarted,
    /// The run ended.
    RunEnded,
    /// `resume()` was entered.
    ResumeCalled,
    /// `resume()` returned; `ok` is false when it gave up (e.g. Go's "Resume timeout").
    ResumeReturned {
        /// Whether it succeeded.
        ok: bool,
    },
    /// `pause()` was entered.
    PauseCalled,
    /// `pause()` returned: from here on the consumer counts as paused.
    PauseReturned,
    /// `suspend()` (close between runs) was entered.
    SuspendCalled,
    /// `suspend()` returned: from here on no consumer may be open until the next run.
    SuspendReturned,
    /// `close()` (shutdown) was entered.
    CloseCalled,
    /// `close()` returned.
    CloseReturned,
    /// A record was handed to the batch handler.
    Handled {
        /// Its partition.
        partition: Partition,
        /// Its offset.
        offset: Offset,
    },
    /// A record was read where none should have been (while paused) and rewound.
    Rewound {
        /// Its partition.
        partition: Partition,
        /// Its offset.
        offset: Offset,
    },
    /// A Go goroutine without `recover` panicked: in Go this crashes the process.
    Crash {
        /// What panicked.
        what: String,
    },
    /// Free text for the trace.
    Note(String),
}

/// Where a design reports its [`DesignEvent`]s.
pub trait Probe: Send + Sync + 'static {
    /// Records an event.
    fn note(&self, event: DesignEvent);
}

/// The production probe: does nothing, costs nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProbe;

impl Probe for NoProbe {
    #[inline(always)]
    fn note(&self, _event: DesignEvent) {}
}

impl<P: Probe + ?Sized> Probe for std::sync::Arc<P> {
    fn note(&self, event: DesignEvent) {
        (**self).note(event)
    }
}
