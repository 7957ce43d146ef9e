//! pausebeat's benchmarks: the drivers behind the criterion benches in `benches/benches/` and the
//! binaries in `src/bin/`. The benchmark ids are fixed by `docs/CONTRACT.md` ("Benchmarks"):
//!
//! * `resume_call/<design>/<state>` ([`resume`]): how long `resume()` takes to return, on the std
//!   runtime with a [`scripted`] consumer;
//! * `resume_to_record/{rdkafka-raw,vetted}` and `throughput/{rdkafka-raw,vetted}` ([`kafka`]):
//!   real rdkafka against librdkafka's embedded mock cluster;
//! * `fetch_latency` (a binary): the experiments behind the resume → record settings.
//!
//! The verifier's own statistics (`verifier_stats`, `hunt_goals`) are examples of
//! `pausebeat-scenarios`: this crate does not depend on the verifier, so a benchmark builds the
//! consumer exactly as a user does (without the `mutants` feature the verifier turns on).
//!
//! `benches/report.py` turns the results into `benches/RESULTS.md` and `benches/resume_call.svg`.

#![warn(missing_docs)]

pub mod kafka;
pub mod resume;
pub mod scripted;

use pausebeat::sync::{Runtime, StdRuntime};
use std::path::PathBuf;
use std::time::Duration;

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A consumer configuration was refused.
    #[error("consumer configuration: {0}")]
    Config(#[from] pausebeat::consumer::ConfigError),
    /// The vetted consumer failed.
    #[error("consumer: {0}")]
    Consumer(#[from] pausebeat::consumer::ConsumerError),
    /// The Kafka configuration was refused.
    #[error("kafka configuration: {0}")]
    KafkaConfig(#[from] pausebeat::rdkafka::ConfigError),
    /// The mock cluster failed.
    #[error("mock cluster: {0}")]
    Mock(#[from] pausebeat::rdkafka::mock::MockError),
    /// librdkafka refused something.
    #[error("rdkafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// The setup did not reach the state to measure, or a measurement went wrong.
    #[error("{0}")]
    Setup(String),
    /// Writing results failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Logs to stderr, filtered by `RUST_LOG` (default `warn`, librdkafka's own lines off).
/// Idempotent.
pub fn init_tracing() {
    init_tracing_with("warn,librdkafka=off");
}

/// Logs to stderr, filtered by `RUST_LOG`, else by `default`. Idempotent.
pub fn init_tracing_with(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Ends the process with status 3 if it is still running after `limit`: librdkafka can hang in
/// a consumer's destroy (rdkafka-notes), and a benchmark run must end.
pub fn watchdog(name: &'static str, limit: Duration) {
    let rt = StdRuntime::new();
    drop(rt.spawn("watchdog", move || {
        StdRuntime::new().sleep(limit);
        eprintln!("{name}: still running after {limit:?} (hung in librdkafka?); exiting");
        std::process::exit(3);
    }));
}

/// Prints `err` and ends the process with status 1 (benchmark mains cannot return errors
/// through criterion).
pub fn fail(what: &str, err: impl std::fmt::Display) -> ! {
    eprintln!("{what}: {err}");
    std::process::exit(1)
}

/// Where the benchmarks leave what criterion does not keep (`<target>/pausebeat-bench/`):
/// `$CARGO_TARGET_DIR` if set, else the workspace's `target/`.
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
pub fn write_json(name: &str, value: &impl serde::Serialize) -> Result<PathBuf, BenchError> {
    let dir = results_dir();
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(name);
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| BenchError::Setup(format!("serializing {name}: {e}")))?;
    std::fs::write(&path, text)?;
    Ok(path)
}
