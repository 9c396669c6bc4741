//! Raw events in, features and quantile forecasts out, in one loop.
//!
//! Each event goes through the feature engine, its feature row is converted
//! to the compiled model's `Entry` layout and predicted, and the predicted
//! change is added to the current value of the target signal, so forecasts
//! are levels. Buffers are owned by the pipeline: nothing is allocated per
//! event.
//!
//! Extension point for the agents: a `crate::agents::AgentSet` can be
//! attached with [`Pipeline::attach_agents`]; it then decides every applied
//! event right after its forecast (same loop, same site index space), and
//! the decision's total power is written to the optional dispatch output.

use crate::agents::AgentSet;
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
    /// order. Frequency and price are read from the spec's
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
    ) -> CoreResult<Option<f64>> {
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
        let at = |c: Option<usize>| c.map_or(f64::NAN, |c| values[c]);
        let d = ag.set.decide(
            ts_ns,
            site,
            at(ag.frequency_col),
            at(ag.price_col),
            &mut ag.unit_power_mw,
        )?;
        Ok(Some(d.total_mw))
    }

    /// One event: features into `feats` (`n_features`), forecasts into
    /// `preds` (`n_outputs`, ascending quantiles, levels of the target).
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
    ) -> CoreResult<Option<f64>> {
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
    /// n_features)`, `preds` `(n, n_outputs)`, `dispatch_mw` (when given)
    /// `(n,)` for the attached agents' total power (NaN without agents).
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
        mut dispatch_mw: Option<&mut [f64]>,
    ) -> CoreResult<()> {
        let n = ts_ns.len();
        let (k, f, t) = (self.engine.n_signals(), self.n_features(), self.n_outputs());
        if values.len() != n * k || sites.len() != n || feats.len() != n * f {
            return Err(CoreError::Shape(format!(
                "batch of {n} timestamps needs values ({n}, {k}), {n} sites and features ({n}, {f})"
            )));
        }
        self.check_preds(preds.len(), n)?;
        if dispatch_mw.as_ref().is_some_and(|d| d.len() != n) {
            return Err(CoreError::Shape(format!(
                "dispatch output must have {n} slots"
            )));
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
            let power = if skipped {
                out.fill(f64::NAN);
                None
            } else {
                self.finish(ts, site, vals, row, out)?
            };
            if let Some(d) = dispatch_mw.as_deref_mut() {
                d[i] = power.unwrap_or(f64::NAN);
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

    #[test]
    fn attached_agents_decide_in_the_same_loop() {
        use crate::agents::{AgentConfig, ArbitrageParams, BatteryParams, FrParams};
        let spec = spec(&["load_mw", "frequency_hz"]);
        let nf = spec.layout().n_features;
        let Some(lib) = fake_model(nf) else {
            eprintln!("no C compiler: skipped");
            return;
        };
        let mut p = Pipeline::new(spec, &lib, "net_load_mw").unwrap();
        let s = p.engine_mut().site_index("grid");
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
        p.attach_agents(AgentSet::new(vec![(BatteryParams::default(), 0)], 1, cfg).unwrap());
        let ts = [60_000_000_000, 120_000_000_000, 180_000_000_000];
        // Nominal, low (discharge), high (charge) frequency.
        let vals = [100.0, 50.0, 100.0, 49.5, 100.0, 50.5];
        let (mut f, mut q, mut d) = (vec![0.0; 3 * nf], vec![0.0; 6], vec![0.0; 3]);
        p.process(
            &ts,
            &vals,
            &[s; 3],
            OnOutOfOrder::Raise,
            &mut f,
            &mut q,
            Some(&mut d),
        )
        .unwrap();
        assert_eq!(d[0], 0.0);
        assert!(d[1] > 0.0 && d[2] < 0.0, "{d:?}");
        assert_eq!(p.agents().unwrap().counters().events, 3);
        assert!(p.detach_agents().is_some() && p.agents().is_none());
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
