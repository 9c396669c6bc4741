//! Time the feature loop without Python: `cargo run --release --example feature_loop`.
use std::time::Instant;

use _core::features::{FeatureEngine, OnOutOfOrder};
use _core::spec::FeatureSpec;

fn main() {
    let sig = [
        "load_mw",
        "solar_mw",
        "wind_mw",
        "frequency_hz",
        "price_per_mwh",
        "temperature_c",
    ];
    let spec = FeatureSpec::new(
        sig.iter().map(|s| s.to_string()).collect(),
        vec![1, 2, 3, 6, 12, 24, 48],
        vec![4, 12, 24, 48],
        &std::env::var("STATS")
            .unwrap_or("mean,std,min,max".into())
            .split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect::<Vec<_>>(),
        true,
        true,
        true,
    )
    .expect("valid spec");
    let n: usize = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let ts: Vec<i64> = (0..n as i64).map(|i| i * 60_000_000_000).collect();
    let mut state = 1u64;
    let vals: Vec<f64> = (0..n * 6)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            (state >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect();
    let mut out = vec![0.0; n * FeatureEngine::new(spec.clone()).n_features()];
    for _ in 0..std::env::var("R")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
    {
        let mut eng = FeatureEngine::new(spec.clone());
        let s = eng.site_index("grid");
        let sites = vec![s; n];
        let t = Instant::now();
        eng.process(&ts, &vals, &sites, OnOutOfOrder::Raise, &mut out)
            .expect("ok");
        let dt = t.elapsed().as_secs_f64();
        println!(
            "{:.0} events/s ({:.0} ns/event)",
            n as f64 / dt,
            dt / n as f64 * 1e9
        );
    }
}
