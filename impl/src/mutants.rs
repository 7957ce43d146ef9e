//! Planted bugs: the verifier's own sensitivity test.
//!
//! Each mutant is a small, realistic bug in the vetted consumer, switched on at run time by the
//! environment variable `PAUSEBEAT_MUTANT=<name>` in a build with the `mutants` feature. Without
//! the feature, [`active`] is a constant `false` and every mutant compiles away: production
//! builds carry none of them.
//!
//! `scenarios/tests/mutants.rs` runs `pausebeat verify --design vetted` once per mutant and
//! fails when one survives (the catalogue stops catching a bug it used to catch).
//!
//! ```
//! // Outside a mutants build (or with PAUSEBEAT_MUTANT unset) no mutant is active.
//! assert!(!pausebeat::mutants::active("resume-waits"));
//! assert!(pausebeat::mutants::ALL.len() >= 15);
//! ```

/// Every mutant: its name and the bug it plants.
pub const ALL: &[(&str, &str)] = &[
    ("resume-waits", "resume() waits for the owner to apply it, like a command"),
    ("hook-keeps-stale-pause", "the rebalance hook pauses new partitions while paused but does not resume them while running (librdkafka's stale pause flag stays)"),
    ("restart-creates-first", "a restart creates the new consumer before it closes the old one (PR #1494's create-first order): under the same static id the newcomer takes the member's place and the old handle, still open, is fenced"),
    ("restart-keeps-old-handle", "a restart opens the new consumer without closing the old one"),
    ("suspend-keeps-handle", "suspend() acknowledges without closing the consumer"),
    ("commit-before-handler", "a batch is committed when it is handed to the handler, not after it succeeded"),
    ("failed-batch-committed", "a batch the handler refused is committed anyway"),
    ("failed-batch-not-rewound", "a batch the handler refused is not sought back: its records are skipped"),
    ("rare-maintenance", "maintenance polls while paused come once per max.poll.interval, not every heartbeat interval"),
    ("close-does-not-wait", "close() returns without waiting for the owner and handler threads"),
    ("close-abandons-slow-close", "close() gives up at its timeout while the client is still closing the handle, leaving the owner running"),
    ("close-leaves-handle-open", "shutting down does not close the consumer handle"),
    ("one-command-per-step", "the owner takes one queued command per step: a close queued behind a run waits a whole consuming poll, and close() runs out of time"),
    ("queued-run-lost", "a run asked for while a suspend is pending is never started (its caller waits forever)"),
    ("pending-dropped-on-pause", "records read and not yet handed are dropped, not sought back, when consumption stops"),
    ("rewind-one-too-far", "records read and not yet handed are sought back to one before the first of them: the last record handled is handed again"),
    ("slipped-record-dropped", "a record read while paused is dropped instead of sought back"),
    ("pause-acks-busy", "pause() returns while a batch is still in the handler"),
    ("no-resume-after-restart", "a restart forgets a resume asked for while it was in flight: the replacement starts paused"),
    ("restart-while-suspended", "a restart goes on creating consumers after a suspending run gave up, while its batch is still in the handler"),
    ("no-commit-retry", "a commit that failed for a transient reason is never tried again: the batch is read and handled again after a close"),
    ("commit-after-revoke", "what a failed commit left uncommitted is committed even after its partition was revoked (and given back): a stale offset goes over the progress of whoever held it meanwhile"),
    ("pending-kept-across-revoke", "records read and not yet handed are kept when a rebalance revokes their partition: handed after it comes back, they are read and handed again"),
    ("run-ends-on-an-earlier-batch", "a run ends with the handler's error when a batch handed before it began (while resumed) fails: its records are left for a run that may never come"),
    ("close-counts-client-calls", "close() counts the time the client spends creating a consumer or committing against its bound: it gives up inside a slow create or commit, leaving the owner running"),
    ("drain-drops-overflow", "the drain checks whether the batch is full before taking the record the client just handed over, and drops it: a record read at hand past a full batch is never handled"),
];

/// True if mutant `name` is switched on for this process.
#[cfg(feature = "mutants")]
pub fn active(name: &str) -> bool {
    // Read once: the switch is consulted on hot paths (every poll). This cache is not
    // coordination state, so it does not go through the sync abstraction.
    static ON: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    ON.get_or_init(|| std::env::var("PAUSEBEAT_MUTANT").ok())
        .as_deref()
        == Some(name)
}

/// True if mutant `name` is switched on for this process (never: built without `mutants`).
#[cfg(not(feature = "mutants"))]
#[inline(always)]
pub fn active(_name: &str) -> bool {
    false
}
