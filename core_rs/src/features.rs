//! The streaming feature engine: per-site state, one event at a time.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::calendar;
use crate::ring::Ring;
use crate::spec::{FeatureSpec, Layout};
use crate::stats::ChannelStats;
use crate::{CoreError, CoreResult};

/// Snapshot format version; bump when the serialized layout changes.
const SNAPSHOT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Channel {
    ring: Ring,
    stats: ChannelStats,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SiteState {
    last_ts_ns: Option<i64>,
    channels: Vec<Channel>,
    prev_net_load_mw: f64,
}

/// Event counts kept by the engine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Events applied to the state.
    pub events: u64,
    /// Events skipped because they were not later than their site's last one.
    pub out_of_order: u64,
}

/// How `process` treats an event that is not later than its site's last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnOutOfOrder {
    /// Fail the whole batch before changing any state.
    Raise,
    /// Leave the row NaN, count it and carry on.
    Skip,
}

/// Streaming features for many sites.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeatureEngine {
    version: u32,
    spec: FeatureSpec,
    layout: Layout,
    site_ids: Vec<String>,
    site_index: HashMap<String, usize>,
    sites: Vec<SiteState>,
    counters: Counters,
    /// Per-event channel values, reused so `push` never allocates.
    #[serde(skip)]
    scratch: Vec<f64>,
}

impl FeatureEngine {
    pub fn new(spec: FeatureSpec) -> Self {
        let layout = spec.layout();
        FeatureEngine {
            version: SNAPSHOT_VERSION,
            scratch: vec![0.0; layout.n_channels],
            spec,
            layout,
            site_ids: Vec::new(),
            site_index: HashMap::new(),
            sites: Vec::new(),
            counters: Counters::default(),
        }
    }

    pub fn spec(&self) -> &FeatureSpec {
        &self.spec
    }

    pub fn n_features(&self) -> usize {
        self.layout.n_features
    }

    pub fn n_signals(&self) -> usize {
        self.spec.signals.len()
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    pub fn site_ids(&self) -> &[String] {
        &self.site_ids
    }

    pub fn feature_names(&self) -> Vec<String> {
        self.spec.feature_names()
    }

    /// The index of `site`, creating its state on first sight.
    pub fn site_index(&mut self, site: &str) -> usize {
        if let Some(&i) = self.site_index.get(site) {
            return i;
        }
        let i = self.sites.len();
        self.site_ids.push(site.to_string());
        self.site_index.insert(site.to_string(), i);
        self.sites.push(self.new_site());
        i
    }

    fn new_site(&self) -> SiteState {
        let channel = Channel {
            ring: Ring::new(self.layout.max_history),
            stats: ChannelStats::new(&self.spec.windows, self.layout.flags),
        };
        SiteState {
            last_ts_ns: None,
            channels: vec![channel; self.layout.n_channels],
            prev_net_load_mw: f64::NAN,
        }
    }

    /// The last timestamp applied for a site index, if any.
    pub fn last_ts_ns(&self, site: usize) -> Option<i64> {
        self.sites.get(site).and_then(|s| s.last_ts_ns)
    }

    /// Apply one event and write its features into `out`.
    ///
    /// # Errors
    /// `Shape` if `values` or `out` have the wrong length or `site` is not an
    /// index from `site_index`; `OutOfOrder` if `ts_ns` is not later than the
    /// site's last event (the state is then unchanged).
    pub fn push(
        &mut self,
        ts_ns: i64,
        site: usize,
        values: &[f64],
        out: &mut [f64],
    ) -> CoreResult<()> {
        if values.len() != self.n_signals() {
            return Err(CoreError::Shape(format!(
                "expected {} values (signals {:?}), got {}",
                self.n_signals(),
                self.spec.signals,
                values.len()
            )));
        }
        if out.len() != self.layout.n_features {
            return Err(CoreError::Shape(format!(
                "output has {} slots for {} features",
                out.len(),
                self.layout.n_features
            )));
        }
        let Some(state) = self.sites.get(site) else {
            return Err(CoreError::Shape(format!("unknown site index {site}")));
        };
        if let Some(last) = state.last_ts_ns {
            if ts_ns <= last {
                return Err(CoreError::OutOfOrder {
                    site: self.site_ids[site].clone(),
                    ts_ns,
                    last_ts_ns: last,
                });
            }
        }
        self.apply(ts_ns, site, values, out);
        Ok(())
    }

    fn apply(&mut self, ts_ns: i64, site: usize, values: &[f64], out: &mut [f64]) {
        let layout = &self.layout;
        let spec = &self.spec;
        let ch = &mut self.scratch;
        ch.resize(layout.n_channels, 0.0);
        for (dst, &v) in ch.iter_mut().zip(values) {
            // NaN or ±inf in input both mean "missing".
            *dst = if v.is_finite() { v } else { f64::NAN };
        }
        // Renewables absent from the spec count as 0; present but missing
        // (NaN) makes net load and renewable share missing too.
        let at = |i: Option<usize>| i.map_or(0.0, |i| ch[i]);
        let renewables_mw = at(layout.solar) + at(layout.wind);
        let load_mw = layout.load.map(|l| ch[l]);
        // Left to right, as the definition reads: rounding then matches
        // `load - solar - wind` computed anywhere else.
        let net_load = load_mw.map(|l| l - at(layout.solar) - at(layout.wind));
        if let Some(net) = net_load {
            ch[layout.n_channels - 1] = net;
        }

        let state = &mut self.sites[site];
        let mut o = 0;
        for (c, chan) in state.channels.iter_mut().enumerate() {
            chan.ring.push(ch[c]);
            chan.stats.update(&chan.ring);
            for &k in &spec.lags {
                out[o] = chan.ring.get(k).unwrap_or(f64::NAN);
                o += 1;
            }
            o += chan.stats.write(&spec.stats, &mut out[o..]);
            if spec.diff {
                out[o] = ch[c] - chan.ring.get(1).unwrap_or(f64::NAN);
                o += 1;
            }
        }
        if spec.calendar {
            calendar::write(ts_ns, &mut out[o..o + calendar::NAMES.len()]);
            o += calendar::NAMES.len();
        }
        if let (true, Some(load), Some(net)) = (spec.interactions, load_mw, net_load) {
            if layout.renewable_share {
                out[o] = if load > 0.0 {
                    renewables_mw / load
                } else {
                    f64::NAN
                };
                o += 1;
            }
            out[o] = match state.last_ts_ns {
                Some(prev) => (net - state.prev_net_load_mw) / ((ts_ns - prev) as f64 / 3.6e12),
                None => f64::NAN,
            };
            state.prev_net_load_mw = net;
        }
        state.last_ts_ns = Some(ts_ns);
        self.counters.events += 1;
    }

    /// Apply a batch of events; `values` is row-major `(n, n_signals)` and
    /// `out` row-major `(n, n_features)`.
    ///
    /// # Errors
    /// `Shape` on inconsistent lengths; with `OnOutOfOrder::Raise`, the first
    /// out-of-order event fails the batch before any state changes.
    pub fn process(
        &mut self,
        ts_ns: &[i64],
        values: &[f64],
        sites: &[usize],
        on_out_of_order: OnOutOfOrder,
        out: &mut [f64],
    ) -> CoreResult<()> {
        let n = ts_ns.len();
        let k = self.n_signals();
        let f = self.layout.n_features;
        if values.len() != n * k || sites.len() != n || out.len() != n * f {
            return Err(CoreError::Shape(format!(
                "batch of {n} timestamps needs values of shape ({n}, {k}) and {n} sites; got \
                 {} values and {} sites",
                values.len(),
                sites.len()
            )));
        }
        if let Some(&bad) = sites.iter().find(|&&s| s >= self.sites.len()) {
            return Err(CoreError::Shape(format!("unknown site index {bad}")));
        }
        if on_out_of_order == OnOutOfOrder::Raise {
            self.check_order(ts_ns, sites)?;
        }
        for i in 0..n {
            let row = &mut out[i * f..(i + 1) * f];
            let site = sites[i];
            if self.sites[site]
                .last_ts_ns
                .is_some_and(|last| ts_ns[i] <= last)
            {
                row.fill(f64::NAN);
                self.counters.out_of_order += 1;
                continue;
            }
            self.apply(ts_ns[i], site, &values[i * k..(i + 1) * k], row);
        }
        Ok(())
    }

    fn check_order(&self, ts_ns: &[i64], sites: &[usize]) -> CoreResult<()> {
        let mut last: Vec<Option<i64>> = self.sites.iter().map(|s| s.last_ts_ns).collect();
        for (&ts, &site) in ts_ns.iter().zip(sites) {
            if let Some(prev) = last[site] {
                if ts <= prev {
                    return Err(CoreError::OutOfOrder {
                        site: self.site_ids[site].clone(),
                        ts_ns: ts,
                        last_ts_ns: prev,
                    });
                }
            }
            last[site] = Some(ts);
        }
        Ok(())
    }

    /// Serialize the whole engine (spec and every site's state).
    pub fn snapshot(&self) -> CoreResult<Vec<u8>> {
        bincode::serialize(self).map_err(|e| CoreError::Snapshot(e.to_string()))
    }

    /// Rebuild an engine from `snapshot` bytes.
    ///
    /// # Errors
    /// `Snapshot` if the bytes are not a snapshot of this version.
    pub fn restore(bytes: &[u8]) -> CoreResult<FeatureEngine> {
        let mut eng: FeatureEngine = bincode::deserialize(bytes)
            .map_err(|e| CoreError::Snapshot(format!("not a feature-engine snapshot: {e}")))?;
        if eng.version != SNAPSHOT_VERSION {
            return Err(CoreError::Snapshot(format!(
                "snapshot version {} but this build reads version {SNAPSHOT_VERSION}",
                eng.version
            )));
        }
        eng.scratch = vec![0.0; eng.layout.n_channels];
        Ok(eng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> FeatureEngine {
        let spec = FeatureSpec::new(
            vec!["load_mw".into(), "solar_mw".into()],
            vec![1, 3],
            vec![2, 4],
            &["mean".into(), "std".into(), "min".into(), "max".into()],
            true,
            true,
            true,
        )
        .unwrap();
        FeatureEngine::new(spec)
    }

    #[test]
    fn lags_and_net_load() {
        let mut eng = engine();
        let s = eng.site_index("a");
        let names = eng.feature_names();
        let mut out = vec![0.0; eng.n_features()];
        for i in 0..5 {
            let v = [10.0 + i as f64, 1.0];
            eng.push(i * 1_000_000_000, s, &v, &mut out).unwrap();
        }
        let get = |n: &str| out[names.iter().position(|x| x == n).unwrap()];
        assert_eq!(get("load_mw_lag1"), 13.0);
        assert_eq!(get("load_mw_lag3"), 11.0);
        assert_eq!(get("net_load_mw_lag1"), 12.0);
        assert_eq!(get("net_load_mw_max4"), 13.0);
        assert_eq!(get("renewable_share"), 1.0 / 14.0);
        assert!((get("net_load_ramp_mw_per_h") - 3600.0).abs() < 1e-9);
    }

    #[test]
    fn out_of_order_leaves_state_unchanged() {
        let mut eng = engine();
        let s = eng.site_index("a");
        let mut out = vec![0.0; eng.n_features()];
        eng.push(10, s, &[1.0, 0.0], &mut out).unwrap();
        let before = eng.snapshot().unwrap();
        let err = eng.push(10, s, &[2.0, 0.0], &mut out).unwrap_err();
        assert!(matches!(err, CoreError::OutOfOrder { .. }));
        assert_eq!(eng.snapshot().unwrap(), before);
        let err = eng.push(11, s, &[2.0], &mut out).unwrap_err();
        assert!(matches!(err, CoreError::Shape(_)));
    }

    #[test]
    fn batch_equals_loop_and_snapshot_continues() {
        let mut a = engine();
        let mut b = engine();
        let n = 50;
        let f = a.n_features();
        let ids: Vec<usize> = (0..n)
            .map(|i| if i % 3 == 0 { "x" } else { "y" })
            .map(|s| a.site_index(s))
            .collect();
        for s in ["x", "y"] {
            b.site_index(s);
        }
        let ts: Vec<i64> = (0..n as i64).map(|i| i * 60_000_000_000).collect();
        let vals: Vec<f64> = (0..2 * n)
            .map(|i| {
                if i % 17 == 0 {
                    f64::NAN
                } else {
                    (i * 7 % 13) as f64
                }
            })
            .collect();
        let mut batch = vec![0.0; n * f];
        a.process(&ts, &vals, &ids, OnOutOfOrder::Raise, &mut batch)
            .unwrap();
        let mut row = vec![0.0; f];
        for i in 0..n {
            if i == 25 {
                b = FeatureEngine::restore(&b.snapshot().unwrap()).unwrap();
            }
            b.push(ts[i], ids[i], &vals[2 * i..2 * i + 2], &mut row)
                .unwrap();
            for j in 0..f {
                let (x, y) = (batch[i * f + j], row[j]);
                assert!(
                    x == y || (x.is_nan() && y.is_nan()),
                    "row {i} col {j}: {x} vs {y}"
                );
            }
        }
    }
}
