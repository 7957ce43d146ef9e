//! Expected outcomes, read from each design's own declaration ([`Design::EXPECTATIONS`],
//! [`Design::MAY_MISS`], [`Design::LOOM_TOO_BIG`], [`Design::WAIVED`],
//! [`Design::UNREACHABLE`]): built-in and user
//! designs use the same mechanism. Anything a design does not list is expected to pass.
//! `verify` exits 1 on any outcome that differs, in either direction: a violation of the vetted
//! design, or a known Go bug no longer found.
//!
//! [`Design::EXPECTATIONS`]: pausebeat_world::Design::EXPECTATIONS
//! [`Design::MAY_MISS`]: pausebeat_world::Design::MAY_MISS
//! [`Design::LOOM_TOO_BIG`]: pausebeat_world::Design::LOOM_TOO_BIG
//! [`Design::WAIVED`]: pausebeat_world::Design::WAIVED
//! [`Design::UNREACHABLE`]: pausebeat_world::Design::UNREACHABLE

use crate::properties::Property;
pub use pausebeat_world::Expectation as Declared;

/// The expected outcome of a (design, scenario) pair under every checker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    /// Every schedule passes.
    Pass,
    /// Some schedule violates one of these properties (named first, see `Property::ALL`).
    Violation(&'static [Property]),
    /// The scenario's story cannot happen in the design: no schedule exercises it.
    Vacuous,
}

impl Expected {
    /// True if a violation naming `p` first is expected.
    pub fn allows(self, p: Property) -> bool {
        matches!(self, Expected::Violation(ps) if ps.contains(&p))
    }
}

/// An expectation and its reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expectation {
    /// The outcome.
    pub outcome: Expected,
    /// Why, with the reference section.
    pub why: &'static str,
}

/// The expectation a design's declarations give a scenario.
///
/// ```
/// use pausebeat_scenarios::expect::{expectation_in, Expected};
/// use pausebeat_scenarios::properties::Property;
/// use pausebeat_world::Expectation;
/// let declared = [Expectation { scenario: "s", violates: &[Property::NoLoss], why: "w" }];
/// assert_eq!(expectation_in(&declared, "s").outcome, Expected::Violation(&[Property::NoLoss]));
/// assert_eq!(expectation_in(&declared, "t").outcome, Expected::Pass);
/// ```
pub fn expectation_in(declared: &[Declared], scenario: &str) -> Expectation {
    expectation_of(declared, &[], scenario)
}

/// The expectation a design's declarations give a scenario, its unreachable stories
/// ([`Design::UNREACHABLE`](pausebeat_world::Design::UNREACHABLE)) included.
///
/// ```
/// use pausebeat_scenarios::expect::{expectation_of, Expected};
/// let unreachable = [("s", "the fault never meets a poll")];
/// assert_eq!(expectation_of(&[], &unreachable, "s").outcome, Expected::Vacuous);
/// assert_eq!(expectation_of(&[], &unreachable, "t").outcome, Expected::Pass);
/// ```
pub fn expectation_of(
    declared: &[Declared],
    unreachable: &[(&'static str, &'static str)],
    scenario: &str,
) -> Expectation {
    if let Some((_, why)) = unreachable.iter().find(|(s, _)| *s == scenario) {
        return Expectation {
            outcome: Expected::Vacuous,
            why,
        };
    }
    declared.iter().find(|e| e.scenario == scenario).map_or(
        Expectation {
            outcome: Expected::Pass,
            why: "",
        },
        |e| Expectation {
            outcome: Expected::Violation(e.violates),
            why: e.why,
        },
    )
}
