//! Bindings for the agent set, `vpp.agents.AgentSet` (the single battery and
//! the droop curve are in `battery.rs`). Configuration objects are the
//! dataclasses of `vpp.agents.config`, read by attribute (`agent_config.rs`).

use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{IntoPyDict, PyBytes, PyDict, PyTuple};

use super::agent_config::{
    arb_from_py, attr, battery_from_py, bytes_of, default_config, fr_from_py,
};
use super::gil::without_gil;
use super::to_pyerr;
use crate::agents::{AgentConfig, AgentSet, Battery, Decision, Reason, Scope, UnitRecords};

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyAgentSet>()?;
    m.add("AGENT_REASONS", REASON_CODES.map(Reason::as_str).to_vec())?;
    Ok(())
}

fn decision_dict<'py>(py: Python<'py>, d: &Decision) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    out.set_item("total_mw", d.total_mw)?;
    out.set_item("fr_required_mw", d.fr_required_mw)?;
    out.set_item("fr_delivered_mw", d.fr_delivered_mw)?;
    out.set_item("arbitrage_mw", d.arbitrage_mw)?;
    out.set_item("reason", d.reason.as_str())?;
    out.set_item("stored_mwh", d.stored_mwh)?;
    out.set_item("available_up_mw", d.headroom.up_mw)?;
    out.set_item("available_down_mw", d.headroom.down_mw)?;
    out.set_item("available_up_mwh", d.headroom.up_mwh)?;
    out.set_item("available_down_mwh", d.headroom.down_mwh)?;
    Ok(out)
}

fn scope(site: Option<usize>) -> Scope {
    site.map_or(Scope::All, Scope::Site)
}

/// Fleet + frequency response + arbitrage; one `decide` per event.
#[pyclass(name = "AgentSet", module = "vpp.agents")]
pub struct PyAgentSet {
    inner: AgentSet,
    buf: Vec<f64>,
    last: Option<Decision>,
}

impl PyAgentSet {
    fn wrap(inner: AgentSet) -> Self {
        let buf = vec![0.0; inner.fleet().n_units()];
        Self {
            inner,
            buf,
            last: None,
        }
    }
}

#[pymethods]
impl PyAgentSet {
    /// `AgentSet(fleet: FleetConfig, frequency_response=None, arbitrage=None)`;
    /// `None` means the config class's defaults.
    #[new]
    #[pyo3(signature = (fleet=None, frequency_response=None, arbitrage=None, *, _state=None))]
    fn new(
        py: Python<'_>,
        fleet: Option<&Bound<'_, PyAny>>,
        frequency_response: Option<&Bound<'_, PyAny>>,
        arbitrage: Option<&Bound<'_, PyAny>>,
        _state: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        if let Some(s) = _state {
            return Ok(Self::wrap(
                AgentSet::restore(&bytes_of(s)?).map_err(to_pyerr)?,
            ));
        }
        let fleet = fleet.ok_or_else(|| PyTypeError::new_err("AgentSet needs a FleetConfig"))?;
        let batteries = fleet.getattr("units")?;
        let sites: Vec<usize> = attr(fleet, "unit_sites")?;
        let n_sites: usize = attr::<Vec<String>>(fleet, "sites")?.len();
        let mut units = Vec::with_capacity(sites.len());
        for (i, b) in batteries.try_iter()?.enumerate() {
            let site = *sites
                .get(i)
                .ok_or_else(|| PyValueError::new_err("unit_sites must have one entry per unit"))?;
            units.push((battery_from_py(&b?)?, site));
        }
        if units.len() != sites.len() {
            return Err(PyValueError::new_err(
                "unit_sites must have one entry per unit",
            ));
        }
        let fr = match frequency_response {
            Some(c) if !c.is_none() => fr_from_py(c)?,
            _ => fr_from_py(&default_config(py, "FrequencyResponseConfig")?)?,
        };
        let arb = match arbitrage {
            Some(c) if !c.is_none() => arb_from_py(c)?,
            _ => arb_from_py(&default_config(py, "ArbitrageConfig")?)?,
        };
        let cfg = AgentConfig {
            fr,
            arbitrage: arb,
            default_dt_s: attr(fleet, "default_dt_s")?,
        };
        Ok(Self::wrap(
            AgentSet::new(units, n_sites, cfg).map_err(to_pyerr)?,
        ))
    }

    /// Decide one event; returns the site's total power, MW (positive =
    /// discharge). Details of the decision: `last_decision`.
    fn decide(
        &mut self,
        ts_ns: i64,
        site: usize,
        frequency_hz: f64,
        price_per_mwh: f64,
    ) -> PyResult<f64> {
        let d = self
            .inner
            .decide(ts_ns, site, frequency_hz, price_per_mwh, &mut self.buf)
            .map_err(to_pyerr)?;
        self.last = Some(d);
        Ok(d.total_mw)
    }

    /// As `decide`, and write each unit's power into `out` (float64, one
    /// entry per unit; other sites' entries untouched).
    fn decide_into(
        &mut self,
        ts_ns: i64,
        site: usize,
        frequency_hz: f64,
        price_per_mwh: f64,
        out: &Bound<'_, PyArray1<f64>>,
    ) -> PyResult<f64> {
        let mut rw = out
            .try_readwrite()
            .map_err(|_| PyValueError::new_err("out is not writable"))?;
        let s = rw
            .as_slice_mut()
            .map_err(|_| PyValueError::new_err("out must be C-contiguous float64"))?;
        let d = self
            .inner
            .decide(ts_ns, site, frequency_hz, price_per_mwh, s)
            .map_err(to_pyerr)?;
        self.last = Some(d);
        Ok(d.total_mw)
    }

    /// The last decision as a dict, or None before the first.
    #[getter]
    fn last_decision<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.last.as_ref().map(|d| decision_dict(py, d)).transpose()
    }

    /// Decide a batch; returns a dict of arrays (one entry per event):
    /// total_mw, fr_required_mw, fr_delivered_mw, arbitrage_mw, reason
    /// (uint8 codes of `REASONS`), stored_mwh, and the site's headroom after
    /// the step: available_up_mw, available_down_mw, available_up_mwh,
    /// available_down_mwh. `forecasts` (n × width) gives
    /// the price forecast used when event i re-plans. With `units=True` the
    /// dict also has `"units"`: the thinned per-unit records of the same loop
    /// (as `Pipeline.process_decide(units=True)`'s, SoC every
    /// `soc_record_s` of event time, power changes beyond
    /// `dispatch_tolerance_mw`). `soc_frac` (one measured state of charge
    /// per event, NaN where none) sets the event's site's units just before
    /// its decision. Releases the GIL.
    #[pyo3(signature = (ts_ns, frequency_hz, price_per_mwh, sites=None, forecasts=None, *, units=false, soc_record_s=900.0, dispatch_tolerance_mw=0.0, soc_frac=None))]
    #[allow(clippy::too_many_arguments)]
    fn run<'py>(
        &mut self,
        py: Python<'py>,
        ts_ns: PyReadonlyArray1<'py, i64>,
        frequency_hz: PyReadonlyArray1<'py, f64>,
        price_per_mwh: PyReadonlyArray1<'py, f64>,
        sites: Option<PyReadonlyArray1<'py, i64>>,
        forecasts: Option<PyReadonlyArray2<'py, f64>>,
        units: bool,
        soc_record_s: f64,
        dispatch_tolerance_mw: f64,
        soc_frac: Option<PyReadonlyArray1<'py, f64>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mut recs = UnitRecords::default();
        super::decision_dicts::set_record_options(&mut recs, soc_record_s, dispatch_tolerance_mw)?;
        // Copies: Python may not write into them while the GIL is released.
        let ts: Vec<i64> = ts_ns.as_array().to_vec();
        let f: Vec<f64> = frequency_hz.as_array().to_vec();
        let p: Vec<f64> = price_per_mwh.as_array().to_vec();
        let soc: Option<Vec<f64>> = soc_frac.map(|a| a.as_array().to_vec());
        let n = ts.len();
        let s: Vec<usize> = match sites {
            None => vec![0; n],
            Some(a) => a
                .as_array()
                .iter()
                .map(|&v| usize::try_from(v))
                .collect::<Result<_, _>>()
                .map_err(|_| PyValueError::new_err("sites must be non-negative site indices"))?,
        };
        let fc: Option<(Vec<f64>, usize)> =
            forecasts.map(|a| (a.as_array().iter().copied().collect(), a.shape()[1]));
        let inner = &mut self.inner;
        let out = without_gil(py, || {
            inner.run_measured(
                (&ts, &s, &f, &p),
                soc.as_deref(),
                fc.as_ref().map(|(v, w)| (v.as_slice(), *w)),
                units.then_some(&mut recs),
            )
        })?;
        let d = PyDict::new(py);
        d.set_item("total_mw", PyArray1::from_vec(py, out.total_mw))?;
        d.set_item("fr_required_mw", PyArray1::from_vec(py, out.fr_required_mw))?;
        d.set_item(
            "fr_delivered_mw",
            PyArray1::from_vec(py, out.fr_delivered_mw),
        )?;
        d.set_item("arbitrage_mw", PyArray1::from_vec(py, out.arbitrage_mw))?;
        d.set_item("reason", PyArray1::from_vec(py, out.reason))?;
        d.set_item("stored_mwh", PyArray1::from_vec(py, out.stored_mwh))?;
        d.set_item(
            "available_up_mw",
            PyArray1::from_vec(py, out.available_up_mw),
        )?;
        d.set_item(
            "available_down_mw",
            PyArray1::from_vec(py, out.available_down_mw),
        )?;
        d.set_item(
            "available_up_mwh",
            PyArray1::from_vec(py, out.available_up_mwh),
        )?;
        d.set_item(
            "available_down_mwh",
            PyArray1::from_vec(py, out.available_down_mwh),
        )?;
        if units {
            d.set_item(
                "units",
                super::decision_dicts::unit_records_dict(py, &recs)?,
            )?;
        }
        Ok(d)
    }

    /// Give a site's trader an external price forecast (one value per plan
    /// step from the step containing `ts_ns`); used at its next event.
    fn set_price_forecast(&mut self, site: usize, ts_ns: i64, prices: Vec<f64>) -> PyResult<()> {
        self.inner
            .set_price_forecast(site, ts_ns, &prices)
            .map_err(to_pyerr)
    }

    /// Set one unit's SoC (e.g. from telemetry), clamped into its bounds.
    fn set_unit_soc(&mut self, unit: usize, soc: f64) -> PyResult<f64> {
        let u = self
            .inner
            .fleet_mut()
            .unit_mut(unit)
            .ok_or_else(|| PyValueError::new_err(format!("unit: no unit {unit}")))?;
        Ok(u.set_soc(soc))
    }

    #[getter]
    fn n_units(&self) -> usize {
        self.inner.fleet().n_units()
    }

    #[getter]
    fn n_sites(&self) -> usize {
        self.inner.fleet().n_sites()
    }

    /// Share of event time with delivered ≥ required − tolerance.
    #[getter]
    fn compliance(&self) -> f64 {
        self.inner.record().compliance()
    }

    /// Frequency-response record as a dict.
    #[getter]
    fn record<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let r = self.inner.record();
        let d = PyDict::new(py);
        d.set_item("compliance", r.compliance())?;
        d.set_item("event_time_s", r.event_time_s)?;
        d.set_item("compliant_time_s", r.compliant_time_s)?;
        d.set_item("required_mwh", r.required_mwh)?;
        d.set_item("delivered_mwh", r.delivered_mwh)?;
        d.set_item("max_shortfall_mw", r.max_shortfall_mw)?;
        Ok(d)
    }

    /// Counters as a dict.
    #[getter]
    fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = self.inner.counters();
        let d = PyDict::new(py);
        d.set_item("events", c.events)?;
        d.set_item("non_finite_frequency", c.non_finite_frequency)?;
        d.set_item("non_finite_price", c.non_finite_price)?;
        d.set_item("plans", c.plans)?;
        d.set_item("energy_revenue", c.energy_revenue)?;
        Ok(d)
    }

    /// (lo, hi) stored energy of a site's band that keeps the reserve, MWh.
    fn band_mwh(&self, site: usize) -> PyResult<(f64, f64)> {
        self.inner
            .band_mwh(site)
            .ok_or_else(|| PyValueError::new_err(format!("site: no site {site}")))
    }

    /// SoC of every unit.
    fn unit_soc<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        let v: Vec<f64> = self
            .inner
            .fleet()
            .units()
            .iter()
            .map(Battery::soc)
            .collect();
        PyArray1::from_vec(py, v)
    }

    /// Power of every unit at the last `decide` (this object's buffer).
    fn unit_power_mw<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_slice(py, &self.buf)
    }

    /// Stored energy of a site (or the fleet), MWh.
    #[pyo3(signature = (site=None))]
    fn stored_mwh(&self, site: Option<usize>) -> f64 {
        self.inner.fleet().stored_mwh(scope(site))
    }

    /// Discharge power a site (or the fleet) can hold for `dt_s`, MW.
    #[pyo3(signature = (dt_s, site=None))]
    fn available_discharge_mw(&self, dt_s: f64, site: Option<usize>) -> f64 {
        self.inner.fleet().available_discharge_mw(scope(site), dt_s)
    }

    /// Charge power a site (or the fleet) can hold for `dt_s`, MW (positive).
    #[pyo3(signature = (dt_s, site=None))]
    fn available_charge_mw(&self, dt_s: f64, site: Option<usize>) -> f64 {
        self.inner.fleet().available_charge_mw(scope(site), dt_s)
    }

    /// Energy a site (or the fleet) can still deliver, MWh.
    #[pyo3(signature = (site=None))]
    fn available_discharge_energy_mwh(&self, site: Option<usize>) -> f64 {
        self.inner
            .fleet()
            .available_discharge_energy_mwh(scope(site))
    }

    /// Energy a site (or the fleet) can still take, MWh.
    #[pyo3(signature = (site=None))]
    fn available_charge_energy_mwh(&self, site: Option<usize>) -> f64 {
        self.inner.fleet().available_charge_energy_mwh(scope(site))
    }

    /// Throughput of a site (or the fleet) so far, MWh.
    #[pyo3(signature = (site=None))]
    fn throughput_mwh(&self, site: Option<usize>) -> f64 {
        self.inner.fleet().throughput_mwh(scope(site))
    }

    /// Degradation cost of a site (or the fleet) so far.
    #[pyo3(signature = (site=None))]
    fn degradation_cost(&self, site: Option<usize>) -> f64 {
        self.inner.fleet().degradation_cost(scope(site))
    }

    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(py, &self.inner.snapshot().map_err(to_pyerr)?))
    }

    #[staticmethod]
    fn restore(blob: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(Self::wrap(
            AgentSet::restore(&bytes_of(blob)?).map_err(to_pyerr)?,
        ))
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let blob = slf.borrow().snapshot(py)?;
        let ctor = py.import("functools")?.getattr("partial")?.call(
            (slf.get_type(),),
            Some(&[("_state", blob)].into_py_dict(py)?),
        )?;
        PyTuple::new(py, [ctor.into_any(), PyTuple::empty(py).into_any()])
    }
}

/// Reason codes in `u8` order; exported as `AGENT_REASONS`.
const REASON_CODES: [Reason; 5] = [
    Reason::Idle,
    Reason::FrequencyResponse,
    Reason::Arbitrage,
    Reason::Restore,
    Reason::HoldNonFinite,
];
