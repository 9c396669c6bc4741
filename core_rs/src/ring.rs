//! Fixed-capacity ring of the most recent rows of a site's channels.

use serde::{Deserialize, Serialize};

/// The last `capacity` rows pushed, each `lanes` wide, newest first by
/// `row(0)`.
///
/// A row holds one event's value of every channel side by side
/// (structure-of-arrays across channels), so the statistics update all
/// channels of a site with the same vector instructions. Storage is
/// allocated once at construction and filled with NaN, which doubles as
/// "no value that long ago": a lag longer than the history seen so far reads
/// NaN without a length check. The row count is rounded up to a power of two
/// so that indexing is a mask, not a division.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LaneRing {
    buf: Vec<f64>,
    lanes: usize,
    capacity: usize,
    mask: usize,
    /// Row where the next push is written.
    head: usize,
}

impl LaneRing {
    /// A ring of up to `capacity` rows (at least 1) of `lanes` values.
    pub fn new(capacity: usize, lanes: usize) -> Self {
        let capacity = capacity.max(1);
        let size = capacity.next_power_of_two();
        LaneRing {
            buf: vec![f64::NAN; size * lanes],
            lanes,
            capacity,
            mask: size - 1,
            head: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn lanes(&self) -> usize {
        self.lanes
    }

    /// Whether the internal sizes agree (a deserialized ring may not).
    pub fn is_consistent(&self, capacity: usize, lanes: usize) -> bool {
        let size = self.mask.wrapping_add(1);
        size.is_power_of_two()
            && size >= capacity
            && self.capacity == capacity
            && self.lanes == lanes
            && self.head < size
            && self.buf.len() == size * lanes
    }

    /// Append a row, dropping the oldest when full. `L` must equal `lanes`.
    #[inline]
    pub fn push<const L: usize>(&mut self, row: &[f64; L]) {
        let at = self.head * L;
        self.buf[at..at + L].copy_from_slice(row);
        self.head = (self.head + 1) & self.mask;
    }

    /// The row pushed `k` pushes ago (`k = 0` is the newest; `k` below
    /// `capacity`), all NaN if fewer than `k + 1` rows were pushed.
    #[inline]
    pub fn row<const L: usize>(&self, k: usize) -> &[f64; L] {
        debug_assert!(k < self.capacity && L == self.lanes);
        let at = (self.head.wrapping_sub(1 + k) & self.mask) * L;
        self.buf[at..at + L].try_into().expect("a row is L wide")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rows_are_lagged_and_nan_before_history() {
        let mut r = LaneRing::new(3, 2);
        assert!(r.row::<2>(0)[0].is_nan());
        for x in 1..=5 {
            r.push(&[x as f64, -(x as f64)]);
        }
        assert_eq!(r.row::<2>(0), &[5.0, -5.0]);
        assert_eq!(r.row::<2>(2), &[3.0, -3.0]);
        assert!(r.is_consistent(3, 2));
        assert!(!r.is_consistent(3, 4));
    }

    proptest! {
        #[test]
        fn ring_matches_a_vec(cap in 1usize..20, xs in prop::collection::vec(-1e6f64..1e6, 0..100)) {
            let mut r = LaneRing::new(cap, 4);
            for (i, &x) in xs.iter().enumerate() {
                r.push(&[x, x + 1.0, -x, 0.5]);
                for k in 0..cap {
                    let row = r.row::<4>(k);
                    if k <= i {
                        prop_assert_eq!(row, &[xs[i - k], xs[i - k] + 1.0, -xs[i - k], 0.5]);
                    } else {
                        prop_assert!(row.iter().all(|v| v.is_nan()));
                    }
                }
            }
        }
    }
}
