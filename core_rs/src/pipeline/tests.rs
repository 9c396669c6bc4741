//! Tests of the pipeline: compiled predictions, agents in the same loop.

use super::*;

fn spec(signals: &[&str]) -> FeatureSpec {
    FeatureSpec::new(
        signals.iter().map(|s| s.to_string()).collect(),
        vec![1],
        vec![2],
        &["mean".to_string()],
        true,
        false,
        false,
    )
    .unwrap()
}

#[test]
fn target_sources() {
    let s = spec(&["load_mw", "solar_mw"]);
    let t = TargetSource::resolve(&s, "net_load_mw").unwrap();
    assert_eq!(t.current(&[10.0, 3.0]), 7.0);
    assert!(t.current(&[10.0, f64::NAN]).is_nan());
    let t = TargetSource::resolve(&s, "solar_mw").unwrap();
    assert_eq!(t.current(&[10.0, 3.0]), 3.0);
    let err = TargetSource::resolve(&spec(&["price_per_mwh"]), "net_load_mw").unwrap_err();
    assert!(err.to_string().contains("net_load_mw"), "{err}");
}

#[test]
fn sort_small_orders_and_keeps_nan_rows() {
    let mut a = [3.0, 1.0, 2.0];
    sort_small(&mut a);
    assert_eq!(a, [1.0, 2.0, 3.0]);
    let mut b = [3.0, f64::NAN, 2.0];
    sort_small(&mut b);
    assert_eq!(b[0], 3.0);
}

/// Build a stand-in for a TL2cgen library: output 0 = the first feature
/// (or -1000 if missing), output 1 = the number of missing features.
fn fake_model(n_features: usize) -> Option<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "vpp-pipeline-test-{}-{n_features}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).ok()?;
    let src = dir.join("m.c");
    let lib = dir.join("m.so");
    let code = format!(
        "union Entry {{ int missing; float fvalue; int qvalue; }};\n\
         int get_num_feature(void) {{ return {n_features}; }}\n\
         int get_num_target(void) {{ return 2; }}\n\
         void predict(union Entry* d, int m, float* r) {{\n\
           r[0] += d[0].missing == -1 ? -1000.0f : d[0].fvalue;\n\
           for (int i = 0; i < {n_features}; i++) r[1] += d[i].missing == -1;\n\
         }}\n"
    );
    std::fs::write(&src, code).ok()?;
    let status = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&lib)
        .arg(&src)
        .status()
        .ok()?;
    status.success().then_some(lib)
}

#[test]
fn compiled_predictions_are_zeroed_missing_aware_levels() {
    let spec = spec(&["load_mw", "solar_mw"]);
    let nf = spec.layout().n_features;
    let Some(lib) = fake_model(nf) else {
        eprintln!("no C compiler: skipped");
        return;
    };
    let mut p = Pipeline::new(spec.clone(), &lib, "net_load_mw").unwrap();
    let s = p.engine_mut().site_index("a");
    let (mut feats, mut preds) = (vec![0.0; nf], vec![0.0; 2]);
    let names = spec.feature_names();
    let n = 30;
    let ts: Vec<i64> = (0..n as i64).map(|i| i * 60_000_000_000).collect();
    let vals: Vec<f64> = (0..2 * n)
        .map(|i| {
            if i % 7 == 3 {
                f64::NAN
            } else {
                10.0 + i as f64
            }
        })
        .collect();
    let mut loop_preds = Vec::new();
    for i in 0..n {
        let v = &vals[2 * i..2 * i + 2];
        p.push(ts[i], s, v, &mut feats, &mut preds).unwrap();
        let now = v[0] - v[1];
        let missing = feats.iter().filter(|x| !x.is_finite()).count() as f64;
        let first = if feats[0].is_finite() {
            feats[0] as f32 as f64
        } else {
            -1000.0
        };
        let mut want = [now + first, now + missing];
        if now.is_finite() {
            want.sort_by(f64::total_cmp);
            assert_eq!(preds, want, "event {i} ({:?})", &names[..2]);
        } else {
            assert!(preds.iter().all(|x| x.is_nan()));
        }
        loop_preds.extend_from_slice(&preds);
    }
    // The batch path equals the loop.
    let mut q = Pipeline::new(spec, &lib, "net_load_mw").unwrap();
    let sites = vec![q.engine_mut().site_index("a"); n];
    let (mut bf, mut bp) = (vec![0.0; n * nf], vec![0.0; n * 2]);
    q.process(
        &ts,
        &vals,
        &sites,
        OnOutOfOrder::Raise,
        &mut bf,
        &mut bp,
        None,
    )
    .unwrap();
    for (a, b) in bp.iter().zip(&loop_preds) {
        assert!(a == b || (a.is_nan() && b.is_nan()), "{a} vs {b}");
    }
    // A library with another feature count is refused with a clear message.
    let err = Pipeline::new(
        FeatureSpec::new(
            vec!["load_mw".into()],
            vec![1],
            vec![],
            &[],
            false,
            false,
            false,
        )
        .unwrap(),
        &lib,
        "load_mw",
    )
    .unwrap_err();
    assert!(err.to_string().contains("features"), "{err}");
}

/// Owned decision columns for tests.
#[derive(Debug, Default)]
struct Cols {
    total: Vec<f64>,
    req: Vec<f64>,
    del: Vec<f64>,
    arb: Vec<f64>,
    reason: Vec<u8>,
    stored: Vec<f64>,
}

impl Cols {
    fn new(n: usize) -> Self {
        Self {
            total: vec![0.0; n],
            req: vec![0.0; n],
            del: vec![0.0; n],
            arb: vec![0.0; n],
            reason: vec![0; n],
            stored: vec![0.0; n],
        }
    }

    fn view(&mut self) -> DecisionColumns<'_> {
        DecisionColumns {
            total_mw: &mut self.total,
            fr_required_mw: &mut self.req,
            fr_delivered_mw: &mut self.del,
            arbitrage_mw: &mut self.arb,
            reason: &mut self.reason,
            stored_mwh: &mut self.stored,
        }
    }

    fn push(&mut self, d: Option<Decision>) {
        let mut one = Cols::new(1);
        one.view().write(0, d.as_ref());
        self.total.push(one.total[0]);
        self.req.push(one.req[0]);
        self.del.push(one.del[0]);
        self.arb.push(one.arb[0]);
        self.reason.push(one.reason[0]);
        self.stored.push(one.stored[0]);
    }

    fn assert_same(&self, other: &Cols) {
        let same = |a: &[f64], b: &[f64]| {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(x, y)| x == y || (x.is_nan() && y.is_nan()))
        };
        assert!(
            same(&self.total, &other.total),
            "{:?} vs {:?}",
            self.total,
            other.total
        );
        assert!(same(&self.req, &other.req));
        assert!(same(&self.del, &other.del));
        assert!(same(&self.arb, &other.arb));
        assert!(same(&self.stored, &other.stored));
        assert_eq!(self.reason, other.reason);
    }
}

fn fr_agents(n_units: usize) -> AgentSet {
    use crate::agents::{AgentConfig, ArbitrageParams, BatteryParams, FrParams};
    let cfg = AgentConfig {
        fr: FrParams {
            contracted_mw: 1.0,
            ..Default::default()
        },
        arbitrage: ArbitrageParams {
            enabled: false,
            ..Default::default()
        },
        ..Default::default()
    };
    AgentSet::new(vec![(BatteryParams::default(), 0); n_units], 1, cfg).unwrap()
}

#[test]
fn attached_agents_decide_in_the_same_loop() {
    let spec = spec(&["load_mw", "frequency_hz"]);
    let nf = spec.layout().n_features;
    let Some(lib) = fake_model(nf) else {
        eprintln!("no C compiler: skipped");
        return;
    };
    let mut p = Pipeline::new(spec, &lib, "net_load_mw").unwrap();
    let s = p.engine_mut().site_index("grid");
    p.attach_agents(fr_agents(1));
    let ts = [60_000_000_000, 120_000_000_000, 180_000_000_000];
    // Nominal, low (discharge), high (charge) frequency.
    let vals = [100.0, 50.0, 100.0, 49.5, 100.0, 50.5];
    let (mut f, mut q, mut d) = (vec![0.0; 3 * nf], vec![0.0; 6], Cols::new(3));
    p.process(
        &ts,
        &vals,
        &[s; 3],
        OnOutOfOrder::Raise,
        &mut f,
        &mut q,
        Some(d.view()),
    )
    .unwrap();
    assert_eq!(d.total[0], 0.0);
    assert!(d.total[1] > 0.0 && d.total[2] < 0.0, "{:?}", d.total);
    // No price column: the (disabled) trader counts a hold.
    assert_eq!(d.reason[1], crate::agents::Reason::HoldNonFinite as u8);
    assert!(d.req[1] > 0.0 && d.stored[1] < d.stored[0]);
    assert_eq!(p.agents().unwrap().counters().events, 3);
    assert!(p.agents_cover(s) && !p.agents_cover(s + 1));
    assert!(p.detach_agents().is_some() && p.agents().is_none());
    // Wrong output lengths are a shape error, not a panic.
    let mut short = Cols::new(2);
    let err = p
        .process(
            &ts,
            &vals,
            &[s; 3],
            OnOutOfOrder::Skip,
            &mut f,
            &mut q,
            Some(short.view()),
        )
        .unwrap_err();
    assert!(matches!(err, CoreError::Shape(_)), "{err}");
}

/// The batch equals a loop of `push` and the agents run on their own,
/// with an out-of-order event and a site the agents do not cover.
#[test]
fn batch_decisions_equal_push_loop_and_agents_alone() {
    let spec = spec(&["load_mw", "frequency_hz", "price_per_mwh"]);
    let nf = spec.layout().n_features;
    let Some(lib) = fake_model(nf) else {
        eprintln!("no C compiler: skipped");
        return;
    };
    let n = 200;
    let mut ts = Vec::new();
    let mut sites = Vec::new();
    let mut vals = Vec::new();
    for i in 0..n {
        // Site 1 ("other") is not covered by the agents; event 51 of
        // site 0 repeats a timestamp (skipped as out of order).
        let site = usize::from(i % 5 == 4);
        let t = if i == 51 { (i - 1) * 60 } else { i * 60 };
        ts.push(t as i64 * 1_000_000_000);
        sites.push(site);
        let f = 50.0 + 0.3 * ((i as f64) * 0.37).sin();
        let price = if i % 17 == 0 {
            f64::NAN
        } else {
            40.0 + (i % 24) as f64
        };
        vals.extend_from_slice(&[100.0, f, price]);
    }
    let build = || {
        let mut p = Pipeline::new(spec.clone(), &lib, "load_mw").unwrap();
        assert_eq!(p.engine_mut().site_index("grid"), 0);
        p.attach_agents(fr_agents(3));
        assert_eq!(p.engine_mut().site_index("other"), 1);
        p
    };
    let mut batch = build();
    let (mut f, mut q, mut d) = (vec![0.0; n * nf], vec![0.0; n * 2], Cols::new(n));
    batch
        .process(
            &ts,
            &vals,
            &sites,
            OnOutOfOrder::Skip,
            &mut f,
            &mut q,
            Some(d.view()),
        )
        .unwrap();
    let mut looped = build();
    let mut l = Cols::default();
    let (mut row, mut pred) = (vec![0.0; nf], vec![0.0; 2]);
    for i in 0..n {
        let v = &vals[3 * i..3 * i + 3];
        match looped.push(ts[i], sites[i], v, &mut row, &mut pred) {
            Ok(dec) => l.push(dec),
            Err(CoreError::OutOfOrder { .. }) => l.push(None),
            Err(e) => panic!("{e}"),
        }
    }
    d.assert_same(&l);
    // Undecided: the other site and the repeated timestamp.
    for (i, &site) in sites.iter().enumerate() {
        let undecided = site == 1 || i == 51;
        assert_eq!(d.reason[i] == NO_DECISION, undecided, "event {i}");
        assert_eq!(d.total[i].is_nan(), undecided, "event {i}");
    }
    // The agents alone over the decided events give the same decisions.
    let keep: Vec<usize> = (0..n).filter(|&i| d.reason[i] != NO_DECISION).collect();
    let mut alone = fr_agents(3);
    let out = alone
        .run(
            &keep.iter().map(|&i| ts[i]).collect::<Vec<_>>(),
            &vec![0; keep.len()],
            &keep.iter().map(|&i| vals[3 * i + 1]).collect::<Vec<_>>(),
            &keep.iter().map(|&i| vals[3 * i + 2]).collect::<Vec<_>>(),
            None,
        )
        .unwrap();
    for (j, &i) in keep.iter().enumerate() {
        assert_eq!(out.total_mw[j], d.total[i], "event {i}");
        assert_eq!(out.reason[j], d.reason[i], "event {i}");
        assert_eq!(out.stored_mwh[j], d.stored[i], "event {i}");
    }
    // Unit state is readable from the pipeline and matches the agents.
    let units = batch.agents().unwrap().fleet().units();
    let stored: f64 = units.iter().map(|u| u.stored_mwh()).sum();
    assert!((stored - d.stored[*keep.last().unwrap()]).abs() < 1e-12);
}

/// Per-unit records: the batch equals a loop of `push_units` (event indices
/// remapped) and the agents alone over the decided events.
#[test]
fn batch_unit_records_equal_push_loop_and_agents_alone() {
    use crate::agents::UnitRecords;
    let spec = spec(&["load_mw", "frequency_hz", "price_per_mwh"]);
    let nf = spec.layout().n_features;
    let Some(lib) = fake_model(nf) else {
        eprintln!("no C compiler: skipped");
        return;
    };
    let n = 300;
    let (mut ts, mut sites, mut vals) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        // Event 40 repeats a timestamp (skipped); every 7th is the uncovered site.
        let t = if i == 40 { 39 * 60 } else { i as i64 * 60 };
        ts.push(t * 1_000_000_000);
        sites.push(usize::from(i % 7 == 6));
        // Runs of nominal frequency (power 0, thinned) between deviations.
        let f = if (i / 20) % 2 == 0 {
            50.0
        } else {
            50.0 - 0.4 * ((i as f64) * 0.3).sin()
        };
        vals.extend_from_slice(&[100.0, f, 45.0]);
    }
    let build = || {
        let mut p = Pipeline::new(spec.clone(), &lib, "load_mw").unwrap();
        assert_eq!(p.engine_mut().site_index("grid"), 0);
        p.attach_agents(fr_agents(3));
        assert_eq!(p.engine_mut().site_index("other"), 1);
        p
    };
    let (mut f, mut q) = (vec![0.0; n * nf], vec![0.0; n * 2]);
    let mut batch = build();
    let mut got = UnitRecords::new(600.0);
    batch
        .process_units(
            &ts,
            &vals,
            &sites,
            OnOutOfOrder::Skip,
            &mut f,
            &mut q,
            None,
            Some(&mut got),
            None,
        )
        .unwrap();
    assert!(got.n_dispatch() > 3 && got.n_dispatch() < 3 * n, "thinned");
    // 300 min of events, a record every 10 min per unit.
    assert_eq!(got.n_soc(), 3 * 30);
    let mut looped = build();
    let mut want = UnitRecords::new(600.0);
    let mut one = UnitRecords::new(600.0);
    let (mut row, mut pred) = (vec![0.0; nf], vec![0.0; 2]);
    let mut decided = Vec::new();
    for i in 0..n {
        let v = &vals[3 * i..3 * i + 3];
        match looped.push_units(ts[i], sites[i], v, &mut row, &mut pred, &mut one) {
            Ok(d) => {
                if d.is_some() {
                    decided.push(i);
                }
            }
            Err(CoreError::OutOfOrder { .. }) => continue,
            Err(e) => panic!("{e}"),
        }
        append(&mut want, &one, i as u64);
    }
    assert_eq!(got, want);
    // The agents alone over the decided events.
    let mut alone = fr_agents(3);
    let mut own = UnitRecords::new(600.0);
    alone
        .run_units(
            &decided.iter().map(|&i| ts[i]).collect::<Vec<_>>(),
            &vec![0; decided.len()],
            &decided.iter().map(|&i| vals[3 * i + 1]).collect::<Vec<_>>(),
            &decided.iter().map(|&i| vals[3 * i + 2]).collect::<Vec<_>>(),
            None,
            Some(&mut own),
        )
        .unwrap();
    for e in own
        .dispatch_event
        .iter_mut()
        .chain(own.soc_event.iter_mut())
    {
        *e = decided[*e as usize] as u64;
    }
    assert_eq!(own, got);
}

/// `into` += `one`'s records with their event index set to `event`.
fn append(into: &mut crate::agents::UnitRecords, one: &crate::agents::UnitRecords, event: u64) {
    for k in 0..one.n_dispatch() {
        into.dispatch_event.push(event + one.dispatch_event[k]);
        into.dispatch_unit.push(one.dispatch_unit[k]);
        into.dispatch_power_mw.push(one.dispatch_power_mw[k]);
        into.dispatch_reason.push(one.dispatch_reason[k]);
    }
    for k in 0..one.n_soc() {
        into.soc_event.push(event + one.soc_event[k]);
        into.soc_unit.push(one.soc_unit[k]);
        into.soc_frac.push(one.soc_frac[k]);
        into.soc_stored_mwh.push(one.soc_stored_mwh[k]);
    }
}

#[test]
fn missing_library_is_a_model_error() {
    let err = Pipeline::new(
        spec(&["load_mw"]),
        std::path::Path::new("/nonexistent/lib.so"),
        "load_mw",
    )
    .unwrap_err();
    assert!(matches!(err, CoreError::Model(_)), "{err}");
}
