//! vpp core: plain-Rust streaming engine, with PyO3 bindings behind the
//! `python` feature (see `python/`).

pub mod agents;
pub mod calendar;
pub mod error;
pub mod features;
pub mod lanes;
pub mod model;
pub mod msgdecode;
pub mod pipeline;
pub mod ring;
pub mod spec;
pub mod stats;

#[cfg(feature = "python")]
mod python;

pub use error::{CoreError, CoreResult};
