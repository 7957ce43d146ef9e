//! `pausebeat`: the concurrency verifier (`verify`, `replay`, `list`) over the built-in designs,
//! and the demo of the vetted consumer on real rdkafka (`demo`). See `docs/CONTRACT.md` for the
//! names and exit codes; a user's own verifier binary calls [`pausebeat_scenarios::cli::run`]
//! with its designs added to the registry.

use pausebeat_scenarios::designs::Registry;
use std::process::ExitCode;

fn main() -> ExitCode {
    pausebeat_scenarios::cli::run(Registry::builtin())
}
