//! The table of expected outcomes: which design is expected to violate what on which scenario,
//! and why (with the section of `go-batch-consumer.md` it matches). Anything not listed is
//! expected to pass. `verify` exits 1 on any outcome that differs, in either direction: a
//! vetted-design violation, or a known Go bug no longer found.

use crate::properties::Property;

/// The expected outcome of a (design, scenario) pair under every checker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    /// Every schedule passes.
    Pass,
    /// Some schedule violates this property (named first, see `Property::ALL`).
    Violation(Property),
}

/// An expectation and its reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expectation {
    /// The outcome.
    pub outcome: Expected,
    /// Why, with the reference section.
    pub why: &'static str,
}

use Property::*;

/// (design, scenario, expected violation, why).
pub const TABLE: &[(&str, &str, Property, &str)] = &[];

/// The expectation for a pair.
pub fn expectation(design: &str, scenario: &str) -> Expectation {
    TABLE
        .iter()
        .find(|(d, s, _, _)| *d == design && *s == scenario)
        .map_or(
            Expectation {
                outcome: Expected::Pass,
                why: "",
            },
            |(_, _, p, why)| Expectation {
                outcome: Expected::Violation(*p),
                why,
            },
        )
}

#[allow(dead_code)]
const _USE: [Property; 1] = [ResumeBounded];
