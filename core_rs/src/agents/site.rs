//! Per-site agent state: the site's share of the frequency-response contract,
//! the trading limits left after the reserve, the price profile and the
//! current plan, and the per-event decision that combines them.

use serde::{Deserialize, Serialize};

use super::arbitrage::{PlanLimits, Planner, PriceProfile};
use super::fleet::{Fleet, Headroom, Scope};
use super::freq_response::FrRecord;
use super::{AgentConfig, Counters, Decision, Reason};
use crate::{CoreError, CoreResult};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct SiteState {
    index: usize,
    /// Trading limits: the band that keeps the reserve and the power left.
    pub(crate) limits: PlanLimits,
    contracted_mw: f64,
    has_units: bool,
    last_ts_ns: Option<i64>,
    last_fr_mw: f64,
    last_arb_mw: f64,
    baseline_mw: f64,
    in_event: bool,
    profile: PriceProfile,
    plan_start_step: i64,
    plan_energy: Vec<f64>,
    has_plan: bool,
    next_plan_step: i64,
    forecast_buf: Vec<f64>,
    forecast_len: usize,
    pending_step: Option<i64>,
}

impl SiteState {
    pub(crate) fn new(
        fleet: &Fleet,
        site: usize,
        fleet_power_mw: f64,
        cfg: &AgentConfig,
    ) -> CoreResult<Self> {
        let members = fleet.members(Scope::Site(site));
        let units = fleet.units();
        let (mut pd, mut pc, mut lo, mut hi, mut e) = (0.0, 0.0, 0.0, 0.0, 0.0);
        let (mut eta_c, mut eta_d, mut deg) = (0.0, 0.0, 0.0);
        let (mut min_eta_c, mut min_eta_d) = (1.0f64, 1.0f64);
        for &i in members {
            let p = units[i].params();
            pd += p.max_discharge_mw;
            pc += p.max_charge_mw;
            lo += p.min_stored_mwh();
            hi += p.max_stored_mwh();
            e += p.energy_mwh;
            eta_c += p.energy_mwh * p.charge_efficiency;
            eta_d += p.energy_mwh * p.discharge_efficiency;
            deg += p.energy_mwh * p.degradation_cost_per_mwh;
            min_eta_c = min_eta_c.min(p.charge_efficiency);
            min_eta_d = min_eta_d.min(p.discharge_efficiency);
        }
        let has_units = !members.is_empty();
        let contracted_mw = if fleet_power_mw > 0.0 && has_units {
            cfg.fr.contracted_mw * pd / fleet_power_mw
        } else {
            0.0
        };
        if contracted_mw > pd.min(pc) + 1e-12 {
            return Err(CoreError::InvalidParameter(format!(
                "contracted_mw: site {site} would hold {contracted_mw} MW each way, but its units \
                 charge at most {pc} MW and discharge at most {pd} MW"
            )));
        }
        // Enough energy to sustain full response either way, with the worst
        // unit's efficiency so that every unit mix can deliver it.
        let sustain_h = cfg.fr.sustain_s / 3600.0;
        let reserve_up = contracted_mw * sustain_h / min_eta_d;
        let reserve_down = contracted_mw * sustain_h * min_eta_c;
        if has_units && lo + reserve_up > hi - reserve_down + 1e-12 {
            return Err(CoreError::InvalidParameter(format!(
                "contracted_mw: site {site} needs {:.4} MWh of reserve to sustain {contracted_mw} \
                 MW for {} s each way, but its usable energy is {:.4} MWh",
                reserve_up + reserve_down,
                cfg.fr.sustain_s,
                hi - lo
            )));
        }
        let w = if e > 0.0 { 1.0 / e } else { 0.0 };
        let limits = PlanLimits {
            lo_mwh: lo + reserve_up,
            hi_mwh: (hi - reserve_down).max(lo + reserve_up),
            charge_mw: (pc - contracted_mw).max(0.0),
            discharge_mw: (pd - contracted_mw).max(0.0),
            charge_efficiency: if has_units { eta_c * w } else { 1.0 },
            discharge_efficiency: if has_units { eta_d * w } else { 1.0 },
            degradation_cost_per_mwh: deg * w,
        };
        let a = &cfg.arbitrage;
        Ok(Self {
            index: site,
            limits,
            contracted_mw,
            has_units,
            last_ts_ns: None,
            last_fr_mw: 0.0,
            last_arb_mw: 0.0,
            baseline_mw: 0.0,
            in_event: false,
            profile: PriceProfile::new(
                a.plan_step_s,
                a.profile_days,
                a.horizon_steps,
                a.deviation_tau_h,
            ),
            plan_start_step: 0,
            plan_energy: Vec::with_capacity(a.horizon_steps + 1),
            has_plan: false,
            next_plan_step: i64::MIN,
            forecast_buf: vec![f64::NAN; a.horizon_steps],
            forecast_len: 0,
            pending_step: None,
        })
    }

    /// Seconds since the previous event of the site, checking order.
    pub(crate) fn step_seconds(
        &mut self,
        ts_ns: i64,
        default_dt_s: f64,
        site: usize,
    ) -> CoreResult<f64> {
        let dt = match self.last_ts_ns {
            Some(last) if ts_ns <= last => {
                return Err(CoreError::OutOfOrder {
                    site: site.to_string(),
                    ts_ns,
                    last_ts_ns: last,
                })
            }
            Some(last) => (ts_ns - last) as f64 * 1e-9,
            None => default_dt_s,
        };
        self.last_ts_ns = Some(ts_ns);
        Ok(dt)
    }

    pub(crate) fn set_forecast(&mut self, ts_ns: i64, prices: &[f64], horizon: usize) {
        let n = prices.len().min(horizon);
        self.forecast_buf[..n].copy_from_slice(&prices[..n]);
        self.forecast_len = n;
        self.pending_step = Some(self.profile.step_of(ts_ns));
    }

    /// Leading finite entries of the forecast buffer from `offset`.
    fn usable(&self, offset: usize) -> usize {
        self.forecast_buf[offset.min(self.forecast_len)..self.forecast_len]
            .iter()
            .take_while(|v| v.is_finite())
            .count()
    }

    /// Re-plan from `step`; returns whether a plan was made.
    fn replan(
        &mut self,
        step: i64,
        cfg: &AgentConfig,
        fleet: &Fleet,
        planner: &mut Planner,
    ) -> bool {
        let mut offset = 0usize;
        if let Some(p) = self.pending_step.take() {
            offset = usize::try_from(step - p).unwrap_or(0);
        }
        let h = self.usable(offset);
        self.next_plan_step = step + 1;
        if h == 0 {
            // Keep the old plan while it still covers this step.
            return false;
        }
        let e0 = fleet
            .stored_mwh(Scope::Site(self.index))
            .clamp(self.limits.lo_mwh, self.limits.hi_mwh);
        let step_h = cfg.arbitrage.plan_step_s / 3600.0;
        planner.plan(
            &self.forecast_buf[offset..offset + h],
            step_h,
            e0,
            &self.limits,
            cfg.arbitrage.soc_levels,
            &mut self.plan_energy,
        );
        self.plan_start_step = step;
        self.has_plan = true;
        true
    }

    /// Planned stored energy at a fractional step position, if covered.
    fn plan_at(&self, pos: f64) -> Option<f64> {
        let last = self.plan_energy.len().checked_sub(1)? as f64;
        if !(0.0..=last).contains(&pos) {
            return None;
        }
        let k = pos.floor();
        let i = k as usize;
        let a = self.plan_energy[i];
        let b = if (i as f64) < last {
            self.plan_energy[i + 1]
        } else {
            a
        };
        Some(a + (b - a) * (pos - k))
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn decide(
        &mut self,
        ts_ns: i64,
        dt_s: f64,
        frequency_hz: f64,
        price: f64,
        forecast: Option<&[f64]>,
        cfg: &AgentConfig,
        fleet: &mut Fleet,
        planner: &mut Planner,
        record: &mut FrRecord,
        counters: &mut Counters,
        unit_power_mw: &mut [f64],
    ) -> Decision {
        counters.events += 1;
        let f_ok = frequency_hz.is_finite();
        let p_ok = price.is_finite();
        if !f_ok {
            counters.non_finite_frequency += 1;
        }
        if !p_ok {
            counters.non_finite_price += 1;
        }
        if !self.has_units {
            return Decision {
                total_mw: 0.0,
                fr_required_mw: 0.0,
                fr_delivered_mw: 0.0,
                arbitrage_mw: 0.0,
                reason: Reason::Idle,
                stored_mwh: 0.0,
                headroom: Headroom::default(),
            };
        }
        let curve = &cfg.fr.curve;
        let fr_req = if f_ok {
            self.in_event = (frequency_hz - curve.nominal_hz).abs() >= cfg.fr.event_threshold_hz
                && self.contracted_mw > 0.0;
            curve.fraction(frequency_hz) * self.contracted_mw
        } else {
            self.last_fr_mw
        };
        if p_ok {
            self.profile.update(ts_ns, price);
        }
        let step = self.profile.step_of(ts_ns);
        let a = &cfg.arbitrage;
        if a.enabled {
            let planned = if self.pending_step.is_some() {
                self.replan(step, cfg, fleet, planner)
            } else if step >= self.next_plan_step {
                if let Some(fc) = forecast {
                    let n = fc.len().min(a.horizon_steps);
                    self.forecast_buf[..n].copy_from_slice(&fc[..n]);
                    self.forecast_len = n;
                    self.replan(step, cfg, fleet, planner)
                } else if self.profile.completed() >= a.min_history_steps {
                    self.profile.forecast(step, &mut self.forecast_buf);
                    self.forecast_len = self.forecast_buf.len();
                    self.replan(step, cfg, fleet, planner)
                } else {
                    false
                }
            } else {
                false
            };
            if planned {
                counters.plans += 1;
            }
        }
        let scope = Scope::Site(self.index);
        let mut restoring = false;
        let arb = if !p_ok {
            self.last_arb_mw
        } else if self.in_event {
            // Frozen baseline: the trader must not offset the response.
            self.baseline_mw
        } else {
            let e_now = fleet.stored_mwh(scope);
            let step_ns = self.profile.step_ns() as f64;
            let pos0 = if self.has_plan {
                (ts_ns - self.plan_start_step * self.profile.step_ns()) as f64 / step_ns
            } else {
                -1.0
            };
            let pos1 = pos0 + dt_s * 1e9 / step_ns;
            let gain = (dt_s / a.tracking_tau_s).min(1.0);
            let delta = match (self.plan_at(pos0), self.plan_at(pos1)) {
                (Some(e0), Some(e1)) if a.enabled => (e1 - e0) + (e0 - e_now) * gain,
                _ => {
                    restoring = true;
                    (e_now.clamp(self.limits.lo_mwh, self.limits.hi_mwh) - e_now) * gain
                }
            };
            self.limits
                .power_for(delta, dt_s / 3600.0)
                .clamp(-self.limits.charge_mw, self.limits.discharge_mw)
        };
        if !self.in_event {
            self.baseline_mw = arb;
        }
        let delivered = fleet.dispatch(scope, fr_req + arb, dt_s, unit_power_mw);
        let fr_delivered = delivered - arb;
        let tol = cfg.fr.tolerance_fraction * self.contracted_mw + 1e-9;
        record.record(fr_req, fr_delivered, tol, dt_s);
        if p_ok {
            counters.energy_revenue += price * delivered * dt_s / 3600.0;
        }
        self.last_fr_mw = fr_req;
        self.last_arb_mw = arb;
        let reason = if !(f_ok && p_ok) {
            Reason::HoldNonFinite
        } else if fr_req != 0.0 && fr_req.abs() >= arb.abs() {
            Reason::FrequencyResponse
        } else if arb != 0.0 {
            if restoring {
                Reason::Restore
            } else {
                Reason::Arbitrage
            }
        } else {
            Reason::Idle
        };
        let headroom = fleet.headroom(scope, dt_s);
        Decision {
            total_mw: delivered,
            fr_required_mw: fr_req,
            fr_delivered_mw: fr_delivered,
            arbitrage_mw: arb,
            reason,
            stored_mwh: headroom.stored_mwh,
            headroom,
        }
    }
}
