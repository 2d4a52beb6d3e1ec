//! The Rust examples of the repository's `README.md`, compiled as this
//! crate's doctests (`cargo test -p palisade-readme --doc`).

/// The README, whose `rust` blocks are this crate's doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct Readme;
