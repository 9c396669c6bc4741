//! The one error type of the core. `python::errors` maps each variant to a
//! Python exception in `vpp.errors`; nothing here knows about Python.

use std::fmt;

/// Errors the engine reports to callers instead of panicking.
#[derive(Debug, Clone, PartialEq)]
pub enum CoreError {
    /// A specification value is invalid (bad lag, window, signal name, ...).
    InvalidSpec(String),
    /// Input arrays disagree in shape or have the wrong width.
    Shape(String),
    /// An event's timestamp is not later than the previous one for its site.
    OutOfOrder {
        site: String,
        ts_ns: i64,
        last_ts_ns: i64,
    },
    /// A snapshot could not be encoded or decoded.
    Snapshot(String),
    /// The compiled model library could not be loaded or does not fit.
    Model(String),
    /// A parameter of an agent or battery is out of range.
    InvalidParameter(String),
}

pub type CoreResult<T> = Result<T, CoreError>;

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CoreError::InvalidSpec(m) => write!(f, "invalid feature spec: {m}"),
            CoreError::Shape(m) => write!(f, "shape mismatch: {m}"),
            CoreError::OutOfOrder {
                site,
                ts_ns,
                last_ts_ns,
            } => write!(
                f,
                "out-of-order event for site {site:?}: timestamp {ts_ns} ns is not later than \
                 the last one, {last_ts_ns} ns"
            ),
            CoreError::Snapshot(m) => write!(f, "snapshot error: {m}"),
            CoreError::Model(m) => write!(f, "model error: {m}"),
            CoreError::InvalidParameter(m) => write!(f, "invalid parameter: {m}"),
        }
    }
}

impl std::error::Error for CoreError {}
