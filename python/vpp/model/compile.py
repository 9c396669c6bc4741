"""Compile a forecast model to a shared library: Treelite → TL2cgen C → gcc.

Libraries are cached by the model's content hash under
``$VPP_CACHE_DIR/compiled/<hash>/`` (default ``~/.cache/vpp/compiled/<hash>/``),
so a model compiles once per machine. Each build is checked against XGBoost
on synthetic rows (with missing values) before it is used.

The compiler flags are tuned per model by :func:`compile_model` with
``tune=True``: every candidate is built and timed on the same rows,
interleaved, and the fastest is recorded in ``selected.json`` next to the
libraries, so later calls without explicit flags reuse it. Large generated
tree code is bound by the instruction cache and branch prediction, so small
code (``-Os``/``-O1``) often beats ``-O3``.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vpp.errors import ModelError
from vpp.model.artifact import ForecastModel

__all__ = [
    "CANDIDATE_FLAGS",
    "DEFAULT_FLAGS",
    "CompiledLibrary",
    "CompilerUnavailable",
    "cache_root",
    "compile_model",
    "find_compiler",
    "synthetic_rows",
]

log = logging.getLogger("vpp.model.compile")

#: Flags when none are given and no tuning was recorded (tuned on the default
#: model; see models/default/README.md).
DEFAULT_FLAGS: tuple[str, ...] = ("-O2",)
CANDIDATE_FLAGS: tuple[tuple[str, ...], ...] = (("-Os",), ("-O1",), ("-O2",), ("-O3",))
_COMMON_FLAGS = ("-fPIC", "-shared", "-std=c99")
#: Relative tolerance of the post-build check against XGBoost (float32 sums).
CHECK_RTOL = 1e-4


class CompilerUnavailable(ModelError):
    """No C compiler was found (callers fall back to XGBoost)."""


@dataclass
class CompiledLibrary:
    """A built model library and how it was built."""

    path: Path
    flags: list[str]
    content_hash: str
    compile_seconds: float
    compiler: str
    tuning_ns_per_row: dict[str, float] | None = None
    checked_rows: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def cache_root() -> Path:
    """Where compiled models live: ``$VPP_CACHE_DIR/compiled`` or ``~/.cache/vpp/compiled``."""
    base = os.environ.get("VPP_CACHE_DIR")
    root = Path(base) if base else Path.home() / ".cache" / "vpp"
    return root / "compiled"


def find_compiler() -> str | None:
    """``$CC`` if set and found, else gcc, else cc; None if there is none."""
    for name in (os.environ.get("CC"), "gcc", "cc"):
        if name and (path := shutil.which(name)):
            return path
    return None


def _tag(flags: Sequence[str]) -> str:
    return "_".join(f.lstrip("-").replace("=", "-") for f in flags) or "default"


def synthetic_rows(model: ForecastModel, n: int, seed: int = 0) -> np.ndarray:
    """Rows that reach both sides of the model's splits, ~10% values missing.

    Each feature takes one of its split thresholds, nudged up or down, so
    every branch is exercised without needing the training data.
    """
    frame = model.booster.trees_to_dataframe()
    splits = frame[frame["Feature"] != "Leaf"]
    names = model.feature_names
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, len(names)))
    for j, name in enumerate(names):
        th = splits.loc[splits["Feature"] == name, "Split"].to_numpy(dtype=np.float64)
        if th.size:
            pick = th[rng.integers(0, th.size, n)]
            X[:, j] = pick + rng.choice([-1.0, 1.0], n) * (np.abs(pick) * 1e-3 + 1e-6)
    X[rng.random(X.shape) < 0.1] = np.nan
    return X


def _entries(X: np.ndarray) -> np.ndarray:
    """float32 rows with missing values as the int bit pattern -1 (TL2cgen's Entry)."""
    e = np.where(np.isfinite(X), X, 0.0).astype(np.float32)
    e.view(np.int32)[~np.isfinite(X)] = -1
    return np.ascontiguousarray(e)


def predict_ctypes(lib_path: Path, X: np.ndarray, n_out: int) -> np.ndarray:
    """Predict with a compiled library through ctypes (for checks, not serving)."""
    lib = ctypes.CDLL(str(lib_path))
    lib.predict.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    lib.predict.restype = None
    e = _entries(X)
    out = np.zeros((len(X), n_out), dtype=np.float32)
    for i in range(len(X)):  # predict ADDS into out[i], which starts at 0
        lib.predict(e[i].ctypes.data, 0, out[i].ctypes.data)
    return out.astype(np.float64)


def _check(lib_path: Path, model: ForecastModel, X: np.ndarray) -> None:
    got = predict_ctypes(lib_path, X, len(model.quantiles))
    want = model.predict_change(X)
    scale = max(float(np.nanmax(np.abs(want))), 1e-12)
    err = np.abs(got - want)
    bad = err > CHECK_RTOL * np.maximum(np.abs(want), 1e-3 * scale)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ModelError(
            f"compiled model disagrees with XGBoost on {int(bad.sum())} of {bad.size} outputs "
            f"(row {i} output {j}: {got[i, j]} vs {want[i, j]}); not using {lib_path}"
        )


@contextlib.contextmanager
def _captured_native_logs() -> Iterator[None]:
    """Capture what Treelite and TL2cgen print and log it at DEBUG.

    Their C++ loggers write to file descriptors 1 and 2 (and TL2cgen also
    through a Python callback that prints): stdout must stay clean for JSON
    output and the MCP stdio transport, and ``--quiet`` runs print nothing.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    buf = io.StringIO()
    with tempfile.TemporaryFile(mode="w+b") as sink:
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
                yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            sink.seek(0)
            text = sink.read().decode(errors="replace") + buf.getvalue()
            if text.strip():
                log.debug("treelite/tl2cgen: %s", text.strip())


def _generate(model: ForecastModel, dest: Path) -> None:
    import tl2cgen
    import treelite

    json_path = dest / "model.json"
    json_path.write_bytes(model.model_bytes())
    with _captured_native_logs():
        tl_model = treelite.frontend.load_xgboost_model(str(json_path))
        tl2cgen.generate_c_code(tl_model, dirpath=str(dest / "src"), params={})


def _build(cc: str, flags: Sequence[str], src: Path, out: Path) -> float:
    sources = sorted(str(p) for p in src.glob("*.c"))
    cmd = [cc, *flags, *_COMMON_FLAGS, "-o", str(out), *sources]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise ModelError(
            f"compiling the model failed ({' '.join(cmd[:4])} ...): {res.stderr[-2000:]}"
        )
    return time.perf_counter() - t0


_BENCH_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <dlfcn.h>
union Entry { int missing; float fvalue; int qvalue; };
int main(int argc, char** argv) {
  int nlib = argc - 3, rounds = atoi(argv[2]);
  FILE* fp = fopen(argv[1], "rb"); if (!fp) return 2;
  int f, n; if (fread(&f, 4, 1, fp) != 1 || fread(&n, 4, 1, fp) != 1) return 2;
  union Entry* e = malloc(sizeof(union Entry) * (size_t)n * f);
  if (fread(e, 4, (size_t)n * f, fp) != (size_t)n * f) return 2;
  float r[64]; volatile float sink = 0;
  for (int k = 0; k < rounds; k++) for (int l = 0; l < nlib; l++) {
    void* h = dlopen(argv[3 + l], RTLD_NOW); if (!h) return 3;
    typedef void (*predict_fn)(union Entry*, int, float*);
    predict_fn pr = (predict_fn)dlsym(h, "predict");
    for (int i = 0; i < n; i++) {
      memset(r, 0, sizeof r); pr(e + (size_t)i * f, 0, r); sink += r[0];
    }
    struct timespec t0, t1; clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
      memset(r, 0, sizeof r); pr(e + (size_t)i * f, 0, r); sink += r[0];
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%d %.2f\n", l, ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / n);
    dlclose(h);
  }
  return 0;
}
"""


def _run_bench(cc: str, libs: Sequence[Path], X: np.ndarray, work: Path, rounds: int) -> str:
    """Run the timing harness over ``X`` with each library; returns its output."""
    exe = work / "bench"
    if not exe.is_file():
        src = work / "bench.c"
        src.write_text(_BENCH_C)
        subprocess.run(
            [cc, "-O2", "-o", str(exe), str(src), "-ldl"], check=True, capture_output=True
        )
    e = _entries(X)
    with open(work / "rows.bin", "wb") as fh:
        np.array([e.shape[1], e.shape[0]], dtype=np.int32).tofile(fh)
        e.tofile(fh)
    res = subprocess.run(
        [str(exe), str(work / "rows.bin"), str(rounds), *map(str, libs)],
        capture_output=True,
        text=True,
        check=True,
        cwd=str(work),
    )
    return res.stdout


def _build_pgo(cc: str, base: Sequence[str], work: Path, X: np.ndarray) -> tuple[Path, float]:
    """Profile-guided build: instrument, run on ``X``, rebuild with the profile.

    The profile tells gcc which way each split usually goes on real data, so
    it lays out the hot paths of every tree contiguously and predicts them
    statically: fewer instruction-cache misses and branch mispredictions.
    """
    gen = work / "pgo-gen.so"
    secs = _build(cc, [*base, "-fprofile-generate", "-fprofile-update=single"], work / "src", gen)
    _run_bench(cc, [gen], X, work, rounds=1)
    profile = work / "pgo-gen.so-main.gcda"
    if not profile.is_file():
        raise ModelError(f"profile-guided build: no profile written ({profile.name} missing)")
    out = work / f"model-{_tag([*base, '-fprofile-use'])}.so"
    shutil.copyfile(profile, work / f"{out.name}-main.gcda")
    secs += _build(cc, [*base, "-fprofile-use", "-Wno-missing-profile"], work / "src", out)
    return out, secs


def _measure(cc: str, libs: Sequence[Path], X: np.ndarray, work: Path, rounds: int) -> list[float]:
    """Median ns/row of each library, timed interleaved in one process."""
    stdout = _run_bench(cc, libs, X, work, rounds)
    times: list[list[float]] = [[] for _ in libs]
    for line in stdout.split("\n"):
        if line.strip():
            idx, ns = line.split()
            times[int(idx)].append(float(ns))
    return [float(np.median(t)) for t in times]


def compile_model(
    model: ForecastModel,
    flags: Sequence[str] | None = None,
    tune: bool = False,
    cache_dir: Path | None = None,
    force: bool = False,
    check_rows: int = 512,
    rows: np.ndarray | None = None,
) -> CompiledLibrary:
    """Compile ``model`` (or reuse the cached build) and return the library.

    Args:
        model: the forecast model.
        flags: compiler flags, e.g. ``["-O2"]``. None: the tuned flags recorded
            for this model if any, else :data:`DEFAULT_FLAGS`.
        tune: build every set in :data:`CANDIDATE_FLAGS` (and, with ``rows``,
            a profile-guided ``-O2 -fprofile-use`` build trained on them),
            time them on the same rows and keep the fastest (recorded for
            later calls).
        cache_dir: cache root instead of :func:`cache_root`.
        force: rebuild even if cached.
        check_rows: synthetic rows checked against XGBoost after the build.
        rows: real feature rows ``(n, n_features)`` to time the flag candidates
            on (and to check too). Synthetic rows send every split both ways
            at random, which is far slower than real data and can mislead
            the choice, so pass some when tuning.

    Raises:
        CompilerUnavailable: no C compiler.
        vpp.errors.ModelError: code generation or compilation failed, or the
            library disagrees with XGBoost.
    """
    digest = model.content_hash
    home = (cache_dir or cache_root()) / digest
    home.mkdir(parents=True, exist_ok=True)
    selected = home / "selected.json"
    if tune and flags is None and selected.is_file() and not force:
        tune = False  # tuned before: reuse that choice and its build
    if flags is None and not tune and selected.is_file():
        flags = json.loads(selected.read_text())["flags"]
    if not tune:
        chosen = list(flags or DEFAULT_FLAGS)
        record = home / f"build-{_tag(chosen)}.json"
        lib = home / f"model-{_tag(chosen)}.so"
        if record.is_file() and lib.is_file() and not force:
            info = json.loads(record.read_text())
            return CompiledLibrary(**{**info, "path": lib})
    cc = find_compiler()
    if cc is None:
        raise CompilerUnavailable("no C compiler (gcc or cc) on PATH; set CC or install gcc")
    with tempfile.TemporaryDirectory(prefix="build-", dir=home) as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        _generate(model, work)
        gen_s = time.perf_counter() - t0
        candidates = [list(f) for f in CANDIDATE_FLAGS] if tune else [chosen]
        built: list[tuple[list[str], Path, float]] = []
        for cand in candidates:
            out = work / f"model-{_tag(cand)}.so"
            if "-fprofile-use" in cand:  # a profile comes only from tuning on rows
                cand = [f for f in cand if f != "-fprofile-use"]
                log.warning("no profile for -fprofile-use outside tuning; building %s", cand)
            built.append((cand, out, _build(cc, cand, work / "src", out)))
            log.info("compiled %s with %s in %.1f s", digest[:12], " ".join(cand), built[-1][2])
        if tune and rows is not None:
            pgo, secs = _build_pgo(cc, ["-O2"], work, np.asarray(rows, dtype=np.float64))
            built.append((["-O2", "-fprofile-use"], pgo, secs))
        X = synthetic_rows(model, check_rows)
        if rows is not None:
            X = np.vstack([X, np.asarray(rows, dtype=np.float64)[:check_rows]])
        tuning = None
        if tune:
            timed = np.asarray(rows, dtype=np.float64) if rows is not None else X
            ns = _measure(cc, [b[1] for b in built], timed, work, rounds=5)
            tuning = {" ".join(b[0]): round(t, 1) for b, t in zip(built, ns, strict=True)}
            best = int(np.argmin(ns))
            built = [built[best]]
            log.info("flag timings (ns/row): %s; chose %s", tuning, " ".join(built[0][0]))
        cand, out, secs = built[0]
        _check(out, model, X)
        final = home / f"model-{_tag(cand)}.so"
        os.replace(out, final)
        info = CompiledLibrary(
            path=final,
            flags=cand,
            content_hash=digest,
            compile_seconds=round(secs + gen_s, 2),
            compiler=cc,
            tuning_ns_per_row=tuning,
            checked_rows=check_rows,
        )
        info.extra["tuned_on"] = (
            ("data rows" if rows is not None else "synthetic rows") if tune else None
        )
        doc = {k: v for k, v in asdict(info).items() if k != "path"}
        (home / f"build-{_tag(cand)}.json").write_text(json.dumps(doc, indent=2) + "\n")
        if tune:
            selected.write_text(json.dumps({"flags": cand, "ns_per_row": tuning}, indent=2) + "\n")
    return info
