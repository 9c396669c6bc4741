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

use crate::agents::{AgentSet, Decision};
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

    /// Forecast (and decide) for an event whose features are in `feats`.
    #[inline]
    fn finish(
        &mut self,
        ts_ns: i64,
        site: usize,
        values: &[f64],
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
        self.finish(ts_ns, site, values, feats, preds)
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
        mut decisions: Option<DecisionColumns<'_>>,
    ) -> CoreResult<()> {
        let n = ts_ns.len();
        let (k, f, t) = (self.engine.n_signals(), self.n_features(), self.n_outputs());
        if values.len() != n * k || sites.len() != n || feats.len() != n * f {
            return Err(CoreError::Shape(format!(
                "batch of {n} timestamps needs values ({n}, {k}), {n} sites and features ({n}, {f})"
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
            self.check_order(ts_ns, sites)?;
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
                self.finish(ts, site, vals, row, out)?
            };
            if let Some(d) = decisions.as_mut() {
                d.write(i, decision.as_ref());
            }
        }
        Ok(())
    }

    fn check_order(&self, ts_ns: &[i64], sites: &[usize]) -> CoreResult<()> {
        let mut last: Vec<Option<i64>> = (0..self.engine.site_ids().len())
            .map(|s| self.engine.last_ts_ns(s))
            .collect();
        for (&ts, &site) in ts_ns.iter().zip(sites) {
            if let Some(prev) = last[site] {
                if ts <= prev {
                    return Err(CoreError::OutOfOrder {
                        site: self.engine.site_ids()[site].clone(),
                        ts_ns: ts,
                        last_ts_ns: prev,
                    });
                }
            }
            last[site] = Some(ts);
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
mod tests {
    use super::*;

    fn spec(signals: &[&str]) -> FeatureSpec {
        FeatureSpec::new(
            signals.iter().map(|s| s.to_string()).collect(),
            vec![1],
            vec![2],
            &["mean".to_string()],
            true,
            false,
            false,
        )
        .unwrap()
    }

    #[test]
    fn target_sources() {
        let s = spec(&["load_mw", "solar_mw"]);
        let t = TargetSource::resolve(&s, "net_load_mw").unwrap();
        assert_eq!(t.current(&[10.0, 3.0]), 7.0);
        assert!(t.current(&[10.0, f64::NAN]).is_nan());
        let t = TargetSource::resolve(&s, "solar_mw").unwrap();
        assert_eq!(t.current(&[10.0, 3.0]), 3.0);
        let err = TargetSource::resolve(&spec(&["price_per_mwh"]), "net_load_mw").unwrap_err();
        assert!(err.to_string().contains("net_load_mw"), "{err}");
    }

    #[test]
    fn sort_small_orders_and_keeps_nan_rows() {
        let mut a = [3.0, 1.0, 2.0];
        sort_small(&mut a);
        assert_eq!(a, [1.0, 2.0, 3.0]);
        let mut b = [3.0, f64::NAN, 2.0];
        sort_small(&mut b);
        assert_eq!(b[0], 3.0);
    }

    /// Build a stand-in for a TL2cgen library: output 0 = the first feature
    /// (or -1000 if missing), output 1 = the number of missing features.
    fn fake_model(n_features: usize) -> Option<std::path::PathBuf> {
        let dir = std::env::temp_dir().join(format!(
            "vpp-pipeline-test-{}-{n_features}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).ok()?;
        let src = dir.join("m.c");
        let lib = dir.join("m.so");
        let code = format!(
            "union Entry {{ int missing; float fvalue; int qvalue; }};\n\
             int get_num_feature(void) {{ return {n_features}; }}\n\
             int get_num_target(void) {{ return 2; }}\n\
             void predict(union Entry* d, int m, float* r) {{\n\
               r[0] += d[0].missing == -1 ? -1000.0f : d[0].fvalue;\n\
               for (int i = 0; i < {n_features}; i++) r[1] += d[i].missing == -1;\n\
             }}\n"
        );
        std::fs::write(&src, code).ok()?;
        let status = std::process::Command::new("cc")
            .args(["-shared", "-fPIC", "-O1", "-o"])
            .arg(&lib)
            .arg(&src)
            .status()
            .ok()?;
        status.success().then_some(lib)
    }

    #[test]
    fn compiled_predictions_are_zeroed_missing_aware_levels() {
        let spec = spec(&["load_mw", "solar_mw"]);
        let nf = spec.layout().n_features;
        let Some(lib) = fake_model(nf) else {
            eprintln!("no C compiler: skipped");
            return;
        };
        let mut p = Pipeline::new(spec.clone(), &lib, "net_load_mw").unwrap();
        let s = p.engine_mut().site_index("a");
        let (mut feats, mut preds) = (vec![0.0; nf], vec![0.0; 2]);
        let names = spec.feature_names();
        let n = 30;
        let ts: Vec<i64> = (0..n as i64).map(|i| i * 60_000_000_000).collect();
        let vals: Vec<f64> = (0..2 * n)
            .map(|i| {
                if i % 7 == 3 {
                    f64::NAN
                } else {
                    10.0 + i as f64
                }
            })
            .collect();
        let mut loop_preds = Vec::new();
        for i in 0..n {
            let v = &vals[2 * i..2 * i + 2];
            p.push(ts[i], s, v, &mut feats, &mut preds).unwrap();
            let now = v[0] - v[1];
            let missing = feats.iter().filter(|x| !x.is_finite()).count() as f64;
            let first = if feats[0].is_finite() {
                feats[0] as f32 as f64
            } else {
                -1000.0
            };
            let mut want = [now + first, now + missing];
            if now.is_finite() {
                want.sort_by(f64::total_cmp);
                assert_eq!(preds, want, "event {i} ({:?})", &names[..2]);
            } else {
                assert!(preds.iter().all(|x| x.is_nan()));
            }
            loop_preds.extend_from_slice(&preds);
        }
        // The batch path equals the loop.
        let mut q = Pipeline::new(spec, &lib, "net_load_mw").unwrap();
        let sites = vec![q.engine_mut().site_index("a"); n];
        let (mut bf, mut bp) = (vec![0.0; n * nf], vec![0.0; n * 2]);
        q.process(
            &ts,
            &vals,
            &sites,
            OnOutOfOrder::Raise,
            &mut bf,
            &mut bp,
            None,
        )
        .unwrap();
        for (a, b) in bp.iter().zip(&loop_preds) {
            assert!(a == b || (a.is_nan() && b.is_nan()), "{a} vs {b}");
        }
        // A library with another feature count is refused with a clear message.
        let err = Pipeline::new(
            FeatureSpec::new(
                vec!["load_mw".into()],
                vec![1],
                vec![],
                &[],
                false,
                false,
                false,
            )
            .unwrap(),
            &lib,
            "load_mw",
        )
        .unwrap_err();
        assert!(err.to_string().contains("features"), "{err}");
    }

    /// Owned decision columns for tests.
    #[derive(Debug, Default)]
    struct Cols {
        total: Vec<f64>,
        req: Vec<f64>,
        del: Vec<f64>,
        arb: Vec<f64>,
        reason: Vec<u8>,
        stored: Vec<f64>,
    }

    impl Cols {
        fn new(n: usize) -> Self {
            Self {
                total: vec![0.0; n],
                req: vec![0.0; n],
                del: vec![0.0; n],
                arb: vec![0.0; n],
                reason: vec![0; n],
                stored: vec![0.0; n],
            }
        }

        fn view(&mut self) -> DecisionColumns<'_> {
            DecisionColumns {
                total_mw: &mut self.total,
                fr_required_mw: &mut self.req,
                fr_delivered_mw: &mut self.del,
                arbitrage_mw: &mut self.arb,
                reason: &mut self.reason,
                stored_mwh: &mut self.stored,
            }
        }

        fn push(&mut self, d: Option<Decision>) {
            let mut one = Cols::new(1);
            one.view().write(0, d.as_ref());
            self.total.push(one.total[0]);
            self.req.push(one.req[0]);
            self.del.push(one.del[0]);
            self.arb.push(one.arb[0]);
            self.reason.push(one.reason[0]);
            self.stored.push(one.stored[0]);
        }

        fn assert_same(&self, other: &Cols) {
            let same = |a: &[f64], b: &[f64]| {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|(x, y)| x == y || (x.is_nan() && y.is_nan()))
            };
            assert!(
                same(&self.total, &other.total),
                "{:?} vs {:?}",
                self.total,
                other.total
            );
            assert!(same(&self.req, &other.req));
            assert!(same(&self.del, &other.del));
            assert!(same(&self.arb, &other.arb));
            assert!(same(&self.stored, &other.stored));
            assert_eq!(self.reason, other.reason);
        }
    }

    fn fr_agents(n_units: usize) -> AgentSet {
        use crate::agents::{AgentConfig, ArbitrageParams, BatteryParams, FrParams};
        let cfg = AgentConfig {
            fr: FrParams {
                contracted_mw: 1.0,
                ..Default::default()
            },
            arbitrage: ArbitrageParams {
                enabled: false,
                ..Default::default()
            },
            ..Default::default()
        };
        AgentSet::new(vec![(BatteryParams::default(), 0); n_units], 1, cfg).unwrap()
    }

    #[test]
    fn attached_agents_decide_in_the_same_loop() {
        let spec = spec(&["load_mw", "frequency_hz"]);
        let nf = spec.layout().n_features;
        let Some(lib) = fake_model(nf) else {
            eprintln!("no C compiler: skipped");
            return;
        };
        let mut p = Pipeline::new(spec, &lib, "net_load_mw").unwrap();
        let s = p.engine_mut().site_index("grid");
        p.attach_agents(fr_agents(1));
        let ts = [60_000_000_000, 120_000_000_000, 180_000_000_000];
        // Nominal, low (discharge), high (charge) frequency.
        let vals = [100.0, 50.0, 100.0, 49.5, 100.0, 50.5];
        let (mut f, mut q, mut d) = (vec![0.0; 3 * nf], vec![0.0; 6], Cols::new(3));
        p.process(
            &ts,
            &vals,
            &[s; 3],
            OnOutOfOrder::Raise,
            &mut f,
            &mut q,
            Some(d.view()),
        )
        .unwrap();
        assert_eq!(d.total[0], 0.0);
        assert!(d.total[1] > 0.0 && d.total[2] < 0.0, "{:?}", d.total);
        // No price column: the (disabled) trader counts a hold.
        assert_eq!(d.reason[1], crate::agents::Reason::HoldNonFinite as u8);
        assert!(d.req[1] > 0.0 && d.stored[1] < d.stored[0]);
        assert_eq!(p.agents().unwrap().counters().events, 3);
        assert!(p.agents_cover(s) && !p.agents_cover(s + 1));
        assert!(p.detach_agents().is_some() && p.agents().is_none());
        // Wrong output lengths are a shape error, not a panic.
        let mut short = Cols::new(2);
        let err = p
            .process(
                &ts,
                &vals,
                &[s; 3],
                OnOutOfOrder::Skip,
                &mut f,
                &mut q,
                Some(short.view()),
            )
            .unwrap_err();
        assert!(matches!(err, CoreError::Shape(_)), "{err}");
    }

    /// The batch equals a loop of `push` and the agents run on their own,
    /// with an out-of-order event and a site the agents do not cover.
    #[test]
    fn batch_decisions_equal_push_loop_and_agents_alone() {
        let spec = spec(&["load_mw", "frequency_hz", "price_per_mwh"]);
        let nf = spec.layout().n_features;
        let Some(lib) = fake_model(nf) else {
            eprintln!("no C compiler: skipped");
            return;
        };
        let n = 200;
        let mut ts = Vec::new();
        let mut sites = Vec::new();
        let mut vals = Vec::new();
        for i in 0..n {
            // Site 1 ("other") is not covered by the agents; event 51 of
            // site 0 repeats a timestamp (skipped as out of order).
            let site = usize::from(i % 5 == 4);
            let t = if i == 51 { (i - 1) * 60 } else { i * 60 };
            ts.push(t as i64 * 1_000_000_000);
            sites.push(site);
            let f = 50.0 + 0.3 * ((i as f64) * 0.37).sin();
            let price = if i % 17 == 0 {
                f64::NAN
            } else {
                40.0 + (i % 24) as f64
            };
            vals.extend_from_slice(&[100.0, f, price]);
        }
        let build = || {
            let mut p = Pipeline::new(spec.clone(), &lib, "load_mw").unwrap();
            assert_eq!(p.engine_mut().site_index("grid"), 0);
            p.attach_agents(fr_agents(3));
            assert_eq!(p.engine_mut().site_index("other"), 1);
            p
        };
        let mut batch = build();
        let (mut f, mut q, mut d) = (vec![0.0; n * nf], vec![0.0; n * 2], Cols::new(n));
        batch
            .process(
                &ts,
                &vals,
                &sites,
                OnOutOfOrder::Skip,
                &mut f,
                &mut q,
                Some(d.view()),
            )
            .unwrap();
        let mut looped = build();
        let mut l = Cols::default();
        let (mut row, mut pred) = (vec![0.0; nf], vec![0.0; 2]);
        for i in 0..n {
            let v = &vals[3 * i..3 * i + 3];
            match looped.push(ts[i], sites[i], v, &mut row, &mut pred) {
                Ok(dec) => l.push(dec),
                Err(CoreError::OutOfOrder { .. }) => l.push(None),
                Err(e) => panic!("{e}"),
            }
        }
        d.assert_same(&l);
        // Undecided: the other site and the repeated timestamp.
        for (i, &site) in sites.iter().enumerate() {
            let undecided = site == 1 || i == 51;
            assert_eq!(d.reason[i] == NO_DECISION, undecided, "event {i}");
            assert_eq!(d.total[i].is_nan(), undecided, "event {i}");
        }
        // The agents alone over the decided events give the same decisions.
        let keep: Vec<usize> = (0..n).filter(|&i| d.reason[i] != NO_DECISION).collect();
        let mut alone = fr_agents(3);
        let out = alone
            .run(
                &keep.iter().map(|&i| ts[i]).collect::<Vec<_>>(),
                &vec![0; keep.len()],
                &keep.iter().map(|&i| vals[3 * i + 1]).collect::<Vec<_>>(),
                &keep.iter().map(|&i| vals[3 * i + 2]).collect::<Vec<_>>(),
                None,
            )
            .unwrap();
        for (j, &i) in keep.iter().enumerate() {
            assert_eq!(out.total_mw[j], d.total[i], "event {i}");
            assert_eq!(out.reason[j], d.reason[i], "event {i}");
            assert_eq!(out.stored_mwh[j], d.stored[i], "event {i}");
        }
        // Unit state is readable from the pipeline and matches the agents.
        let units = batch.agents().unwrap().fleet().units();
        let stored: f64 = units.iter().map(|u| u.stored_mwh()).sum();
        assert!((stored - d.stored[*keep.last().unwrap()]).abs() < 1e-12);
    }

    #[test]
    fn missing_library_is_a_model_error() {
        let err = Pipeline::new(
            spec(&["load_mw"]),
            std::path::Path::new("/nonexistent/lib.so"),
            "load_mw",
        )
        .unwrap_err();
        assert!(matches!(err, CoreError::Model(_)), "{err}");
    }
}
