//! Batch runs of the agents: `AgentSet::decide` over arrays of events, with
//! optional price forecasts, measured states of charge and per-unit records.

use super::{AgentSet, UnitRecords};
use crate::{CoreError, CoreResult};

/// Per-event outputs of a batch run, one entry per event.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunOutput {
    /// See `Decision`.
    pub total_mw: Vec<f64>,
    /// See `Decision`.
    pub fr_required_mw: Vec<f64>,
    /// See `Decision`.
    pub fr_delivered_mw: Vec<f64>,
    /// See `Decision`.
    pub arbitrage_mw: Vec<f64>,
    /// `Reason as u8`.
    pub reason: Vec<u8>,
    /// See `Decision`.
    pub stored_mwh: Vec<f64>,
    /// Discharge power the site can hold next, MW (`Headroom::up_mw`).
    pub available_up_mw: Vec<f64>,
    /// Charge power the site can hold next, MW (`Headroom::down_mw`).
    pub available_down_mw: Vec<f64>,
    /// Energy the site can still deliver, MWh.
    pub available_up_mwh: Vec<f64>,
    /// Energy the site can still take, MWh.
    pub available_down_mwh: Vec<f64>,
}

impl AgentSet {
    /// Decide a batch of events (the single-event `decide` in a loop), using
    /// row `i` of `forecasts` (`n × width`, row-major) as the price forecast
    /// when event `i` re-plans.
    ///
    /// # Errors
    /// As `decide`, plus `CoreError::Shape` for arrays of different lengths.
    pub fn run(
        &mut self,
        ts_ns: &[i64],
        sites: &[usize],
        frequency_hz: &[f64],
        price_per_mwh: &[f64],
        forecasts: Option<(&[f64], usize)>,
    ) -> CoreResult<RunOutput> {
        self.run_units(ts_ns, sites, frequency_hz, price_per_mwh, forecasts, None)
    }

    /// As `run`, adding each event's per-unit records to `units` when given
    /// (as `record_units` after every `decide`; `units` is cleared first).
    ///
    /// # Errors
    /// As `run`.
    pub fn run_units(
        &mut self,
        ts_ns: &[i64],
        sites: &[usize],
        frequency_hz: &[f64],
        price_per_mwh: &[f64],
        forecasts: Option<(&[f64], usize)>,
        units: Option<&mut UnitRecords>,
    ) -> CoreResult<RunOutput> {
        let arrays = (ts_ns, sites, frequency_hz, price_per_mwh);
        self.run_measured(arrays, None, forecasts, units)
    }

    /// As `run_units`, with a measured state of charge per event
    /// (`soc_frac`, NaN where none): a reading is the site's state at the
    /// event's time, so its units take it (`sync_site_soc`) just before the
    /// event's decision, which plans and steps from what was measured; the
    /// event's `stored_mwh` is the state after that step.
    ///
    /// # Errors
    /// As `run`, plus `CoreError::Shape` for a `soc_frac` of another length.
    pub fn run_measured(
        &mut self,
        (ts_ns, sites, frequency_hz, price_per_mwh): (&[i64], &[usize], &[f64], &[f64]),
        soc_frac: Option<&[f64]>,
        forecasts: Option<(&[f64], usize)>,
        mut units: Option<&mut UnitRecords>,
    ) -> CoreResult<RunOutput> {
        let n = ts_ns.len();
        if sites.len() != n
            || frequency_hz.len() != n
            || price_per_mwh.len() != n
            || soc_frac.is_some_and(|s| s.len() != n)
        {
            return Err(CoreError::Shape(format!(
                "ts_ns, sites, frequency_hz, price_per_mwh (and soc_frac) must have one length, \
                 got {n}, {}, {}, {}{}",
                sites.len(),
                frequency_hz.len(),
                price_per_mwh.len(),
                soc_frac.map_or(String::new(), |s| format!(", {}", s.len()))
            )));
        }
        if let Some((f, w)) = forecasts {
            if w == 0 || f.len() != n * w {
                return Err(CoreError::Shape(format!(
                    "forecasts must be {n} × width (width ≥ 1), got {} values for width {w}",
                    f.len()
                )));
            }
        }
        let mut out = RunOutput {
            total_mw: Vec::with_capacity(n),
            fr_required_mw: Vec::with_capacity(n),
            fr_delivered_mw: Vec::with_capacity(n),
            arbitrage_mw: Vec::with_capacity(n),
            reason: Vec::with_capacity(n),
            stored_mwh: Vec::with_capacity(n),
            available_up_mw: Vec::with_capacity(n),
            available_down_mw: Vec::with_capacity(n),
            available_up_mwh: Vec::with_capacity(n),
            available_down_mwh: Vec::with_capacity(n),
        };
        if let Some(u) = units.as_deref_mut() {
            u.clear(n);
        }
        let mut buf = std::mem::take(&mut self.unit_buf);
        buf.resize(self.fleet.n_units(), 0.0);
        for i in 0..n {
            let fc = forecasts.map(|(f, w)| &f[i * w..(i + 1) * w]);
            if let Some(x) = soc_frac.map(|s| s[i]).filter(|x| x.is_finite()) {
                if let Err(e) = self.sync_site_soc(sites[i], x) {
                    self.unit_buf = buf;
                    return Err(e);
                }
            }
            let d = self.decide_with(
                ts_ns[i],
                sites[i],
                frequency_hz[i],
                price_per_mwh[i],
                fc,
                &mut buf,
            );
            let d = match d {
                Ok(d) => d,
                Err(e) => {
                    self.unit_buf = buf;
                    return Err(e);
                }
            };
            if let Some(u) = units.as_deref_mut() {
                self.record_units(i, ts_ns[i], sites[i], d.reason, &buf, u);
            }
            out.total_mw.push(d.total_mw);
            out.fr_required_mw.push(d.fr_required_mw);
            out.fr_delivered_mw.push(d.fr_delivered_mw);
            out.arbitrage_mw.push(d.arbitrage_mw);
            out.reason.push(d.reason as u8);
            out.stored_mwh.push(d.stored_mwh);
            out.available_up_mw.push(d.headroom.up_mw);
            out.available_down_mw.push(d.headroom.down_mw);
            out.available_up_mwh.push(d.headroom.up_mwh);
            out.available_down_mwh.push(d.headroom.down_mwh);
        }
        self.unit_buf = buf;
        Ok(out)
    }
}
