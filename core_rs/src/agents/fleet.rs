//! A fleet of batteries, each tagged with a site index, and the allocator that
//! splits a set-point across the units of a site by headroom.
//!
//! Splitting in proportion to each unit's available power (for the coming
//! step, energy included) means no unit is asked for more than it can give,
//! so the fleet delivers exactly `min(set-point, total headroom)`, and fuller
//! units discharge more, which keeps the units' SoCs together.

use serde::{Deserialize, Serialize};

use super::battery::{Battery, BatteryParams};
use crate::{CoreError, CoreResult};

/// Many batteries, grouped by site.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Fleet {
    units: Vec<Battery>,
    unit_site: Vec<usize>,
    /// Unit indices sorted by site; site `s` owns `order[offsets[s]..offsets[s+1]]`.
    order: Vec<usize>,
    offsets: Vec<usize>,
    /// Per-unit headroom of the current call; kept to avoid allocating per event.
    #[serde(skip)]
    scratch: Vec<f64>,
}

/// State of a scope after a step: what it holds and what it can still do.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Headroom {
    /// Stored energy, MWh.
    pub stored_mwh: f64,
    /// Discharge power it can hold for the step, MW.
    pub up_mw: f64,
    /// Charge power it can hold for the step, MW (positive).
    pub down_mw: f64,
    /// Energy it can still deliver, MWh.
    pub up_mwh: f64,
    /// Energy it can still take, MWh.
    pub down_mwh: f64,
}

/// Which units a call is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every unit.
    All,
    /// The units of one site.
    Site(usize),
}

impl Fleet {
    /// A fleet of `(params, site index)` units over `n_sites` sites (sites
    /// without units are allowed).
    ///
    /// # Errors
    /// `CoreError::InvalidParameter` for an empty fleet, a bad unit or a site
    /// index ≥ `n_sites`.
    pub fn new(units: Vec<(BatteryParams, usize)>, n_sites: usize) -> CoreResult<Self> {
        if units.is_empty() {
            return Err(CoreError::InvalidParameter(
                "units: the fleet has no battery".into(),
            ));
        }
        let mut batteries = Vec::with_capacity(units.len());
        let mut unit_site = Vec::with_capacity(units.len());
        for (i, (p, site)) in units.into_iter().enumerate() {
            if site >= n_sites {
                return Err(CoreError::InvalidParameter(format!(
                    "site: unit {i} has site index {site}, but there are {n_sites} sites"
                )));
            }
            let b = Battery::new(p).map_err(|e| match e {
                CoreError::InvalidParameter(m) => {
                    CoreError::InvalidParameter(format!("{m} (unit {i})"))
                }
                other => other,
            })?;
            batteries.push(b);
            unit_site.push(site);
        }
        let mut order: Vec<usize> = (0..batteries.len()).collect();
        order.sort_by_key(|&i| unit_site[i]);
        let mut offsets = vec![0usize; n_sites + 1];
        for &s in &unit_site {
            offsets[s + 1] += 1;
        }
        for s in 0..n_sites {
            offsets[s + 1] += offsets[s];
        }
        let scratch = vec![0.0; batteries.len()];
        Ok(Self {
            units: batteries,
            unit_site,
            order,
            offsets,
            scratch,
        })
    }

    /// Rebuild buffers skipped by serde (after a restore).
    pub(crate) fn after_restore(&mut self) {
        self.scratch = vec![0.0; self.units.len()];
    }

    /// Number of units.
    pub fn n_units(&self) -> usize {
        self.units.len()
    }

    /// Number of sites.
    pub fn n_sites(&self) -> usize {
        self.offsets.len() - 1
    }

    /// The units, in construction order.
    pub fn units(&self) -> &[Battery] {
        &self.units
    }

    /// Mutable access to one unit (e.g. to set its SoC from telemetry).
    pub fn unit_mut(&mut self, i: usize) -> Option<&mut Battery> {
        self.units.get_mut(i)
    }

    /// Site index of each unit.
    pub fn unit_sites(&self) -> &[usize] {
        &self.unit_site
    }

    /// Unit indices of a scope.
    pub fn members(&self, scope: Scope) -> &[usize] {
        &self.order[self.span(scope)]
    }

    /// Where a scope's units sit in `order`.
    fn span(&self, scope: Scope) -> std::ops::Range<usize> {
        match scope {
            Scope::All => 0..self.order.len(),
            Scope::Site(s) if s < self.n_sites() => self.offsets[s]..self.offsets[s + 1],
            Scope::Site(_) => 0..0,
        }
    }

    fn sum(&self, scope: Scope, f: impl Fn(&Battery) -> f64) -> f64 {
        self.members(scope).iter().map(|&i| f(&self.units[i])).sum()
    }

    /// Discharge power the scope can hold for `dt_s`, MW.
    pub fn available_discharge_mw(&self, scope: Scope, dt_s: f64) -> f64 {
        self.sum(scope, |b| b.available_discharge_mw(dt_s))
    }

    /// Charge power the scope can hold for `dt_s`, MW (positive).
    pub fn available_charge_mw(&self, scope: Scope, dt_s: f64) -> f64 {
        self.sum(scope, |b| b.available_charge_mw(dt_s))
    }

    /// Energy the scope can still deliver to the grid, MWh.
    pub fn available_discharge_energy_mwh(&self, scope: Scope) -> f64 {
        self.sum(scope, Battery::available_discharge_energy_mwh)
    }

    /// Energy the scope can still take from the grid, MWh.
    pub fn available_charge_energy_mwh(&self, scope: Scope) -> f64 {
        self.sum(scope, Battery::available_charge_energy_mwh)
    }

    /// Stored energy of the scope, MWh.
    pub fn stored_mwh(&self, scope: Scope) -> f64 {
        self.sum(scope, Battery::stored_mwh)
    }

    /// Set every unit of the scope to `soc` (each clamped into its bounds;
    /// non-finite: unchanged); returns the scope's stored energy, MWh.
    pub fn set_soc(&mut self, scope: Scope, soc: f64) -> f64 {
        let span = self.span(scope);
        for &i in &self.order[span] {
            self.units[i].set_soc(soc);
        }
        self.stored_mwh(scope)
    }

    /// Stored energy and available power and energy of a scope, in one pass.
    pub fn headroom(&self, scope: Scope, dt_s: f64) -> Headroom {
        let mut h = Headroom::default();
        for &i in self.members(scope) {
            let b = &self.units[i];
            h.stored_mwh += b.stored_mwh();
            h.up_mw += b.available_discharge_mw(dt_s);
            h.down_mw += b.available_charge_mw(dt_s);
            h.up_mwh += b.available_discharge_energy_mwh();
            h.down_mwh += b.available_charge_energy_mwh();
        }
        h
    }

    /// Total throughput of the scope so far, MWh.
    pub fn throughput_mwh(&self, scope: Scope) -> f64 {
        self.sum(scope, Battery::throughput_mwh)
    }

    /// Total degradation cost of the scope so far.
    pub fn degradation_cost(&self, scope: Scope) -> f64 {
        self.sum(scope, Battery::degradation_cost)
    }

    /// Split `setpoint_mw` (positive = discharge) across the scope's units by
    /// headroom, run them for `dt_s`, write each unit's power into
    /// `out[unit]` (other entries untouched) and return the total delivered.
    ///
    /// `out` must have at least `n_units()` entries; shorter buffers get
    /// nothing written (the power is still applied). No allocation.
    pub fn dispatch(&mut self, scope: Scope, setpoint_mw: f64, dt_s: f64, out: &mut [f64]) -> f64 {
        let members: &[usize] = match scope {
            Scope::All => &self.order,
            Scope::Site(s) if s + 1 < self.offsets.len() => {
                &self.order[self.offsets[s]..self.offsets[s + 1]]
            }
            Scope::Site(_) => &[],
        };
        let write = out.len() >= self.units.len();
        let discharge = setpoint_mw > 0.0;
        let mut total = 0.0;
        for &i in members {
            let b = &self.units[i];
            let h = if discharge {
                b.available_discharge_mw(dt_s)
            } else {
                b.available_charge_mw(dt_s)
            };
            self.scratch[i] = h;
            total += h;
        }
        let want = if setpoint_mw.is_nan() {
            0.0
        } else {
            setpoint_mw.abs()
        };
        let frac = if total > 0.0 {
            (want / total).min(1.0)
        } else {
            0.0
        };
        let sign = if discharge { 1.0 } else { -1.0 };
        let mut delivered = 0.0;
        for &i in members {
            let got = self.units[i].apply(sign * frac * self.scratch[i], dt_s);
            if write {
                out[i] = got;
            }
            delivered += got;
        }
        delivered
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fleet(socs: &[f64], sites: &[usize], n_sites: usize) -> Fleet {
        let units = socs
            .iter()
            .zip(sites)
            .map(|(&s, &site)| {
                (
                    BatteryParams {
                        start_soc: s,
                        ..Default::default()
                    },
                    site,
                )
            })
            .collect();
        Fleet::new(units, n_sites).unwrap()
    }

    #[test]
    fn site_groups() {
        let f = fleet(&[0.5, 0.5, 0.5], &[1, 0, 1], 3);
        assert_eq!(f.members(Scope::Site(0)), &[1]);
        assert_eq!(f.members(Scope::Site(1)), &[0, 2]);
        assert!(f.members(Scope::Site(2)).is_empty());
        assert!(f.members(Scope::Site(9)).is_empty());
        assert!(Fleet::new(vec![(BatteryParams::default(), 3)], 2).is_err());
        assert!(Fleet::new(vec![], 1).is_err());
    }

    #[test]
    fn fuller_units_discharge_more() {
        let mut f = fleet(&[0.9, 0.2], &[0, 0], 1);
        let mut out = [0.0; 2];
        // Over an hour the emptier unit can give only 0.1 MWh·0.95.
        let got = f.dispatch(Scope::All, 1.0, 3600.0, &mut out);
        assert!((got - 1.0).abs() < 1e-9);
        assert!(out[0] > out[1] && out[1] > 0.0, "{out:?}");
    }

    proptest! {
        #[test]
        fn conserves_setpoint_up_to_headroom(
            socs in proptest::collection::vec(0.1f64..=0.9, 1..20),
            setpoint in -50.0f64..50.0,
            dt in 1.0f64..7200.0,
        ) {
            let sites: Vec<usize> = (0..socs.len()).map(|i| i % 3).collect();
            let mut f = fleet(&socs, &sites, 3);
            for site in 0..3 {
                let scope = Scope::Site(site);
                let head = if setpoint > 0.0 {
                    f.available_discharge_mw(scope, dt)
                } else {
                    f.available_charge_mw(scope, dt)
                };
                let mut out = vec![0.0; socs.len()];
                let got = f.dispatch(scope, setpoint, dt, &mut out);
                let want = setpoint.abs().min(head) * setpoint.signum();
                prop_assert!((got - want).abs() <= 1e-9 * (1.0 + want.abs()), "{} vs {}", got, want);
                let sum: f64 = f.members(scope).iter().map(|&i| out[i]).sum();
                prop_assert!((sum - got).abs() < 1e-9);
                for b in f.units() {
                    prop_assert!(b.soc() >= 0.1 - 1e-12 && b.soc() <= 0.9 + 1e-12);
                }
            }
        }
    }
}
