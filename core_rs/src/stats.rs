//! Rolling statistics over a window of the last `w` events, O(1) per event.
//!
//! Mean and variance use sums of deviations from a shift value that is itself
//! a recent sample. Subtracting two nearby floats is exact (Sterbenz), so a
//! large offset such as 1e9 MW costs no precision, and the sums are rebuilt
//! from the window every `w` events (amortised O(1)) so rounding never
//! accumulates over an unbounded stream. Min and max use monotonic deques.

use serde::{Deserialize, Serialize};

use crate::ring::Ring;
use crate::spec::Stat;

/// Rebuild the sums early when the shift has drifted this far from the
/// window mean relative to its spread (squared ratio), or when the sum of
/// squares has fallen this far below its peak since the last rebuild (a
/// spike left the window): beyond it the subtractions would cancel too many
/// of the 16 digits to keep 1e-9 relative precision.
const MAX_CANCELLATION: f64 = 1e4;

/// Running moments of the valid values in a window, with removal.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RollingMoments {
    shift: f64,
    n: usize,
    s1: f64,
    s2: f64,
    s2_peak: f64,
}

impl Default for RollingMoments {
    fn default() -> Self {
        RollingMoments {
            shift: f64::NAN,
            n: 0,
            s1: 0.0,
            s2: 0.0,
            s2_peak: 0.0,
        }
    }
}

impl RollingMoments {
    #[inline]
    pub fn add(&mut self, x: f64) {
        if self.n == 0 {
            // An empty window re-anchors for free.
            *self = RollingMoments {
                shift: x,
                n: 1,
                s1: 0.0,
                s2: 0.0,
                s2_peak: 0.0,
            };
            return;
        }
        let d = x - self.shift;
        self.n += 1;
        self.s1 += d;
        self.s2 += d * d;
        self.s2_peak = self.s2_peak.max(self.s2);
    }

    #[inline]
    pub fn remove(&mut self, x: f64) {
        if self.n <= 1 {
            *self = RollingMoments::default();
            return;
        }
        let d = x - self.shift;
        self.n -= 1;
        self.s1 -= d;
        self.s2 -= d * d;
    }

    /// Rebuild from the given valid values, anchored at the newest one.
    pub fn rebuild(&mut self, values: impl Iterator<Item = f64>, newest: f64) {
        *self = RollingMoments {
            shift: newest,
            n: 0,
            s1: 0.0,
            s2: 0.0,
            s2_peak: 0.0,
        };
        for x in values {
            let d = x - newest;
            self.n += 1;
            self.s1 += d;
            self.s2 += d * d;
        }
        self.s2_peak = self.s2;
    }

    pub fn count(&self) -> usize {
        self.n
    }

    pub fn mean(&self) -> f64 {
        if self.n == 0 {
            return f64::NAN;
        }
        self.shift + self.s1 / self.n as f64
    }

    /// Sum of squared deviations from the mean.
    fn m2(&self) -> f64 {
        (self.s2 - self.s1 * self.s1 / self.n as f64).max(0.0)
    }

    /// Sample variance (ddof = 1); NaN with fewer than two values.
    pub fn var(&self) -> f64 {
        if self.n < 2 {
            return f64::NAN;
        }
        self.m2() / (self.n - 1) as f64
    }

    /// Whether cancellation would make `var` imprecise.
    fn drifted(&self) -> bool {
        // n * m2 = n * s2 - s1^2, compared without a division.
        let s1_sq = self.s1 * self.s1;
        self.s2_peak > MAX_CANCELLATION * self.s2
            || (self.n >= 2 && s1_sq > MAX_CANCELLATION * (self.n as f64 * self.s2 - s1_sq))
    }
}

/// Monotonic deque over the last `w_max` pushes, skipping missing values.
///
/// One deque answers every window `w <= w_max` of a channel: its entries are
/// ordered by sequence number with monotone values, so the extreme of the
/// last `w` pushes is the first entry still inside that window. Storage is a
/// fixed power-of-two ring (at most `w_max` entries are ever live).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MonoDeque {
    seqs: Vec<u64>,
    vals: Vec<f64>,
    mask: usize,
    head: usize,
    len: usize,
    w_max: u64,
    is_max: bool,
}

impl MonoDeque {
    pub fn new(w_max: usize, is_max: bool) -> Self {
        let size = (w_max + 1).next_power_of_two();
        MonoDeque {
            seqs: vec![0; size],
            vals: vec![0.0; size],
            mask: size - 1,
            head: 0,
            len: 0,
            w_max: w_max as u64,
            is_max,
        }
    }

    /// Add value `x` (at sequence number `seq`) and expire old entries.
    #[inline]
    pub fn push(&mut self, seq: u64, x: Option<f64>) {
        if let Some(x) = x {
            while self.len > 0 {
                let back = self.vals[(self.head + self.len - 1) & self.mask];
                let dominated = if self.is_max { back <= x } else { back >= x };
                if !dominated {
                    break;
                }
                self.len -= 1;
            }
            let at = (self.head + self.len) & self.mask;
            self.seqs[at] = seq;
            self.vals[at] = x;
            self.len += 1;
        }
        while self.len > 0 && self.seqs[self.head] + self.w_max <= seq {
            self.head = (self.head + 1) & self.mask;
            self.len -= 1;
        }
    }

    /// Extreme of the values pushed at sequence numbers `(seq - w, seq]`.
    #[inline]
    pub fn value(&self, seq: u64, w: usize) -> f64 {
        for i in 0..self.len {
            let at = (self.head + i) & self.mask;
            if self.seqs[at] + w as u64 > seq {
                return self.vals[at];
            }
        }
        f64::NAN
    }
}

/// Which statistics a channel keeps.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct StatFlags {
    pub moments: bool,
    pub min: bool,
    pub max: bool,
}

/// Rolling statistics of one signal at one site over several windows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChannelStats {
    windows: Vec<usize>,
    seq: u64,
    /// Sequence number of the newest missing value: a window is complete
    /// only once it has moved past it.
    last_missing: Option<u64>,
    moments: Vec<RollingMoments>,
    since_rebuild: Vec<usize>,
    min: Option<MonoDeque>,
    max: Option<MonoDeque>,
}

impl ChannelStats {
    pub fn new(windows: &[usize], flags: StatFlags) -> Self {
        let w_max = windows.iter().copied().max().unwrap_or(1);
        let n_moments = if flags.moments { windows.len() } else { 0 };
        ChannelStats {
            windows: windows.to_vec(),
            seq: 0,
            last_missing: None,
            moments: vec![RollingMoments::default(); n_moments],
            since_rebuild: vec![0; n_moments],
            min: flags.min.then(|| MonoDeque::new(w_max, false)),
            max: flags.max.then(|| MonoDeque::new(w_max, true)),
        }
    }

    /// Account for the value just pushed onto `ring` (already holding it).
    ///
    /// `ring` must hold at least `max(windows) + 1` values so that the value
    /// leaving each window is still readable.
    #[inline]
    pub fn update(&mut self, ring: &Ring) {
        self.seq += 1;
        let x = ring.get(0).unwrap_or(f64::NAN);
        let valid = (!x.is_nan()).then_some(x);
        if valid.is_none() {
            self.last_missing = Some(self.seq);
        }
        for (i, m) in self.moments.iter_mut().enumerate() {
            let w = self.windows[i];
            if let Some(old) = ring.get(w).filter(|v| !v.is_nan()) {
                m.remove(old);
            }
            if let Some(x) = valid {
                m.add(x);
            }
            self.since_rebuild[i] += 1;
            if self.since_rebuild[i] >= w || m.drifted() {
                self.since_rebuild[i] = 0;
                match ring.last(w).filter(|v| !v.is_nan()).last() {
                    Some(newest) => m.rebuild(ring.last(w).filter(|v| !v.is_nan()), newest),
                    None => *m = RollingMoments::default(),
                }
            }
        }
        if let Some(q) = self.min.as_mut() {
            q.push(self.seq, valid);
        }
        if let Some(q) = self.max.as_mut() {
            q.push(self.seq, valid);
        }
    }

    /// Write the statistics `stats` of every window, window-major, into
    /// `out` (NaN for incomplete windows); returns the number written.
    #[inline]
    pub fn write(&self, stats: &[Stat], out: &mut [f64]) -> usize {
        let mut o = 0;
        for (i, &w) in self.windows.iter().enumerate() {
            let complete =
                self.seq >= w as u64 && self.last_missing.is_none_or(|m| m + w as u64 <= self.seq);
            for s in stats {
                out[o] = if !complete {
                    f64::NAN
                } else {
                    match s {
                        Stat::Mean => self.moments[i].mean(),
                        Stat::Std => self.moments[i].var().sqrt(),
                        Stat::Min => self.min.as_ref().map_or(f64::NAN, |q| q.value(self.seq, w)),
                        Stat::Max => self.max.as_ref().map_or(f64::NAN, |q| q.value(self.seq, w)),
                    }
                };
                o += 1;
            }
        }
        o
    }

    /// True when window `i` is full and holds no missing value.
    #[inline]
    pub fn complete(&self, i: usize) -> bool {
        let w = self.windows[i] as u64;
        self.seq >= w && self.last_missing.is_none_or(|m| m + w <= self.seq)
    }

    #[inline]
    pub fn mean(&self, i: usize) -> f64 {
        match self.moments.get(i) {
            Some(m) if self.complete(i) => m.mean(),
            _ => f64::NAN,
        }
    }

    #[inline]
    pub fn std(&self, i: usize) -> f64 {
        match self.moments.get(i) {
            Some(m) if self.complete(i) => m.var().sqrt(),
            _ => f64::NAN,
        }
    }

    #[inline]
    pub fn min(&self, i: usize) -> f64 {
        match &self.min {
            Some(q) if self.complete(i) => q.value(self.seq, self.windows[i]),
            _ => f64::NAN,
        }
    }

    #[inline]
    pub fn max(&self, i: usize) -> f64 {
        match &self.max {
            Some(q) if self.complete(i) => q.value(self.seq, self.windows[i]),
            _ => f64::NAN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ALL: StatFlags = StatFlags {
        moments: true,
        min: true,
        max: true,
    };

    fn naive(window: &[f64]) -> (f64, f64, f64, f64) {
        if window.iter().any(|v| v.is_nan()) {
            return (f64::NAN, f64::NAN, f64::NAN, f64::NAN);
        }
        let n = window.len() as f64;
        let mean = window.iter().sum::<f64>() / n;
        let var = window.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        let min = window.iter().cloned().fold(f64::INFINITY, f64::min);
        let max = window.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        (mean, var.sqrt(), min, max)
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a.is_nan() && b.is_nan()) || (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
    }

    fn run(windows: &[usize], xs: &[f64]) -> Result<(), TestCaseError> {
        let w_max = *windows.iter().max().unwrap();
        let mut ring = Ring::new(w_max + 1);
        let mut st = ChannelStats::new(windows, ALL);
        for (i, &x) in xs.iter().enumerate() {
            ring.push(x);
            st.update(&ring);
            for (j, &w) in windows.iter().enumerate() {
                if i + 1 < w {
                    prop_assert!(st.mean(j).is_nan() && st.max(j).is_nan());
                    continue;
                }
                let (mean, std, min, max) = naive(&xs[i + 1 - w..=i]);
                prop_assert!(
                    close(st.mean(j), mean, 1e-9),
                    "mean {} vs {}",
                    st.mean(j),
                    mean
                );
                prop_assert!(close(st.std(j), std, 1e-7), "std {} vs {}", st.std(j), std);
                prop_assert!(close(st.min(j), min, 0.0));
                prop_assert!(close(st.max(j), max, 0.0));
            }
        }
        Ok(())
    }

    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            8 => -1e3f64..1e3,
            1 => Just(f64::NAN),
            1 => Just(7.0),
            1 => 1e9f64..1e9 + 10.0,
        ]
    }

    proptest! {
        #[test]
        fn window_stats_match_naive(
            windows in prop::collection::btree_set(1usize..12, 1..4),
            xs in prop::collection::vec(value(), 0..200),
        ) {
            run(&windows.into_iter().collect::<Vec<_>>(), &xs)?;
        }
    }

    #[test]
    fn constant_window_has_zero_std() {
        let xs = vec![0.1; 30];
        let mut ring = Ring::new(5);
        let mut st = ChannelStats::new(&[4], ALL);
        for &x in &xs {
            ring.push(x);
            st.update(&ring);
        }
        assert_eq!(st.std(0), 0.0);
        assert_eq!(st.mean(0), 0.1);
    }

    #[test]
    fn std_stays_exact_over_a_long_stream_with_offset() {
        // A deterministic pseudo-random stream around 1e9: 10^6 steps here,
        // 10^7 in the Python test suite.
        let w = 48;
        let mut ring = Ring::new(w + 1);
        let mut st = ChannelStats::new(&[w], ALL);
        let mut state: u64 = 42;
        for _ in 0..1_000_000 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = (state >> 11) as f64 / (1u64 << 53) as f64;
            ring.push(1e9 + u);
            st.update(&ring);
        }
        let window: Vec<f64> = ring.last(w).collect();
        let (mean, std, _, _) = naive(&window);
        assert!(
            (st.std(0) - std).abs() <= 1e-9 * std,
            "{} vs {}",
            st.std(0),
            std
        );
        assert!((st.mean(0) - mean).abs() <= 1e-12 * mean);
    }
}
