//! Unit tests of the feature engine (push/process/snapshot contracts).
use super::*;

fn engine() -> FeatureEngine {
    let spec = FeatureSpec::new(
        vec!["load_mw".into(), "solar_mw".into()],
        vec![1, 3],
        vec![2, 4],
        &["mean".into(), "std".into(), "min".into(), "max".into()],
        true,
        true,
        true,
    )
    .unwrap();
    FeatureEngine::new(spec)
}

#[test]
fn lags_and_net_load() {
    let mut eng = engine();
    let s = eng.site_index("a");
    let names = eng.feature_names();
    let mut out = vec![0.0; eng.n_features()];
    for i in 0..5 {
        let v = [10.0 + i as f64, 1.0];
        eng.push(i * 1_000_000_000, s, &v, &mut out).unwrap();
    }
    let get = |n: &str| out[names.iter().position(|x| x == n).unwrap()];
    assert_eq!(get("load_mw_lag1"), 13.0);
    assert_eq!(get("load_mw_lag3"), 11.0);
    assert_eq!(get("net_load_mw_lag1"), 12.0);
    assert_eq!(get("net_load_mw_max4"), 13.0);
    assert_eq!(get("renewable_share"), 1.0 / 14.0);
    assert!((get("net_load_ramp_mw_per_h") - 3600.0).abs() < 1e-9);
}

#[test]
fn out_of_order_leaves_state_unchanged() {
    let mut eng = engine();
    let s = eng.site_index("a");
    let mut out = vec![0.0; eng.n_features()];
    eng.push(10, s, &[1.0, 0.0], &mut out).unwrap();
    let before = eng.snapshot().unwrap();
    let err = eng.push(10, s, &[2.0, 0.0], &mut out).unwrap_err();
    assert!(matches!(err, CoreError::OutOfOrder { .. }));
    assert_eq!(eng.snapshot().unwrap(), before);
    let err = eng.push(11, s, &[2.0], &mut out).unwrap_err();
    assert!(matches!(err, CoreError::Shape(_)));
}

#[test]
fn batch_equals_loop_and_snapshot_continues() {
    let mut a = engine();
    let mut b = engine();
    let n = 50;
    let f = a.n_features();
    let ids: Vec<usize> = (0..n)
        .map(|i| if i % 3 == 0 { "x" } else { "y" })
        .map(|s| a.site_index(s))
        .collect();
    for s in ["x", "y"] {
        b.site_index(s);
    }
    let ts: Vec<i64> = (0..n as i64).map(|i| i * 60_000_000_000).collect();
    let vals: Vec<f64> = (0..2 * n)
        .map(|i| {
            if i % 17 == 0 {
                f64::NAN
            } else {
                (i * 7 % 13) as f64
            }
        })
        .collect();
    let mut batch = vec![0.0; n * f];
    a.process(&ts, &vals, &ids, OnOutOfOrder::Raise, &mut batch)
        .unwrap();
    let mut row = vec![0.0; f];
    for i in 0..n {
        if i == 25 {
            b = FeatureEngine::restore(&b.snapshot().unwrap()).unwrap();
        }
        b.push(ts[i], ids[i], &vals[2 * i..2 * i + 2], &mut row)
            .unwrap();
        for j in 0..f {
            let (x, y) = (batch[i * f + j], row[j]);
            assert!(
                x == y || (x.is_nan() && y.is_nan()),
                "row {i} col {j}: {x} vs {y}"
            );
        }
    }
}

/// The AVX2 and baseline builds of the event loop agree bit for bit,
/// for every lane width (1, 2, 4 and 8 lanes).
#[test]
fn avx2_and_baseline_builds_agree_exactly() {
    let all: Vec<String> = crate::spec::CANONICAL_SIGNALS
        .iter()
        .map(|s| s.to_string())
        .collect();
    for k in 1..=all.len() {
        let spec = FeatureSpec::new(
            all[..k].to_vec(),
            vec![1, 5],
            vec![1, 3, 8],
            &["max".into(), "std".into(), "mean".into(), "min".into()],
            true,
            true,
            true,
        )
        .unwrap();
        let mut fast = FeatureEngine::new(spec.clone());
        let mut base = FeatureEngine::new(spec);
        base.plan.avx2 = false;
        let n = 400;
        let ids: Vec<usize> = (0..n)
            .map(|i| ["a", "b", "c"][i * 7 % 3])
            .map(|s| {
                base.site_index(s);
                fast.site_index(s)
            })
            .collect();
        let ts: Vec<i64> = (0..n as i64).map(|i| i * 60_000_000_000).collect();
        let mut state = 9u64;
        let vals: Vec<f64> = (0..n * k)
            .map(|i| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                let u = (state >> 11) as f64 / (1u64 << 53) as f64;
                match i % 37 {
                    0 => f64::NAN,
                    1 => f64::INFINITY,
                    _ => 1e6 + 50.0 * u,
                }
            })
            .collect();
        let f = fast.n_features();
        let (mut a, mut b) = (vec![0.0; n * f], vec![0.0; n * f]);
        fast.process(&ts, &vals, &ids, OnOutOfOrder::Raise, &mut a)
            .unwrap();
        base.process(&ts, &vals, &ids, OnOutOfOrder::Raise, &mut b)
            .unwrap();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a), bits(&b), "{k} signals");
        assert!(a.iter().any(|x| x.is_nan()) && a.iter().any(|x| x.is_finite()));
    }
}
