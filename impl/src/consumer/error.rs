//! [`ConsumerError`]: what the consumer's API reports.

use crate::handler::HandlerError;
use crate::kafka::KafkaError;
use std::time::Duration;

/// An error of the consumer's API.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConsumerError {
    /// A consumer operation failed (the run ended on it; the owner retries or restarts).
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    /// The handler refused a batch; it was not committed and will be read again.
    #[error(transparent)]
    Handler(#[from] HandlerError),
    /// No consumer could be opened for the run (the broker is down); the run did nothing.
    #[error("no consumer could be opened: {0}")]
    Unavailable(KafkaError),
    /// The run was cut short by `pause()` or `suspend()`.
    #[error("the run was interrupted by {0}()")]
    Interrupted(&'static str),
    /// The consumer is closed (or closing).
    #[error("the consumer is closed")]
    Closed,
    /// The owner thread did not confirm within the bound.
    #[error("the owner did not confirm {what}() within {after:?}")]
    Timeout {
        /// The operation.
        what: &'static str,
        /// The bound.
        after: Duration,
    },
    /// A blocking operation was called from the batch handler, which would wait on itself.
    #[error("{0}() must not be called from the batch handler")]
    CalledFromHandler(&'static str),
    /// The owner thread panicked (a bug in a consumer handle or in pausebeat).
    #[error("the owner thread panicked")]
    OwnerPanicked,
}
