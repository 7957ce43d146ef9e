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
//!
//! # Running on a real cluster
//!
//! A [`KafkaConfig`] names the cluster, the group and the topic, and carries any further
//! librdkafka settings (security, fetch tuning) in `extra`; [`RdKafkaFactory::new`] checks every
//! key and value with librdkafka before anything connects. The consumer's own
//! [`ConsumerConfig`](crate::ConsumerConfig) takes the static instance id (every consumer the
//! owner opens uses it; `KafkaConfig::instance_id` is only for code that creates handles itself)
//! and the **same** session and max.poll timeouts: the consumer derives its maintenance-poll
//! cadence from them, and nothing cross-checks the two configurations.
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use pausebeat::consumer::{Consumer, ConsumerConfig};
//! use pausebeat::rdkafka::{KafkaConfig, RdKafkaFactory};
//! use pausebeat::sync::StdRuntime;
//! use pausebeat::{Handler, HandlerError, NoProbe, Record};
//!
//! struct Sink;
//! impl Handler for Sink {
//!     fn handle(&self, batch: &[Record]) -> Result<(), HandlerError> {
//!         // Write the batch somewhere; an Err means "not committed, read it again".
//!         Ok(())
//!     }
//! }
//!
//! let (session, max_poll) = (Duration::from_secs(45), Duration::from_secs(300));
//! let kafka = KafkaConfig::new("kafka-1:9093,kafka-2:9093", "billing-bulker", "events")
//!     .with_session_timeout(session)
//!     .with_max_poll_interval(max_poll)
//!     .with_close_timeout(Duration::from_secs(10)) // close() gives up on librdkafka after this
//!     .with("security.protocol", "SASL_SSL")
//!     .with("sasl.mechanisms", "SCRAM-SHA-512")
//!     .with("sasl.username", "billing")
//!     .with("sasl.password", std::env::var("KAFKA_PASSWORD")?) // redacted by Debug
//!     .with("ssl.ca.location", "/etc/ssl/certs/kafka-ca.pem");
//! let factory = RdKafkaFactory::new(kafka)?;
//!
//! let config = ConsumerConfig::builder()
//!     .name("billing")
//!     .instance_id("billing-bulker-0") // one per replica, stable across deployments
//!     .session_timeout(session)
//!     .max_poll_interval(max_poll)
//!     .build()?;
//! let consumer = Consumer::start(&StdRuntime::new(), config, Arc::new(factory), Sink, NoProbe);
//! let report = consumer.run_once()?; // blocking: from async code, `run_once_async` (feature `tokio`)
//! consumer.resume(); // never blocks: fine anywhere, even while the brokers are down
//! consumer.pause()?;
//! consumer.close()?;
//! # let _ = report;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `impl/examples/tokio_app.rs` shows a tokio application owning the consumer.

mod bounded;
mod config;
mod consumer;
pub mod error;
pub mod mock;
mod start;

pub use config::{ConfigError, KafkaConfig};
pub use consumer::{RdKafkaFactory, RdKafkaHandle};
pub use error::{classify, classify_code};
pub use start::{start, RdKafkaConsumer, StartError};
