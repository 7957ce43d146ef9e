//! pausebeat's scenario catalogue.
