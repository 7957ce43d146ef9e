//! Faithful ports of the seed's Go batch consumer (jitsu bulker), before and after PR #1313.
