//! pausebeat: a Kafka batch consumer whose pause / resume / heartbeat coordination is verified
//! under loom and shuttle, and the sync abstraction that makes that possible.

#![warn(missing_docs)]

pub mod consumer;
pub mod handler;
pub mod kafka;
pub mod mutants;
pub mod probe;
#[cfg(feature = "rdkafka")]
pub mod rdkafka;
pub mod sync;

pub use consumer::{
    ConfigError, Consumer, ConsumerConfig, ConsumerError, ConsumerState, Controller, RunReport,
    Status,
};
pub use handler::{Handler, HandlerError};
pub use kafka::{
    ConsumerFactory, ConsumerHandle, ErrorClass, ErrorCode, HandleId, Header, KafkaError, Offset,
    Partition, Rebalance, RebalanceHook, Record, Timestamp,
};
pub use probe::{DesignEvent, NoProbe, Probe};
