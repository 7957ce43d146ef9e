//! The handler thread: it owns the user's [`Handler`] and nothing else. It receives batches
//! (plain records, never the consumer handle) and sends back the handler's verdict, so the owner
//! can keep polling for the group membership while a slow destination works on a batch.

use crate::handler::{Handler, HandlerError};
use crate::kafka::Record;
use crate::sync::{Chan, JoinHandle, Runtime, TrySendError};

/// The owner's side of the handler thread.
pub(crate) struct Worker<R: Runtime> {
    jobs: Chan<R, Vec<Record>>,
    /// The handler's verdicts; the owner selects on it while a batch is in flight.
    pub results: Chan<R, Result<(), HandlerError>>,
    /// Signalled once when the thread ends (lets `close()` wait for it with a bound).
    pub exited: Chan<R, ()>,
    pub thread: Option<JoinHandle<R, ()>>,
    /// A batch is in the handler.
    pub busy: bool,
    name: String,
}

impl<R: Runtime> Worker<R> {
    /// Spawns the handler thread `name`.
    pub fn spawn<H: Handler>(rt: &R, name: String, handler: H) -> Worker<R> {
        let jobs: Chan<R, Vec<Record>> = Chan::new(rt, 1);
        let results: Chan<R, Result<(), HandlerError>> = Chan::new(rt, 1);
        let exited: Chan<R, ()> = Chan::new(rt, 1);
        let (jobs2, results2, exited2) = (jobs.clone(), results.clone(), exited.clone());
        let thread = rt.spawn(&name, move || {
            while let Some(batch) = jobs2.recv() {
                let verdict = handler.handle(&batch);
                // At most one batch is in flight, so the slot is free; a closed channel means
                // the owner has gone and nobody wants the verdict.
                if results2.try_send(verdict).is_err() {
                    break;
                }
            }
            let _ = exited2.try_send(());
        });
        Worker {
            jobs,
            results,
            exited,
            thread: Some(thread),
            busy: false,
            name,
        }
    }

    /// The handler thread's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Hands a batch to the handler. Only called when no batch is in flight.
    pub fn hand(&mut self, batch: Vec<Record>) -> Result<(), HandlerError> {
        debug_assert!(!self.busy, "one batch in flight at most");
        match self.jobs.try_send(batch) {
            Ok(()) => {
                self.busy = true;
                Ok(())
            }
            Err(TrySendError::Full(_) | TrySendError::Closed(_)) => Err(HandlerError(
                "the handler thread is not accepting batches".to_string(),
            )),
        }
    }

    /// Tells the thread to end once its current batch (if any) is done.
    pub fn stop(&self) {
        self.jobs.close();
    }
}
