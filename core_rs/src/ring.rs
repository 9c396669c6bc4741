//! Fixed-capacity ring buffer of the most recent values of one signal.

use serde::{Deserialize, Serialize};

/// The last `capacity` values pushed, newest first by `get(0)`.
///
/// Storage is allocated once at construction; `push` never allocates. The
/// storage is rounded up to a power of two so that indexing is a mask, not a
/// division: the feature loop reads the ring ~100 times per event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ring {
    buf: Vec<f64>,
    capacity: usize,
    mask: usize,
    /// Index where the next value is written.
    head: usize,
    len: usize,
}

impl Ring {
    /// A ring holding up to `capacity` values (at least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let size = capacity.next_power_of_two();
        Ring { buf: vec![f64::NAN; size], capacity, mask: size - 1, head: 0, len: 0 }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Append `x`, dropping the oldest value when full.
    #[inline]
    pub fn push(&mut self, x: f64) {
        self.buf[self.head] = x;
        self.head = (self.head + 1) & self.mask;
        if self.len < self.capacity {
            self.len += 1;
        }
    }

    /// The value pushed `k` pushes ago (`k = 0` is the newest), if still held.
    #[inline]
    pub fn get(&self, k: usize) -> Option<f64> {
        if k >= self.len {
            return None;
        }
        Some(self.buf[self.head.wrapping_sub(1 + k) & self.mask])
    }

    /// The newest `n` values, oldest first (`n` is clamped to `len`).
    pub fn last(&self, n: usize) -> impl Iterator<Item = f64> + '_ {
        let n = n.min(self.len);
        (0..n).rev().map(move |k| self.get(k).unwrap_or(f64::NAN))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn get_returns_lagged_values() {
        let mut r = Ring::new(3);
        assert!(r.get(0).is_none());
        for x in 1..=5 {
            r.push(x as f64);
        }
        assert_eq!(r.len(), 3);
        assert_eq!(r.get(0), Some(5.0));
        assert_eq!(r.get(2), Some(3.0));
        assert_eq!(r.get(3), None);
        assert_eq!(r.last(2).collect::<Vec<_>>(), vec![4.0, 5.0]);
    }

    proptest! {
        #[test]
        fn ring_matches_a_vec(cap in 1usize..20, xs in prop::collection::vec(-1e6f64..1e6, 0..100)) {
            let mut r = Ring::new(cap);
            for (i, &x) in xs.iter().enumerate() {
                r.push(x);
                prop_assert!(r.len() <= cap);
                prop_assert_eq!(r.len(), (i + 1).min(cap));
                for k in 0..=i {
                    let want = if k < cap { Some(xs[i - k]) } else { None };
                    prop_assert_eq!(r.get(k), want);
                }
                let fifo: Vec<f64> = r.last(cap).collect();
                prop_assert_eq!(&fifo[..], &xs[(i + 1).saturating_sub(cap)..=i]);
            }
        }
    }
}
