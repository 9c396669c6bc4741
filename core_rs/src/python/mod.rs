//! PyO3 bindings: a thin layer that converts arguments, releases the GIL for
//! batch calls and maps `CoreError` to `vpp.errors`. No engine logic here.

use pyo3::prelude::*;

mod agent_config;
mod agents;
mod battery;
mod decision_dicts;
mod errors;
mod features;
mod gil;
mod msgdecode;
mod pipeline;

pub(crate) use errors::to_pyerr;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(m)?;
    features::register(m)?;
    battery::register(m)?;
    agents::register(m)?;
    pipeline::register(m)?;
    msgdecode::register(m)?;
    Ok(())
}
