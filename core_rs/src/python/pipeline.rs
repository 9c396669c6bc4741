//! Bindings for the forecasting pipeline: `vpp._core.Pipeline`, subclassed by
//! `vpp.pipeline.Pipeline` (which finds or compiles the model library).

use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyTuple};

use super::decision_dicts::{
    decision_scalars, set_record_options, unit_records_dict, DECISION_F64,
};
use super::features::{
    batch_args, counters_dict, in_place_or_copy, parse_on_out_of_order, spec_from_py,
};
use super::gil::without_gil;
use super::to_pyerr;
use crate::agents::{AgentSet, Battery, Decision, UnitRecords};
use crate::features::FeatureEngine;
use crate::pipeline::{DecisionColumns, Pipeline, NO_DECISION};
use crate::CoreError;

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("NO_DECISION", NO_DECISION)?;
    m.add_class::<PyPipeline>()
}

/// Features and compiled quantile forecasts per event (see `vpp.pipeline`).
#[pyclass(name = "Pipeline", module = "vpp.pipeline", subclass)]
pub struct PyPipeline {
    inner: Pipeline,
    feats: Vec<f64>,
    preds: Vec<f64>,
    vals: Vec<f64>,
    /// Per-unit record buffers, reused across calls.
    units: UnitRecords,
}

impl PyPipeline {
    /// One event into `self.feats`/`self.preds`; the agents' decision if
    /// attached and covering the site.
    fn push_event(
        &mut self,
        ts_ns: i64,
        values: &Bound<'_, PyAny>,
        site: &str,
        units: bool,
    ) -> PyResult<Option<Decision>> {
        let idx = self.inner.engine_mut().site_index(site);
        let mut vals = std::mem::take(&mut self.vals);
        vals.clear();
        match values.downcast::<PyArray1<f64>>() {
            // SAFETY: the GIL is held for this whole call and the values are
            // copied at once, so nothing can write to them meanwhile; this
            // skips numpy's borrow bookkeeping, a visible share of one event.
            Ok(arr) => match unsafe { arr.as_slice() } {
                Ok(s) => vals.extend_from_slice(s),
                Err(_) => vals.extend(arr.to_vec()?),
            },
            Err(_) => {
                let v: Vec<f64> = values.extract().map_err(|_| {
                    PyTypeError::new_err(
                        "values must be a 1-D sequence of floats in spec.signals order",
                    )
                })?;
                vals.extend(v);
            }
        }
        let v: &[f64] = &vals;
        let res = if units {
            self.inner.push_units(
                ts_ns,
                idx,
                v,
                &mut self.feats,
                &mut self.preds,
                &mut self.units,
            )
        } else {
            self.inner
                .push(ts_ns, idx, v, &mut self.feats, &mut self.preds)
        };
        self.vals = vals;
        res.map_err(to_pyerr)
    }

    /// The batch call behind `process` and `process_decide`.
    #[allow(clippy::too_many_arguments)]
    fn run_batch<'py>(
        &mut self,
        py: Python<'py>,
        ts_ns: &Bound<'py, PyAny>,
        values: &Bound<'py, PyAny>,
        sites: Option<&Bound<'py, PyAny>>,
        on_out_of_order: &str,
        decide: bool,
        units: bool,
        soc_frac: Option<Vec<f64>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let mode = parse_on_out_of_order(on_out_of_order)?;
        let (ts, vals, idx) = batch_args(py, self.inner.engine_mut(), ts_ns, values, sites)?;
        let n = ts.len();
        let (f, t) = (self.inner.n_features(), self.inner.n_outputs());
        // Allocated by numpy (see features.rs: huge pages for large outputs).
        let feats_arr = unsafe { PyArray2::<f64>::new(py, [n, f], false) };
        let preds_arr = unsafe { PyArray2::<f64>::new(py, [n, t], false) };
        // SAFETY: both arrays were just created here, are C-contiguous and
        // not shared until returned.
        let feats = unsafe { feats_arr.as_slice_mut()? };
        let preds = unsafe { preds_arr.as_slice_mut()? };
        // Contiguous inputs are read in place (documented in vpp.pipeline).
        let (v, t_ns) = (in_place_or_copy(&vals), in_place_or_copy(&ts));
        let inner = &mut self.inner;
        if !decide {
            without_gil(py, || {
                inner.process(&t_ns, &v, &idx, mode, feats, preds, None)
            })?;
            return PyTuple::new(py, [feats_arr.into_any(), preds_arr.into_any()]);
        }
        let cols: Vec<Bound<'py, PyArray1<f64>>> = DECISION_F64
            .iter()
            .map(|_| unsafe { PyArray1::<f64>::new(py, [n], false) })
            .collect();
        let reason_arr = unsafe { PyArray1::<u8>::new(py, [n], false) };
        // SAFETY: as above (fresh, contiguous, unshared arrays).
        let mut slices = Vec::with_capacity(cols.len());
        for c in &cols {
            slices.push(unsafe { c.as_slice_mut()? });
        }
        let reason = unsafe { reason_arr.as_slice_mut()? };
        let [total_mw, fr_required_mw, fr_delivered_mw, arbitrage_mw, stored_mwh]: [&mut [f64]; 5] =
            slices
                .try_into()
                .map_err(|_| PyValueError::new_err("internal: decision columns"))?;
        let out = DecisionColumns {
            total_mw,
            fr_required_mw,
            fr_delivered_mw,
            arbitrage_mw,
            reason,
            stored_mwh,
        };
        let mut recs = std::mem::take(&mut self.units);
        let res = without_gil(py, || {
            inner.process_units(
                &t_ns,
                &v,
                &idx,
                mode,
                feats,
                preds,
                Some(out),
                units.then_some(&mut recs),
                soc_frac.as_deref(),
            )
        });
        self.units = recs;
        res?;
        let dict = PyDict::new(py);
        for (name, arr) in DECISION_F64.iter().zip(cols) {
            dict.set_item(*name, arr)?;
        }
        dict.set_item("reason", reason_arr)?;
        let mut items = vec![feats_arr.into_any(), preds_arr.into_any(), dict.into_any()];
        if units {
            items.push(unit_records_dict(py, &self.units)?.into_any());
        }
        PyTuple::new(py, items)
    }
}

#[pymethods]
impl PyPipeline {
    /// `Pipeline(spec, library, target, *, _state=None)`: `library` is the
    /// path of a TL2cgen-compiled model; `_state` engine snapshot bytes.
    #[new]
    #[pyo3(signature = (spec, library, target, *, _state=None, **_kwargs))]
    fn new(
        spec: &Bound<'_, PyAny>,
        library: std::path::PathBuf,
        target: &str,
        _state: Option<&[u8]>,
        _kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let spec = spec_from_py(spec)?;
        let engine = match _state {
            Some(blob) => {
                let eng = FeatureEngine::restore(blob).map_err(to_pyerr)?;
                if *eng.spec() != spec {
                    return Err(to_pyerr(CoreError::Snapshot(
                        "the snapshot was taken with a different feature spec".into(),
                    )));
                }
                eng
            }
            None => FeatureEngine::new(spec),
        };
        let inner = Pipeline::with_engine(engine, &library, target).map_err(to_pyerr)?;
        let feats = vec![0.0; inner.n_features()];
        let preds = vec![0.0; inner.n_outputs()];
        let vals = Vec::with_capacity(inner.engine().n_signals());
        Ok(PyPipeline {
            inner,
            feats,
            preds,
            vals,
            units: UnitRecords::default(),
        })
    }

    #[getter]
    fn feature_names(&self) -> Vec<String> {
        self.inner.engine().feature_names()
    }

    #[getter]
    fn n_features(&self) -> usize {
        self.inner.n_features()
    }

    #[getter]
    fn n_outputs(&self) -> usize {
        self.inner.n_outputs()
    }

    #[getter]
    fn signals(&self) -> Vec<String> {
        self.inner.engine().spec().signals.clone()
    }

    #[getter]
    fn target(&self) -> String {
        self.inner.target().to_string()
    }

    #[getter]
    fn library(&self) -> String {
        self.inner.model().path().display().to_string()
    }

    #[getter]
    fn sites(&self) -> Vec<String> {
        self.inner.engine().site_ids().to_vec()
    }

    #[getter]
    fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        counters_dict(py, self.inner.engine())
    }

    /// One event: returns `(features float64[n_features], forecast
    /// float64[n_outputs])`.
    #[pyo3(signature = (ts_ns, values, site="grid"))]
    fn push<'py>(
        &mut self,
        py: Python<'py>,
        ts_ns: i64,
        values: &Bound<'py, PyAny>,
        site: &str,
    ) -> PyResult<Bound<'py, PyTuple>> {
        self.push_event(ts_ns, values, site, false)?;
        let row = PyArray1::from_slice(py, &self.feats);
        let pred = PyArray1::from_slice(py, &self.preds);
        PyTuple::new(py, [row.into_any(), pred.into_any()])
    }

    /// Like `push`, with the attached agents deciding the event: returns
    /// `(features, forecast, decision)` where `decision` is a dict of
    /// scalars with the keys of `process_decide`'s dict (NaN and reason
    /// `NO_DECISION` for a site the agents do not cover). With `units=True`
    /// a fourth item holds the event's per-unit records (as
    /// `process_decide`'s, event index 0).
    #[pyo3(signature = (ts_ns, values, site="grid", *, units=false, soc_record_s=900.0, dispatch_tolerance_mw=0.0))]
    #[allow(clippy::too_many_arguments)]
    fn push_decide<'py>(
        &mut self,
        py: Python<'py>,
        ts_ns: i64,
        values: &Bound<'py, PyAny>,
        site: &str,
        units: bool,
        soc_record_s: f64,
        dispatch_tolerance_mw: f64,
    ) -> PyResult<Bound<'py, PyTuple>> {
        if self.inner.agents().is_none() {
            return Err(PyValueError::new_err(
                "no agents attached; call attach_agents first",
            ));
        }
        set_record_options(&mut self.units, soc_record_s, dispatch_tolerance_mw)?;
        let decision = self.push_event(ts_ns, values, site, units)?;
        let row = PyArray1::from_slice(py, &self.feats);
        let pred = PyArray1::from_slice(py, &self.preds);
        let d = decision_scalars(py, decision.as_ref())?;
        let mut items = vec![row.into_any(), pred.into_any(), d.into_any()];
        if units {
            items.push(unit_records_dict(py, &self.units)?.into_any());
        }
        PyTuple::new(py, items)
    }

    /// A batch: returns `(features float64[n, n_features], forecasts
    /// float64[n, n_outputs])`; releases the GIL.
    #[pyo3(signature = (ts_ns, values, sites=None, on_out_of_order="raise"))]
    fn process<'py>(
        &mut self,
        py: Python<'py>,
        ts_ns: &Bound<'py, PyAny>,
        values: &Bound<'py, PyAny>,
        sites: Option<&Bound<'py, PyAny>>,
        on_out_of_order: &str,
    ) -> PyResult<Bound<'py, PyTuple>> {
        self.run_batch(
            py,
            ts_ns,
            values,
            sites,
            on_out_of_order,
            false,
            false,
            None,
        )
    }

    /// Attach agents (an `AgentSet` snapshot) that decide every event right
    /// after its forecast. `sites` are the agents' site ids in their index
    /// order; the engine must not have seen other sites first.
    fn _attach_agents(&mut self, state: &[u8], sites: Vec<String>) -> PyResult<()> {
        let set = AgentSet::restore(state).map_err(to_pyerr)?;
        let n = sites.len();
        if n == 0 || set.band_mwh(n - 1).is_none() || set.band_mwh(n).is_some() {
            return Err(PyValueError::new_err(format!(
                "the agents are not configured for exactly {n} sites {sites:?}"
            )));
        }
        let eng = self.inner.engine_mut();
        for (i, name) in sites.iter().enumerate() {
            let idx = eng.site_index(name);
            if idx != i {
                return Err(PyValueError::new_err(format!(
                    "site {name:?} is index {i} for the agents but {idx} for the pipeline; attach \
                     agents before other sites are seen"
                )));
            }
        }
        self.inner.attach_agents(set);
        Ok(())
    }

    /// State of every unit of the attached agents, without a snapshot:
    /// `(soc_frac float64[n_units], stored_mwh float64[n_units])`, or None.
    fn _agent_units<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let Some(agents) = self.inner.agents() else {
            return Ok(None);
        };
        let units = agents.fleet().units();
        let soc: Vec<f64> = units.iter().map(Battery::soc).collect();
        let stored: Vec<f64> = units.iter().map(Battery::stored_mwh).collect();
        PyTuple::new(
            py,
            [
                PyArray1::from_vec(py, soc).into_any(),
                PyArray1::from_vec(py, stored).into_any(),
            ],
        )
        .map(Some)
    }

    /// Give the attached agents' trader at `site` an external price forecast
    /// (one value per plan step from the step containing `ts_ns`).
    fn set_price_forecast(&mut self, site: usize, ts_ns: i64, prices: Vec<f64>) -> PyResult<()> {
        let agents = self
            .inner
            .agents_mut()
            .ok_or_else(|| PyValueError::new_err("no agents attached to this pipeline"))?;
        agents
            .set_price_forecast(site, ts_ns, &prices)
            .map_err(to_pyerr)
    }

    /// Snapshot bytes of the attached agents, or None.
    fn _agents_snapshot<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        match self.inner.agents() {
            Some(a) => Ok(Some(PyBytes::new(py, &a.snapshot().map_err(to_pyerr)?))),
            None => Ok(None),
        }
    }

    /// Like `process`, with the attached agents deciding each event: returns
    /// `(features, forecasts, decisions)` where `decisions` maps total_mw,
    /// fr_required_mw, fr_delivered_mw, arbitrage_mw, stored_mwh (float64[n])
    /// and reason (uint8[n], codes of `AGENT_REASONS`) to arrays; events not
    /// decided (skipped as out of order, or at a site the agents do not
    /// cover) get NaN and reason `NO_DECISION`. With `units=True` a fourth
    /// item holds the thinned per-unit records written in the same loop
    /// (`crate::agents::unit_log`; SoC every `soc_record_s` of event time; a
    /// unit's power change recorded once it moves more than
    /// `dispatch_tolerance_mw` from the held record, 0: every change).
    #[pyo3(signature = (ts_ns, values, sites=None, on_out_of_order="raise", *, units=false, soc_record_s=900.0, dispatch_tolerance_mw=0.0, soc_frac=None))]
    #[allow(clippy::too_many_arguments)]
    fn process_decide<'py>(
        &mut self,
        py: Python<'py>,
        ts_ns: &Bound<'py, PyAny>,
        values: &Bound<'py, PyAny>,
        sites: Option<&Bound<'py, PyAny>>,
        on_out_of_order: &str,
        units: bool,
        soc_record_s: f64,
        dispatch_tolerance_mw: f64,
        soc_frac: Option<PyReadonlyArray1<'py, f64>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        if self.inner.agents().is_none() {
            return Err(PyValueError::new_err(
                "no agents attached; call attach_agents first",
            ));
        }
        set_record_options(&mut self.units, soc_record_s, dispatch_tolerance_mw)?;
        // A copy: Python may not write into it while the GIL is released.
        let soc = soc_frac.map(|a| a.as_array().to_vec());
        self.run_batch(py, ts_ns, values, sites, on_out_of_order, true, units, soc)
    }

    /// The feature engine's state (site histories) as bytes; the model is
    /// not included (it is reloaded from its library).
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let blob = self.inner.engine().snapshot().map_err(to_pyerr)?;
        Ok(PyBytes::new(py, &blob))
    }
}
