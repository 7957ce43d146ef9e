//! pausebeat's scenario catalogue, its properties, the harness that runs a scenario against a
//! design under loom and shuttle, and the verifier behind the `pausebeat` binary.
//!
//! Use it from your own tests to verify a design of your own against the whole catalogue:
//! see [`verify::verify_design`] and `examples/own_design.rs`.

#![warn(missing_docs)]

pub mod catalogue;
pub mod cli;
#[cfg(feature = "rdkafka")]
pub mod conform;
#[cfg(feature = "rdkafka")]
pub mod demo;
pub mod designs;
pub mod expect;
pub mod harness;
pub mod hunt;
#[cfg(feature = "rdkafka")]
pub mod soak;
/// The properties, judged from the event log (they live with the world's log, so that every
/// harness judges with the same functions).
pub use pausebeat_world::properties;
pub mod report;
pub mod scenario;
pub mod verify;
pub mod vetted;
