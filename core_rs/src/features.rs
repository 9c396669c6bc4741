//! The streaming feature engine: per-site state, one event at a time.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::calendar;
use crate::lanes;
use crate::ring::LaneRing;
use crate::spec::{FeatureSpec, Layout};
use crate::stats::{SiteStats, StatsPlan};
use crate::{CoreError, CoreResult};

/// Snapshot format version; bump when the serialized layout changes.
const SNAPSHOT_VERSION: u32 = 2;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SiteState {
    last_ts_ns: Option<i64>,
    prev_net_load_mw: f64,
    /// One row per event, one lane per channel.
    ring: LaneRing,
    stats: SiteStats,
}

/// How an event's features are computed, resolved once from the spec.
#[derive(Debug, Clone, Default)]
struct Plan {
    /// Lanes per ring row: the channel count rounded up to a power of two,
    /// so each width gets its own fully vectorised copy of the loop.
    lanes: usize,
    stats: Option<StatsPlan>,
    /// Slot of `diff1` in a channel's features.
    diff_slot: Option<usize>,
    /// Whether this CPU runs the AVX2 build of the event loop. Both builds
    /// do the same IEEE operations in the same order (no FMA contraction), so
    /// results are bit-identical either way; AVX2 only packs 4 lanes where
    /// baseline x86-64 packs 2.
    avx2: bool,
}

impl Plan {
    fn new(spec: &FeatureSpec, layout: &Layout) -> Self {
        let lanes = layout.n_channels.next_power_of_two();
        let first_stat = spec.lags.len();
        let n_stats = spec.windows.len() * spec.stats.len();
        Plan {
            lanes,
            stats: Some(StatsPlan::new(&spec.windows, &spec.stats, first_stat)),
            diff_slot: spec.diff.then_some(first_stat + n_stats),
            avx2: has_avx2(),
        }
    }

    fn stats(&self) -> &StatsPlan {
        self.stats
            .as_ref()
            .expect("plan is built in new and restore")
    }
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
    /// Derived from the spec; rebuilt on restore.
    #[serde(skip)]
    plan: Plan,
    /// One event's features, lane-major (`per_channel` rows of `lanes`),
    /// reused so `push` never allocates.
    #[serde(skip)]
    scratch: Vec<f64>,
}

impl FeatureEngine {
    pub fn new(spec: FeatureSpec) -> Self {
        let layout = spec.layout();
        let plan = Plan::new(&spec, &layout);
        FeatureEngine {
            version: SNAPSHOT_VERSION,
            scratch: vec![0.0; layout.per_channel * plan.lanes],
            plan,
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
        SiteState {
            last_ts_ns: None,
            prev_net_load_mw: f64::NAN,
            ring: LaneRing::new(self.layout.max_history, self.plan.lanes),
            stats: SiteStats::new(self.plan.stats(), self.plan.lanes),
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
        #[cfg(target_arch = "x86_64")]
        if self.plan.avx2 {
            // SAFETY: `plan.avx2` is set only when the CPU reports AVX2.
            unsafe { self.apply_avx2(ts_ns, site, values, out) };
            return;
        }
        match self.plan.lanes {
            1 => self.apply_lanes::<1, false>(ts_ns, site, values, out),
            2 => self.apply_lanes::<2, false>(ts_ns, site, values, out),
            4 => self.apply_lanes::<4, false>(ts_ns, site, values, out),
            _ => self.apply_lanes::<8, false>(ts_ns, site, values, out),
        }
    }

    /// `apply`, compiled for AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn apply_avx2(&mut self, ts_ns: i64, site: usize, values: &[f64], out: &mut [f64]) {
        match self.plan.lanes {
            1 => self.apply_lanes::<1, true>(ts_ns, site, values, out),
            2 => self.apply_lanes::<2, true>(ts_ns, site, values, out),
            4 => self.apply_lanes::<4, true>(ts_ns, site, values, out),
            _ => self.apply_lanes::<8, true>(ts_ns, site, values, out),
        }
    }

    /// One event at one site, `L` lanes wide; `AVX2` only inside
    /// `apply_avx2`.
    #[inline(always)]
    fn apply_lanes<const L: usize, const AVX2: bool>(
        &mut self,
        ts_ns: i64,
        site: usize,
        values: &[f64],
        out: &mut [f64],
    ) {
        let layout = &self.layout;
        let spec = &self.spec;
        let n_ch = layout.n_channels;
        // Lanes past the channels hold 0 and are never written out.
        let mut x = [0.0; L];
        for (dst, &v) in x.iter_mut().zip(values) {
            // NaN or ±inf in input both mean "missing".
            *dst = if v.is_finite() { v } else { f64::NAN };
        }
        // Renewables absent from the spec count as 0; present but missing
        // (NaN) makes net load and renewable share missing too.
        let at = |i: Option<usize>| i.map_or(0.0, |i| x[i]);
        let renewables_mw = at(layout.solar) + at(layout.wind);
        let load_mw = layout.load.map(|l| x[l]);
        // Left to right, as the definition reads: rounding then matches
        // `load - solar - wind` computed anywhere else.
        let net_load = load_mw.map(|l| l - at(layout.solar) - at(layout.wind));
        if let Some(net) = net_load {
            x[n_ch - 1] = net;
        }

        let state = &mut self.sites[site];
        state.ring.push(&x);
        let (rows, _) = self.scratch.as_chunks_mut::<L>();
        for (dst, &k) in rows.iter_mut().zip(&spec.lags) {
            *dst = *state.ring.row::<L>(k);
        }
        state
            .stats
            .update::<L>(self.plan.stats(), &state.ring, rows);
        if let Some(slot) = self.plan.diff_slot {
            let prev = state.ring.row::<L>(1);
            let mut d = [0.0; L];
            for c in 0..L {
                d[c] = x[c] - prev[c];
            }
            rows[slot] = d;
        }
        let per = layout.per_channel;
        lanes::transpose::<L, AVX2>(rows, n_ch, &mut out[..n_ch * per]);
        let mut o = n_ch * per;
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

    /// Check that every event of a batch is later than its site's previous
    /// one (in the batch or in the state), without changing any state.
    ///
    /// # Errors
    /// `OutOfOrder` for the first event that is not.
    pub fn check_order(&self, ts_ns: &[i64], sites: &[usize]) -> CoreResult<()> {
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
        // The spec and every size are checked rather than trusted: the bytes
        // may come from anywhere, and the state must fit the plan exactly.
        let spec = &eng.spec;
        let stats: Vec<String> = spec.stats.iter().map(|s| s.name().to_string()).collect();
        let valid = FeatureSpec::new(
            spec.signals.clone(),
            spec.lags.clone(),
            spec.windows.clone(),
            &stats,
            spec.diff,
            spec.calendar,
            spec.interactions,
        )
        .map_err(|e| CoreError::Snapshot(format!("snapshot holds an invalid spec: {e}")))?;
        eng.layout = valid.layout();
        eng.plan = Plan::new(&valid, &eng.layout);
        let lanes = eng.plan.lanes;
        let consistent = eng.site_ids.len() == eng.sites.len()
            && eng.site_index.len() == eng.sites.len()
            && eng
                .site_index
                .iter()
                .all(|(id, &i)| eng.site_ids.get(i) == Some(id))
            && eng.sites.iter().all(|s| {
                s.ring.is_consistent(eng.layout.max_history, lanes)
                    && s.stats.is_consistent(eng.plan.stats(), lanes)
            });
        if !consistent {
            return Err(CoreError::Snapshot(
                "snapshot state does not match its spec".into(),
            ));
        }
        eng.scratch = vec![0.0; eng.layout.per_channel * lanes];
        Ok(eng)
    }
}

fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(test)]
mod tests;
