//! Readers of the agent configuration dataclasses of `vpp.agents.config`
//! (by attribute, so any object with the fields works) and the snapshot
//! bytes check shared by the agent bindings.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use crate::agents::{ArbitrageParams, BatteryParams, DroopCurve, FrParams};

pub(super) fn attr<'py, T: FromPyObject<'py>>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<T> {
    obj.getattr(name)?
        .extract()
        .map_err(|_| PyTypeError::new_err(format!("{name}: wrong type in {}", type_name(obj))))
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "config".into())
}

/// Read a `BatteryConfig`-like object.
pub(super) fn battery_from_py(c: &Bound<'_, PyAny>) -> PyResult<BatteryParams> {
    Ok(BatteryParams {
        energy_mwh: attr(c, "energy_mwh")?,
        max_charge_mw: attr(c, "max_charge_mw")?,
        max_discharge_mw: attr(c, "max_discharge_mw")?,
        charge_efficiency: attr(c, "charge_efficiency")?,
        discharge_efficiency: attr(c, "discharge_efficiency")?,
        soc_min: attr(c, "soc_min")?,
        soc_max: attr(c, "soc_max")?,
        derate_band: attr(c, "derate_band")?,
        degradation_cost_per_mwh: attr(c, "degradation_cost_per_mwh")?,
        start_soc: attr(c, "start_soc")?,
    })
}

/// Read a `FrequencyResponseConfig`-like object.
pub(super) fn fr_from_py(c: &Bound<'_, PyAny>) -> PyResult<FrParams> {
    Ok(FrParams {
        curve: DroopCurve {
            nominal_hz: attr(c, "nominal_hz")?,
            deadband_hz: attr(c, "deadband_hz")?,
            knee_hz: attr(c, "knee_hz")?,
            knee_fraction: attr(c, "knee_fraction")?,
            full_hz: attr(c, "full_hz")?,
        },
        contracted_mw: attr(c, "contracted_mw")?,
        sustain_s: attr(c, "sustain_s")?,
        tolerance_fraction: attr(c, "tolerance_fraction")?,
        event_threshold_hz: attr(c, "event_threshold_hz")?,
    })
}

/// Read an `ArbitrageConfig`-like object.
pub(super) fn arb_from_py(c: &Bound<'_, PyAny>) -> PyResult<ArbitrageParams> {
    Ok(ArbitrageParams {
        enabled: attr(c, "enabled")?,
        plan_step_s: attr(c, "plan_step_s")?,
        horizon_steps: attr(c, "horizon_steps")?,
        soc_levels: attr(c, "soc_levels")?,
        profile_days: attr(c, "profile_days")?,
        min_history_steps: attr(c, "min_history_steps")?,
        tracking_tau_s: attr(c, "tracking_tau_s")?,
        deviation_tau_h: attr(c, "deviation_tau_h")?,
    })
}

/// The default config object of a kind, from `vpp.agents.config`.
pub(super) fn default_config<'py>(py: Python<'py>, class: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import("vpp.agents.config")?.getattr(class)?.call0()
}

pub(super) fn bytes_of(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    obj.extract::<Vec<u8>>()
        .map_err(|_| PyTypeError::new_err("a snapshot must be bytes"))
}
