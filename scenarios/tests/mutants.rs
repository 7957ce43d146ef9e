//! The verifier proves its own sensitivity: every planted bug of `pausebeat::mutants` (a small,
//! realistic bug in the vetted consumer, switched on by `PAUSEBEAT_MUTANT`) must make
//! `pausebeat verify --design vetted` fail. A mutant that survives names a missing scenario or
//! property; this test fails then, and prints the kill rate either way.

use std::process::Command;
use std::time::Instant;

#[test]
fn verify_kills_every_mutant_of_the_vetted_consumer() {
    let exe = env!("CARGO_BIN_EXE_pausebeat");
    let dir = std::env::temp_dir().join(format!("pausebeat-mutants-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let mut survivors = vec![];
    let started = Instant::now();
    for (name, bug) in pausebeat::mutants::ALL {
        let json = dir.join(format!("{name}.json"));
        let t = Instant::now();
        let out = Command::new(exe)
            .args(["verify", "--design", "vetted", "--fail-fast", "--json"])
            .arg(&json)
            .env("PAUSEBEAT_MUTANT", name)
            .output()
            .expect("pausebeat runs");
        let killed_by = std::fs::read_to_string(&json)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| {
                v["results"].as_array()?.iter().find_map(|r| {
                    (r["as_expected"] == false).then(|| {
                        format!(
                            "{} × {}: {} {}",
                            r["scenario"].as_str().unwrap_or("?"),
                            r["checker"].as_str().unwrap_or("?"),
                            r["verdict"].as_str().unwrap_or("?"),
                            r["property"].as_str().unwrap_or("")
                        )
                    })
                })
            });
        match (out.status.code(), killed_by) {
            (Some(1), Some(by)) => {
                println!(
                    "killed   {name:<26} in {:>5.1}s by {by}",
                    t.elapsed().as_secs_f64()
                )
            }
            (code, _) => {
                println!("SURVIVED {name:<26} ({bug}); exit {code:?}");
                survivors.push(*name);
            }
        }
    }
    let total = pausebeat::mutants::ALL.len();
    println!(
        "kill rate: {}/{total} in {:.0}s",
        total - survivors.len(),
        started.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        survivors.is_empty(),
        "mutants that survived verify: {survivors:?}"
    );
}
