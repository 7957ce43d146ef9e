//! The vetted design in the catalogue: pausebeat's own consumer, as adapted to the scenarios'
//! timing in `pausebeat-vetted-checks` (one run, then pause — or suspend when the next run is at
//! least 60 s away and suspending is on).

pub use pausebeat_vetted_checks::{config_for, Vetted};
