//! The scenarios, each returning a [`crate::report::Section`].

pub mod cold_start;
pub mod down;
pub mod freshness;
pub mod hit;
pub mod load;
pub mod stampede;

/// Every scenario, in run order.
pub const ALL: [&str; 8] = [
    "seed-load",
    "zipf",
    "on-vs-off",
    "hit-overhead",
    "stampede",
    "cache-down",
    "cold-start",
    "freshness",
];
