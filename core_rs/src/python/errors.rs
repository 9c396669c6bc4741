//! The single place where core errors become Python exceptions.

use pyo3::create_exception;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use crate::CoreError;

create_exception!(
    vpp.errors,
    VppError,
    PyValueError,
    "Base class of vpp's value errors."
);
create_exception!(
    vpp.errors,
    SpecError,
    VppError,
    "A feature spec or agent configuration is invalid."
);
create_exception!(
    vpp.errors,
    ShapeError,
    VppError,
    "Input arrays have the wrong shape or width."
);
create_exception!(
    vpp.errors,
    OutOfOrderError,
    VppError,
    "An event's timestamp is not later than the previous one for its site."
);
create_exception!(
    vpp.errors,
    SnapshotError,
    VppError,
    "A snapshot could not be restored."
);
create_exception!(
    vpp.errors,
    ModelError,
    PyRuntimeError,
    "A compiled model could not be loaded or does not fit the spec."
);
create_exception!(
    vpp.errors,
    ParameterError,
    VppError,
    "A battery or agent parameter is out of range."
);

/// Map one core error to its Python exception, keeping the message.
pub(crate) fn to_pyerr(err: CoreError) -> PyErr {
    let msg = err.to_string();
    match err {
        CoreError::InvalidSpec(_) => SpecError::new_err(msg),
        CoreError::Shape(_) => ShapeError::new_err(msg),
        CoreError::OutOfOrder { .. } => OutOfOrderError::new_err(msg),
        CoreError::Snapshot(_) => SnapshotError::new_err(msg),
        CoreError::Model(_) => ModelError::new_err(msg),
        CoreError::InvalidParameter(_) => ParameterError::new_err(msg),
    }
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("VppError", py.get_type::<VppError>())?;
    m.add("SpecError", py.get_type::<SpecError>())?;
    m.add("ShapeError", py.get_type::<ShapeError>())?;
    m.add("OutOfOrderError", py.get_type::<OutOfOrderError>())?;
    m.add("SnapshotError", py.get_type::<SnapshotError>())?;
    m.add("ModelError", py.get_type::<ModelError>())?;
    m.add("ParameterError", py.get_type::<ParameterError>())?;
    Ok(())
}
