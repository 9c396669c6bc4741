//! One helper through which every batch call releases the GIL.

use pyo3::prelude::*;

use crate::CoreResult;

/// Run `f` without the GIL and map its error to a Python exception.
///
/// Inputs must already be owned or borrowed read-only for the duration; the
/// callers copy any array Python could mutate concurrently.
pub(crate) fn without_gil<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> CoreResult<T> + Send,
{
    py.allow_threads(f).map_err(super::to_pyerr)
}
