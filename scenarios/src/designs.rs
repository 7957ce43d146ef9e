//! The registry of designs and scenarios: the built-in ones and a user's own, all declared the
//! same way (a [`Design`] implementation carries its name, the operations it offers, its
//! expected violations, waivers and checker limits; a [`Scenario`] its story, faults, calls and
//! purpose), and looked up by name by the CLI (`verify`, `replay`, `list`, `merge`) and by the
//! check processes `verify` starts (which build the same registry in the same binary).
//!
//! ```
//! use pausebeat_scenarios::designs::Registry;
//! use pausebeat_scenarios::scenario::{Exercise, Op, Scenario};
//! let r = Registry::builtin().with_scenario(
//!     Scenario::new("run-beside-a-pause", "a run on main and pause() on app-2 at 0 s")
//!         .run_at(0)
//!         .pause_at(0)
//!         .on("app-2")
//!         .exercises(Exercise::Concurrent(Op::Run, Op::Pause)),
//! );
//! let names: Vec<&str> = r.designs().map(|d| d.name()).collect();
//! assert_eq!(names, ["go-original", "pr-1313", "vetted"]);
//! // The catalogue's scenarios, then the user's own.
//! assert!(r.scenario("happy-path").is_some());
//! assert_eq!(r.scenarios().last().map(|s| &*s.name), Some("run-beside-a-pause"));
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
    /// Scenarios loom does not run for it, with why ([`Design::LOOM_TOO_BIG`]).
    fn loom_too_big(&self) -> &'static [(&'static str, &'static str)];
    /// How long its threads may take to end after close() returned, with why
    /// ([`Design::CLOSE_GRACE`]).
    fn close_grace(&self) -> (std::time::Duration, &'static str);
    /// Checks that may miss an expected violation, with why ([`Design::MAY_MISS`]).
    fn may_miss(&self) -> &'static [(&'static str, &'static str, &'static str)];
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
        verify::loom_runs_unless(scenario, self.loom_too_big())
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
    fn loom_too_big(&self) -> &'static [(&'static str, &'static str)] {
        D::LOOM_TOO_BIG
    }
    fn may_miss(&self) -> &'static [(&'static str, &'static str, &'static str)] {
        D::MAY_MISS
    }
    fn close_grace(&self) -> (std::time::Duration, &'static str) {
        D::CLOSE_GRACE
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

/// The designs and scenarios a CLI knows, in the order `list` and `verify` show them.
pub struct Registry {
    designs: Vec<Box<dyn Registered>>,
    scenarios: Vec<Scenario>,
    /// The names of the scenarios added with [`Registry::with_scenario`].
    own: Vec<String>,
}

impl Default for Registry {
    fn default() -> Registry {
        Registry {
            designs: vec![],
            scenarios: catalogue::all(),
            own: vec![],
        }
    }
}

impl Registry {
    /// No designs; the catalogue's scenarios.
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

    /// Adds scenario `s` (replacing one of the same name, a catalogue scenario included): a
    /// user's own story, verified, listed and replayed like the catalogue's. Each design's
    /// [`Design::EXPECTATIONS`] may name it; where none does, every property must hold.
    pub fn with_scenario(mut self, s: Scenario) -> Registry {
        self.scenarios.retain(|x| x.name != s.name);
        self.own.push(s.name.to_string());
        self.scenarios.push(s);
        self
    }

    /// Adds every scenario of `ss` (see [`with_scenario`](Self::with_scenario)).
    pub fn with_scenarios(self, ss: impl IntoIterator<Item = Scenario>) -> Registry {
        ss.into_iter().fold(self, Registry::with_scenario)
    }

    /// Drops the catalogue's scenarios (those added since stay): a verifier of one's own
    /// stories only.
    pub fn without_catalogue(mut self) -> Registry {
        let own = &self.own;
        self.scenarios.retain(|x| own.iter().any(|n| *n == x.name));
        self
    }

    /// Every scenario, in the order `verify` runs them.
    pub fn scenarios(&self) -> &[Scenario] {
        &self.scenarios
    }

    /// The scenario called `name`.
    pub fn scenario(&self, name: &str) -> Option<&Scenario> {
        self.scenarios.iter().find(|s| s.name == name)
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

    /// Re-runs one recorded schedule of (design, registered scenario).
    pub fn replay(
        &self,
        design: &str,
        scenario: &str,
        schedule: &str,
    ) -> Result<Replayed, ReplayRunError> {
        let sc = self
            .scenario(scenario)
            .ok_or_else(|| ReplayRunError::UnknownScenario(scenario.into()))?;
        self.replay_scenario(design, sc, schedule)
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
