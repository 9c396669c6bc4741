//! Bindings for one battery (`vpp.agents.Battery`) and the droop curve
//! (`vpp.agents.droop_response`).

use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{IntoPyDict, PyBytes, PyTuple};

use super::agent_config::{battery_from_py, bytes_of, default_config, fr_from_py};
use super::to_pyerr;
use crate::agents::Battery;

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyBattery>()?;
    m.add_function(wrap_pyfunction!(droop_response, m)?)?;
    Ok(())
}

/// One battery with state (positive power = discharge).
#[pyclass(name = "Battery", module = "vpp.agents")]
pub struct PyBattery {
    inner: Battery,
}

#[pymethods]
impl PyBattery {
    /// `Battery(config: BatteryConfig)`.
    #[new]
    #[pyo3(signature = (config=None, *, _state=None))]
    fn new(config: Option<&Bound<'_, PyAny>>, _state: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        if let Some(s) = _state {
            let inner = bincode::deserialize(&bytes_of(s)?)
                .map_err(|e| to_pyerr(crate::CoreError::Snapshot(e.to_string())))?;
            return Ok(Self { inner });
        }
        let c = config.ok_or_else(|| PyTypeError::new_err("Battery needs a BatteryConfig"))?;
        Ok(Self {
            inner: Battery::new(battery_from_py(c)?).map_err(to_pyerr)?,
        })
    }

    /// Run at `power_mw` for `dt_s` s; returns the power delivered.
    fn apply(&mut self, power_mw: f64, dt_s: f64) -> f64 {
        self.inner.apply(power_mw, dt_s)
    }

    /// Set the SoC (clamped into the bounds); returns the SoC set.
    fn set_soc(&mut self, soc: f64) -> f64 {
        self.inner.set_soc(soc)
    }

    #[getter]
    fn soc(&self) -> f64 {
        self.inner.soc()
    }

    #[getter]
    fn stored_mwh(&self) -> f64 {
        self.inner.stored_mwh()
    }

    #[getter]
    fn throughput_mwh(&self) -> f64 {
        self.inner.throughput_mwh()
    }

    #[getter]
    fn degradation_cost(&self) -> f64 {
        self.inner.degradation_cost()
    }

    #[getter]
    fn cycles(&self) -> f64 {
        self.inner.cycles()
    }

    /// Discharge power it can hold for `dt_s`, MW.
    fn available_discharge_mw(&self, dt_s: f64) -> f64 {
        self.inner.available_discharge_mw(dt_s)
    }

    /// Charge power it can hold for `dt_s`, MW (positive).
    fn available_charge_mw(&self, dt_s: f64) -> f64 {
        self.inner.available_charge_mw(dt_s)
    }

    #[getter]
    fn available_discharge_energy_mwh(&self) -> f64 {
        self.inner.available_discharge_energy_mwh()
    }

    #[getter]
    fn available_charge_energy_mwh(&self) -> f64 {
        self.inner.available_charge_energy_mwh()
    }

    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let blob = bincode::serialize(&self.inner)
            .map_err(|e| to_pyerr(crate::CoreError::Snapshot(e.to_string())))?;
        Ok(PyBytes::new(py, &blob))
    }

    #[staticmethod]
    fn restore(blob: &Bound<'_, PyAny>) -> PyResult<Self> {
        Self::new(None, Some(blob))
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let blob = slf.borrow().snapshot(py)?;
        let kwargs_ctor = py.import("functools")?.getattr("partial")?.call(
            (slf.get_type(),),
            Some(&[("_state", blob)].into_py_dict(py)?),
        )?;
        PyTuple::new(py, [kwargs_ctor.into_any(), PyTuple::empty(py).into_any()])
    }
}

/// Droop response as a signed fraction of contracted power for each
/// frequency (positive = discharge), under a `FrequencyResponseConfig`.
#[pyfunction]
#[pyo3(signature = (frequency_hz, config=None))]
fn droop_response<'py>(
    py: Python<'py>,
    frequency_hz: PyReadonlyArray1<'py, f64>,
    config: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let fr = match config {
        Some(c) if !c.is_none() => fr_from_py(c)?,
        _ => fr_from_py(&default_config(py, "FrequencyResponseConfig")?)?,
    };
    fr.validate().map_err(to_pyerr)?;
    let out: Vec<f64> = frequency_hz
        .as_array()
        .iter()
        .map(|&f| fr.curve.fraction(f))
        .collect();
    Ok(PyArray1::from_vec(py, out))
}
