//! The `pausebeat` binary's contract: exit codes, JSON and JUnit output, replay.

use std::process::Command;

fn pausebeat(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pausebeat"))
        .args(args)
        .output()
        .expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn verify_the_go_designs_exits_0_when_every_known_bug_is_found() {
    let dir = std::env::temp_dir().join(format!("pausebeat-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("v.json");
    let junit = dir.join("v.xml");
    let (code, stdout, stderr) = pausebeat(&[
        "verify",
        "--design",
        "go-original",
        "--design",
        "pr-1313",
        "--scenario",
        "resume-during-outage",
        "--scenario",
        "suspend-while-heartbeat-polls",
        "--budget",
        "200",
        "--loom-executions",
        "500",
        "--json",
        json.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    // The replay command names the binary that ran (a user's verifier names itself).
    let replay = format!("replay: {} replay", env!("CARGO_BIN_EXE_pausebeat"));
    assert!(stdout.contains(&replay), "no `{replay}` in {stdout}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let results = doc["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for r in results {
        for field in [
            "design",
            "scenario",
            "checker",
            "verdict",
            "expected",
            "schedules",
            "elapsed_ms",
        ] {
            assert!(!r[field].is_null(), "{field} missing in {r}");
        }
    }
    assert_eq!(doc["summary"]["unexpected"], 0);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<testsuites") && xml.contains("<testcase"),
        "{xml}"
    );

    // Replay the first violation: exit 1, the trace ends at the violation.
    let v = results
        .iter()
        .find(|r| r["verdict"] == "violation")
        .unwrap();
    let (code, stdout, _) = pausebeat(&[
        "replay",
        "--design",
        v["design"].as_str().unwrap(),
        "--scenario",
        v["scenario"].as_str().unwrap(),
        "--schedule",
        v["replay"].as_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("VIOLATION"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_arguments_exit_2() {
    assert_eq!(pausebeat(&["verify", "--design", "no-such-design"]).0, 2);
    assert_eq!(pausebeat(&["verify", "--checker", "nope"]).0, 2);
    assert_eq!(pausebeat(&["verify", "--budget", "0"]).0, 2);
    assert_eq!(pausebeat(&["frobnicate"]).0, 2);
    assert_eq!(
        pausebeat(&[
            "replay",
            "--design",
            "vetted",
            "--scenario",
            "happy-path",
            "--schedule",
            "garbage"
        ])
        .0,
        2
    );
}

#[test]
fn list_names_everything() {
    let (code, stdout, _) = pausebeat(&["list"]);
    assert_eq!(code, 0);
    for name in [
        "go-original",
        "pr-1313",
        "vetted",
        "resume-bounded",
        "clean-shutdown",
        "happy-path",
        "loom",
        "pct",
    ] {
        assert!(stdout.contains(name), "{name} missing from list");
    }
}

#[test]
fn a_violation_found_in_process_prints_nothing_of_the_checkers() {
    // `__check` runs one check in this process, as a user's own binary calling the library does.
    for checker in ["pct", "random", "loom"] {
        let (code, stdout, stderr) = pausebeat(&[
            "__check",
            "--design",
            "go-original",
            "--scenario",
            "resume-during-outage",
            "--checker",
            checker,
            "--budget",
            "50",
        ]);
        assert_eq!(code, 0, "{stderr}");
        assert!(stdout.contains("\"verdict\":\"violation\""), "{stdout}");
        for noise in ["panicked", "failing seed", "schedule:"] {
            assert!(
                !stderr.contains(noise),
                "{checker}: shuttle/loom output reached stderr:\n{stderr}"
            );
        }
    }
}

#[test]
fn a_design_that_lacks_an_operation_is_not_applicable() {
    let (code, stdout, _) = pausebeat(&[
        "__check",
        "--design",
        "go-original",
        "--scenario",
        "meet-pause-resume",
        "--checker",
        "pct",
    ]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("\"verdict\":\"not-applicable\""),
        "{stdout}"
    );
}

#[test]
fn shards_merge_into_the_report_of_a_single_run() {
    let dir = std::env::temp_dir().join(format!("pausebeat-shards-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let args = |extra: &[&str]| {
        let mut v: Vec<String> = [
            "verify",
            "--design",
            "go-original",
            "--design",
            "vetted",
            "--scenario",
            "happy-path",
            "--scenario",
            "resume-during-outage",
            "--scenario",
            "meet-run-close",
            "--budget",
            "30",
            "--loom-executions",
            "50",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run = |extra: &[&str]| {
        let a = args(extra);
        let a: Vec<&str> = a.iter().map(|s| s.as_str()).collect();
        pausebeat(&a)
    };
    let path = |n: &str| dir.join(n).to_str().unwrap().to_string();
    let (whole, ..) = run(&["--json", &path("whole.json")]);
    let (c1, ..) = run(&["--shard", "1/2", "--json", &path("s1.json")]);
    let (c2, ..) = run(&["--shard", "2/2", "--json", &path("s2.json")]);
    assert_eq!((whole, c1, c2), (0, 0, 0));
    let (merged, out, _) = pausebeat(&[
        "merge",
        &path("s1.json"),
        &path("s2.json"),
        "--json",
        &path("merged.json"),
        "--junit",
        &path("merged.xml"),
    ]);
    assert_eq!(merged, 0, "{out}");
    let key = |f: &str| -> Vec<(String, String, String, String, String)> {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path(f)).unwrap()).unwrap();
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
                (
                    s("design"),
                    s("scenario"),
                    s("checker"),
                    s("verdict"),
                    s("replay"),
                )
            })
            .collect()
    };
    let (a, b, c) = (key("s1.json"), key("s2.json"), key("whole.json"));
    assert!(!a.is_empty() && !b.is_empty());
    assert_eq!(a.len() + b.len(), c.len());
    assert_eq!(
        key("merged.json"),
        c,
        "the merged report is the single run's"
    );
    assert!(std::fs::read_to_string(path("merged.xml"))
        .unwrap()
        .contains("<testsuites"));
    let (bad, ..) = pausebeat(&["verify", "--shard", "3/2"]);
    assert_eq!(bad, 2);
}
