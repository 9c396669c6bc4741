//! Binding of the event-message fast path (`crate::msgdecode`).

use std::collections::HashMap;

use numpy::{PyArray1, PyArray2, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::msgdecode::decode_event;

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(decode_events, m)?)?;
    Ok(())
}

type Decoded<'py> = (
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i32>>,
    Vec<String>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray1<u8>>,
);

/// Decode event messages into columns (see `vpp.stream.messages`).
///
/// Returns `(ts_ns int64[n], site_code int32[n] (-1: no site), site_names,
/// values float64[n, k], status uint8[n])`; status 1 marks a message that is
/// not in the fast shape and must be decoded with the full checks (its row
/// is left NaN). `kw_div`/`kw_mul` convert a `"units": "kW"` message per signal.
#[pyfunction]
#[pyo3(name = "_decode_events")]
fn decode_events<'py>(
    py: Python<'py>,
    values: &Bound<'py, PyList>,
    signals: Vec<String>,
    kw_div: Vec<f64>,
    kw_mul: Vec<f64>,
) -> PyResult<Decoded<'py>> {
    let k = signals.len();
    if kw_div.len() != k || kw_mul.len() != k || k > 64 {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "kw_div and kw_mul need one entry per signal (at most 64)",
        ));
    }
    let sig: Vec<&str> = signals.iter().map(String::as_str).collect();
    let n = values.len();
    let mut ts = vec![0i64; n];
    let mut codes = vec![-1i32; n];
    let mut vals = vec![f64::NAN; n * k];
    let mut status = vec![0u8; n];
    let mut names: Vec<String> = Vec::new();
    let mut index: HashMap<String, i32> = HashMap::new();
    for (i, item) in values.iter().enumerate() {
        let row = &mut vals[i * k..(i + 1) * k];
        let Ok(bytes) = item.downcast::<PyBytes>() else {
            status[i] = 1;
            continue;
        };
        match decode_event(bytes.as_bytes(), &sig, row) {
            None => {
                row.iter_mut().for_each(|v| *v = f64::NAN);
                status[i] = 1;
            }
            Some(ev) => {
                ts[i] = ev.ts_ns;
                if ev.kw {
                    for j in 0..k {
                        row[j] = row[j] / kw_div[j] * kw_mul[j];
                    }
                }
                if let Some(s) = ev.site {
                    codes[i] = match index.get(s) {
                        Some(&c) => c,
                        None => {
                            let c = names.len() as i32;
                            names.push(s.to_owned());
                            index.insert(s.to_owned(), c);
                            c
                        }
                    };
                }
            }
        }
    }
    let values_arr = PyArray1::from_vec(py, vals).reshape([n, k])?;
    Ok((
        PyArray1::from_vec(py, ts),
        PyArray1::from_vec(py, codes),
        names,
        values_arr,
        PyArray1::from_vec(py, status),
    ))
}
