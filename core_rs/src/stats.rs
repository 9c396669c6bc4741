//! Rolling statistics over the last `w` events, O(1) amortised per event.
//!
//! Every quantity is kept for all channels of a site side by side, `L` lanes
//! wide (one lane per channel, structure-of-arrays), so one pass of plain
//! array arithmetic updates every channel and compiles to vector code.
//!
//! A window outputs NaN while it holds a missing value (pandas
//! `rolling(w, min_periods=w)`), so the state only has to be right for
//! complete windows: a per-lane count of consecutive valid values says which
//! windows are complete, and the sums may go NaN meanwhile; they are rebuilt
//! from the ring the moment a window becomes complete again.
//!
//! Mean and variance use sums of deviations from a shift value that is itself
//! a recent sample. Subtracting two nearby floats is exact (Sterbenz), so a
//! large offset such as 1e9 MW costs no precision, and the sums are rebuilt
//! from the window every `w` events (amortised O(1)) so rounding never
//! accumulates over an unbounded stream; they are rebuilt early when the
//! shift drifts or a spike leaves the window.
//!
//! Min and max use van Herk/Gil-Werman blocks: the stream is cut into blocks
//! of `w` events; a window ending in one block is the tail of the previous
//! block (a suffix extreme, computed once per block from the ring) joined
//! with the head of the current one (a running extreme). That is O(1)
//! amortised, branch-free and the same instructions for every channel.
//! Extremes never round; ties resolve to the newest value.

use serde::{Deserialize, Serialize};

use crate::ring::LaneRing;
use crate::spec::Stat;

/// Rebuild the sums early when the shift has drifted this far from the
/// window mean relative to its spread (squared ratio), or when the sum of
/// squares has fallen this far below its peak since the last rebuild (a
/// spike left the window): beyond it the subtractions would cancel too many
/// of the 16 digits to keep 1e-9 relative precision.
const MAX_CANCELLATION: f64 = 1e4;

/// Marks a statistic the spec does not ask for.
const NONE: usize = usize::MAX;

/// Which statistics a channel keeps.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct StatFlags {
    pub moments: bool,
    pub min: bool,
    pub max: bool,
}

/// Where one window's state and outputs live, resolved once from the spec.
#[derive(Debug, Clone)]
struct WindowPlan {
    w: usize,
    inv_w: f64,
    inv_w_minus_1: f64,
    /// First row of the moment state (shift, s1, s2, peak), or NONE.
    moments: usize,
    /// Row of the running block minimum, followed by the `w` suffix minima.
    min: usize,
    /// Likewise for the maximum.
    max: usize,
    /// Output slot of each statistic, or NONE.
    out_mean: usize,
    out_std: usize,
    out_min: usize,
    out_max: usize,
}

/// The statistics of a spec: what each window keeps and where its outputs
/// go in a channel's feature row.
#[derive(Debug, Clone)]
pub struct StatsPlan {
    windows: Vec<WindowPlan>,
    state_rows: usize,
}

impl StatsPlan {
    /// `first_slot` is the position of the first window statistic in a
    /// channel's features; statistics follow window-major in `stats` order.
    pub fn new(windows: &[usize], stats: &[Stat], first_slot: usize) -> Self {
        let slot = |i: usize, s: Stat| {
            stats
                .iter()
                .position(|&t| t == s)
                .map_or(NONE, |j| first_slot + i * stats.len() + j)
        };
        let wants = |s: Stat| stats.contains(&s);
        let mut rows = 0;
        let mut take = |n: usize| {
            rows += n;
            rows - n
        };
        let windows = windows
            .iter()
            .enumerate()
            .map(|(i, &w)| WindowPlan {
                w,
                inv_w: 1.0 / w as f64,
                inv_w_minus_1: 1.0 / (w as f64 - 1.0),
                moments: if wants(Stat::Mean) || wants(Stat::Std) {
                    take(4)
                } else {
                    NONE
                },
                min: if wants(Stat::Min) { take(1 + w) } else { NONE },
                max: if wants(Stat::Max) { take(1 + w) } else { NONE },
                out_mean: slot(i, Stat::Mean),
                out_std: slot(i, Stat::Std),
                out_min: slot(i, Stat::Min),
                out_max: slot(i, Stat::Max),
            })
            .collect();
        StatsPlan {
            windows,
            state_rows: rows,
        }
    }
}

/// Rolling-statistics state of every channel of one site.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SiteStats {
    /// Consecutive valid values up to the newest event, per lane. A float so
    /// the completeness test is a vector compare; it saturates at 2^53,
    /// far above any window.
    run: Vec<f64>,
    /// Offset of the newest event in its block of `w`, per window.
    phase: Vec<usize>,
    /// The rows laid out by the plan, `lanes` values each.
    state: Vec<f64>,
}

impl SiteStats {
    pub fn new(plan: &StatsPlan, lanes: usize) -> Self {
        let mut state = vec![0.0; plan.state_rows * lanes];
        for p in &plan.windows {
            if p.moments != NONE {
                // A NaN shift keeps the sums NaN until the first rebuild.
                state[p.moments * lanes..(p.moments + 1) * lanes].fill(f64::NAN);
            }
        }
        SiteStats {
            run: vec![0.0; lanes],
            // The first event starts a block.
            phase: plan.windows.iter().map(|p| p.w - 1).collect(),
            state,
        }
    }

    /// Whether the sizes agree with `plan` (a deserialized state may not).
    pub fn is_consistent(&self, plan: &StatsPlan, lanes: usize) -> bool {
        self.run.len() == lanes
            && self.state.len() == plan.state_rows * lanes
            && self.phase.len() == plan.windows.len()
            && self.phase.iter().zip(&plan.windows).all(|(&o, p)| o < p.w)
    }

    /// Account for the row `ring.row(0)` just pushed, and write each
    /// window's statistics into `out[slot]` (NaN where incomplete).
    ///
    /// `ring` must hold `max(windows) + 1` rows so the row leaving each
    /// window is still readable.
    #[inline(always)]
    pub fn update<const L: usize>(
        &mut self,
        plan: &StatsPlan,
        ring: &LaneRing,
        out: &mut [[f64; L]],
    ) {
        let x: [f64; L] = *ring.row::<L>(0);
        let run: &mut [f64; L] = (&mut self.run[..]).try_into().expect("L lanes");
        for c in 0..L {
            // NaN is the only missing marker here; a product rather than a
            // branch keeps the lanes in one vector.
            run[c] = (run[c] + 1.0) * f64::from(u8::from(!x[c].is_nan()));
        }
        let run = *run;
        let (rows, _) = self.state.as_chunks_mut::<L>();
        for (p, phase) in plan.windows.iter().zip(self.phase.iter_mut()) {
            let w = p.w;
            let wf = w as f64;
            let off = if *phase + 1 == w { 0 } else { *phase + 1 };
            *phase = off;
            let block_end = off == w - 1;
            // `|` rather than `||`: no branch per lane.
            let just_complete = run.iter().fold(false, |a, &r| a | (r == wf));

            if p.min != NONE {
                let m = running_extreme(&mut rows[p.min..=p.min + w], off, &x, |a, b| a < b);
                if p.out_min != NONE {
                    out[p.out_min] = masked(&run, wf, &m);
                }
            }
            if p.max != NONE {
                let m = running_extreme(&mut rows[p.max..=p.max + w], off, &x, |a, b| a > b);
                if p.out_max != NONE {
                    out[p.out_max] = masked(&run, wf, &m);
                }
            }

            if p.moments != NONE {
                let r = p.moments;
                let old = ring.row::<L>(w);
                // Work on copies: the compiler cannot tell the ring and the
                // state apart, and in-place updates would stay scalar.
                let shift = rows[r];
                let mut s1 = rows[r + 1];
                let mut s2 = rows[r + 2];
                let mut peak = rows[r + 3];
                let mut drifted = false;
                for c in 0..L {
                    let d_old = old[c] - shift[c];
                    let d = x[c] - shift[c];
                    s1[c] = s1[c] - d_old + d;
                    s2[c] = s2[c] - d_old * d_old + d * d;
                    peak[c] = if peak[c] > s2[c] { peak[c] } else { s2[c] };
                    // n * m2 = n * s2 - s1^2, compared without a division;
                    // `|` rather than `||` keeps the lanes branch-free.
                    let s1_sq = s1[c] * s1[c];
                    drifted |= (peak[c] > MAX_CANCELLATION * s2[c])
                        | (s1_sq > MAX_CANCELLATION * (wf * s2[c] - s1_sq));
                }
                rows[r + 1] = s1;
                rows[r + 2] = s2;
                rows[r + 3] = peak;
                if block_end || just_complete || drifted {
                    // (w = 1 rebuilds every event: each event ends a block.)
                    rebuild_moments::<L>(&mut rows[r..r + 4], ring, w);
                }
                let shift = rows[r];
                let s1 = rows[r + 1];
                let s2 = rows[r + 2];
                // Reciprocals, not divisions: a division costs several
                // multiplications' time and the rounding differs by an ulp.
                if p.out_mean != NONE {
                    let mut mean = [0.0; L];
                    for c in 0..L {
                        mean[c] = shift[c] + s1[c] * p.inv_w;
                    }
                    out[p.out_mean] = masked(&run, wf, &mean);
                }
                if p.out_std != NONE {
                    let mut std = [f64::NAN; L];
                    if w >= 2 {
                        for c in 0..L {
                            let m2 = s2[c] - s1[c] * s1[c] * p.inv_w;
                            let m2 = if m2 > 0.0 { m2 } else { 0.0 };
                            std[c] = (m2 * p.inv_w_minus_1).sqrt();
                        }
                    }
                    out[p.out_std] = masked(&run, wf, &std);
                }
            }

            if block_end {
                if p.min != NONE {
                    suffix_extremes(&mut rows[p.min..=p.min + w], ring, |a, b| a < b);
                }
                if p.max != NONE {
                    suffix_extremes(&mut rows[p.max..=p.max + w], ring, |a, b| a > b);
                }
            }
        }
    }
}

#[inline(always)]
fn masked<const L: usize>(run: &[f64; L], w: f64, v: &[f64; L]) -> [f64; L] {
    let mut o = [0.0; L];
    for c in 0..L {
        // Complete: the last `w` values are all valid.
        o[c] = if run[c] >= w { v[c] } else { f64::NAN };
    }
    o
}

/// Fold `x` into the running extreme of the current block (`rows[0]`) and
/// return the extreme of the last `w` events: the running one joined with
/// the previous block's suffix from offset `off + 1` (`rows[1 + j]` holds
/// offset `j`). `better(a, b)` is the strict order; ties go to the newer
/// value.
#[inline(always)]
fn running_extreme<const L: usize>(
    rows: &mut [[f64; L]],
    off: usize,
    x: &[f64; L],
    better: impl Fn(f64, f64) -> bool,
) -> [f64; L] {
    let w = rows.len() - 1;
    let mut run = rows[0];
    if off == 0 {
        run = *x;
    } else {
        for c in 0..L {
            run[c] = if better(run[c], x[c]) { run[c] } else { x[c] };
        }
    }
    rows[0] = run;
    // At the last offset the window is exactly the current block.
    if off + 1 == w {
        return run;
    }
    let tail = &rows[off + 2];
    let mut m = [0.0; L];
    for c in 0..L {
        m[c] = if better(tail[c], run[c]) {
            tail[c]
        } else {
            run[c]
        };
    }
    m
}

/// Recompute the suffix extremes of the block that just ended (the last `w`
/// rows of the ring) into `rows[1..=w]`.
#[inline(always)]
fn suffix_extremes<const L: usize>(
    rows: &mut [[f64; L]],
    ring: &LaneRing,
    better: impl Fn(f64, f64) -> bool,
) {
    let (_, suffix) = rows.split_at_mut(1);
    let mut acc = [0.0; L];
    for (k, dst) in suffix.iter_mut().rev().enumerate() {
        let v = ring.row::<L>(k);
        if k == 0 {
            acc = *v;
        } else {
            for c in 0..L {
                // The older value wins only when strictly better.
                acc[c] = if better(v[c], acc[c]) { v[c] } else { acc[c] };
            }
        }
        *dst = acc;
    }
}

/// Rebuild the sums of the last `w` rows, anchored at the newest row.
#[inline(never)]
fn rebuild_moments<const L: usize>(m: &mut [[f64; L]], ring: &LaneRing, w: usize) {
    let shift = *ring.row::<L>(0);
    let mut s1 = [0.0; L];
    let mut s2 = [0.0; L];
    for k in (0..w).rev() {
        let v = ring.row::<L>(k);
        for c in 0..L {
            let d = v[c] - shift[c];
            s1[c] += d;
            s2[c] += d * d;
        }
    }
    m.copy_from_slice(&[shift, s1, s2, s2]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ALL: [Stat; 4] = [Stat::Mean, Stat::Std, Stat::Min, Stat::Max];

    fn naive(window: &[f64]) -> [f64; 4] {
        if window.iter().any(|v| v.is_nan()) {
            return [f64::NAN; 4];
        }
        let n = window.len() as f64;
        let mean = window.iter().sum::<f64>() / n;
        let var = window.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        let min = window.iter().cloned().fold(f64::INFINITY, f64::min);
        let max = window.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        [mean, var.sqrt(), min, max]
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a.is_nan() && b.is_nan()) || (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
    }

    /// Feeds two channels (lanes 0 and 1, the second `xs` reversed) and
    /// checks every statistic of every window after every event.
    fn run(windows: &[usize], xs: &[f64]) -> Result<(), TestCaseError> {
        let w_max = *windows.iter().max().unwrap();
        let plan = StatsPlan::new(windows, &ALL, 0);
        let mut ring = LaneRing::new(w_max + 1, 2);
        let mut st = SiteStats::new(&plan, 2);
        let mut out = vec![[0.0; 2]; windows.len() * 4];
        let ys: Vec<f64> = xs.iter().rev().copied().collect();
        for i in 0..xs.len() {
            ring.push(&[xs[i], ys[i]]);
            st.update::<2>(&plan, &ring, &mut out);
            for (lane, zs) in [xs, &ys[..]].into_iter().enumerate() {
                for (j, &w) in windows.iter().enumerate() {
                    let got: Vec<f64> = (0..4).map(|s| out[4 * j + s][lane]).collect();
                    if i + 1 < w {
                        prop_assert!(got.iter().all(|v| v.is_nan()));
                        continue;
                    }
                    let want = naive(&zs[i + 1 - w..=i]);
                    let std_want = if w < 2 { f64::NAN } else { want[1] };
                    prop_assert!(close(got[0], want[0], 1e-9), "mean {:?} vs {:?}", got, want);
                    prop_assert!(close(got[1], std_want, 1e-7), "std {:?} vs {:?}", got, want);
                    prop_assert!(close(got[2], want[2], 0.0), "min {:?} vs {:?}", got, want);
                    prop_assert!(close(got[3], want[3], 0.0), "max {:?} vs {:?}", got, want);
                }
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
    fn spike_leaving_and_constant_runs_stay_exact() {
        let mut xs = vec![1e12];
        xs.extend((0..30).map(|i| (i % 3) as f64));
        xs.extend([f64::NAN, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0]);
        run(&[1, 4, 7], &xs).unwrap();
    }

    #[test]
    fn constant_window_has_zero_std() {
        let plan = StatsPlan::new(&[4], &ALL, 0);
        let mut ring = LaneRing::new(5, 1);
        let mut st = SiteStats::new(&plan, 1);
        let mut out = vec![[0.0; 1]; 4];
        for _ in 0..30 {
            ring.push(&[0.1]);
            st.update::<1>(&plan, &ring, &mut out);
        }
        assert_eq!(out, vec![[0.1], [0.0], [0.1], [0.1]]);
    }

    #[test]
    fn only_requested_stats_are_written_in_spec_order() {
        let plan = StatsPlan::new(&[2, 3], &[Stat::Max, Stat::Mean], 1);
        let mut ring = LaneRing::new(4, 1);
        let mut st = SiteStats::new(&plan, 1);
        let mut out = vec![[-1.0; 1]; 5];
        for x in [1.0, 4.0, 2.0] {
            ring.push(&[x]);
            st.update::<1>(&plan, &ring, &mut out);
        }
        assert_eq!(out, vec![[-1.0], [4.0], [3.0], [4.0], [7.0 / 3.0]]);
    }

    #[test]
    fn std_stays_exact_over_a_long_stream_with_offset() {
        // A deterministic pseudo-random stream around 1e9: 10^6 steps here,
        // 10^7 in the Python test suite.
        let w = 48;
        let plan = StatsPlan::new(&[w], &ALL, 0);
        let mut ring = LaneRing::new(w + 1, 1);
        let mut st = SiteStats::new(&plan, 1);
        let mut out = vec![[0.0; 1]; 4];
        let mut state: u64 = 42;
        let mut window = std::collections::VecDeque::new();
        for _ in 0..1_000_000 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let x = 1e9 + (state >> 11) as f64 / (1u64 << 53) as f64;
            ring.push(&[x]);
            st.update::<1>(&plan, &ring, &mut out);
            window.push_back(x);
            if window.len() > w {
                window.pop_front();
            }
        }
        let want = naive(window.make_contiguous());
        assert!(
            (out[1][0] - want[1]).abs() <= 1e-9 * want[1],
            "{} vs {}",
            out[1][0],
            want[1]
        );
        assert!((out[0][0] - want[0]).abs() <= 1e-12 * want[0]);
    }
}
