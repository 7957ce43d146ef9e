//! pausebeat: a Kafka batch consumer whose pause / resume / heartbeat coordination is verified
//! under loom and shuttle, and the sync abstraction that makes that possible.

#![warn(missing_docs)]

pub mod sync;
