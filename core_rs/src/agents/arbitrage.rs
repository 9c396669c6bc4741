//! Arbitrage: a dynamic program over discretised stored energy that plans a
//! charge/discharge schedule against a price forecast, and the parameters of
//! the rolling-horizon trader that re-plans every step and tracks the plan.
//!
//! The plan only ever uses the power and energy left after the
//! frequency-response reserve (the caller passes the reduced limits), and its
//! value is net of both efficiencies and of the degradation cost.

use serde::{Deserialize, Serialize};

use crate::{CoreError, CoreResult};

/// Parameters of the forecast-driven trader.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArbitrageParams {
    /// Trade at all (false: only restore SoC into the band).
    pub enabled: bool,
    /// Length of one plan step, s; also the re-planning interval.
    pub plan_step_s: f64,
    /// Plan horizon in steps (48 one-hour steps by default).
    pub horizon_steps: usize,
    /// Number of stored-energy levels in the dynamic program.
    pub soc_levels: usize,
    /// Days of history the built-in time-of-day profile forecaster averages.
    pub profile_days: usize,
    /// Completed steps of history needed before the built-in forecaster plans.
    pub min_history_steps: usize,
    /// Time constant with which SoC errors against the plan (or the band) are
    /// corrected, s.
    pub tracking_tau_s: f64,
    /// Time constant, h, with which the current step's deviation from the
    /// profile fades out of the built-in forecast (0: profile only).
    pub deviation_tau_h: f64,
}

impl Default for ArbitrageParams {
    fn default() -> Self {
        Self {
            enabled: true,
            plan_step_s: 3600.0,
            horizon_steps: 48,
            soc_levels: 51,
            profile_days: 14,
            min_history_steps: 24,
            tracking_tau_s: 900.0,
            deviation_tau_h: 12.0,
        }
    }
}

impl ArbitrageParams {
    /// Check the parameters.
    ///
    /// # Errors
    /// `CoreError::InvalidParameter` naming the parameter.
    pub fn validate(&self) -> CoreResult<()> {
        let bad = |n: &str, m: String| Err(CoreError::InvalidParameter(format!("{n}: {m}")));
        if !(self.plan_step_s.is_finite() && self.plan_step_s >= 1.0) {
            return bad(
                "plan_step_s",
                format!("must be at least 1 s, got {}", self.plan_step_s),
            );
        }
        if (86_400.0 % self.plan_step_s) != 0.0 {
            return bad(
                "plan_step_s",
                format!("must divide a day (86400 s), got {}", self.plan_step_s),
            );
        }
        if !(1..=10_000).contains(&self.horizon_steps) {
            return bad(
                "horizon_steps",
                format!("must be in 1..=10000, got {}", self.horizon_steps),
            );
        }
        if !(2..=2_001).contains(&self.soc_levels) {
            return bad(
                "soc_levels",
                format!("must be in 2..=2001, got {}", self.soc_levels),
            );
        }
        if !(1..=366).contains(&self.profile_days) {
            return bad(
                "profile_days",
                format!("must be in 1..=366, got {}", self.profile_days),
            );
        }
        if !(self.tracking_tau_s.is_finite() && self.tracking_tau_s > 0.0) {
            return bad(
                "tracking_tau_s",
                format!("must be positive, got {}", self.tracking_tau_s),
            );
        }
        if !(self.deviation_tau_h.is_finite() && self.deviation_tau_h >= 0.0) {
            return bad(
                "deviation_tau_h",
                format!(
                    "must be finite and not negative, got {}",
                    self.deviation_tau_h
                ),
            );
        }
        Ok(())
    }
}

/// The battery as the planner sees it: the limits left for trading.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanLimits {
    /// Lowest stored energy the plan may reach, MWh.
    pub lo_mwh: f64,
    /// Highest stored energy the plan may reach, MWh.
    pub hi_mwh: f64,
    /// Charge power available to trading, MW.
    pub charge_mw: f64,
    /// Discharge power available to trading, MW.
    pub discharge_mw: f64,
    /// Grid-to-store efficiency.
    pub charge_efficiency: f64,
    /// Store-to-grid efficiency.
    pub discharge_efficiency: f64,
    /// Degradation cost per MWh of grid-side throughput.
    pub degradation_cost_per_mwh: f64,
}

impl PlanLimits {
    /// Value of moving the store by `delta_mwh` in one step at `price`:
    /// revenue minus cost minus degradation, all at the grid connection.
    #[inline]
    pub fn step_value(&self, delta_mwh: f64, price: f64) -> f64 {
        if delta_mwh > 0.0 {
            let grid = delta_mwh / self.charge_efficiency;
            -(price + self.degradation_cost_per_mwh) * grid
        } else if delta_mwh < 0.0 {
            let grid = -delta_mwh * self.discharge_efficiency;
            (price - self.degradation_cost_per_mwh) * grid
        } else {
            0.0
        }
    }

    /// Grid power (positive = discharge) that moves the store by `delta_mwh`
    /// in `dt_h` hours.
    #[inline]
    pub fn power_for(&self, delta_mwh: f64, dt_h: f64) -> f64 {
        if dt_h <= 0.0 {
            0.0
        } else if delta_mwh > 0.0 {
            -delta_mwh / self.charge_efficiency / dt_h
        } else {
            -delta_mwh * self.discharge_efficiency / dt_h
        }
    }
}

/// Reusable buffers of the dynamic program (no allocation per plan once the
/// sizes are reached).
#[derive(Clone, Debug, Default)]
pub struct Planner {
    value: Vec<f64>,
    next: Vec<f64>,
    choice: Vec<u16>,
    /// Value of each move (level difference −kd..=kc) at the current step.
    moves: Vec<f64>,
}

impl Planner {
    /// Plan the stored-energy path over `prices` (one per step of `step_h`
    /// hours) from `e0_mwh`, writing `prices.len() + 1` energies into
    /// `energy_out` and returning the plan's value. Terminal energy has no
    /// value (a rolling horizon re-plans long before the end matters).
    pub fn plan(
        &mut self,
        prices: &[f64],
        step_h: f64,
        e0_mwh: f64,
        lim: &PlanLimits,
        levels: usize,
        energy_out: &mut Vec<f64>,
    ) -> f64 {
        let h = prices.len();
        let levels = levels.max(2);
        energy_out.clear();
        let span = (lim.hi_mwh - lim.lo_mwh).max(0.0);
        if h == 0 || span <= 0.0 {
            energy_out.resize(h + 1, e0_mwh);
            return 0.0;
        }
        let delta = span / (levels - 1) as f64;
        // A hair of slack so that a limit that is an exact multiple of the
        // level spacing is not lost to rounding.
        let kc = ((lim.charge_mw * step_h * lim.charge_efficiency) / delta + 1e-9).floor() as usize;
        let kd = ((lim.discharge_mw * step_h / lim.discharge_efficiency) / delta + 1e-9).floor()
            as usize;
        self.value.clear();
        self.value.resize(levels, 0.0);
        self.next.clear();
        self.next.resize(levels, 0.0);
        self.choice.clear();
        self.choice.resize(h * levels, 0);
        for t in (0..h).rev() {
            // A move's value depends only on the level difference and the
            // price: compute each once per step, not once per level pair.
            self.moves.clear();
            self.moves.extend(
                (0..=kc + kd).map(|m| lim.step_value((m as f64 - kd as f64) * delta, prices[t])),
            );
            for i in 0..levels {
                // Staying put first: ties keep the battery idle.
                let mut best = self.value[i];
                let mut arg = i;
                let j_lo = i.saturating_sub(kd);
                let j_hi = (i + kc).min(levels - 1);
                for j in j_lo..=j_hi {
                    let v = self.moves[j + kd - i] + self.value[j];
                    if v > best {
                        best = v;
                        arg = j;
                    }
                }
                self.next[i] = best;
                self.choice[t * levels + i] = arg as u16;
            }
            std::mem::swap(&mut self.value, &mut self.next);
        }
        let pos = ((e0_mwh - lim.lo_mwh) / delta)
            .round()
            .clamp(0.0, (levels - 1) as f64) as usize;
        let total = self.value[pos];
        let mut i = pos;
        energy_out.push(lim.lo_mwh + i as f64 * delta);
        for t in 0..h {
            i = self.choice[t * levels + i] as usize;
            energy_out.push(lim.lo_mwh + i as f64 * delta);
        }
        total
    }
}

/// Built-in price forecaster: the mean of the same time-of-day step over the
/// last `days` days (a seasonal-naive profile that smooths day-to-day noise),
/// plus the current step's deviation from that profile fading out with time
/// constant `deviation_tau_h` (prices stray from their profile for hours:
/// wind, cloud and temperature are persistent).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PriceProfile {
    step_ns: i64,
    steps_per_day: i64,
    days: usize,
    ring: Vec<f64>,
    ring_step: Vec<i64>,
    cur_step: i64,
    cur_sum: f64,
    cur_n: u32,
    completed: usize,
    deviation_tau_steps: f64,
}

impl PriceProfile {
    /// A profile over steps of `step_s` seconds keeping `days` days (plus the
    /// horizon) of history.
    pub fn new(step_s: f64, days: usize, horizon_steps: usize, deviation_tau_h: f64) -> Self {
        let step_ns = (step_s * 1e9).round() as i64;
        let steps_per_day = (86_400.0 / step_s).round() as i64;
        let extra_days = horizon_steps.div_ceil(steps_per_day as usize) + 1;
        let cap = (days + extra_days) * steps_per_day as usize;
        Self {
            step_ns,
            steps_per_day,
            days,
            ring: vec![f64::NAN; cap],
            ring_step: vec![i64::MIN; cap],
            cur_step: i64::MIN,
            cur_sum: 0.0,
            cur_n: 0,
            completed: 0,
            deviation_tau_steps: deviation_tau_h * 3600.0 / step_s,
        }
    }

    /// The step number of a timestamp.
    #[inline]
    pub fn step_of(&self, ts_ns: i64) -> i64 {
        ts_ns.div_euclid(self.step_ns)
    }

    /// Step length in ns.
    pub fn step_ns(&self) -> i64 {
        self.step_ns
    }

    /// Number of completed steps seen.
    pub fn completed(&self) -> usize {
        self.completed
    }

    fn close_step(&mut self) {
        if self.cur_n > 0 {
            let slot = self.cur_step.rem_euclid(self.ring.len() as i64) as usize;
            self.ring[slot] = self.cur_sum / f64::from(self.cur_n);
            self.ring_step[slot] = self.cur_step;
            self.completed += 1;
        }
        self.cur_sum = 0.0;
        self.cur_n = 0;
    }

    /// Add an observed (finite) price.
    #[inline]
    pub fn update(&mut self, ts_ns: i64, price: f64) {
        let step = self.step_of(ts_ns);
        if step != self.cur_step {
            self.close_step();
            self.cur_step = step;
        }
        self.cur_sum += price;
        self.cur_n += 1;
    }

    fn value_at(&self, step: i64) -> Option<f64> {
        let slot = step.rem_euclid(self.ring.len() as i64) as usize;
        (self.ring_step[slot] == step).then_some(self.ring[slot])
    }

    /// Forecast the steps `now_step, now_step + 1, …` into `out`; entries
    /// with no history are NaN.
    pub fn forecast(&self, now_step: i64, out: &mut [f64]) {
        for (k, o) in out.iter_mut().enumerate() {
            let target = now_step + k as i64;
            let mut sum = 0.0;
            let mut n = 0usize;
            let mut back = target - self.steps_per_day;
            let oldest = now_step - self.ring.len() as i64;
            while n < self.days && back > oldest {
                if back < now_step {
                    if let Some(v) = self.value_at(back) {
                        sum += v;
                        n += 1;
                    }
                }
                back -= self.steps_per_day;
            }
            *o = if n > 0 { sum / n as f64 } else { f64::NAN };
        }
        let tau = self.deviation_tau_steps;
        if tau > 0.0 && self.cur_step == now_step && self.cur_n > 0 {
            if let Some(&first) = out.first() {
                if first.is_finite() {
                    let dev = self.cur_sum / f64::from(self.cur_n) - first;
                    for (k, o) in out.iter_mut().enumerate() {
                        *o += dev * (-(k as f64) / tau).exp();
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lim() -> PlanLimits {
        PlanLimits {
            lo_mwh: 0.0,
            hi_mwh: 2.0,
            charge_mw: 1.0,
            discharge_mw: 1.0,
            charge_efficiency: 1.0,
            discharge_efficiency: 1.0,
            degradation_cost_per_mwh: 0.0,
        }
    }

    #[test]
    fn buys_low_sells_high() {
        let mut p = Planner::default();
        let mut e = Vec::new();
        let v = p.plan(&[10.0, 10.0, 50.0, 50.0], 1.0, 0.0, &lim(), 21, &mut e);
        assert!((v - 80.0).abs() < 1e-9, "{v}");
        assert!((e[2] - 2.0).abs() < 1e-9 && e[4].abs() < 1e-9, "{e:?}");
    }

    #[test]
    fn losses_and_wear_stop_thin_spreads() {
        let mut l = lim();
        l.charge_efficiency = 0.9;
        l.discharge_efficiency = 0.9;
        l.degradation_cost_per_mwh = 5.0;
        let mut p = Planner::default();
        let mut e = Vec::new();
        // 50 / 0.81 + wear is more than 60 gets back.
        let v = p.plan(&[50.0, 60.0], 1.0, 1.0, &l, 41, &mut e);
        assert!(v > 0.0, "selling what is stored still pays: {v}");
        assert!(
            e[1] <= 1.0 + 1e-9,
            "must not buy at 50 to sell at 60: {e:?}"
        );
    }

    #[test]
    fn profile_averages_same_hour() {
        let mut pr = PriceProfile::new(3600.0, 3, 48, 0.0);
        let h = 3_600_000_000_000i64;
        for d in 0..4 {
            for hour in 0..24 {
                let ts = (d * 24 + hour) * h;
                pr.update(ts, (hour as f64) + 100.0 * d as f64);
            }
        }
        pr.update(96 * h, 0.0);
        let mut out = [0.0; 30];
        pr.forecast(96, &mut out);
        // Hour 0 of day 4 from days 1..3 → 0 + mean(100, 200, 300).
        assert!((out[0] - 200.0).abs() < 1e-9, "{out:?}");
        assert!((out[5] - 205.0).abs() < 1e-9);
        assert!((out[24] - 200.0).abs() < 1e-9);
        // With a deviation time constant the current step's 0 (vs 200
        // expected) pulls the next hours down, fading.
        let pr2 = PriceProfile {
            deviation_tau_steps: 2.0,
            ..pr.clone()
        };
        pr2.forecast(96, &mut out);
        assert!(out[0].abs() < 1e-9, "{out:?}");
        assert!((out[2] - (202.0 - 200.0 * (-1.0f64).exp())).abs() < 1e-9);
    }
}
