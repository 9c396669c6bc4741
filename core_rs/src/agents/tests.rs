use proptest::prelude::*;

use super::*;

const MIN_NS: i64 = 60_000_000_000;

fn agents(n_units: usize, contracted_mw: f64, arbitrage: bool) -> AgentSet {
    let units = vec![(BatteryParams::default(), 0usize); n_units];
    let cfg = AgentConfig {
        fr: FrParams {
            contracted_mw,
            ..Default::default()
        },
        arbitrage: ArbitrageParams {
            enabled: arbitrage,
            ..Default::default()
        },
        ..Default::default()
    };
    AgentSet::new(units, 1, cfg).unwrap()
}

#[test]
fn responds_on_the_same_event() {
    let mut a = agents(4, 2.0, false);
    let mut buf = vec![0.0; 4];
    let d = a.decide(MIN_NS, 0, 50.0, 50.0, &mut buf).unwrap();
    assert_eq!(d.fr_required_mw, 0.0);
    let d = a.decide(2 * MIN_NS, 0, 49.5, 50.0, &mut buf).unwrap();
    assert!((d.fr_required_mw - 2.0).abs() < 1e-12);
    assert!((d.total_mw - 2.0).abs() < 1e-9, "{d:?}");
    assert_eq!(d.reason, Reason::FrequencyResponse);
    assert!((buf.iter().sum::<f64>() - d.total_mw).abs() < 1e-9);
    // Headroom after the step: 4 units at 1 MW, energy far from the bounds.
    let f = a.fleet();
    assert!((d.headroom.up_mw - f.available_discharge_mw(Scope::Site(0), 60.0)).abs() < 1e-12);
    assert!((d.headroom.up_mw - 4.0).abs() < 1e-12 && (d.headroom.down_mw - 4.0).abs() < 1e-12);
    assert!((d.headroom.up_mwh - f.available_discharge_energy_mwh(Scope::All)).abs() < 1e-12);
    let d = a.decide(3 * MIN_NS, 0, 50.5, 50.0, &mut buf).unwrap();
    assert!(
        (d.total_mw + 2.0).abs() < 1e-9,
        "high frequency charges: {d:?}"
    );
    assert!((a.record().compliance() - 1.0).abs() < 1e-12);
}

#[test]
fn non_finite_inputs_hold_and_count() {
    let mut a = agents(2, 1.0, false);
    let mut buf = vec![0.0; 2];
    let d1 = a.decide(MIN_NS, 0, 49.7, 40.0, &mut buf).unwrap();
    let d2 = a
        .decide(2 * MIN_NS, 0, f64::NAN, f64::INFINITY, &mut buf)
        .unwrap();
    assert_eq!(d2.fr_required_mw, d1.fr_required_mw);
    assert_eq!(d2.arbitrage_mw, d1.arbitrage_mw);
    assert_eq!(d2.reason, Reason::HoldNonFinite);
    assert_eq!(a.counters().non_finite_frequency, 1);
    assert_eq!(a.counters().non_finite_price, 1);
}

#[test]
fn bad_calls_are_errors() {
    let mut a = agents(2, 0.0, true);
    let mut buf = vec![0.0; 2];
    a.decide(MIN_NS, 0, 50.0, 40.0, &mut buf).unwrap();
    assert!(matches!(
        a.decide(MIN_NS, 0, 50.0, 40.0, &mut buf),
        Err(CoreError::OutOfOrder { .. })
    ));
    assert!(matches!(
        a.decide(2 * MIN_NS, 3, 50.0, 40.0, &mut buf),
        Err(CoreError::InvalidParameter(_))
    ));
    assert!(matches!(
        a.decide(2 * MIN_NS, 0, 50.0, 40.0, &mut [0.0]),
        Err(CoreError::Shape(_))
    ));
}

#[test]
fn contract_must_fit() {
    let units = vec![(BatteryParams::default(), 0usize); 2];
    // 2 MW for 15 min each way from 2 × 1.6 MWh usable is fine; 2 h is not.
    let ok = AgentConfig {
        fr: FrParams {
            contracted_mw: 2.0,
            ..Default::default()
        },
        ..Default::default()
    };
    assert!(AgentSet::new(units.clone(), 1, ok).is_ok());
    let long = AgentConfig {
        fr: FrParams {
            contracted_mw: 2.0,
            sustain_s: 7200.0,
            ..Default::default()
        },
        ..Default::default()
    };
    assert!(
        matches!(AgentSet::new(units.clone(), 1, long), Err(CoreError::InvalidParameter(m)) if m.starts_with("contracted_mw"))
    );
    let big = AgentConfig {
        fr: FrParams {
            contracted_mw: 3.0,
            ..Default::default()
        },
        ..Default::default()
    };
    assert!(AgentSet::new(units, 1, big).is_err());
}

#[test]
fn trader_follows_forecast_within_unreserved_power() {
    let mut a = agents(2, 1.0, true);
    let mut buf = vec![0.0; 2];
    let hour = 60 * MIN_NS;
    let mut fc = vec![20.0; 6];
    fc.extend(vec![200.0; 6]);
    a.set_price_forecast(0, 0, &fc).unwrap();
    let (lo, hi) = a.band_mwh(0).unwrap();
    let mut max_abs: f64 = 0.0;
    let mut stored = Vec::new();
    for m in 0..(12 * 60) {
        let ts = (m + 1) * MIN_NS;
        let d = a
            .decide(ts, 0, 50.0, fc[((m * MIN_NS) / hour) as usize], &mut buf)
            .unwrap();
        max_abs = max_abs.max(d.arbitrage_mw.abs());
        stored.push(d.stored_mwh);
    }
    assert!(
        max_abs <= 1.0 + 1e-9,
        "2 MW fleet with 1 MW reserved traded {max_abs} MW"
    );
    let top = stored[6 * 60 - 1];
    assert!(
        top > hi - 0.1,
        "charged in the cheap hours: {top} (band {lo}..{hi})"
    );
    assert!(*stored.last().unwrap() < lo + 0.1, "sold in the dear ones");
    assert!(a.counters().energy_revenue > 0.0);
}

#[test]
fn restores_into_band_after_an_event() {
    let mut a = agents(1, 0.5, false);
    let mut buf = vec![0.0];
    let (lo, _) = a.band_mwh(0).unwrap();
    let mut ts = 0;
    // Ninety minutes at full response drains below the band...
    for _ in 0..(90 * 60) {
        ts += 1_000_000_000;
        a.decide(ts, 0, 49.4, 50.0, &mut buf).unwrap();
    }
    let after = a.fleet().stored_mwh(Scope::All);
    assert!(after < lo, "{after} vs {lo}");
    // ...then an hour at nominal restores it.
    for _ in 0..(60 * 60) {
        ts += 1_000_000_000;
        a.decide(ts, 0, 50.0, 50.0, &mut buf).unwrap();
    }
    let back = a.fleet().stored_mwh(Scope::All);
    // The correction is exponential (τ = 15 min): within 5% of the deficit.
    assert!(back >= lo - 0.05 * (lo - after), "{back} vs {lo}");
    assert!(
        back <= lo + 1e-9,
        "restoring stops at the band edge: {back}"
    );
}

#[test]
fn batch_equals_loop_and_snapshot_resumes() {
    let n = 3000;
    let ts: Vec<i64> = (1..=n as i64).map(|i| i * MIN_NS).collect();
    let sites = vec![0usize; n];
    let f: Vec<f64> = (0..n)
        .map(|i| 50.0 + 0.3 * ((i as f64) * 0.05).sin())
        .collect();
    let p: Vec<f64> = (0..n)
        .map(|i| 50.0 + 40.0 * ((i as f64) * 2.0 * std::f64::consts::PI / 1440.0).sin())
        .collect();
    let mut a = agents(3, 1.0, true);
    let out = a.run(&ts, &sites, &f, &p, None).unwrap();
    let mut b = agents(3, 1.0, true);
    let mut buf = vec![0.0; 3];
    let half = n / 2;
    for i in 0..half {
        let d = b.decide(ts[i], 0, f[i], p[i], &mut buf).unwrap();
        assert_eq!(d.total_mw, out.total_mw[i]);
    }
    let mut c = AgentSet::restore(&b.snapshot().unwrap()).unwrap();
    for i in half..n {
        let d = c.decide(ts[i], 0, f[i], p[i], &mut buf).unwrap();
        assert_eq!(d.total_mw, out.total_mw[i]);
        assert_eq!(d.reason as u8, out.reason[i]);
    }
    assert!(a.counters().plans > 0);
    assert!(AgentSet::restore(b"junk").is_err());
}

proptest! {
    #[test]
    fn units_stay_in_bounds_and_reserve_is_kept(
        steps in proptest::collection::vec((49.0f64..51.0, -100.0f64..300.0, 1i64..600), 1..300),
    ) {
        let mut a = agents(3, 1.5, true);
        a.set_price_forecast(0, 0, &[10.0, 300.0, 10.0, 300.0]).unwrap();
        let mut buf = vec![0.0; 3];
        let mut ts = 0i64;
        for (f, p, dt) in steps {
            ts += dt * 1_000_000_000;
            let d = a.decide(ts, 0, f, p, &mut buf).unwrap();
            prop_assert!(d.arbitrage_mw.abs() <= 1.5 + 1e-9);
            prop_assert!(d.total_mw.abs() <= 3.0 + 1e-9);
            for u in a.fleet().units() {
                prop_assert!(u.soc() >= 0.1 - 1e-12 && u.soc() <= 0.9 + 1e-12);
            }
        }
    }
}

/// Per-unit records: held until the next, a site's units add up to its
/// power at every event; SoC records follow the cadence, stay in bounds and
/// match the energy bookkeeping; a snapshot continues with the same records.
#[test]
fn unit_records_sum_to_the_site_and_survive_a_snapshot() {
    let n = 400;
    let ts: Vec<i64> = (1..=n as i64).map(|i| i * MIN_NS).collect();
    let f: Vec<f64> = (0..n)
        .map(|i| 50.0 + 0.45 * ((i as f64) * 0.05).sin())
        .collect();
    let p: Vec<f64> = (0..n).map(|i| 30.0 + (i % 60) as f64).collect();
    let sites = vec![0usize; n];
    let mut whole = agents(3, 2.0, true);
    let mut recs = UnitRecords::new(900.0);
    let out = whole
        .run_units(&ts, &sites, &f, &p, None, Some(&mut recs))
        .unwrap();
    let mut held = [0.0f64; 3];
    let mut k = 0;
    for i in 0..n {
        while k < recs.n_dispatch() && recs.dispatch_event[k] as usize == i {
            held[recs.dispatch_unit[k] as usize] = recs.dispatch_power_mw[k];
            assert_eq!(recs.dispatch_reason[k], out.reason[i]);
            k += 1;
        }
        let sum: f64 = held.iter().sum();
        assert!((sum - out.total_mw[i]).abs() < 1e-9, "event {i}");
    }
    assert!(recs.n_dispatch() < 3 * n);
    // Every 15 min of event time, from the first event.
    assert_eq!(recs.n_soc(), 3 * (n / 15 + 1));
    let params = BatteryParams::default();
    let start = params.start_soc * params.energy_mwh;
    for u in 0..3 {
        let mut stored = start;
        let mut held = 0.0;
        let mut k = 0;
        let mut s = 0;
        for i in 0..n {
            while k < recs.n_dispatch() && recs.dispatch_event[k] as usize == i {
                if recs.dispatch_unit[k] as usize == u {
                    held = recs.dispatch_power_mw[k];
                }
                k += 1;
            }
            let dt_h = 60.0 / 3600.0;
            stored += if held > 0.0 {
                -held * dt_h / params.discharge_efficiency
            } else {
                -held * dt_h * params.charge_efficiency
            };
            while s < recs.n_soc() && recs.soc_event[s] as usize <= i {
                if recs.soc_event[s] as usize == i && recs.soc_unit[s] as usize == u {
                    let soc = recs.soc_frac[s];
                    assert!((params.soc_min..=params.soc_max).contains(&soc));
                    assert!(
                        (recs.soc_stored_mwh[s] - stored).abs() < 1e-9,
                        "unit {u} event {i}"
                    );
                }
                s += 1;
            }
        }
    }
    // Snapshot half way: the same records after restore.
    let half = n / 2;
    let mut a = agents(3, 2.0, true);
    let mut first = UnitRecords::new(900.0);
    a.run_units(
        &ts[..half],
        &sites[..half],
        &f[..half],
        &p[..half],
        None,
        Some(&mut first),
    )
    .unwrap();
    let mut b = AgentSet::restore(&a.snapshot().unwrap()).unwrap();
    let mut second = UnitRecords::new(900.0);
    b.run_units(
        &ts[half..],
        &sites[half..],
        &f[half..],
        &p[half..],
        None,
        Some(&mut second),
    )
    .unwrap();
    let split = first.n_dispatch();
    assert_eq!(first.dispatch_power_mw[..], recs.dispatch_power_mw[..split]);
    assert_eq!(
        second.dispatch_power_mw[..],
        recs.dispatch_power_mw[split..]
    );
    let shifted: Vec<u64> = second
        .dispatch_event
        .iter()
        .map(|e| e + half as u64)
        .collect();
    assert_eq!(shifted[..], recs.dispatch_event[split..]);
    assert_eq!(first.n_soc() + second.n_soc(), recs.n_soc());
}

/// Per event, each unit's held dispatch record (NaN before its first).
fn held_per_event(recs: &UnitRecords, n_events: usize, n_units: usize) -> Vec<Vec<f64>> {
    let mut held = vec![f64::NAN; n_units];
    let mut out = Vec::with_capacity(n_events);
    let mut k = 0;
    for i in 0..n_events {
        while k < recs.n_dispatch() && recs.dispatch_event[k] as usize == i {
            held[recs.dispatch_unit[k] as usize] = recs.dispatch_power_mw[k];
            k += 1;
        }
        out.push(held.clone());
    }
    out
}

/// With a tolerance, frequency response's small moves and reason flips are
/// thinned: fewer records, each held record within the tolerance of its
/// unit's power, and a unit at exactly 0 MW is recorded at exactly 0.
#[test]
fn dispatch_tolerance_thins_records_within_bounds() {
    let n = 600;
    let ts: Vec<i64> = (1..=n as i64).map(|i| i * MIN_NS).collect();
    // Frequency wandering through and out of the deadband.
    let f: Vec<f64> = (0..n)
        .map(|i| 50.0 + 0.25 * ((i as f64) * 0.07).sin() * ((i as f64) * 0.011).cos())
        .collect();
    let p: Vec<f64> = (0..n).map(|i| 30.0 + (i % 60) as f64).collect();
    let sites = vec![0usize; n];
    let run = |tol: f64| {
        let mut recs = UnitRecords::new(900.0);
        recs.dispatch_tolerance_mw = tol;
        agents(3, 2.0, false)
            .run_units(&ts, &sites, &f, &p, None, Some(&mut recs))
            .unwrap();
        recs
    };
    let exact = run(0.0);
    let tol = 0.05;
    let thin = run(tol);
    assert!(
        thin.n_dispatch() * 2 < exact.n_dispatch(),
        "{} vs {}",
        thin.n_dispatch(),
        exact.n_dispatch()
    );
    let truth = held_per_event(&exact, n, 3);
    let held = held_per_event(&thin, n, 3);
    let mut zeros = 0;
    for i in 0..n {
        for u in 0..3 {
            let (t, h) = (truth[i][u], held[i][u]);
            assert!(
                (t - h).abs() <= tol + 1e-12,
                "event {i} unit {u}: {h} vs {t}"
            );
            if t == 0.0 {
                zeros += 1;
                assert_eq!(h, 0.0, "event {i} unit {u}");
            }
        }
    }
    assert!(zeros > 0, "the frequency must sit in the deadband at times");
}

#[test]
fn measured_soc_sets_the_sites_units_within_their_bounds() {
    let units = vec![
        (BatteryParams::default(), 0usize),
        (BatteryParams::default(), 0usize),
        (BatteryParams::default(), 1usize),
    ];
    let mut a = AgentSet::new(units, 2, AgentConfig::default()).unwrap();
    let (lo, hi) = (
        BatteryParams::default().soc_min,
        BatteryParams::default().soc_max,
    );
    let e = BatteryParams::default().energy_mwh;
    let before = a.fleet().units()[2].soc();
    let stored = a.sync_site_soc(0, 0.99).unwrap();
    assert!((stored - 2.0 * hi * e).abs() < 1e-12, "clamped to soc_max");
    assert_eq!(
        a.fleet().units()[2].soc(),
        before,
        "another site is untouched"
    );
    a.sync_site_soc(0, f64::NAN).unwrap();
    assert!(
        (a.fleet().units()[0].soc() - hi).abs() < 1e-12,
        "NaN changes nothing"
    );
    a.sync_site_soc(1, -1.0).unwrap();
    assert!(
        (a.fleet().units()[2].soc() - lo).abs() < 1e-12,
        "clamped to soc_min"
    );
    assert!(matches!(
        a.sync_site_soc(2, 0.5),
        Err(CoreError::InvalidParameter { .. })
    ));
}

#[test]
fn a_run_starts_each_step_from_the_measured_soc() {
    let n = 30usize;
    let ts: Vec<i64> = (1..=n as i64).map(|i| i * MIN_NS).collect();
    let sites = vec![0usize; n];
    let f = vec![49.5; n]; // under-frequency throughout: the units discharge
    let p = vec![50.0; n];
    let mut soc = vec![f64::NAN; n];
    soc[10] = 0.6;
    let mut measured = agents(2, 2.0, false);
    let out = measured
        .run_measured((&ts, &sites, &f, &p), Some(&soc), None, None)
        .unwrap();
    let e = 2.0 * BatteryParams::default().energy_mwh;
    // The reading is the state at event 10: that event's step starts from it
    // (discharging), the same as a set whose units were set to 0.6 just
    // before event 10.
    assert!(out.stored_mwh[10] < 0.6 * e - 1e-6);
    let mut model = agents(2, 2.0, false);
    let head = model
        .run(&ts[..10], &sites[..10], &f[..10], &p[..10], None)
        .unwrap();
    assert_eq!(&out.stored_mwh[..10], &head.stored_mwh[..]);
    assert!((head.stored_mwh[9] - 0.6 * e).abs() > 1e-3);
    model.sync_site_soc(0, 0.6).unwrap();
    let tail = model
        .run(&ts[10..], &sites[10..], &f[10..], &p[10..], None)
        .unwrap();
    assert_eq!(&out.stored_mwh[10..], &tail.stored_mwh[..]);
    assert!(matches!(
        measured.run_measured((&ts, &sites, &f, &p), Some(&soc[1..]), None, None),
        Err(CoreError::Shape(_))
    ));
}
