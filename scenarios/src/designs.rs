//! The registry of designs: the built-in ones and a user's own, all declared the same way (their
//! [`Design`] implementation carries their name, the operations they offer, their expected
//! violations, waivers and checker limits), and looked up by name by the CLI (`verify`,
//! `replay`, `list`) and by the check processes `verify` starts.
//!
//! ```
//! use pausebeat_scenarios::designs::Registry;
//! let r = Registry::builtin();
//! let names: Vec<&str> = r.designs().map(|d| d.name()).collect();
//! assert_eq!(names, ["go-original", "pr-1313", "vetted"]);
//! ```

use crate::catalogue;
use crate::expect::{expectation_of, Declared, Expectation};
use crate::properties::Property;
use crate::scenario::Scenario;
use crate::verify::{self, CheckResult, ReplayRunError, Replayed};
use pausebeat::sync::explore::{Checker, ReplayError};
use pausebeat_world::{Design, Op};
use std::marker::PhantomData;

/// A design as the registry holds it (its type erased).
pub trait Registered: Send + Sync {
    /// Its name.
    fn name(&self) -> &'static str;
    /// One line on what it is.
    fn about(&self) -> &'static str;
    /// The operations it offers ([`Design::OFFERS`]).
    fn offers(&self) -> &'static [Op];
    /// Its expected violations ([`Design::EXPECTATIONS`]).
    fn expectations(&self) -> &'static [Declared];
    /// The properties it breaks on purpose ([`Design::WAIVED`]).
    fn waived(&self) -> &'static [(Property, &'static str)];
    /// Scenarios loom does not run for it ([`Design::LOOM_TOO_BIG`]).
    fn loom_too_big(&self) -> &'static [&'static str];
    /// Scenarios whose story cannot happen in it ([`Design::UNREACHABLE`]).
    fn unreachable(&self) -> &'static [(&'static str, &'static str)];
    /// Runs one check in this process.
    fn check(&self, scenario: &Scenario, checker: &Checker) -> CheckResult;
    /// Re-runs one recorded schedule.
    fn replay(&self, scenario: &Scenario, schedule: &str) -> Result<Replayed, ReplayError>;

    /// Its expectation on `scenario`.
    fn expectation(&self, scenario: &str) -> Expectation {
        expectation_of(self.expectations(), self.unreachable(), scenario)
    }
    /// True if loom runs `scenario` for it.
    fn loom_runs(&self, scenario: &Scenario) -> bool {
        scenario.no_loom.is_none() && !self.loom_too_big().contains(&&*scenario.name)
    }
}

struct Of<D>(PhantomData<fn() -> D>);

impl<D: Design> Registered for Of<D> {
    fn name(&self) -> &'static str {
        D::NAME
    }
    fn about(&self) -> &'static str {
        D::ABOUT
    }
    fn offers(&self) -> &'static [Op] {
        D::OFFERS
    }
    fn expectations(&self) -> &'static [Declared] {
        D::EXPECTATIONS
    }
    fn waived(&self) -> &'static [(Property, &'static str)] {
        D::WAIVED
    }
    fn loom_too_big(&self) -> &'static [&'static str] {
        D::LOOM_TOO_BIG
    }
    fn unreachable(&self) -> &'static [(&'static str, &'static str)] {
        D::UNREACHABLE
    }
    fn check(&self, scenario: &Scenario, checker: &Checker) -> CheckResult {
        verify::check_design::<D>(scenario, checker)
    }
    fn replay(&self, scenario: &Scenario, schedule: &str) -> Result<Replayed, ReplayError> {
        verify::replay_design::<D>(scenario, schedule)
    }
}

/// The designs a CLI knows, in the order `list` and `verify` show them.
#[derive(Default)]
pub struct Registry {
    designs: Vec<Box<dyn Registered>>,
}

impl Registry {
    /// No designs.
    pub fn empty() -> Registry {
        Registry::default()
    }

    /// The catalogue's designs: `go-original`, `pr-1313`, `vetted`.
    pub fn builtin() -> Registry {
        Registry::empty()
            .with::<pausebeat_go::GoOriginal>()
            .with::<pausebeat_go::Pr1313>()
            .with::<crate::vetted::Vetted>()
    }

    /// Adds design `D` (replacing one of the same name).
    pub fn with<D: Design>(mut self) -> Registry {
        self.designs.retain(|d| d.name() != D::NAME);
        self.designs.push(Box::new(Of::<D>(PhantomData)));
        self
    }

    /// Every design.
    pub fn designs(&self) -> impl Iterator<Item = &dyn Registered> {
        self.designs.iter().map(|d| d.as_ref())
    }

    /// The design called `name`.
    pub fn get(&self, name: &str) -> Option<&dyn Registered> {
        self.designs().find(|d| d.name() == name)
    }

    /// Runs one check of design `name` in this process; `None` if there is no such design.
    pub fn check(&self, name: &str, scenario: &Scenario, checker: &Checker) -> Option<CheckResult> {
        Some(self.get(name)?.check(scenario, checker))
    }

    /// Re-runs one recorded schedule of (design, catalogue scenario).
    pub fn replay(
        &self,
        design: &str,
        scenario: &str,
        schedule: &str,
    ) -> Result<Replayed, ReplayRunError> {
        let sc = catalogue::find(scenario)
            .ok_or_else(|| ReplayRunError::UnknownScenario(scenario.into()))?;
        self.replay_scenario(design, &sc, schedule)
    }

    /// Re-runs one recorded schedule of (design, any scenario: a `hunt` finding, say).
    pub fn replay_scenario(
        &self,
        design: &str,
        scenario: &Scenario,
        schedule: &str,
    ) -> Result<Replayed, ReplayRunError> {
        let d = self
            .get(design)
            .ok_or_else(|| ReplayRunError::UnknownDesign(design.into()))?;
        Ok(d.replay(scenario, schedule)?)
    }
}
