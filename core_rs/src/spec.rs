//! What the feature engine computes, and the stable names of its outputs.

use serde::{Deserialize, Serialize};

use crate::calendar;
use crate::stats::StatFlags;
use crate::{CoreError, CoreResult};

/// Canonical signal names, in canonical order.
pub const CANONICAL_SIGNALS: [&str; 6] = [
    "load_mw",
    "solar_mw",
    "wind_mw",
    "frequency_hz",
    "price_per_mwh",
    "temperature_c",
];

/// Derived `load_mw - solar_mw - wind_mw`, present whenever `load_mw` is.
pub const NET_LOAD: &str = "net_load_mw";

/// Windows and lags longer than this are refused: state grows with them.
pub const MAX_HISTORY: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stat {
    Mean,
    Std,
    Min,
    Max,
}

impl Stat {
    pub fn parse(name: &str) -> CoreResult<Stat> {
        match name {
            "mean" => Ok(Stat::Mean),
            "std" => Ok(Stat::Std),
            "min" => Ok(Stat::Min),
            "max" => Ok(Stat::Max),
            other => Err(CoreError::InvalidSpec(format!(
                "unknown statistic {other:?}; expected one of mean, std, min, max"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Stat::Mean => "mean",
            Stat::Std => "std",
            Stat::Min => "min",
            Stat::Max => "max",
        }
    }
}

/// A validated feature specification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// Input signals, in the column order of the values the engine receives.
    pub signals: Vec<String>,
    pub lags: Vec<usize>,
    pub windows: Vec<usize>,
    pub stats: Vec<Stat>,
    pub diff: bool,
    pub calendar: bool,
    pub interactions: bool,
}

/// Where each input or derived quantity sits, resolved once from the spec.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Layout {
    /// Column of load, solar and wind in the input values, if present.
    pub load: Option<usize>,
    pub solar: Option<usize>,
    pub wind: Option<usize>,
    /// Number of channels: the signals plus net load when load is present.
    pub n_channels: usize,
    /// Features per channel.
    pub per_channel: usize,
    pub n_features: usize,
    pub max_history: usize,
    pub flags: StatFlags,
    pub renewable_share: bool,
}

impl FeatureSpec {
    /// Validate and build a spec.
    ///
    /// # Errors
    /// `CoreError::InvalidSpec` naming the offending value: an unknown or
    /// repeated signal, a lag or window of 0 or above `MAX_HISTORY`, a
    /// repeated lag/window/statistic, or an unknown statistic.
    pub fn new(
        signals: Vec<String>,
        lags: Vec<usize>,
        windows: Vec<usize>,
        stats: &[String],
        diff: bool,
        calendar: bool,
        interactions: bool,
    ) -> CoreResult<FeatureSpec> {
        if signals.is_empty() {
            return Err(CoreError::InvalidSpec("signals must not be empty".into()));
        }
        for (i, s) in signals.iter().enumerate() {
            if !CANONICAL_SIGNALS.contains(&s.as_str()) {
                return Err(CoreError::InvalidSpec(format!(
                    "unknown signal {s:?}; canonical signals are {CANONICAL_SIGNALS:?}"
                )));
            }
            if signals[..i].contains(s) {
                return Err(CoreError::InvalidSpec(format!(
                    "signal {s:?} is listed twice"
                )));
            }
        }
        check_sizes("lag", &lags)?;
        check_sizes("window", &windows)?;
        let stats = stats
            .iter()
            .map(|s| Stat::parse(s))
            .collect::<CoreResult<Vec<_>>>()?;
        for (i, s) in stats.iter().enumerate() {
            if stats[..i].contains(s) {
                return Err(CoreError::InvalidSpec(format!(
                    "statistic {:?} is listed twice",
                    s.name()
                )));
            }
        }
        Ok(FeatureSpec {
            signals,
            lags,
            windows,
            stats,
            diff,
            calendar,
            interactions,
        })
    }

    fn column(&self, name: &str) -> Option<usize> {
        self.signals.iter().position(|s| s == name)
    }

    /// The channels features are computed for: signals, then net load.
    pub fn channels(&self) -> Vec<String> {
        let mut ch = self.signals.clone();
        if self.column("load_mw").is_some() {
            ch.push(NET_LOAD.to_string());
        }
        ch
    }

    pub fn layout(&self) -> Layout {
        let load = self.column("load_mw");
        let solar = self.column("solar_mw");
        let wind = self.column("wind_mw");
        let n_channels = self.channels().len();
        let per_channel =
            self.lags.len() + self.windows.len() * self.stats.len() + usize::from(self.diff);
        let renewable_share =
            self.interactions && load.is_some() && (solar.is_some() || wind.is_some());
        let n_interactions = if self.interactions && load.is_some() {
            1 + usize::from(renewable_share)
        } else {
            0
        };
        let n_calendar = if self.calendar {
            calendar::NAMES.len()
        } else {
            0
        };
        let max_lag = self
            .lags
            .iter()
            .copied()
            .max()
            .unwrap_or(0)
            .max(usize::from(self.diff));
        let max_window = self.windows.iter().copied().max().unwrap_or(0);
        let flags = StatFlags {
            moments: self
                .stats
                .iter()
                .any(|s| matches!(s, Stat::Mean | Stat::Std)),
            min: self.stats.contains(&Stat::Min),
            max: self.stats.contains(&Stat::Max),
        };
        Layout {
            load,
            solar,
            wind,
            n_channels,
            per_channel,
            n_features: n_channels * per_channel + n_calendar + n_interactions,
            // The ring keeps one value beyond the longest window so the value
            // leaving it can be removed from the running sums.
            max_history: max_lag.max(max_window) + 1,
            flags,
            renewable_share,
        }
    }

    /// Output column names, stable across versions.
    pub fn feature_names(&self) -> Vec<String> {
        let layout = self.layout();
        let mut names = Vec::with_capacity(layout.n_features);
        for ch in self.channels() {
            for k in &self.lags {
                names.push(format!("{ch}_lag{k}"));
            }
            for w in &self.windows {
                for s in &self.stats {
                    names.push(format!("{ch}_{}{w}", s.name()));
                }
            }
            if self.diff {
                names.push(format!("{ch}_diff1"));
            }
        }
        if self.calendar {
            names.extend(calendar::NAMES.iter().map(|s| s.to_string()));
        }
        if self.interactions && layout.load.is_some() {
            if layout.renewable_share {
                names.push("renewable_share".into());
            }
            names.push("net_load_ramp_mw_per_h".into());
        }
        names
    }
}

fn check_sizes(what: &str, xs: &[usize]) -> CoreResult<()> {
    for (i, &x) in xs.iter().enumerate() {
        if x == 0 || x > MAX_HISTORY {
            return Err(CoreError::InvalidSpec(format!(
                "{what} {x} is out of range; {what}s must be in 1..={MAX_HISTORY}"
            )));
        }
        if xs[..i].contains(&x) {
            return Err(CoreError::InvalidSpec(format!(
                "{what} {x} is listed twice"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(signals: &[&str]) -> CoreResult<FeatureSpec> {
        FeatureSpec::new(
            signals.iter().map(|s| s.to_string()).collect(),
            vec![1, 2],
            vec![4],
            &["mean".to_string(), "max".to_string()],
            true,
            true,
            true,
        )
    }

    #[test]
    fn names_match_layout() {
        let s = spec(&["load_mw", "solar_mw"]).unwrap();
        let names = s.feature_names();
        assert_eq!(names.len(), s.layout().n_features);
        assert_eq!(names[0], "load_mw_lag1");
        assert!(names.contains(&"net_load_mw_mean4".to_string()));
        assert_eq!(names.last().unwrap(), "net_load_ramp_mw_per_h");
    }

    #[test]
    fn bad_specs_are_named() {
        let err = spec(&["load"]).unwrap_err().to_string();
        assert!(err.contains("\"load\""), "{err}");
        let err = spec(&["load_mw", "load_mw"]).unwrap_err().to_string();
        assert!(err.contains("twice"), "{err}");
    }
}
