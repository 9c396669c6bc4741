//! Thinned per-unit records, written in the deciding loop itself.
//!
//! After each decided event the units of its site are looked at once:
//!
//! * a dispatch record `(event, unit, power_mw, reason)` is kept when the
//!   unit's power or the site's reason differs from that unit's previous
//!   record, so each record holds until the next one of its unit and the
//!   records of a site's units, held that way, add up to the site's power.
//!   With a tolerance `dispatch_tolerance_mw` > 0 a record is kept only when
//!   the unit's power moves more than the tolerance from the held record or
//!   stops (exactly 0 MW after a non-zero record); a change of reason alone
//!   is not recorded. Each held record is then within the tolerance of its
//!   unit's power and an idle unit reads exactly 0, which thins the records
//!   frequency response makes at nearly every event (tiny moves just outside
//!   the deadband, and the reason flipping as frequency crosses it);
//! * a SoC record `(event, unit, soc_frac, stored_mwh)` is kept at the first
//!   event of each `soc_record_ns` slot of event time (`ts_ns` divided by the
//!   cadence), the state after that event's step.
//!
//! What was last recorded ([`UnitLog`]) is part of the agent set's state, so
//! a restored snapshot continues with the same records. The output
//! ([`UnitRecords`]) is a set of growable buffers reused across batches: no
//! allocation per event once they have grown.

use serde::{Deserialize, Serialize};

use super::fleet::{Fleet, Scope};
use super::Reason;

/// Default SoC record cadence, s (a quarter hour, the settlement period).
pub const DEFAULT_SOC_RECORD_S: f64 = 900.0;

/// What each unit last recorded (part of the agent set's snapshot).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UnitLog {
    last_power_mw: Vec<f64>,
    /// `Reason as u8`; `u8::MAX` before the unit's first record.
    last_reason: Vec<u8>,
    /// Slot (`ts_ns.div_euclid(cadence)`) of the last SoC record.
    last_soc_slot: Vec<i64>,
}

impl UnitLog {
    fn ensure(&mut self, n_units: usize) {
        if self.last_power_mw.len() != n_units {
            self.last_power_mw.resize(n_units, f64::NAN);
            self.last_reason.resize(n_units, u8::MAX);
            self.last_soc_slot.resize(n_units, i64::MIN);
        }
    }

    /// Record the units of `site` after event `event` (index in the caller's
    /// batch) at `ts_ns`; `unit_power_mw` as written by the decision.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn observe(
        &mut self,
        fleet: &Fleet,
        event: usize,
        ts_ns: i64,
        site: usize,
        reason: Reason,
        unit_power_mw: &[f64],
        out: &mut UnitRecords,
    ) {
        self.ensure(fleet.n_units());
        let code = reason as u8;
        let slot = if out.soc_record_ns > 0 {
            Some(ts_ns.div_euclid(out.soc_record_ns))
        } else {
            None
        };
        let units = fleet.units();
        for &u in fleet.members(Scope::Site(site)) {
            let p = unit_power_mw[u];
            let last = self.last_power_mw[u];
            let keep = if out.dispatch_tolerance_mw > 0.0 {
                last.is_nan()
                    || (p - last).abs() > out.dispatch_tolerance_mw
                    || (p == 0.0 && last != 0.0)
            } else {
                // Bits on purpose: NaN (no record yet) never matches, so the
                // first record is kept.
                p.to_bits() != last.to_bits() || code != self.last_reason[u]
            };
            if keep {
                self.last_power_mw[u] = p;
                self.last_reason[u] = code;
                out.dispatch_event.push(event as u64);
                out.dispatch_unit.push(u as u64);
                out.dispatch_power_mw.push(p);
                out.dispatch_reason.push(code);
            }
            if let Some(slot) = slot {
                if slot != self.last_soc_slot[u] {
                    self.last_soc_slot[u] = slot;
                    let b = &units[u];
                    out.soc_event.push(event as u64);
                    out.soc_unit.push(u as u64);
                    out.soc_frac.push(b.soc());
                    out.soc_stored_mwh.push(b.stored_mwh());
                }
            }
        }
    }
}

/// Per-unit records of one call (see the module doc): parallel columns,
/// `*_event` the event's index in the batch (0 for a single event).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UnitRecords {
    /// SoC record cadence in event time, ns (≤ 0: no SoC records).
    pub soc_record_ns: i64,
    /// Power change, MW, below which a unit's dispatch record is held
    /// (0: every change is recorded).
    pub dispatch_tolerance_mw: f64,
    /// Event index of each dispatch record.
    pub dispatch_event: Vec<u64>,
    /// Unit index of each dispatch record.
    pub dispatch_unit: Vec<u64>,
    /// The unit's power from this event on, MW (positive = discharge).
    pub dispatch_power_mw: Vec<f64>,
    /// `Reason as u8` of the site's decision.
    pub dispatch_reason: Vec<u8>,
    /// Event index of each SoC record.
    pub soc_event: Vec<u64>,
    /// Unit index of each SoC record.
    pub soc_unit: Vec<u64>,
    /// The unit's SoC after the event's step, fraction of capacity.
    pub soc_frac: Vec<f64>,
    /// The unit's stored energy after the event's step, MWh.
    pub soc_stored_mwh: Vec<f64>,
}

impl UnitRecords {
    /// Empty buffers recording SoC every `soc_record_s` seconds of event
    /// time (non-finite or ≤ 0: no SoC records).
    pub fn new(soc_record_s: f64) -> Self {
        let soc_record_ns = if soc_record_s.is_finite() && soc_record_s > 0.0 {
            (soc_record_s * 1e9).round().max(1.0) as i64
        } else {
            0
        };
        Self {
            soc_record_ns,
            ..Self::default()
        }
    }

    /// Drop the records, keep the capacity and the settings; reserve room for
    /// about `events` dispatch records so a batch rarely grows the buffers.
    pub fn clear(&mut self, events: usize) {
        self.dispatch_event.clear();
        self.dispatch_unit.clear();
        self.dispatch_power_mw.clear();
        self.dispatch_reason.clear();
        self.soc_event.clear();
        self.soc_unit.clear();
        self.soc_frac.clear();
        self.soc_stored_mwh.clear();
        self.dispatch_event.reserve(events);
        self.dispatch_unit.reserve(events);
        self.dispatch_power_mw.reserve(events);
        self.dispatch_reason.reserve(events);
    }

    /// Number of dispatch records.
    pub fn n_dispatch(&self) -> usize {
        self.dispatch_event.len()
    }

    /// Number of SoC records.
    pub fn n_soc(&self) -> usize {
        self.soc_event.len()
    }
}
