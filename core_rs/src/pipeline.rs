//! Raw events in, features and quantile forecasts out, in one loop.
//!
//! Each event goes through the feature engine, its feature row is converted
//! to the compiled model's `Entry` layout and predicted, and the predicted
//! change is added to the current value of the target signal, so forecasts
//! are levels. Buffers are owned by the pipeline: nothing is allocated per
//! event.
//!
//! Agents: a `crate::agents::AgentSet` can be attached with
//! [`Pipeline::attach_agents`]; it then decides every applied event right
//! after its forecast (same loop, same site index space), and each event's
//! decision is written to the optional [`DecisionColumns`]. Events the agents
//! do not decide (skipped as out of order, or at a site the agents do not
//! cover) get NaN and the reason code [`NO_DECISION`]; they never fail the
//! batch.
//!
//! Per-unit records: [`Pipeline::process_units`] / [`Pipeline::push_units`]
//! also write the agents' thinned per-unit dispatch and SoC records
//! (`crate::agents::unit_log`) from the same loop.

use crate::agents::{AgentSet, Decision, UnitRecords};
use crate::features::{FeatureEngine, OnOutOfOrder};
use crate::model::CompiledModel;
use crate::spec::{FeatureSpec, NET_LOAD};
use crate::{CoreError, CoreResult};

/// Where the current value of the forecast target comes from in an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetSource {
    /// A signal column of the input values.
    Column(usize),
    /// `load - solar - wind` (absent renewables count as 0).
    NetLoad {
        load: usize,
        solar: Option<usize>,
        wind: Option<usize>,
    },
}

impl TargetSource {
    /// Resolve `target` against the spec's signal columns.
    ///
    /// # Errors
    /// `CoreError::Model` if the target is neither a signal of the spec nor
    /// `net_load_mw` with `load_mw` present.
    pub fn resolve(spec: &FeatureSpec, target: &str) -> CoreResult<TargetSource> {
        let col = |name: &str| spec.signals.iter().position(|s| s == name);
        if let Some(c) = col(target) {
            return Ok(TargetSource::Column(c));
        }
        if target == NET_LOAD {
            if let Some(load) = col("load_mw") {
                return Ok(TargetSource::NetLoad {
                    load,
                    solar: col("solar_mw"),
                    wind: col("wind_mw"),
                });
            }
        }
        Err(CoreError::Model(format!(
            "forecast target {target:?} is not available from the spec's signals {:?}",
            spec.signals
        )))
    }

    /// The current value (NaN when missing).
    #[inline]
    pub fn current(&self, values: &[f64]) -> f64 {
        let v = match *self {
            TargetSource::Column(c) => values[c],
            TargetSource::NetLoad { load, solar, wind } => {
                let at = |i: Option<usize>| i.map_or(0.0, |i| values[i]);
                values[load] - at(solar) - at(wind)
            }
        };
        if v.is_finite() {
            v
        } else {
            f64::NAN
        }
    }
}

/// `reason` code of an event the agents did not decide: skipped as out of
/// order, or at a site the agents do not cover (real codes are `Reason as u8`).
pub const NO_DECISION: u8 = u8::MAX;

/// Per-event decision outputs of a batch, each with one slot per event.
/// See `crate::agents::Decision` for the meaning of each column.
#[derive(Debug)]
pub struct DecisionColumns<'a> {
    /// Power the site's units deliver, MW (positive = discharge).
    pub total_mw: &'a mut [f64],
    /// Frequency response the droop curve requires, MW.
    pub fr_required_mw: &'a mut [f64],
    /// Frequency response delivered, MW.
    pub fr_delivered_mw: &'a mut [f64],
    /// The trader's (or restoring) part of the set-point, MW.
    pub arbitrage_mw: &'a mut [f64],
    /// `Reason as u8`, or [`NO_DECISION`].
    pub reason: &'a mut [u8],
    /// Stored energy of the site after the step, MWh.
    pub stored_mwh: &'a mut [f64],
}

impl DecisionColumns<'_> {
    fn check_len(&self, n: usize) -> CoreResult<()> {
        let lens = [
            self.total_mw.len(),
            self.fr_required_mw.len(),
            self.fr_delivered_mw.len(),
            self.arbitrage_mw.len(),
            self.reason.len(),
            self.stored_mwh.len(),
        ];
        if lens.iter().any(|&l| l != n) {
            return Err(CoreError::Shape(format!(
                "decision outputs must have {n} slots each, got {lens:?}"
            )));
        }
        Ok(())
    }

    #[inline]
    fn write(&mut self, i: usize, d: Option<&Decision>) {
        match d {
            Some(d) => {
                self.total_mw[i] = d.total_mw;
                self.fr_required_mw[i] = d.fr_required_mw;
                self.fr_delivered_mw[i] = d.fr_delivered_mw;
                self.arbitrage_mw[i] = d.arbitrage_mw;
                self.reason[i] = d.reason as u8;
                self.stored_mwh[i] = d.stored_mwh;
            }
            None => {
                self.total_mw[i] = f64::NAN;
                self.fr_required_mw[i] = f64::NAN;
                self.fr_delivered_mw[i] = f64::NAN;
                self.arbitrage_mw[i] = f64::NAN;
                self.reason[i] = NO_DECISION;
                self.stored_mwh[i] = f64::NAN;
            }
        }
    }
}

/// An attached agent set and the columns it reads.
#[derive(Debug)]
struct Agents {
    set: AgentSet,
    frequency_col: Option<usize>,
    price_col: Option<usize>,
    unit_power_mw: Vec<f64>,
}

/// Feature engine + compiled model (+ optionally agents) over a stream.
#[derive(Debug)]
pub struct Pipeline {
    engine: FeatureEngine,
    model: CompiledModel,
    target: TargetSource,
    target_name: String,
    raw: Vec<f64>,
    agents: Option<Agents>,
}

impl Pipeline {
    /// A pipeline over a fresh engine for `spec` and the library at `library`.
    ///
    /// # Errors
    /// `CoreError::Model` if the library cannot be loaded, its feature count
    /// differs from the spec's, or `target` is not available from the spec.
    pub fn new(spec: FeatureSpec, library: &std::path::Path, target: &str) -> CoreResult<Pipeline> {
        Pipeline::with_engine(FeatureEngine::new(spec), library, target)
    }

    /// As `new`, continuing from an existing engine (e.g. a restored snapshot).
    ///
    /// # Errors
    /// As `new`.
    pub fn with_engine(
        engine: FeatureEngine,
        library: &std::path::Path,
        target: &str,
    ) -> CoreResult<Pipeline> {
        let target_src = TargetSource::resolve(engine.spec(), target)?;
        let model = CompiledModel::load(library, engine.n_features())?;
        let raw = vec![0.0; model.n_targets()];
        Ok(Pipeline {
            engine,
            model,
            target: target_src,
            target_name: target.to_string(),
            raw,
            agents: None,
        })
    }

    pub fn engine(&self) -> &FeatureEngine {
        &self.engine
    }

    pub fn engine_mut(&mut self) -> &mut FeatureEngine {
        &mut self.engine
    }

    pub fn model(&self) -> &CompiledModel {
        &self.model
    }

    pub fn target(&self) -> &str {
        &self.target_name
    }

    pub fn n_features(&self) -> usize {
        self.engine.n_features()
    }

    /// Forecast outputs per event (one per quantile).
    pub fn n_outputs(&self) -> usize {
        self.model.n_targets()
    }

    /// Attach agents that decide each event after its forecast. Their site
    /// indices are the engine's (`site_index`), so create sites in the same
    /// order; events of engine sites beyond the agents' sites are not
    /// decided. Frequency and price are read from the spec's
    /// `frequency_hz`/`price_per_mwh` columns (NaN when absent, which the
    /// agents treat as "hold").
    pub fn attach_agents(&mut self, set: AgentSet) {
        let col = |name: &str| self.engine.spec().signals.iter().position(|s| s == name);
        let unit_power_mw = vec![0.0; set.fleet().n_units()];
        self.agents = Some(Agents {
            frequency_col: col("frequency_hz"),
            price_col: col("price_per_mwh"),
            set,
            unit_power_mw,
        });
    }

    /// The attached agents, if any.
    pub fn agents(&self) -> Option<&AgentSet> {
        self.agents.as_ref().map(|a| &a.set)
    }

    /// The attached agents, mutable (e.g. to hand a trader a forecast).
    pub fn agents_mut(&mut self) -> Option<&mut AgentSet> {
        self.agents.as_mut().map(|a| &mut a.set)
    }

    /// Whether the attached agents decide events of engine site `site`.
    pub fn agents_cover(&self, site: usize) -> bool {
        self.agents
            .as_ref()
            .is_some_and(|a| site < a.set.fleet().n_sites())
    }

    /// Detach and return the agents.
    pub fn detach_agents(&mut self) -> Option<AgentSet> {
        self.agents.take().map(|a| a.set)
    }

    /// Forecast (and decide) for an event whose features are in `feats`;
    /// a finite `soc_frac` is the site's measured state at the event's time,
    /// which its units take just before the decision.
    #[inline]
    fn finish(
        &mut self,
        (ts_ns, site): (i64, usize),
        values: &[f64],
        soc_frac: Option<f64>,
        feats: &[f64],
        preds: &mut [f64],
    ) -> CoreResult<Option<Decision>> {
        self.model.predict_row(feats, &mut self.raw)?;
        let now = self.target.current(values);
        for (p, &d) in preds.iter_mut().zip(&self.raw) {
            *p = now + d;
        }
        // Independent quantile fits can cross; sorted outputs keep
        // lower <= median <= upper (a no-op when they do not cross).
        sort_small(preds);
        let Some(ag) = self.agents.as_mut() else {
            return Ok(None);
        };
        // A site the agents do not cover gets no decision rather than an
        // error: one stray site id must not stop a stream.
        if site >= ag.set.fleet().n_sites() {
            return Ok(None);
        }
        if let Some(x) = soc_frac.filter(|x| x.is_finite()) {
            ag.set.sync_site_soc(site, x)?;
        }
        let at = |c: Option<usize>| c.map_or(f64::NAN, |c| values[c]);
        let d = ag.set.decide(
            ts_ns,
            site,
            at(ag.frequency_col),
            at(ag.price_col),
            &mut ag.unit_power_mw,
        )?;
        Ok(Some(d))
    }

    /// One event: features into `feats` (`n_features`), forecasts into
    /// `preds` (`n_outputs`, ascending quantiles, levels of the target);
    /// returns the attached agents' decision (None without agents or for a
    /// site they do not cover).
    ///
    /// # Errors
    /// As `FeatureEngine::push` (the state is unchanged on error), or
    /// `Shape` if `preds` has the wrong length.
    pub fn push(
        &mut self,
        ts_ns: i64,
        site: usize,
        values: &[f64],
        feats: &mut [f64],
        preds: &mut [f64],
    ) -> CoreResult<Option<Decision>> {
        self.check_preds(preds.len(), 1)?;
        self.engine.push(ts_ns, site, values, feats)?;
        self.finish((ts_ns, site), values, None, feats, preds)
    }

    /// As `push`, and the event's per-unit records (event index 0) into
    /// `units`, which is cleared first.
    ///
    /// # Errors
    /// As `push`.
    pub fn push_units(
        &mut self,
        ts_ns: i64,
        site: usize,
        values: &[f64],
        feats: &mut [f64],
        preds: &mut [f64],
        units: &mut UnitRecords,
    ) -> CoreResult<Option<Decision>> {
        units.clear(0);
        let d = self.push(ts_ns, site, values, feats, preds)?;
        self.record_units(0, ts_ns, site, d.as_ref(), units);
        Ok(d)
    }

    #[inline]
    fn record_units(
        &mut self,
        event: usize,
        ts_ns: i64,
        site: usize,
        d: Option<&Decision>,
        units: &mut UnitRecords,
    ) {
        if let (Some(d), Some(ag)) = (d, self.agents.as_mut()) {
            ag.set
                .record_units(event, ts_ns, site, d.reason, &ag.unit_power_mw, units);
        }
    }

    fn check_preds(&self, len: usize, n: usize) -> CoreResult<()> {
        let t = self.n_outputs();
        if len != n * t {
            return Err(CoreError::Shape(format!(
                "forecast output has {len} slots for {n} events x {t} quantiles"
            )));
        }
        Ok(())
    }

    /// A batch: `values` row-major `(n, n_signals)`, `feats` `(n,
    /// n_features)`, `preds` `(n, n_outputs)`, `decisions` (when given) the
    /// attached agents' decision per event (NaN / [`NO_DECISION`] without
    /// agents, for skipped events and for sites the agents do not cover).
    /// Equal to a loop of `push`; out-of-order events are handled as in
    /// `FeatureEngine::process` and get NaN forecasts when skipped.
    ///
    /// # Errors
    /// `Shape` on inconsistent lengths or unknown site indices; with
    /// `OnOutOfOrder::Raise` an out-of-order event fails the batch before any
    /// state changes.
    #[allow(clippy::too_many_arguments)]
    pub fn process(
        &mut self,
        ts_ns: &[i64],
        values: &[f64],
        sites: &[usize],
        on_out_of_order: OnOutOfOrder,
        feats: &mut [f64],
        preds: &mut [f64],
        decisions: Option<DecisionColumns<'_>>,
    ) -> CoreResult<()> {
        self.process_units(
            ts_ns,
            values,
            sites,
            on_out_of_order,
            feats,
            preds,
            decisions,
            None,
            None,
        )
    }

    /// As `process`, and (when `units` is given) each decided event's
    /// per-unit records into `units` (cleared first; event indices are
    /// positions in this batch). Equal to a loop of `push_units`. With
    /// `soc_frac` (one measured state of charge per event, NaN where none),
    /// a decided event's site takes its measurement just before the
    /// decision, as in `AgentSet::run_measured`.
    ///
    /// # Errors
    /// As `process`, plus `Shape` for a `soc_frac` of another length.
    #[allow(clippy::too_many_arguments)]
    pub fn process_units(
        &mut self,
        ts_ns: &[i64],
        values: &[f64],
        sites: &[usize],
        on_out_of_order: OnOutOfOrder,
        feats: &mut [f64],
        preds: &mut [f64],
        mut decisions: Option<DecisionColumns<'_>>,
        mut units: Option<&mut UnitRecords>,
        soc_frac: Option<&[f64]>,
    ) -> CoreResult<()> {
        let n = ts_ns.len();
        let (k, f, t) = (self.engine.n_signals(), self.n_features(), self.n_outputs());
        if values.len() != n * k
            || sites.len() != n
            || feats.len() != n * f
            || soc_frac.is_some_and(|s| s.len() != n)
        {
            return Err(CoreError::Shape(format!(
                "batch of {n} timestamps needs values ({n}, {k}), {n} sites, features ({n}, {f}) \
                 and (when given) {n} soc_frac"
            )));
        }
        self.check_preds(preds.len(), n)?;
        if let Some(d) = decisions.as_ref() {
            d.check_len(n)?;
        }
        let n_sites = self.engine.site_ids().len();
        if let Some(&bad) = sites.iter().find(|&&s| s >= n_sites) {
            return Err(CoreError::Shape(format!("unknown site index {bad}")));
        }
        if on_out_of_order == OnOutOfOrder::Raise {
            self.engine.check_order(ts_ns, sites)?;
        }
        if let Some(u) = units.as_deref_mut() {
            u.clear(n);
        }
        for i in 0..n {
            let (site, ts) = (sites[i], ts_ns[i]);
            let vals = &values[i * k..(i + 1) * k];
            let row = &mut feats[i * f..(i + 1) * f];
            let out = &mut preds[i * t..(i + 1) * t];
            let skipped = self.engine.last_ts_ns(site).is_some_and(|last| ts <= last);
            // Skip mode on one event: the engine fills a skipped row with NaN
            // and counts it; in Raise mode the order was checked above.
            self.engine
                .process(&ts_ns[i..=i], vals, &sites[i..=i], OnOutOfOrder::Skip, row)?;
            let decision = if skipped {
                out.fill(f64::NAN);
                None
            } else {
                self.finish((ts, site), vals, soc_frac.map(|s| s[i]), row, out)?
            };
            if let Some(d) = decisions.as_mut() {
                d.write(i, decision.as_ref());
            }
            if let Some(u) = units.as_deref_mut() {
                self.record_units(i, ts, site, decision.as_ref(), u);
            }
        }
        Ok(())
    }
}

/// Insertion sort of a handful of values; leaves rows with NaN as they are.
#[inline]
fn sort_small(xs: &mut [f64]) {
    if xs.iter().any(|x| x.is_nan()) {
        return;
    }
    for i in 1..xs.len() {
        let mut j = i;
        while j > 0 && xs[j - 1] > xs[j] {
            xs.swap(j - 1, j);
            j -= 1;
        }
    }
}

#[cfg(test)]
mod tests;
