//! The user's batch handler: what the consumer hands records to.

use crate::kafka::Record;

/// Why a handler refused a batch. The consumer does not commit it and reads it again.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("handler failed: {0}")]
pub struct HandlerError(pub String);

/// Takes batches of records. The consumer commits a batch only after `handle` returned `Ok`, so
/// delivery is at-least-once.
///
/// ```
/// use pausebeat::{Handler, HandlerError, Record};
///
/// struct Count(std::sync::atomic::AtomicUsize);
/// impl Handler for Count {
///     fn handle(&self, batch: &[Record]) -> Result<(), HandlerError> {
///         self.0.fetch_add(batch.len(), std::sync::atomic::Ordering::Relaxed);
///         Ok(())
///     }
/// }
/// ```
pub trait Handler: Send + Sync + 'static {
    /// Processes one batch (records of one or more partitions, in offset order per partition).
    fn handle(&self, batch: &[Record]) -> Result<(), HandlerError>;
}

impl<H: Handler + ?Sized> Handler for std::sync::Arc<H> {
    fn handle(&self, batch: &[Record]) -> Result<(), HandlerError> {
        (**self).handle(batch)
    }
}
