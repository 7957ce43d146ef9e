//! The modeled Kafka world pausebeat's checkers run consumer designs against: a deterministic
//! in-memory broker, consumer group and consumer handles on the sync abstraction's (virtual)
//! clock, with faults placed in virtual time, and the event log every property is judged from.

#![warn(missing_docs)]

pub mod design;
pub mod handler;
pub mod log;
pub mod properties;
pub mod real;
pub mod record;
pub mod world;

pub use design::{CallError, Design, Env, Expectation, Instance, Op, Timing};
pub use handler::{threads_left, LoggingHandler, Produced};
pub use log::{Event, EventKind, EventLog, Expiry, PollOutcome};
pub use world::{
    default_class, Fault, OtherMember, SpecError, World, WorldHandle, WorldHook, WorldSnapshot,
    WorldSpec,
};
