//! Battery fleet agents: frequency response and arbitrage over a fleet, one
//! decision per event, with no allocation on the per-event path.
//!
//! Use from Rust (the forecasting pipeline calls this inside its loop):
//!
//! ```
//! use _core::agents::{AgentConfig, AgentSet, BatteryParams, FrParams};
//! let units = vec![(BatteryParams::default(), 0usize); 4];
//! let cfg = AgentConfig {
//!     fr: FrParams { contracted_mw: 1.0, ..Default::default() },
//!     ..Default::default()
//! };
//! let mut agents = AgentSet::new(units, 1, cfg).unwrap();
//! let mut unit_power_mw = vec![0.0; agents.fleet().n_units()];
//! // A low frequency: the fleet discharges on this very event.
//! let d = agents.decide(60_000_000_000, 0, 49.6, 80.0, &mut unit_power_mw).unwrap();
//! assert!(d.fr_required_mw > 0.0 && d.total_mw > 0.0);
//! ```

pub mod arbitrage;
pub mod battery;
pub mod fleet;
pub mod freq_response;
mod run;
mod site;
pub mod unit_log;

use serde::{Deserialize, Serialize};

pub use arbitrage::{ArbitrageParams, PlanLimits, Planner, PriceProfile};
pub use battery::{Battery, BatteryParams};
pub use fleet::{Fleet, Headroom, Scope};
pub use freq_response::{DroopCurve, FrParams, FrRecord};
pub use run::RunOutput;
use site::SiteState;
pub use unit_log::{UnitLog, UnitRecords, DEFAULT_SOC_RECORD_S};

use crate::{CoreError, CoreResult};

/// Why a decision was taken (the dispatch record's `reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[repr(u8)]
pub enum Reason {
    /// Nothing to do.
    Idle = 0,
    /// Frequency response dominates the set-point.
    FrequencyResponse = 1,
    /// Trading on the plan dominates the set-point.
    Arbitrage = 2,
    /// Bringing SoC back into the band that keeps the reserve.
    Restore = 3,
    /// An input was NaN or infinite: the last safe action is held.
    HoldNonFinite = 4,
}

impl Reason {
    /// Lower-case name for records.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Idle => "idle",
            Reason::FrequencyResponse => "frequency_response",
            Reason::Arbitrage => "arbitrage",
            Reason::Restore => "restore",
            Reason::HoldNonFinite => "hold_non_finite",
        }
    }
}

/// One event's decision for one site.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decision {
    /// Power the site's units deliver, MW (positive = discharge).
    pub total_mw: f64,
    /// Frequency response the droop curve requires, MW.
    pub fr_required_mw: f64,
    /// Frequency response delivered (total minus the trader's part), MW.
    pub fr_delivered_mw: f64,
    /// The trader's (or restoring) part of the set-point, MW.
    pub arbitrage_mw: f64,
    /// Why.
    pub reason: Reason,
    /// Stored energy of the site after the step, MWh.
    pub stored_mwh: f64,
    /// The site's headroom after the step (for a step as long as this one).
    pub headroom: Headroom,
}

/// Settings of an `AgentSet` besides the fleet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentConfig {
    /// Frequency-response contract.
    pub fr: FrParams,
    /// Trader.
    pub arbitrage: ArbitrageParams,
    /// Step assumed for a site's first event, s.
    pub default_dt_s: f64,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            fr: FrParams::default(),
            arbitrage: ArbitrageParams::default(),
            default_dt_s: 60.0,
        }
    }
}

/// Counters over all events.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    /// Events decided.
    pub events: u64,
    /// Events whose frequency was NaN or infinite.
    pub non_finite_frequency: u64,
    /// Events whose price was NaN or infinite.
    pub non_finite_price: u64,
    /// Plans computed.
    pub plans: u64,
    /// Σ price · delivered power · dt over events with a finite price.
    pub energy_revenue: f64,
}

/// Fleet + frequency response + arbitrage.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AgentSet {
    config: AgentConfig,
    fleet: Fleet,
    sites: Vec<SiteState>,
    record: FrRecord,
    counters: Counters,
    #[serde(skip)]
    planner: Planner,
    #[serde(skip)]
    unit_buf: Vec<f64>,
    /// What each unit last recorded (see `unit_log`); last, so snapshots from
    /// before it decode as the prefix (`restore`).
    unit_log: UnitLog,
}

/// The fields of snapshots written before `unit_log` existed.
#[derive(Deserialize)]
struct AgentSetV1 {
    config: AgentConfig,
    fleet: Fleet,
    sites: Vec<SiteState>,
    record: FrRecord,
    counters: Counters,
}

impl AgentSet {
    /// Agents over `units` (`(params, site index)`) on `n_sites` sites.
    ///
    /// # Errors
    /// `CoreError::InvalidParameter` for a bad battery, contract or trader
    /// parameter, or a contract the fleet cannot hold in power or energy.
    pub fn new(
        units: Vec<(BatteryParams, usize)>,
        n_sites: usize,
        config: AgentConfig,
    ) -> CoreResult<Self> {
        config.fr.validate()?;
        config.arbitrage.validate()?;
        if !(config.default_dt_s.is_finite() && config.default_dt_s > 0.0) {
            return Err(CoreError::InvalidParameter(format!(
                "default_dt_s: must be positive, got {}",
                config.default_dt_s
            )));
        }
        let fleet = Fleet::new(units, n_sites)?;
        let fleet_power: f64 = fleet
            .units()
            .iter()
            .map(|b| b.params().max_discharge_mw)
            .sum::<f64>();
        let mut sites = Vec::with_capacity(n_sites);
        for s in 0..n_sites {
            sites.push(SiteState::new(&fleet, s, fleet_power, &config)?);
        }
        let n = fleet.n_units();
        Ok(Self {
            config,
            fleet,
            sites,
            record: FrRecord::default(),
            counters: Counters::default(),
            planner: Planner::default(),
            unit_buf: vec![0.0; n],
            unit_log: UnitLog::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    /// The fleet.
    pub fn fleet(&self) -> &Fleet {
        &self.fleet
    }

    /// Mutable fleet (e.g. to set a unit's SoC from telemetry).
    pub fn fleet_mut(&mut self) -> &mut Fleet {
        &mut self.fleet
    }

    /// Frequency-response record.
    pub fn record(&self) -> &FrRecord {
        &self.record
    }

    /// Counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The (lo, hi) stored-energy band of a site that keeps the reserve, MWh.
    pub fn band_mwh(&self, site: usize) -> Option<(f64, f64)> {
        self.sites
            .get(site)
            .map(|s| (s.limits.lo_mwh, s.limits.hi_mwh))
    }

    /// A measured state of charge of `site`'s batteries (e.g. from their
    /// management systems' telemetry): every unit at the site takes it as its
    /// state, clamped into its SoC bounds; a non-finite value changes
    /// nothing. Returns the site's stored energy, MWh. No allocation.
    ///
    /// # Errors
    /// `CoreError::InvalidParameter` for an unknown site.
    pub fn sync_site_soc(&mut self, site: usize, soc_frac: f64) -> CoreResult<f64> {
        let n = self.sites.len();
        if site >= n {
            return Err(bad_site(site, n));
        }
        Ok(self.fleet.set_soc(Scope::Site(site), soc_frac))
    }

    /// Give the trader of `site` an external price forecast, one value per
    /// plan step starting at the step containing `ts_ns`; it re-plans on the
    /// site's next event. NaN entries end the usable horizon.
    ///
    /// # Errors
    /// `CoreError::InvalidParameter` for an unknown site.
    pub fn set_price_forecast(
        &mut self,
        site: usize,
        ts_ns: i64,
        prices: &[f64],
    ) -> CoreResult<()> {
        let n = self.sites.len();
        let st = self.sites.get_mut(site).ok_or_else(|| bad_site(site, n))?;
        st.set_forecast(ts_ns, prices, self.config.arbitrage.horizon_steps);
        Ok(())
    }

    /// Decide one event: update the agents of `site` with the frequency and
    /// price seen at `ts_ns`, run the site's units until the next event and
    /// write each unit's power into `unit_power_mw[unit]` (length ≥ number of
    /// units; entries of other sites are left as they are).
    ///
    /// The step length is the time since the site's previous event (the
    /// config's `default_dt_s` for its first). A NaN or infinite frequency
    /// holds the last frequency response and a NaN or infinite price the
    /// last trading power (both counted). No allocation.
    ///
    /// # Errors
    /// `CoreError::InvalidParameter` for an unknown site, `CoreError::Shape`
    /// for a short buffer, `CoreError::OutOfOrder` for a timestamp not after
    /// the site's previous one.
    pub fn decide(
        &mut self,
        ts_ns: i64,
        site: usize,
        frequency_hz: f64,
        price_per_mwh: f64,
        unit_power_mw: &mut [f64],
    ) -> CoreResult<Decision> {
        self.decide_with(
            ts_ns,
            site,
            frequency_hz,
            price_per_mwh,
            None,
            unit_power_mw,
        )
    }

    fn decide_with(
        &mut self,
        ts_ns: i64,
        site: usize,
        frequency_hz: f64,
        price_per_mwh: f64,
        forecast: Option<&[f64]>,
        unit_power_mw: &mut [f64],
    ) -> CoreResult<Decision> {
        let n_sites = self.sites.len();
        if site >= n_sites {
            return Err(bad_site(site, n_sites));
        }
        if unit_power_mw.len() < self.fleet.n_units() {
            return Err(CoreError::Shape(format!(
                "unit_power_mw has {} entries, the fleet has {} units",
                unit_power_mw.len(),
                self.fleet.n_units()
            )));
        }
        let st = &mut self.sites[site];
        let dt_s = st.step_seconds(ts_ns, self.config.default_dt_s, site)?;
        let d = st.decide(
            ts_ns,
            dt_s,
            frequency_hz,
            price_per_mwh,
            forecast,
            &self.config,
            &mut self.fleet,
            &mut self.planner,
            &mut self.record,
            &mut self.counters,
            unit_power_mw,
        );
        Ok(d)
    }

    /// Add the per-unit records of the event just decided (`unit_power_mw`
    /// as `decide` wrote it, `reason` its decision's) to `out`, as event
    /// `event` of the caller's batch; see `unit_log`. No allocation once the
    /// buffers have grown. Sites out of range record nothing.
    #[allow(clippy::too_many_arguments)]
    pub fn record_units(
        &mut self,
        event: usize,
        ts_ns: i64,
        site: usize,
        reason: Reason,
        unit_power_mw: &[f64],
        out: &mut UnitRecords,
    ) {
        if site < self.sites.len() && unit_power_mw.len() >= self.fleet.n_units() {
            self.unit_log
                .observe(&self.fleet, event, ts_ns, site, reason, unit_power_mw, out);
        }
    }

    /// Encode the whole state.
    ///
    /// # Errors
    /// `CoreError::Snapshot` if encoding fails.
    pub fn snapshot(&self) -> CoreResult<Vec<u8>> {
        bincode::serialize(self).map_err(|e| CoreError::Snapshot(e.to_string()))
    }

    /// Decode a state written by `snapshot`.
    ///
    /// # Errors
    /// `CoreError::Snapshot` if the bytes are not a snapshot.
    pub fn restore(bytes: &[u8]) -> CoreResult<Self> {
        let mut s: Self = match bincode::deserialize(bytes) {
            Ok(s) => s,
            Err(e) => match bincode::deserialize::<AgentSetV1>(bytes) {
                // A snapshot from before the unit records: nothing recorded yet.
                Ok(v1) => Self {
                    config: v1.config,
                    fleet: v1.fleet,
                    sites: v1.sites,
                    record: v1.record,
                    counters: v1.counters,
                    planner: Planner::default(),
                    unit_buf: Vec::new(),
                    unit_log: UnitLog::default(),
                },
                Err(_) => return Err(CoreError::Snapshot(e.to_string())),
            },
        };
        s.fleet.after_restore();
        s.unit_buf = vec![0.0; s.fleet.n_units()];
        Ok(s)
    }
}

fn bad_site(site: usize, n: usize) -> CoreError {
    CoreError::InvalidParameter(format!("site: index {site} out of range for {n} sites"))
}

#[cfg(test)]
mod tests;
