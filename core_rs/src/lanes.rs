//! From lane-major feature rows (one lane per channel, as the statistics
//! compute them) to the channel-major output row users see.
//!
//! `rows[j][c]` is feature `j` of channel `c`; the output wants
//! `out[c * rows.len() + j]`. Moving values one at a time costs a load and a
//! store per feature, which at ~160 features per event is a visible share of
//! the event loop, so AVX2 CPUs move 4 x 4 blocks with shuffles instead.

/// Transpose the first `n_ch` lanes of `rows` into `out` (`n_ch * rows.len()`
/// values). `AVX2` selects the shuffle version; it must only be true in code
/// compiled for, and run on, a CPU with AVX2.
#[inline(always)]
pub fn transpose<const L: usize, const AVX2: bool>(
    rows: &[[f64; L]],
    n_ch: usize,
    out: &mut [f64],
) {
    #[cfg(target_arch = "x86_64")]
    if AVX2 && L >= 4 && rows.len() >= 4 {
        // SAFETY: callers pass AVX2 = true only on CPUs that report AVX2.
        unsafe { transpose_avx2(rows, n_ch, out) };
        return;
    }
    transpose_portable(rows, n_ch, out);
}

/// Two channels and two features at a time; an odd last channel is paired
/// with the one before it, which is simply written twice.
#[inline(always)]
fn transpose_portable<const L: usize>(rows: &[[f64; L]], n_ch: usize, out: &mut [f64]) {
    let per = rows.len();
    if n_ch < 2 {
        for (o, r) in out[..n_ch * per].iter_mut().zip(rows) {
            *o = r[0];
        }
        return;
    }
    let mut c = 0;
    while c < n_ch {
        let c0 = c.min(n_ch - 2);
        let (o0, o1) = out[c0 * per..(c0 + 2) * per].split_at_mut(per);
        let mut pairs = rows.chunks_exact(2);
        let mut j = 0;
        for pair in pairs.by_ref() {
            let (a, b) = (&pair[0][c0..c0 + 2], &pair[1][c0..c0 + 2]);
            o0[j..j + 2].copy_from_slice(&[a[0], b[0]]);
            o1[j..j + 2].copy_from_slice(&[a[1], b[1]]);
            j += 2;
        }
        if let [last] = pairs.remainder() {
            o0[j] = last[c0];
            o1[j] = last[c0 + 1];
        }
        c += 2;
    }
}

/// 4 channels x 4 features per block: four loads, eight shuffles, up to
/// four stores. A feature count that is not a multiple of 4 ends with a
/// block overlapping the one before (rewriting equal values).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn transpose_avx2<const L: usize>(rows: &[[f64; L]], n_ch: usize, out: &mut [f64]) {
    use std::arch::x86_64::{
        _mm256_loadu_pd, _mm256_permute2f128_pd, _mm256_storeu_pd, _mm256_unpackhi_pd,
        _mm256_unpacklo_pd,
    };
    let per = rows.len();
    assert!(L >= 4 && L.is_multiple_of(4) && per >= 4 && n_ch <= L && out.len() >= n_ch * per);
    let src = rows.as_ptr().cast::<f64>();
    let dst = out.as_mut_ptr();
    for g in (0..n_ch).step_by(4) {
        let live = (n_ch - g).min(4);
        let mut j = 0;
        loop {
            let j0 = j.min(per - 4);
            // SAFETY: rows j0..j0 + 4 exist (j0 + 4 <= per) and lanes
            // g..g + 4 lie inside a row (g is a multiple of 4 below L); the
            // stores go to channels g + k < n_ch, features j0..j0 + 4 < per,
            // inside out[..n_ch * per].
            unsafe {
                let r0 = _mm256_loadu_pd(src.add(j0 * L + g));
                let r1 = _mm256_loadu_pd(src.add((j0 + 1) * L + g));
                let r2 = _mm256_loadu_pd(src.add((j0 + 2) * L + g));
                let r3 = _mm256_loadu_pd(src.add((j0 + 3) * L + g));
                let t0 = _mm256_unpacklo_pd(r0, r1);
                let t1 = _mm256_unpackhi_pd(r0, r1);
                let t2 = _mm256_unpacklo_pd(r2, r3);
                let t3 = _mm256_unpackhi_pd(r2, r3);
                let cols = [
                    _mm256_permute2f128_pd::<0x20>(t0, t2),
                    _mm256_permute2f128_pd::<0x20>(t1, t3),
                    _mm256_permute2f128_pd::<0x31>(t0, t2),
                    _mm256_permute2f128_pd::<0x31>(t1, t3),
                ];
                for (k, col) in cols.into_iter().enumerate().take(live) {
                    _mm256_storeu_pd(dst.add((g + k) * per + j0), col);
                }
            }
            if j0 + 4 == per {
                break;
            }
            j += 4;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<const L: usize>(per: usize, n_ch: usize) {
        let rows: Vec<[f64; L]> = (0..per)
            .map(|j| std::array::from_fn(|c| (100 * c + j) as f64))
            .collect();
        let want: Vec<f64> = (0..n_ch)
            .flat_map(|c| (0..per).map(move |j| (100 * c + j) as f64))
            .collect();
        let mut out = vec![f64::NAN; n_ch * per + 3];
        transpose::<L, false>(&rows, n_ch, &mut out);
        assert_eq!(
            &out[..n_ch * per],
            &want[..],
            "portable L={L} per={per} n_ch={n_ch}"
        );
        assert!(out[n_ch * per..].iter().all(|v| v.is_nan()));
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            let mut out = vec![f64::NAN; n_ch * per + 3];
            transpose::<L, true>(&rows, n_ch, &mut out);
            assert_eq!(
                &out[..n_ch * per],
                &want[..],
                "avx2 L={L} per={per} n_ch={n_ch}"
            );
            assert!(out[n_ch * per..].iter().all(|v| v.is_nan()));
        }
    }

    #[test]
    fn every_shape_transposes() {
        for per in 0..12 {
            check::<1>(per, 1);
            for n_ch in 1..=2 {
                check::<2>(per, n_ch);
            }
            for n_ch in 1..=4 {
                check::<4>(per, n_ch);
            }
            for n_ch in 1..=8 {
                check::<8>(per, n_ch);
            }
        }
    }
}
