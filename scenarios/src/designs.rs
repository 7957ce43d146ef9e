//! The designs of the catalogue, and how to call generic code with one of them by name.

use pausebeat_world::Design;

/// Generic code to run with a design chosen by name (see [`dispatch`]).
pub trait WithDesign {
    /// What it returns.
    type Out;
    /// Runs with design `D`.
    fn with<D: Design>(self) -> Self::Out;
}

/// The designs of the catalogue: name and one line about each.
pub fn all() -> Vec<(&'static str, &'static str)> {
    vec![]
}

/// Calls `w` with the design called `name`; `None` if there is none.
pub fn dispatch<W: WithDesign>(_name: &str, _w: W) -> Option<W::Out> {
    None
}
