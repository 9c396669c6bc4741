//! A TL2cgen-compiled tree ensemble, loaded from its shared library and
//! called directly (no Treelite runtime in between).
//!
//! The generated C has the signature
//! `void predict(union Entry* data, int pred_margin, float* result)` with
//! `union Entry { int missing; float fvalue; int qvalue; }`. Two facts of that
//! code shape this module: `predict` ADDS to `result` (so it is zeroed before
//! each call), and a missing feature must be the int bit pattern -1 — a NaN
//! `fvalue` would take the "not missing" branch of every split on it.

use std::ffi::c_int;
use std::path::{Path, PathBuf};

use libloading::Library;

use crate::{CoreError, CoreResult};

/// One feature as the generated code reads it.
#[repr(C)]
#[derive(Clone, Copy)]
pub union Entry {
    missing: c_int,
    fvalue: f32,
}

impl Entry {
    /// A present value (float32, as XGBoost itself casts), or "missing" for
    /// NaN and ±inf.
    #[inline]
    pub fn from_f64(v: f64) -> Entry {
        if v.is_finite() {
            Entry { fvalue: v as f32 }
        } else {
            Entry { missing: -1 }
        }
    }
}

type PredictFn = unsafe extern "C" fn(*mut Entry, c_int, *mut f32);
type CountFn = unsafe extern "C" fn() -> i32;

/// A compiled model: the library stays loaded as long as this value lives,
/// which keeps the function pointer valid.
pub struct CompiledModel {
    predict: PredictFn,
    n_features: usize,
    n_targets: usize,
    path: PathBuf,
    entries: Vec<Entry>,
    raw: Vec<f32>,
    // Declared last so it is dropped after everything that points into it.
    _lib: Library,
}

impl std::fmt::Debug for CompiledModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledModel")
            .field("path", &self.path)
            .field("n_features", &self.n_features)
            .field("n_targets", &self.n_targets)
            .finish()
    }
}

impl CompiledModel {
    /// Load the library at `path` and check that it takes `expected_features`
    /// features.
    ///
    /// Loading runs the library's initialisers: only load libraries built by
    /// `vpp compile` (or another trusted build).
    ///
    /// # Errors
    /// `CoreError::Model` if the file cannot be loaded, lacks `predict`,
    /// `get_num_feature` or `get_num_target`, or its feature count differs
    /// from `expected_features`.
    pub fn load(path: &Path, expected_features: usize) -> CoreResult<CompiledModel> {
        let shown = path.display();
        // SAFETY: loading a shared library runs its constructors; the caller
        // vouches for the library (documented above). TL2cgen output has none.
        let lib = unsafe { Library::new(path) }
            .map_err(|e| CoreError::Model(format!("cannot load compiled model {shown}: {e}")))?;
        // SAFETY: the symbol types are those of TL2cgen's generated header.
        let (predict, n_features, n_targets) = unsafe {
            let predict = *lib
                .get::<PredictFn>(b"predict\0")
                .map_err(|e| missing(path, "predict", e))?;
            let nf = *lib
                .get::<CountFn>(b"get_num_feature\0")
                .map_err(|e| missing(path, "get_num_feature", e))?;
            let nt = *lib
                .get::<CountFn>(b"get_num_target\0")
                .map_err(|e| missing(path, "get_num_target", e))?;
            (predict, nf(), nt())
        };
        if n_features < 0 || n_features as usize != expected_features {
            return Err(CoreError::Model(format!(
                "compiled model {shown} takes {n_features} features but the feature spec yields \
                 {expected_features}; the model was trained with a different spec"
            )));
        }
        if n_targets < 1 {
            return Err(CoreError::Model(format!(
                "compiled model {shown} reports {n_targets} targets"
            )));
        }
        let (n_features, n_targets) = (n_features as usize, n_targets as usize);
        Ok(CompiledModel {
            predict,
            n_features,
            n_targets,
            path: path.to_path_buf(),
            entries: vec![Entry { missing: -1 }; n_features],
            raw: vec![0.0; n_targets],
            _lib: lib,
        })
    }

    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Outputs per row (one per quantile for a multi-quantile model).
    pub fn n_targets(&self) -> usize {
        self.n_targets
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Predict one row (`features.len() == n_features`, NaN = missing) into
    /// `out` (`n_targets` values). No allocation.
    ///
    /// # Errors
    /// `CoreError::Shape` on wrong lengths.
    #[inline]
    pub fn predict_row(&mut self, features: &[f64], out: &mut [f64]) -> CoreResult<()> {
        if features.len() != self.n_features || out.len() != self.n_targets {
            return Err(CoreError::Shape(format!(
                "model takes {} features and gives {} outputs; got {} and {}",
                self.n_features,
                self.n_targets,
                features.len(),
                out.len()
            )));
        }
        for (e, &v) in self.entries.iter_mut().zip(features) {
            *e = Entry::from_f64(v);
        }
        self.raw.fill(0.0);
        // SAFETY: `entries` has n_features entries and `raw` n_targets floats,
        // the sizes the library reported; it reads and writes nothing else.
        unsafe { (self.predict)(self.entries.as_mut_ptr(), 0, self.raw.as_mut_ptr()) };
        for (o, &r) in out.iter_mut().zip(&self.raw) {
            *o = f64::from(r);
        }
        Ok(())
    }

    /// Predict a row-major `(n, n_features)` batch into `(n, n_targets)`.
    ///
    /// # Errors
    /// `CoreError::Shape` on inconsistent lengths.
    pub fn predict_batch(&mut self, x: &[f64], out: &mut [f64]) -> CoreResult<()> {
        let (f, t) = (self.n_features, self.n_targets);
        if !x.len().is_multiple_of(f) || out.len() != x.len() / f * t {
            return Err(CoreError::Shape(format!(
                "batch of {} values is not (n, {f}) or the output is not (n, {t})",
                x.len()
            )));
        }
        for (row, o) in x.chunks_exact(f).zip(out.chunks_exact_mut(t)) {
            self.predict_row(row, o)?;
        }
        Ok(())
    }
}

fn missing(path: &Path, symbol: &str, e: libloading::Error) -> CoreError {
    CoreError::Model(format!(
        "{} is not a TL2cgen model library (no `{symbol}` symbol: {e})",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_is_int_minus_one() {
        let e = Entry::from_f64(f64::NAN);
        // SAFETY: reading the int view of a union written as int.
        assert_eq!(unsafe { e.missing }, -1);
        let e = Entry::from_f64(f64::INFINITY);
        assert_eq!(unsafe { e.missing }, -1);
        let e = Entry::from_f64(1.5);
        assert_eq!(unsafe { e.fvalue }, 1.5f32);
    }

    #[test]
    fn bad_library_is_a_model_error() {
        let dir = std::env::temp_dir().join(format!("vpp-model-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("not_a_lib.so");
        std::fs::write(&p, b"not an ELF file").unwrap();
        let err = CompiledModel::load(&p, 3).unwrap_err();
        assert!(matches!(err, CoreError::Model(_)), "{err}");
        assert!(err.to_string().contains("not_a_lib.so"), "{err}");
        let err = CompiledModel::load(&dir.join("absent.so"), 3).unwrap_err();
        assert!(matches!(err, CoreError::Model(_)), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
