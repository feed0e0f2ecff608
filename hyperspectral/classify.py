"""Library classifiers: spectral angle mapper (SAM) and spectral information divergence
(SID), vectorised over a tile of pixels, with per-class thresholds and "unclassified".

Each pixel gets the class of its best-matching library spectrum (several spectra may
share a class), a score per class (the best of its spectra) and the best score. Labels
are 1..C for the library's classes in order, 0 for unclassified or no-data pixels (the
ENVI classification convention).

SAM: angle = arccos(x·s / |x||s|), computed as one float32 matrix product against the
unit-normalised library, in chunks of ``SAM_CHUNK_PIXELS`` pixels so the product and its
reduction stay in cache; the best spectrum and per-class maxima are taken on the
unnormalised products in one compiled pass (``kernels.sam_reduce``), and only the
winning and per-class cosines are divided by the pixel norm and turned into angles.
With missing library points (NaN) each spectrum's angle uses only its valid bands
(three products instead of one). SID: Σ (p−q)(log p − log q) of the spectra normalised
to sum 1, as two products (values clipped to a small positive floor first, SID needing
positive spectra).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from hyperspectral.errors import HyperspectralError
from hyperspectral.kernels import inverse_norms_valid, sam_reduce
from hyperspectral.library import SpectralLibrary

F32Array = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]
Method = Literal["sam", "sid"]
SID_FLOOR = 1e-6
SAM_CHUNK_PIXELS = 2048
"""Pixels per matrix product: 2048 × 200 float32 bands = 1.6 MB in, 0.25 MB out: the
chunk stays in a core's L2 between the product and the norms."""


@dataclass
class ClassifiedTile:
    labels: npt.NDArray[np.uint16]
    """(h, w) 1..C, 0 = unclassified / no data."""
    best_score: F32Array
    """(h, w) angle (rad, SAM) or divergence (SID) of the chosen spectrum; NaN = no data."""
    class_scores: F32Array
    """(h, w, C) best score per class."""
    best_spectrum: npt.NDArray[np.int32]
    """(h, w) index of the chosen library spectrum, -1 where none."""
    margin: F32Array
    """(h, w) how close the call was: score of the second-best class minus the best
    class's (SAM: radians of angle, SID: divergence; >= 0, 0 = a tie); NaN where no data
    or the library has one class. Small margins are near-ties of similar spectra."""

    def as_image(self, lines: int, samples: int) -> ClassifiedTile:
        """The per-pixel results of ``lines * samples`` pixels as (lines, samples) rasters."""
        return ClassifiedTile(
            self.labels.reshape(lines, samples),
            self.best_score.reshape(lines, samples),
            self.class_scores.reshape(lines, samples, -1),
            self.best_spectrum.reshape(lines, samples),
            self.margin.reshape(lines, samples),
        )


class LibraryClassifier:
    """Classify spectra on the library's bands (resample the library to the sensor first).

    ``thresholds``: one maximum score for every class, or a mapping class → maximum
    (classes not named: no limit); a pixel whose best score exceeds its class's maximum
    is unclassified. ``band_mask``: bands to use (e.g. the cube's ``bbl``).
    """

    def __init__(
        self,
        library: SpectralLibrary,
        method: Method = "sam",
        thresholds: float | dict[str, float] | None = None,
        band_mask: BoolArray | None = None,
    ) -> None:
        if method not in ("sam", "sid"):
            raise HyperspectralError(f"unknown classifier method {method!r} (sam, sid)")
        self.library = library
        self.method: Method = method
        self.classes = library.class_names
        spectra = np.asarray(library.spectra, dtype=np.float64)
        mask = np.ones(spectra.shape[1], bool) if band_mask is None else np.asarray(band_mask)
        all_missing = ~np.isfinite(spectra).any(axis=0)
        mask = mask & ~all_missing
        if mask.sum() < 2:
            raise HyperspectralError(
                f"{library.source}: fewer than 2 usable bands overlap the sensor's bands"
            )
        self.band_mask = mask
        s = spectra[:, mask]
        self.valid = np.isfinite(s)
        self.has_missing = bool((~self.valid).any())
        s0 = np.where(self.valid, s, 0.0)
        norms = np.sqrt((s0**2).sum(axis=1))
        if (norms == 0).any():
            bad = library.names[int(np.argmin(norms))]
            raise HyperspectralError(f"{library.source}: spectrum {bad!r} is all zero")
        self.unit = (s0 / norms[:, None]).astype(np.float32)
        self.s0 = s0.astype(np.float32)
        self.valid_f = self.valid.astype(np.float32)
        self.class_of = np.array([self.classes.index(c) for c in library.classes])
        self.order = np.argsort(self.class_of, kind="stable")
        self.sorted_class = self.class_of[self.order]
        self.starts = np.flatnonzero(np.r_[True, np.diff(self.sorted_class) != 0])
        self.ends = np.r_[self.starts[1:], len(self.order)]
        self.unit_sorted = np.ascontiguousarray(self.unit[self.order])
        padded = -(-len(self.order) // 8) * 8  # zero columns up to a multiple of 8
        self.unit_sorted_t = np.zeros((self.unit.shape[1], padded), np.float32)
        self.unit_sorted_t[:, : len(self.order)] = self.unit_sorted.T
        """(bands, spectra padded to a multiple of 8) C-ordered: the fast operand layout
        for ``x @ S`` (BLAS kernels work in blocks of 8 or 16 columns; the padding
        columns are never read back)."""
        self.all_bands_t = np.zeros((len(mask), padded), np.float32)
        self.all_bands_t[mask] = self.unit_sorted_t
        self.band_weight = mask.astype(np.float32)
        """The same on all of the sensor's bands, zero rows (and weights) for the bands
        left out: the compiled SAM multiplies whole tiles as they come (a view of the
        memory-mapped file) instead of copying the used bands out first."""
        self.max_score = np.full(len(self.classes), np.inf, dtype=np.float32)
        if isinstance(thresholds, int | float):
            self.max_score[:] = float(thresholds)
        elif thresholds:
            for name, value in thresholds.items():
                if name not in self.classes:
                    raise HyperspectralError(
                        f"threshold for unknown class {name!r} (classes: {', '.join(self.classes)})"
                    )
                self.max_score[self.classes.index(name)] = float(value)
        if method == "sid":
            q = np.clip(np.where(self.valid, s, SID_FLOOR), SID_FLOOR, None)
            q = q / q.sum(axis=1, keepdims=True)
            self.q = q.astype(np.float32)
            self.log_q = np.log(q).astype(np.float32)
            self.q_log_q = (q * np.log(q)).sum(axis=1).astype(np.float32)

    def _features(self, pixels: F32Array) -> F32Array:
        if self.band_mask.all():
            return np.ascontiguousarray(pixels, dtype=np.float32)
        return np.ascontiguousarray(pixels[:, self.band_mask], dtype=np.float32)

    def _cosines(self, x: F32Array) -> F32Array:
        """(n, spectra) cosine similarity (SAM), NaN for zero pixels."""
        if self.has_missing:
            dots = x @ self.s0.T
            x_norm2 = (x * x) @ self.valid_f.T
            s_norm2 = np.ones_like(x) @ (self.s0 * self.s0).T
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.asarray(dots / np.sqrt(x_norm2 * s_norm2), dtype=np.float32)
        cos = x @ self.unit.T
        norm = np.sqrt(np.einsum("ij,ij->i", x, x))
        with np.errstate(invalid="ignore", divide="ignore"):
            inv = np.where(norm > 0, np.float32(1.0) / norm, np.float32(np.nan))
        cos *= inv[:, None]
        return np.asarray(cos, dtype=np.float32)

    def _sid(self, x: F32Array) -> F32Array:
        p = np.clip(x, SID_FLOOR, None)
        p /= p.sum(axis=1, keepdims=True)
        log_p = np.log(p)
        p_log_p = (p * log_p).sum(axis=1)
        sid = p_log_p[:, None] + self.q_log_q[None, :] - p @ self.log_q.T - log_p @ self.q.T
        return np.asarray(np.maximum(sid, 0.0), dtype=np.float32)

    def scores(self, pixels: F32Array) -> F32Array:
        """(n, spectra) SAM angles (rad) or SID values of (n, bands) pixels (all bands)."""
        x = self._features(pixels)
        if self.method == "sid":
            return self._sid(x)
        return np.asarray(np.arccos(np.clip(self._cosines(x), -1.0, 1.0)), dtype=np.float32)

    def classify_pixels(self, pixels: F32Array, valid: BoolArray | None = None) -> ClassifiedTile:
        """Classify (n, bands) pixels; invalid ones get label 0 and NaN scores.

        SAM works on cosines (best spectrum and per-class maxima of the class-sorted
        products) and takes arccos only of the C per-class values: the angle is monotone
        in the cosine, so the result is the same as on angles, at a fraction of the cost.
        ``valid`` None: the pixels that hold data (every band finite, not all bands equal:
        ``Cube.valid_mask`` without an ignore value) are found here; on the SAM fast path
        in the pass that takes the norms, while the chunk is still in cache from the
        product (a separate mask pass over the tile cost half the product's time).
        """
        n = pixels.shape[0]
        n_classes = len(self.classes)
        fast = self.method == "sam" and not self.has_missing
        if valid is None and not fast:
            from hyperspectral.kernels import varying_finite

            x32 = np.ascontiguousarray(pixels, dtype=np.float32)
            valid = np.empty(n, np.bool_)
            varying_finite(x32, x32.view(np.uint32), valid)
        all_valid = valid is None or bool(valid.all())
        idx = np.arange(n) if valid is None else np.flatnonzero(valid)
        if idx.size == 0:
            return ClassifiedTile(
                np.zeros(n, np.uint16),
                np.full(n, np.nan, np.float32),
                np.full((n, n_classes), np.nan, np.float32),
                np.full(n, -1, np.int32),
                np.full(n, np.nan, np.float32),
            )
        if fast:  # every pixel, then the mask
            all_valid = True
            j, best_cos, second_cos, class_score = self._sam_chunks(
                np.ascontiguousarray(pixels, dtype=np.float32)
            )
            if valid is not None and idx.size < n:
                j[~valid] = -1
                class_score[~valid] = np.nan
            no_signal = j < 0
            j = np.maximum(j, 0)
            score = np.arccos(np.clip(best_cos, -1.0, 1.0))
            margin = np.arccos(np.clip(second_cos, -1.0, 1.0)) - score
        elif self.method == "sam":
            x = self._features(pixels if all_valid else pixels[idx])
            dots = self._cosines(x)[:, self.order]
            j = np.argmax(dots, axis=1)  # NaN rows (no signal) give a NaN best
            best_cos = dots[np.arange(len(x)), j]
            class_cos = self._class_max(dots)
            score = np.arccos(np.clip(best_cos, -1.0, 1.0))
            np.clip(class_cos, -1.0, 1.0, out=class_cos)
            class_score = np.arccos(class_cos, out=class_cos)
            no_signal = np.isnan(best_cos)
            margin = class_margin(class_score)
        else:
            x = self._features(pixels if all_valid else pixels[idx])
            sid = self._sid(x)[:, self.order]
            j = np.argmin(sid, axis=1)
            class_score = -self._class_max(-sid)
            score = sid[np.arange(len(x)), j]
            no_signal = ~np.isfinite(score)
            margin = class_margin(class_score)
        cls = self.sorted_class[j]
        ok = ~no_signal & (score <= self.max_score[cls])
        sub_labels = np.where(ok, cls + 1, 0).astype(np.uint16)
        sub_best = np.where(no_signal, np.float32(np.nan), score).astype(np.float32, copy=False)
        sub_spec = np.where(ok, self.order[j], -1).astype(np.int32)
        sub_margin = np.where(no_signal, np.float32(np.nan), margin).astype(np.float32)
        if all_valid:
            scores = class_score.astype(np.float32, copy=False)
            return ClassifiedTile(sub_labels, sub_best, scores, sub_spec, sub_margin)
        labels = np.zeros(n, np.uint16)
        best = np.full(n, np.nan, np.float32)
        per_class = np.full((n, n_classes), np.nan, np.float32)
        best_spec = np.full(n, -1, np.int32)
        margins = np.full(n, np.nan, np.float32)
        labels[idx], best[idx], per_class[idx], best_spec[idx], margins[idx] = (
            sub_labels,
            sub_best,
            class_score,
            sub_spec,
            sub_margin,
        )
        return ClassifiedTile(labels, best, per_class, best_spec, margins)

    def _sam_chunks(
        self, x: F32Array
    ) -> tuple[npt.NDArray[np.int64], F32Array, F32Array, F32Array]:
        """Best spectrum (class-sorted index, -1 = no signal), its cosine, the runner-up
        class's cosine and the per-class angles of (n, all bands) pixels (the bands left
        out weigh zero), chunk by chunk; pixels with a non-finite band or all bands equal
        count as no signal (found in the norm pass: ``kernels.inverse_norms_valid``)."""
        n = len(x)
        n_classes = len(self.starts)
        best_j = np.empty(n, np.int64)
        best_cos = np.empty(n, np.float32)
        second_cos = np.empty(n, np.float32)
        inv = np.empty(n, np.float32)
        class_cos = np.empty((n, n_classes), np.float32)
        dots = np.empty((min(n, SAM_CHUNK_PIXELS), self.all_bands_t.shape[1]), np.float32)
        for a in range(0, n, SAM_CHUNK_PIXELS):
            chunk = x[a : a + SAM_CHUNK_PIXELS]
            b = a + len(chunk)
            d = dots[: len(chunk)]
            np.matmul(chunk, self.all_bands_t, out=d)
            inverse_norms_valid(chunk, self.band_weight, inv[a:b])
            sam_reduce(
                d,
                inv[a:b],
                self.starts,
                self.ends,
                best_j[a:b],
                best_cos[a:b],
                second_cos[a:b],
                class_cos[a:b],
            )
        np.clip(class_cos, -1.0, 1.0, out=class_cos)
        return best_j, best_cos, second_cos, np.arccos(class_cos, out=class_cos)

    def _class_max(self, values: F32Array) -> F32Array:
        """(n, C) maximum over each class's (contiguous, sorted) columns."""
        if len(self.starts) == values.shape[1]:
            return values
        out = values[:, self.starts].copy()
        for c, (a, b) in enumerate(zip(self.starts, self.ends, strict=True)):
            for k in range(a + 1, b):  # column by column: fast on strided data
                np.fmax(out[:, c], values[:, k], out=out[:, c])
        return out

    def classify_block(self, block: F32Array, valid: BoolArray | None = None) -> ClassifiedTile:
        """Classify a (h, w, bands) tile (``valid`` None: see :meth:`classify_pixels`)."""
        h, w, bands = block.shape
        mask = None if valid is None else valid.reshape(-1)
        return self.classify_pixels(block.reshape(-1, bands), mask).as_image(h, w)


def class_margin(class_scores: F32Array) -> F32Array:
    """(n,) second-smallest minus smallest of (n, C) per-class scores (lower = better):
    the margin of the call; NaN with fewer than two classes or a NaN row."""
    if class_scores.shape[1] < 2:
        return np.full(class_scores.shape[0], np.nan, np.float32)
    two = np.partition(class_scores, 1, axis=1)[:, :2]  # NaNs sort last
    return np.asarray(two[:, 1] - two[:, 0], dtype=np.float32)


def confidence(score: F32Array, method: Method) -> F32Array:
    """Score → similarity in 0–1: 1 − angle/(π/2) for SAM, exp(−SID) for SID."""
    with np.errstate(invalid="ignore"):
        if method == "sam":
            return np.asarray(np.clip(1.0 - score / (math.pi / 2), 0.0, 1.0), dtype=np.float32)
        return np.asarray(np.exp(-np.maximum(score, 0.0)), dtype=np.float32)
