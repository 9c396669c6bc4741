//! Calendar features from a UTC timestamp in nanoseconds.

use std::f64::consts::TAU;

const NS_PER_DAY: i64 = 86_400_000_000_000;

/// Names of the calendar features, in output order.
pub const NAMES: [&str; 7] = [
    "hour_sin",
    "hour_cos",
    "dow_sin",
    "dow_cos",
    "month_sin",
    "month_cos",
    "is_weekend",
];

/// Civil (year, month 1..=12, day) of a count of days since 1970-01-01
/// (proleptic Gregorian; Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Write the calendar features of `ts_ns` into `out[..7]`.
///
/// Hour uses fractional hours of the UTC day; day-of-week counts Monday as 0;
/// month uses (month - 1) / 12 of a turn.
#[inline]
pub fn write(ts_ns: i64, out: &mut [f64]) {
    let days = ts_ns.div_euclid(NS_PER_DAY);
    let ns_of_day = ts_ns.rem_euclid(NS_PER_DAY);
    let (h_sin, h_cos) = (TAU * ns_of_day as f64 / NS_PER_DAY as f64).sin_cos();
    out[0] = h_sin;
    out[1] = h_cos;
    out[2..7].copy_from_slice(&day_terms(days));
}

/// The terms that change once a day, memoised for the last day seen: the
/// feature loop calls this for every event.
fn day_terms(days: i64) -> [f64; 5] {
    thread_local! {
        static LAST: std::cell::Cell<(i64, [f64; 5])> = const { std::cell::Cell::new((i64::MIN, [0.0; 5])) };
    }
    LAST.with(|last| {
        let (d, terms) = last.get();
        if d == days {
            return terms;
        }
        let dow = (days + 3).rem_euclid(7); // 1970-01-01 was a Thursday
        let (_, month, _) = civil_from_days(days);
        let (d_sin, d_cos) = (TAU * dow as f64 / 7.0).sin_cos();
        let (m_sin, m_cos) = (TAU * (month - 1) as f64 / 12.0).sin_cos();
        let terms = [d_sin, d_cos, m_sin, m_cos, if dow >= 5 { 1.0 } else { 0.0 }];
        last.set((days, terms));
        terms
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn saturday_noon_in_june() {
        // 2024-06-15 12:00 UTC, a Saturday.
        let ts = (19_889 * 86_400 + 12 * 3600) as i64 * 1_000_000_000;
        let mut out = [0.0; 7];
        write(ts, &mut out);
        assert!((out[0] - 0.0).abs() < 1e-12 && (out[1] + 1.0).abs() < 1e-12);
        assert_eq!(out[6], 1.0);
        assert!((out[4] - (TAU * 5.0 / 12.0).sin()).abs() < 1e-12);
    }
}
