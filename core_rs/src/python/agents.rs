//! Bindings for the agents: `vpp.agents.Battery`, `vpp.agents.AgentSet` and
//! `vpp.agents.droop_response`. Configuration objects are the dataclasses of
//! `vpp.agents.config`, read by attribute.

use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{IntoPyDict, PyBytes, PyDict, PyTuple};

use super::gil::without_gil;
use super::to_pyerr;
use crate::agents::{
    AgentConfig, AgentSet, ArbitrageParams, Battery, BatteryParams, Decision, DroopCurve, FrParams,
    Reason, Scope, UnitRecords,
};

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyBattery>()?;
    m.add_class::<PyAgentSet>()?;
    m.add_function(wrap_pyfunction!(droop_response, m)?)?;
    m.add("AGENT_REASONS", REASON_CODES.map(Reason::as_str).to_vec())?;
    Ok(())
}

fn attr<'py, T: FromPyObject<'py>>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<T> {
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
fn battery_from_py(c: &Bound<'_, PyAny>) -> PyResult<BatteryParams> {
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
fn fr_from_py(c: &Bound<'_, PyAny>) -> PyResult<FrParams> {
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
fn arb_from_py(c: &Bound<'_, PyAny>) -> PyResult<ArbitrageParams> {
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
fn default_config<'py>(py: Python<'py>, class: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import("vpp.agents.config")?.getattr(class)?.call0()
}

fn bytes_of(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    obj.extract::<Vec<u8>>()
        .map_err(|_| PyTypeError::new_err("a snapshot must be bytes"))
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
    /// `soc_record_s` of event time). Releases the GIL.
    #[pyo3(signature = (ts_ns, frequency_hz, price_per_mwh, sites=None, forecasts=None, *, units=false, soc_record_s=900.0))]
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
    ) -> PyResult<Bound<'py, PyDict>> {
        let mut recs = UnitRecords::default();
        super::pipeline::set_cadence(&mut recs, soc_record_s)?;
        // Copies: Python may not write into them while the GIL is released.
        let ts: Vec<i64> = ts_ns.as_array().to_vec();
        let f: Vec<f64> = frequency_hz.as_array().to_vec();
        let p: Vec<f64> = price_per_mwh.as_array().to_vec();
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
            inner.run_units(
                &ts,
                &s,
                &f,
                &p,
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
            d.set_item("units", super::pipeline::unit_records_dict(py, &recs)?)?;
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

/// Reason codes in `u8` order; exported as `AGENT_REASONS`.
const REASON_CODES: [Reason; 5] = [
    Reason::Idle,
    Reason::FrequencyResponse,
    Reason::Arbitrage,
    Reason::Restore,
    Reason::HoldNonFinite,
];
