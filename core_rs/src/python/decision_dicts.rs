//! Decisions and per-unit records as Python dicts, and the checked record
//! options, shared by the `Pipeline` and `AgentSet` bindings.

use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::to_pyerr;
use crate::agents::{Decision, UnitRecords};
use crate::pipeline::NO_DECISION;
use crate::CoreError;

/// Names of the decision outputs, in `DecisionColumns` order (reason apart).
pub(super) const DECISION_F64: [&str; 5] = [
    "total_mw",
    "fr_required_mw",
    "fr_delivered_mw",
    "arbitrage_mw",
    "stored_mwh",
];

/// One decision as a dict of scalars (NaN / `NO_DECISION` when undecided).
pub(super) fn decision_scalars<'py>(
    py: Python<'py>,
    d: Option<&Decision>,
) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    let vals = d.map_or([f64::NAN; 5], |d| {
        [
            d.total_mw,
            d.fr_required_mw,
            d.fr_delivered_mw,
            d.arbitrage_mw,
            d.stored_mwh,
        ]
    });
    for (name, v) in DECISION_F64.iter().zip(vals) {
        out.set_item(*name, v)?;
    }
    out.set_item("reason", d.map_or(NO_DECISION, |d| d.reason as u8))?;
    Ok(out)
}

/// Per-unit records as a dict of new arrays (keys: `UNIT_RECORD_KEYS` of
/// `vpp.pipeline`): event and unit indices int64, powers/SoC float64,
/// reason uint8.
pub(super) fn unit_records_dict<'py>(
    py: Python<'py>,
    u: &UnitRecords,
) -> PyResult<Bound<'py, PyDict>> {
    let idx = |v: &[u64]| PyArray1::from_iter(py, v.iter().map(|&x| x as i64));
    let d = PyDict::new(py);
    d.set_item("dispatch_event", idx(&u.dispatch_event))?;
    d.set_item("dispatch_unit", idx(&u.dispatch_unit))?;
    d.set_item(
        "dispatch_power_mw",
        PyArray1::from_slice(py, &u.dispatch_power_mw),
    )?;
    d.set_item(
        "dispatch_reason",
        PyArray1::from_slice(py, &u.dispatch_reason),
    )?;
    d.set_item("soc_event", idx(&u.soc_event))?;
    d.set_item("soc_unit", idx(&u.soc_unit))?;
    d.set_item("soc_frac", PyArray1::from_slice(py, &u.soc_frac))?;
    d.set_item(
        "soc_stored_mwh",
        PyArray1::from_slice(py, &u.soc_stored_mwh),
    )?;
    Ok(d)
}

/// `UnitRecords` with the SoC cadence `soc_record_s` and the dispatch
/// tolerance `dispatch_tolerance_mw`, checked.
pub(super) fn set_record_options(
    u: &mut UnitRecords,
    soc_record_s: f64,
    dispatch_tolerance_mw: f64,
) -> PyResult<()> {
    if soc_record_s.is_nan() || soc_record_s < 0.0 {
        return Err(to_pyerr(CoreError::InvalidParameter(format!(
            "soc_record_s: must be >= 0 (0: no SoC records), got {soc_record_s}"
        ))));
    }
    if !(dispatch_tolerance_mw.is_finite() && dispatch_tolerance_mw >= 0.0) {
        return Err(to_pyerr(CoreError::InvalidParameter(format!(
            "dispatch_tolerance_mw: must be finite and >= 0 (0: every change), got \
             {dispatch_tolerance_mw}"
        ))));
    }
    u.soc_record_ns = UnitRecords::new(soc_record_s).soc_record_ns;
    u.dispatch_tolerance_mw = dispatch_tolerance_mw;
    Ok(())
}
