//! `pausebeat demo --json FILE`: the vetted consumer on real rdkafka against the embedded mock
//! cluster, through an outage. Checks the exit status, the timeline and the contract's JSON.
#![cfg(feature = "rdkafka")]

use std::process::Command;

#[test]
fn demo_passes_and_writes_the_contract_json() {
    let dir = std::env::temp_dir().join(format!("pausebeat-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("demo.json");
    // The demo's own watchdog ends it (exit 1) if it hangs: no window here.
    let out = Command::new(env!("CARGO_BIN_EXE_pausebeat"))
        .args(["demo", "--json", json.to_str().unwrap()])
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    for step in [
        "ALL BROKERS DOWN",
        "resume() during the outage returned in",
        "brokers back up",
        "recovered:",
        "suspend(): state Suspended",
        "close() returned Ok",
        "properties judged on",
        "no-loss                  held",
        "paused-means-paused      held",
        "suspend-final            held",
        "demo PASSED",
    ] {
        assert!(stdout.contains(step), "no `{step}` in\n{stdout}");
    }

    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let obj = doc.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "consumers_closed",
            "consumers_created",
            "outage_ms",
            "records_handled",
            "records_lost",
            "records_produced",
            "resume_latency_us",
            "resume_to_record_ms"
        ]
    );
    let int = |k: &str| doc[k].as_u64().unwrap_or_else(|| panic!("{k}: {}", doc[k]));
    let num = |a: &str, b: &str| {
        doc[a][b]
            .as_f64()
            .unwrap_or_else(|| panic!("{a}.{b}: {}", doc[a][b]))
    };
    assert!(int("records_produced") > 0);
    assert_eq!(int("records_handled"), int("records_produced"));
    assert_eq!(int("records_lost"), 0);
    assert!(int("consumers_created") >= 1);
    assert_eq!(int("consumers_created"), int("consumers_closed"));
    assert!(int("outage_ms") >= 1000, "{doc}");
    let (p50, p99, max) = (
        num("resume_latency_us", "p50"),
        num("resume_latency_us", "p99"),
        num("resume_latency_us", "max"),
    );
    assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{doc}");
    // That resume() never waits is `resume-bounded`'s to judge (above: held); its speed is the
    // benchmarks'.
    let (r50, rmax) = (
        num("resume_to_record_ms", "p50"),
        num("resume_to_record_ms", "max"),
    );
    assert!(0.0 < r50 && r50 <= rmax, "{doc}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_watchdog_ends_a_demo_that_runs_past_its_hard_limit() {
    let out = Command::new(env!("CARGO_BIN_EXE_pausebeat"))
        .arg("demo")
        .env(pausebeat_scenarios::demo::HARD_LIMIT_ENV, "300")
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("watchdog"), "{stderr}");
}
