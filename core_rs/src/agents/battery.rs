//! One battery: an energy store with power limits, separate charge and
//! discharge efficiencies, SoC bounds and optional derating near the bounds.
//!
//! Sign convention used throughout the agents: positive power is discharge
//! (injection into the grid), negative power is charge. Powers are measured at
//! the grid connection; the stored energy changes by `-p·dt/η_d` when
//! discharging and by `|p|·dt·η_c` when charging.

use serde::{Deserialize, Serialize};

use crate::{CoreError, CoreResult};

const SECONDS_PER_HOUR: f64 = 3600.0;

/// Parameters of one battery. Fractions (`soc_*`, `derate_band`) are of the
/// energy capacity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatteryParams {
    /// Usable energy capacity at SoC 1.0, MWh (> 0).
    pub energy_mwh: f64,
    /// Largest charging power at the grid connection, MW (≥ 0).
    pub max_charge_mw: f64,
    /// Largest discharging power at the grid connection, MW (≥ 0).
    pub max_discharge_mw: f64,
    /// Grid-to-store efficiency, in (0, 1].
    pub charge_efficiency: f64,
    /// Store-to-grid efficiency, in (0, 1].
    pub discharge_efficiency: f64,
    /// Lowest allowed SoC fraction, in [0, 1).
    pub soc_min: f64,
    /// Highest allowed SoC fraction, in (soc_min, 1].
    pub soc_max: f64,
    /// Width (SoC fraction) of the band next to each bound in which the power
    /// towards that bound falls linearly to zero; 0 disables derating.
    pub derate_band: f64,
    /// Cost of wear per MWh of throughput at the grid connection (currency/MWh).
    pub degradation_cost_per_mwh: f64,
    /// SoC fraction at start, within [soc_min, soc_max].
    pub start_soc: f64,
}

impl Default for BatteryParams {
    /// A 1 MW / 2 MWh unit with 0.95 each way (a common optimiser default).
    fn default() -> Self {
        Self {
            energy_mwh: 2.0,
            max_charge_mw: 1.0,
            max_discharge_mw: 1.0,
            charge_efficiency: 0.95,
            discharge_efficiency: 0.95,
            soc_min: 0.1,
            soc_max: 0.9,
            derate_band: 0.0,
            degradation_cost_per_mwh: 5.0,
            start_soc: 0.5,
        }
    }
}

fn bad(name: &str, why: String) -> CoreError {
    CoreError::InvalidParameter(format!("{name}: {why}"))
}

fn finite(name: &str, v: f64) -> CoreResult<()> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(bad(name, format!("must be finite, got {v}")))
    }
}

impl BatteryParams {
    /// Check every parameter.
    ///
    /// # Errors
    /// `CoreError::InvalidParameter` naming the first parameter out of range.
    pub fn validate(&self) -> CoreResult<()> {
        finite("energy_mwh", self.energy_mwh)?;
        if self.energy_mwh <= 0.0 {
            return Err(bad(
                "energy_mwh",
                format!("must be positive, got {}", self.energy_mwh),
            ));
        }
        for (name, v) in [
            ("max_charge_mw", self.max_charge_mw),
            ("max_discharge_mw", self.max_discharge_mw),
            ("degradation_cost_per_mwh", self.degradation_cost_per_mwh),
        ] {
            finite(name, v)?;
            if v < 0.0 {
                return Err(bad(name, format!("must not be negative, got {v}")));
            }
        }
        for (name, v) in [
            ("charge_efficiency", self.charge_efficiency),
            ("discharge_efficiency", self.discharge_efficiency),
        ] {
            // NaN fails this comparison too.
            if !(v > 0.0 && v <= 1.0) {
                return Err(bad(name, format!("must be in (0, 1], got {v}")));
            }
        }
        for (name, v) in [("soc_min", self.soc_min), ("soc_max", self.soc_max)] {
            if !(0.0..=1.0).contains(&v) {
                return Err(bad(name, format!("must be in [0, 1], got {v}")));
            }
        }
        if self.soc_min >= self.soc_max {
            return Err(bad(
                "soc_min",
                format!(
                    "SoC bounds reversed: soc_min ({}) must be below soc_max ({})",
                    self.soc_min, self.soc_max
                ),
            ));
        }
        if !(0.0..=0.5).contains(&self.derate_band) {
            return Err(bad(
                "derate_band",
                format!("must be in [0, 0.5], got {}", self.derate_band),
            ));
        }
        if !(self.soc_min..=self.soc_max).contains(&self.start_soc) {
            return Err(bad(
                "start_soc",
                format!(
                    "must be within [soc_min, soc_max] = [{}, {}], got {}",
                    self.soc_min, self.soc_max, self.start_soc
                ),
            ));
        }
        Ok(())
    }

    /// Lowest allowed stored energy, MWh.
    pub fn min_stored_mwh(&self) -> f64 {
        self.soc_min * self.energy_mwh
    }

    /// Highest allowed stored energy, MWh.
    pub fn max_stored_mwh(&self) -> f64 {
        self.soc_max * self.energy_mwh
    }
}

/// A battery with its state. `apply` never takes it outside its bounds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Battery {
    params: BatteryParams,
    stored_mwh: f64,
    charged_mwh: f64,
    discharged_mwh: f64,
}

impl Battery {
    /// A battery at its start SoC.
    ///
    /// # Errors
    /// `CoreError::InvalidParameter` if a parameter is out of range.
    pub fn new(params: BatteryParams) -> CoreResult<Self> {
        params.validate()?;
        let stored_mwh = params.start_soc * params.energy_mwh;
        Ok(Self {
            params,
            stored_mwh,
            charged_mwh: 0.0,
            discharged_mwh: 0.0,
        })
    }

    /// The parameters.
    pub fn params(&self) -> &BatteryParams {
        &self.params
    }

    /// State of charge as a fraction of capacity.
    pub fn soc(&self) -> f64 {
        self.stored_mwh / self.params.energy_mwh
    }

    /// Stored energy, MWh.
    pub fn stored_mwh(&self) -> f64 {
        self.stored_mwh
    }

    /// Set the SoC (e.g. from telemetry), clamped into the bounds; a non-finite
    /// value is ignored. Returns the SoC actually set.
    pub fn set_soc(&mut self, soc: f64) -> f64 {
        if soc.is_finite() {
            let s = soc.clamp(self.params.soc_min, self.params.soc_max);
            self.stored_mwh = s * self.params.energy_mwh;
        }
        self.soc()
    }

    /// Energy taken from the grid so far, MWh.
    pub fn charged_mwh(&self) -> f64 {
        self.charged_mwh
    }

    /// Energy delivered to the grid so far, MWh.
    pub fn discharged_mwh(&self) -> f64 {
        self.discharged_mwh
    }

    /// Throughput at the grid connection so far, MWh.
    pub fn throughput_mwh(&self) -> f64 {
        self.charged_mwh + self.discharged_mwh
    }

    /// Degradation cost of the throughput so far.
    pub fn degradation_cost(&self) -> f64 {
        self.throughput_mwh() * self.params.degradation_cost_per_mwh
    }

    /// Equivalent full cycles so far (discharged energy over usable energy).
    pub fn cycles(&self) -> f64 {
        let usable = self.params.max_stored_mwh() - self.params.min_stored_mwh();
        self.discharged_mwh / usable
    }

    /// Derating factor in [0, 1] for power towards a bound `dist` (SoC
    /// fraction) away.
    fn derate(&self, dist: f64) -> f64 {
        let band = self.params.derate_band;
        if band <= 0.0 {
            1.0
        } else {
            (dist / band).clamp(0.0, 1.0)
        }
    }

    /// Discharge power limit now (rating times derating), MW.
    pub fn discharge_limit_mw(&self) -> f64 {
        self.params.max_discharge_mw * self.derate(self.soc() - self.params.soc_min)
    }

    /// Charge power limit now (rating times derating), MW.
    pub fn charge_limit_mw(&self) -> f64 {
        self.params.max_charge_mw * self.derate(self.params.soc_max - self.soc())
    }

    /// Energy the battery can still deliver to the grid, MWh.
    pub fn available_discharge_energy_mwh(&self) -> f64 {
        (self.stored_mwh - self.params.min_stored_mwh()).max(0.0) * self.params.discharge_efficiency
    }

    /// Energy the battery can still take from the grid, MWh.
    pub fn available_charge_energy_mwh(&self) -> f64 {
        (self.params.max_stored_mwh() - self.stored_mwh).max(0.0) / self.params.charge_efficiency
    }

    /// Discharge power it can hold for `dt_s` seconds, MW.
    pub fn available_discharge_mw(&self, dt_s: f64) -> f64 {
        let lim = self.discharge_limit_mw();
        if dt_s > 0.0 {
            lim.min(self.available_discharge_energy_mwh() * SECONDS_PER_HOUR / dt_s)
        } else {
            lim
        }
    }

    /// Charge power it can hold for `dt_s` seconds, MW (a positive number).
    pub fn available_charge_mw(&self, dt_s: f64) -> f64 {
        let lim = self.charge_limit_mw();
        if dt_s > 0.0 {
            lim.min(self.available_charge_energy_mwh() * SECONDS_PER_HOUR / dt_s)
        } else {
            lim
        }
    }

    /// Run at `power_mw` (positive = discharge) for `dt_s` seconds, clipped to
    /// what the battery can do, and return the power actually delivered.
    ///
    /// Never fails and never leaves the bounds: a NaN request means zero, an
    /// infinite one the limit, a non-finite or negative `dt_s` zero time.
    pub fn apply(&mut self, power_mw: f64, dt_s: f64) -> f64 {
        let dt_s = if dt_s.is_finite() && dt_s > 0.0 {
            dt_s
        } else {
            0.0
        };
        let req = if power_mw.is_nan() { 0.0 } else { power_mw };
        let p = if req > 0.0 {
            req.min(self.available_discharge_mw(dt_s))
        } else if req < 0.0 {
            req.max(-self.available_charge_mw(dt_s))
        } else {
            0.0
        };
        let dt_h = dt_s / SECONDS_PER_HOUR;
        if p > 0.0 {
            self.stored_mwh -= p * dt_h / self.params.discharge_efficiency;
            self.discharged_mwh += p * dt_h;
        } else if p < 0.0 {
            self.stored_mwh += -p * dt_h * self.params.charge_efficiency;
            self.charged_mwh += -p * dt_h;
        }
        // Rounding can leave the store a hair outside; the bound is the truth.
        self.stored_mwh = self
            .stored_mwh
            .clamp(self.params.min_stored_mwh(), self.params.max_stored_mwh());
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn unit() -> Battery {
        Battery::new(BatteryParams::default()).unwrap()
    }

    #[test]
    fn bad_parameters_are_named() {
        let cases: Vec<(&str, BatteryParams)> = vec![
            (
                "energy_mwh",
                BatteryParams {
                    energy_mwh: -1.0,
                    ..Default::default()
                },
            ),
            (
                "max_charge_mw",
                BatteryParams {
                    max_charge_mw: -1.0,
                    ..Default::default()
                },
            ),
            (
                "max_discharge_mw",
                BatteryParams {
                    max_discharge_mw: -0.1,
                    ..Default::default()
                },
            ),
            (
                "charge_efficiency",
                BatteryParams {
                    charge_efficiency: 0.0,
                    ..Default::default()
                },
            ),
            (
                "discharge_efficiency",
                BatteryParams {
                    discharge_efficiency: 1.2,
                    ..Default::default()
                },
            ),
            (
                "soc_min",
                BatteryParams {
                    soc_min: 0.8,
                    soc_max: 0.2,
                    ..Default::default()
                },
            ),
            (
                "start_soc",
                BatteryParams {
                    start_soc: 0.95,
                    ..Default::default()
                },
            ),
            (
                "derate_band",
                BatteryParams {
                    derate_band: 0.7,
                    ..Default::default()
                },
            ),
        ];
        for (name, p) in cases {
            match Battery::new(p) {
                Err(CoreError::InvalidParameter(m)) => assert!(m.starts_with(name), "{m}"),
                other => panic!("{name}: expected an error, got {other:?}"),
            }
        }
    }

    #[test]
    fn efficiencies_apply_each_way() {
        let mut b = unit();
        let e0 = b.stored_mwh();
        assert_eq!(b.apply(-1.0, 1800.0), -1.0);
        assert!((b.stored_mwh() - e0 - 0.5 * 0.95).abs() < 1e-12);
        let e1 = b.stored_mwh();
        assert_eq!(b.apply(1.0, 1800.0), 1.0);
        assert!((e1 - b.stored_mwh() - 0.5 / 0.95).abs() < 1e-12);
        assert!((b.throughput_mwh() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn clips_at_empty_and_full() {
        let mut b = unit();
        // 0.8 MWh above the minimum, 0.76 deliverable: one hour at 1 MW is too much.
        let p = b.apply(10.0, 3600.0);
        assert!((p - 0.8 * 0.95).abs() < 1e-12, "{p}");
        assert!((b.soc() - 0.1).abs() < 1e-12);
        assert_eq!(b.apply(1.0, 60.0), 0.0);
        let p = b.apply(-10.0, 3600.0 * 10.0);
        assert!((p + 1.6 / 0.95 / 10.0).abs() < 1e-12, "{p}");
        assert!((b.soc() - 0.9).abs() < 1e-12);
    }

    #[test]
    fn derating_reduces_power_near_bounds() {
        let p = BatteryParams {
            derate_band: 0.1,
            start_soc: 0.85,
            ..Default::default()
        };
        let b = Battery::new(p).unwrap();
        assert!((b.charge_limit_mw() - 0.5).abs() < 1e-9);
        assert_eq!(b.discharge_limit_mw(), 1.0);
    }

    #[test]
    fn nan_request_is_zero() {
        let mut b = unit();
        assert_eq!(b.apply(f64::NAN, 60.0), 0.0);
        assert_eq!(b.apply(1.0, f64::NAN), 1.0);
        assert_eq!(b.soc(), 0.5);
        assert_eq!(b.apply(f64::INFINITY, 60.0), 1.0);
    }

    proptest! {
        #[test]
        fn never_leaves_bounds(
            reqs in proptest::collection::vec((-1e6f64..1e6, 0.0f64..1e5), 1..200),
            derate in 0.0f64..0.5,
            eta_c in 0.05f64..=1.0,
            eta_d in 0.05f64..=1.0,
        ) {
            let p = BatteryParams {
                derate_band: derate,
                charge_efficiency: eta_c,
                discharge_efficiency: eta_d,
                ..Default::default()
            };
            let mut b = Battery::new(p).unwrap();
            for (req, dt) in reqs {
                let got = b.apply(req, dt);
                prop_assert!(got.abs() <= req.abs() + 1e-12);
                prop_assert!(got == 0.0 || got.signum() == req.signum());
                prop_assert!((-1.0 - 1e-12..=1.0 + 1e-12).contains(&got));
                prop_assert!(b.soc() >= 0.1 - 1e-12 && b.soc() <= 0.9 + 1e-12);
            }
        }
    }
}
