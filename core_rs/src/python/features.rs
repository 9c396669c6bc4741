//! Bindings for the feature engine: `vpp._core.FeatureEngine`, subclassed by
//! `vpp.features.FeatureEngine`.

use std::borrow::Cow;

use numpy::ndarray::Dimension;
use numpy::{
    Element, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray, PyReadonlyArray1,
    PyReadonlyArray2, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};

use super::gil::without_gil;
use super::to_pyerr;
use crate::features::{FeatureEngine, OnOutOfOrder};
use crate::spec::FeatureSpec;

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyFeatureEngine>()
}

/// Read a spec from any object with the attributes of `vpp.FeatureSpec`.
pub(crate) fn spec_from_py(spec: &Bound<'_, PyAny>) -> PyResult<FeatureSpec> {
    let get = |name: &str| spec.getattr(name);
    let signals: Vec<String> = get("signals")?.extract()?;
    let lags: Vec<usize> = get("lags")?.extract().map_err(|_| bad_int_list("lags"))?;
    let windows: Vec<usize> = get("windows")?
        .extract()
        .map_err(|_| bad_int_list("windows"))?;
    let stats: Vec<String> = get("stats")?.extract()?;
    let diff: bool = get("diff")?.extract()?;
    let calendar: bool = get("calendar")?.extract()?;
    let interactions: bool = get("interactions")?.extract()?;
    FeatureSpec::new(signals, lags, windows, &stats, diff, calendar, interactions).map_err(to_pyerr)
}

fn bad_int_list(name: &str) -> PyErr {
    PyValueError::new_err(format!("{name} must be a list of positive integers"))
}

/// Site indices for a batch: `None` (all "grid"), or a sequence/array of
/// str or int site ids.
pub(crate) fn resolve_sites(
    eng: &mut FeatureEngine,
    sites: Option<&Bound<'_, PyAny>>,
    n: usize,
    default_site: &str,
) -> PyResult<Vec<usize>> {
    let Some(sites) = sites.filter(|s| !s.is_none()) else {
        let idx = eng.site_index(default_site);
        return Ok(vec![idx; n]);
    };
    if let Ok(ints) = sites.extract::<PyReadonlyArray1<'_, i64>>() {
        check_len(ints.len(), n)?;
        let mut buf = String::new();
        return Ok(ints
            .as_array()
            .iter()
            .map(|v| {
                buf.clear();
                buf.push_str(&v.to_string());
                eng.site_index(&buf)
            })
            .collect());
    }
    let len = sites
        .len()
        .map_err(|_| PyTypeError::new_err("sites must be a sequence of str or int"))?;
    check_len(len, n)?;
    let mut out = Vec::with_capacity(n);
    let mut last: Option<(String, usize)> = None;
    for item in sites.try_iter()? {
        let item = item?;
        let key: String = if let Ok(s) = item.downcast::<PyString>() {
            s.to_str()?.to_owned()
        } else if let Ok(i) = item.extract::<i64>() {
            i.to_string()
        } else {
            return Err(PyTypeError::new_err(format!(
                "site ids must be str or int, got {}",
                item.get_type().name()?
            )));
        };
        // Consecutive events usually share a site: skip the hash lookup.
        let idx = match &last {
            Some((k, i)) if *k == key => *i,
            _ => eng.site_index(&key),
        };
        out.push(idx);
        last = Some((key, idx));
    }
    Ok(out)
}

fn check_len(len: usize, n: usize) -> PyResult<()> {
    if len != n {
        return Err(PyValueError::new_err(format!(
            "sites has {len} entries for {n} events"
        )));
    }
    Ok(())
}

/// Values as a 2-D float64 array, converting other dtypes once.
pub(crate) fn values_2d<'py>(
    py: Python<'py>,
    values: &Bound<'py, PyAny>,
    k: usize,
) -> PyResult<PyReadonlyArray2<'py, f64>> {
    let arr = match values.extract::<PyReadonlyArray2<'py, f64>>() {
        Ok(a) => a,
        Err(_) => {
            let np = py.import("numpy")?;
            let conv = np
                .call_method1("asarray", (values, np.getattr("float64")?))
                .map_err(|e| {
                    PyTypeError::new_err(format!("values must be numeric, shape (n, {k}): {e}"))
                })?;
            conv.extract::<PyReadonlyArray2<'py, f64>>().map_err(|_| {
                PyValueError::new_err(format!(
                    "values must be 2-D with shape (n, {k}); got {}-D",
                    conv.getattr("ndim")
                        .and_then(|d| d.extract::<usize>())
                        .unwrap_or(0)
                ))
            })?
        }
    };
    if arr.shape()[1] != k {
        return Err(PyValueError::new_err(format!(
            "values has {} columns but the spec has {k} signals",
            arr.shape()[1]
        )));
    }
    Ok(arr)
}

pub(crate) fn ts_1d<'py>(
    py: Python<'py>,
    ts_ns: &Bound<'py, PyAny>,
) -> PyResult<PyReadonlyArray1<'py, i64>> {
    if let Ok(a) = ts_ns.extract::<PyReadonlyArray1<'py, i64>>() {
        return Ok(a);
    }
    let np = py.import("numpy")?;
    let conv = np
        .call_method1("asarray", (ts_ns,))?
        .call_method1("astype", (np.getattr("int64")?,))
        .map_err(|e| PyTypeError::new_err(format!("ts_ns must be int64 UTC nanoseconds: {e}")))?;
    conv.extract::<PyReadonlyArray1<'py, i64>>()
        .map_err(|_| PyValueError::new_err("ts_ns must be 1-D int64 UTC nanoseconds"))
}

/// An input array's data, read in place when C-contiguous and copied once
/// otherwise. In-place input is documented as not to be mutated by other
/// threads during a batch call (the GIL is released).
pub(crate) fn in_place_or_copy<'a, T, D>(a: &'a PyReadonlyArray<'_, T, D>) -> Cow<'a, [T]>
where
    T: Element + Copy,
    D: Dimension,
{
    match a.as_slice() {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(a.as_array().iter().copied().collect()),
    }
}

/// The arguments of a batch call, checked against each other: timestamps,
/// values `(n, n_signals)` and the site index of every event.
pub(crate) type BatchArgs<'py> = (
    PyReadonlyArray1<'py, i64>,
    PyReadonlyArray2<'py, f64>,
    Vec<usize>,
);

pub(crate) fn batch_args<'py>(
    py: Python<'py>,
    eng: &mut FeatureEngine,
    ts_ns: &Bound<'py, PyAny>,
    values: &Bound<'py, PyAny>,
    sites: Option<&Bound<'py, PyAny>>,
) -> PyResult<BatchArgs<'py>> {
    let ts = ts_1d(py, ts_ns)?;
    let vals = values_2d(py, values, eng.n_signals())?;
    let n = ts.len();
    if vals.shape()[0] != n {
        return Err(PyValueError::new_err(format!(
            "values has {} rows for {n} timestamps",
            vals.shape()[0]
        )));
    }
    let idx = resolve_sites(eng, sites, n, "grid")?;
    Ok((ts, vals, idx))
}

/// The engine's event counters as the dict both bindings expose.
pub(crate) fn counters_dict<'py>(
    py: Python<'py>,
    eng: &FeatureEngine,
) -> PyResult<Bound<'py, PyDict>> {
    let c = eng.counters();
    let d = PyDict::new(py);
    d.set_item("events", c.events)?;
    d.set_item("out_of_order", c.out_of_order)?;
    d.set_item("sites", eng.site_ids().len())?;
    Ok(d)
}

pub(crate) fn parse_on_out_of_order(s: &str) -> PyResult<OnOutOfOrder> {
    match s {
        "raise" => Ok(OnOutOfOrder::Raise),
        "skip" => Ok(OnOutOfOrder::Skip),
        other => Err(PyValueError::new_err(format!(
            "on_out_of_order must be 'raise' or 'skip', got {other:?}"
        ))),
    }
}

/// Streaming features for many sites (see `vpp.features.FeatureEngine`).
#[pyclass(name = "FeatureEngine", module = "vpp.features", subclass)]
pub struct PyFeatureEngine {
    pub(crate) inner: FeatureEngine,
    out: Vec<f64>,
}

impl PyFeatureEngine {
    pub(crate) fn from_engine(inner: FeatureEngine) -> Self {
        let out = vec![0.0; inner.n_features()];
        PyFeatureEngine { inner, out }
    }
}

#[pymethods]
impl PyFeatureEngine {
    #[new]
    #[pyo3(signature = (spec=None, *, _state=None))]
    fn new(spec: Option<&Bound<'_, PyAny>>, _state: Option<&[u8]>) -> PyResult<Self> {
        let inner = match (spec, _state) {
            (_, Some(blob)) => FeatureEngine::restore(blob).map_err(to_pyerr)?,
            (Some(spec), None) => FeatureEngine::new(spec_from_py(spec)?),
            (None, None) => return Err(PyTypeError::new_err("FeatureEngine needs a FeatureSpec")),
        };
        Ok(Self::from_engine(inner))
    }

    #[getter]
    fn feature_names(&self) -> Vec<String> {
        self.inner.feature_names()
    }

    #[getter]
    fn n_features(&self) -> usize {
        self.inner.n_features()
    }

    #[getter]
    fn signals(&self) -> Vec<String> {
        self.inner.spec().signals.clone()
    }

    #[getter]
    fn sites(&self) -> Vec<String> {
        self.inner.site_ids().to_vec()
    }

    #[getter]
    fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        counters_dict(py, &self.inner)
    }

    /// The spec as a dict of plain values (for `vpp.features.FeatureSpec`).
    fn _spec_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.spec();
        let d = PyDict::new(py);
        d.set_item("signals", s.signals.clone())?;
        d.set_item("lags", s.lags.clone())?;
        d.set_item("windows", s.windows.clone())?;
        d.set_item(
            "stats",
            s.stats.iter().map(|x| x.name()).collect::<Vec<_>>(),
        )?;
        d.set_item("diff", s.diff)?;
        d.set_item("calendar", s.calendar)?;
        d.set_item("interactions", s.interactions)?;
        Ok(d)
    }

    /// One event: returns float64[n_features].
    #[pyo3(signature = (ts_ns, values, site="grid"))]
    fn push<'py>(
        &mut self,
        py: Python<'py>,
        ts_ns: i64,
        values: &Bound<'py, PyAny>,
        site: &str,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let idx = self.inner.site_index(site);
        if let Ok(arr) = values.extract::<PyReadonlyArray1<'py, f64>>() {
            if let Ok(v) = arr.as_slice() {
                self.inner
                    .push(ts_ns, idx, v, &mut self.out)
                    .map_err(to_pyerr)?;
                return Ok(PyArray1::from_slice(py, &self.out));
            }
        }
        let v: Vec<f64> = values.extract().map_err(|_| {
            PyTypeError::new_err("values must be a 1-D sequence of floats in spec.signals order")
        })?;
        self.inner
            .push(ts_ns, idx, &v, &mut self.out)
            .map_err(to_pyerr)?;
        Ok(PyArray1::from_slice(py, &self.out))
    }

    /// A batch: returns float64[n, n_features]; releases the GIL.
    #[pyo3(signature = (ts_ns, values, sites=None, on_out_of_order="raise"))]
    fn process<'py>(
        &mut self,
        py: Python<'py>,
        ts_ns: &Bound<'py, PyAny>,
        values: &Bound<'py, PyAny>,
        sites: Option<&Bound<'py, PyAny>>,
        on_out_of_order: &str,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let mode = parse_on_out_of_order(on_out_of_order)?;
        let (ts, vals, idx) = batch_args(py, &mut self.inner, ts_ns, values, sites)?;
        let (n, f) = (ts.len(), self.inner.n_features());
        // Allocated by numpy, which asks for huge pages on large arrays:
        // page faults on a fresh (n, 177) output otherwise cost as much as
        // computing it.
        let out_arr = unsafe { PyArray2::<f64>::new(py, [n, f], false) };
        // SAFETY: the array was just created here, is C-contiguous and no
        // other reference to it exists until it is returned.
        let out = unsafe { out_arr.as_slice_mut()? };
        let (v, t) = (in_place_or_copy(&vals), in_place_or_copy(&ts));
        let eng = &mut self.inner;
        without_gil(py, || eng.process(&t, &v, &idx, mode, out))?;
        Ok(out_arr)
    }

    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let blob = self.inner.snapshot().map_err(to_pyerr)?;
        Ok(PyBytes::new(py, &blob))
    }
}
