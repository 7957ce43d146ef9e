//! The production backend of the consumer seam, on rust-rdkafka (librdkafka 2.12, bundled), and
//! an embedded mock cluster for tests and demos.
//!
//! * [`KafkaConfig`] / [`ConfigError`]: the typed, validated configuration.
//! * [`RdKafkaFactory`] ([`ConsumerFactory`](crate::ConsumerFactory)) creates
//!   [`RdKafkaHandle`]s ([`ConsumerHandle`](crate::ConsumerHandle)): librdkafka `BaseConsumer`s
//!   in a consumer group, subscribed to one topic, committing manually.
//! * [`classify`] / [`classify_code`]: librdkafka errors → the seam's
//!   [`ErrorClass`](crate::ErrorClass) and [`ErrorCode`](crate::ErrorCode) (the table is in
//!   [`error`]).
//! * [`mock::MockKafka`]: librdkafka's mock cluster with a topic, a producer, and fault
//!   injection (test and demo utility).

mod bounded;
mod config;
mod consumer;
pub mod error;
pub mod mock;

pub use config::{ConfigError, KafkaConfig};
pub use consumer::{RdKafkaFactory, RdKafkaHandle};
pub use error::{classify, classify_code};
