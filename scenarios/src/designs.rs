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
    vec![
        (
            pausebeat_go::GoOriginal::NAME,
            pausebeat_go::GoOriginal::ABOUT,
        ),
        (pausebeat_go::Pr1313::NAME, pausebeat_go::Pr1313::ABOUT),
        (crate::vetted::Vetted::NAME, crate::vetted::Vetted::ABOUT),
    ]
}

/// Calls `w` with the design called `name`; `None` if there is none.
pub fn dispatch<W: WithDesign>(name: &str, w: W) -> Option<W::Out> {
    if name == pausebeat_go::GoOriginal::NAME {
        Some(w.with::<pausebeat_go::GoOriginal>())
    } else if name == pausebeat_go::Pr1313::NAME {
        Some(w.with::<pausebeat_go::Pr1313>())
    } else if name == crate::vetted::Vetted::NAME {
        Some(w.with::<crate::vetted::Vetted>())
    } else {
        None
    }
}
