//! What the verifier's measuring tools (`verifier_stats`, `hunt_goals`) share: logging, a
//! watchdog, and where their JSON goes.

#![allow(dead_code)]

use pausebeat::sync::{Runtime, StdRuntime};
use std::path::PathBuf;
use std::time::Duration;

/// Logs to stderr, filtered by `RUST_LOG`, else by `default`. Idempotent.
pub fn init_tracing_with(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Ends the process with status 3 if it is still running after `limit`.
pub fn watchdog(name: &'static str, limit: Duration) {
    let rt = StdRuntime::new();
    drop(rt.spawn("watchdog", move || {
        StdRuntime::new().sleep(limit);
        eprintln!("{name}: still running after {limit:?}; exiting");
        std::process::exit(3);
    }));
}

/// Prints `err` and ends the process with status 1.
pub fn fail(what: &str, err: impl std::fmt::Display) -> ! {
    eprintln!("{what}: {err}");
    std::process::exit(1)
}

/// Where the tools leave their JSON (`<target>/pausebeat-bench/`, read by
/// `benches/report.py`): `$CARGO_TARGET_DIR` if set, else the workspace's `target/`.
pub fn results_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target")
        })
        .join("pausebeat-bench")
}

/// Writes `value` as pretty JSON to `results_dir()/name` and returns the path.
pub fn write_json(name: &str, value: &impl serde::Serialize) -> Result<PathBuf, String> {
    let dir = results_dir();
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let path = dir.join(name);
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    std::fs::write(&path, text).map_err(|e| e.to_string())?;
    Ok(path)
}
