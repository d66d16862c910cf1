//! The scenarios, each returning a [`crate::report::Section`].

pub(crate) mod cold_start;
pub(crate) mod down;
pub(crate) mod freshness;
pub(crate) mod hit;
pub(crate) mod load;
pub(crate) mod stampede;
pub(crate) mod steady;
pub(crate) mod storm;
pub(crate) mod traffic;

/// Every scenario, in run order.
pub(crate) const ALL: [&str; 11] = [
    "seed-load",
    "zipf",
    "on-vs-off",
    "hit-overhead",
    "stampede",
    "cache-down",
    "cold-start",
    "freshness",
    "traffic",
    "steady",
    "storm",
];
