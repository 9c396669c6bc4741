//! Frequency response: a droop curve with a deadband and a knee, the contract
//! it serves, and the record of required versus delivered response.
//!
//! The default curve is National Grid ESO's Dynamic Containment (GB): no
//! response within ±0.015 Hz of 50 Hz, a shallow slope to 5% of contracted
//! power at ±0.2 Hz, then linear to 100% at ±0.5 Hz, sustained for 15 min.

use serde::{Deserialize, Serialize};

use crate::{CoreError, CoreResult};

/// A symmetric droop curve. `fraction` is positive (discharge) below nominal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DroopCurve {
    /// Nominal frequency, Hz.
    pub nominal_hz: f64,
    /// No response while |Δf| ≤ deadband, Hz.
    pub deadband_hz: f64,
    /// |Δf| at the knee, Hz.
    pub knee_hz: f64,
    /// Response at the knee as a fraction of contracted power.
    pub knee_fraction: f64,
    /// |Δf| at which the full contracted power is required, Hz.
    pub full_hz: f64,
}

impl Default for DroopCurve {
    /// GB Dynamic Containment.
    fn default() -> Self {
        Self {
            nominal_hz: 50.0,
            deadband_hz: 0.015,
            knee_hz: 0.2,
            knee_fraction: 0.05,
            full_hz: 0.5,
        }
    }
}

impl DroopCurve {
    /// Check the curve.
    ///
    /// # Errors
    /// `CoreError::InvalidParameter` naming the parameter.
    pub fn validate(&self) -> CoreResult<()> {
        let bad = |n: &str, m: String| Err(CoreError::InvalidParameter(format!("{n}: {m}")));
        if !(self.nominal_hz.is_finite() && self.nominal_hz > 0.0) {
            return bad(
                "nominal_hz",
                format!("must be positive, got {}", self.nominal_hz),
            );
        }
        if !(self.deadband_hz.is_finite() && self.deadband_hz >= 0.0) {
            return bad(
                "deadband_hz",
                format!("must not be negative, got {}", self.deadband_hz),
            );
        }
        if self.knee_hz.is_nan() || self.knee_hz < self.deadband_hz {
            return bad(
                "knee_hz",
                format!(
                    "must be at least deadband_hz ({}), got {}",
                    self.deadband_hz, self.knee_hz
                ),
            );
        }
        if !(self.full_hz.is_finite() && self.full_hz > self.knee_hz) {
            return bad(
                "full_hz",
                format!(
                    "must be above knee_hz ({}), got {}",
                    self.knee_hz, self.full_hz
                ),
            );
        }
        if !(0.0..=1.0).contains(&self.knee_fraction) {
            return bad(
                "knee_fraction",
                format!("must be in [0, 1], got {}", self.knee_fraction),
            );
        }
        Ok(())
    }

    /// Required response as a signed fraction of contracted power: positive
    /// (discharge) below nominal, negative above, 0 in the deadband. NaN in,
    /// NaN out.
    #[inline]
    pub fn fraction(&self, frequency_hz: f64) -> f64 {
        let dev = self.nominal_hz - frequency_hz;
        let a = dev.abs();
        // A nano-hertz of slack so that 50.015 - 50.0 rounding up stays inside.
        let mag = if a <= self.deadband_hz + 1e-9 {
            0.0
        } else if a <= self.knee_hz {
            let span = self.knee_hz - self.deadband_hz;
            if span > 0.0 {
                self.knee_fraction * (a - self.deadband_hz) / span
            } else {
                self.knee_fraction
            }
        } else if a < self.full_hz {
            self.knee_fraction
                + (1.0 - self.knee_fraction) * (a - self.knee_hz) / (self.full_hz - self.knee_hz)
        } else {
            1.0
        };
        if a.is_nan() {
            f64::NAN
        } else {
            mag.copysign(dev)
        }
    }
}

/// The frequency-response contract of a fleet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrParams {
    /// The droop curve.
    pub curve: DroopCurve,
    /// Contracted power of the whole fleet, MW (0 disables the service).
    pub contracted_mw: f64,
    /// How long full response must be sustainable, s (DC: 900 s).
    pub sustain_s: f64,
    /// Shortfall allowed before an event-second counts as non-compliant, as a
    /// fraction of contracted power.
    pub tolerance_fraction: f64,
    /// |Δf| from which an excursion counts as an event: the trader's baseline
    /// is frozen (so it cannot offset the response) and restoring waits.
    pub event_threshold_hz: f64,
}

impl Default for FrParams {
    fn default() -> Self {
        Self {
            curve: DroopCurve::default(),
            contracted_mw: 0.0,
            sustain_s: 900.0,
            tolerance_fraction: 0.01,
            event_threshold_hz: 0.2,
        }
    }
}

impl FrParams {
    /// Check the contract.
    ///
    /// # Errors
    /// `CoreError::InvalidParameter` naming the parameter.
    pub fn validate(&self) -> CoreResult<()> {
        self.curve.validate()?;
        for (n, v) in [
            ("contracted_mw", self.contracted_mw),
            ("sustain_s", self.sustain_s),
            ("tolerance_fraction", self.tolerance_fraction),
            ("event_threshold_hz", self.event_threshold_hz),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(CoreError::InvalidParameter(format!(
                    "{n}: must be finite and not negative, got {v}"
                )));
            }
        }
        Ok(())
    }
}

/// Running record of required versus delivered response.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FrRecord {
    /// Seconds during which a response was required.
    pub event_time_s: f64,
    /// Of those, seconds with delivered ≥ required − tolerance.
    pub compliant_time_s: f64,
    /// Energy required, MWh (absolute).
    pub required_mwh: f64,
    /// Energy delivered towards the requirement, MWh (absolute, capped at required).
    pub delivered_mwh: f64,
    /// Largest shortfall seen, MW.
    pub max_shortfall_mw: f64,
}

impl FrRecord {
    /// Record one step; returns whether it was compliant.
    #[inline]
    pub fn record(&mut self, required_mw: f64, delivered_mw: f64, tol_mw: f64, dt_s: f64) -> bool {
        if required_mw == 0.0 || required_mw.is_nan() {
            return true;
        }
        let need = required_mw.abs();
        let got = delivered_mw * required_mw.signum();
        let ok = got >= need - tol_mw;
        self.event_time_s += dt_s;
        if ok {
            self.compliant_time_s += dt_s;
        }
        let dt_h = dt_s / 3600.0;
        self.required_mwh += need * dt_h;
        self.delivered_mwh += got.clamp(0.0, need) * dt_h;
        self.max_shortfall_mw = self.max_shortfall_mw.max(need - got);
        ok
    }

    /// Share of event time that was compliant (1.0 when there was no event).
    pub fn compliance(&self) -> f64 {
        if self.event_time_s > 0.0 {
            self.compliant_time_s / self.event_time_s
        } else {
            1.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_containment_points() {
        let c = DroopCurve::default();
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert_eq!(c.fraction(50.0), 0.0);
        assert_eq!(c.fraction(50.015), 0.0);
        assert_eq!(c.fraction(49.985), 0.0);
        assert!(close(c.fraction(49.8), 0.05));
        assert!(close(c.fraction(50.2), -0.05));
        assert!(close(c.fraction(49.5), 1.0));
        assert!(close(c.fraction(50.5), -1.0));
        assert!(close(c.fraction(49.65), 0.525));
        assert!(close(c.fraction(48.0), 1.0));
        assert!(close(c.fraction(50.1075), -0.025));
        assert!(c.fraction(f64::NAN).is_nan());
    }

    #[test]
    fn monotone_and_odd() {
        let c = DroopCurve::default();
        let mut last = f64::INFINITY;
        for i in 0..=2000 {
            let f = 49.0 + i as f64 * 0.001;
            let r = c.fraction(f);
            assert!(r <= last + 1e-15);
            assert!((r + c.fraction(100.0 - f)).abs() < 1e-9);
            last = r;
        }
    }

    #[test]
    fn bad_curve() {
        let c = DroopCurve {
            knee_hz: 0.6,
            ..Default::default()
        };
        assert!(
            matches!(c.validate(), Err(CoreError::InvalidParameter(m)) if m.starts_with("full_hz"))
        );
        let p = FrParams {
            contracted_mw: -1.0,
            ..Default::default()
        };
        assert!(
            matches!(p.validate(), Err(CoreError::InvalidParameter(m)) if m.starts_with("contracted_mw"))
        );
    }

    #[test]
    fn compliance_counts_event_time() {
        let mut r = FrRecord::default();
        assert!(r.record(0.0, 0.0, 0.01, 10.0));
        assert!(r.record(1.0, 0.995, 0.01, 30.0));
        assert!(!r.record(-1.0, -0.5, 0.01, 10.0));
        assert!((r.compliance() - 0.75).abs() < 1e-12);
        assert!((r.max_shortfall_mw - 0.5).abs() < 1e-12);
    }
}
