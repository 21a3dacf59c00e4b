#!/usr/bin/env python
"""Digests of what a fixed grid of GaussianMixture fits produce, to prove a change
bit-identical: run it on two builds and compare the outputs (``diff``).

The grid: the four covariance types x float64 / float32 x plain, k-means++, NaN,
sample weights, the default prior, a memory map, a chunk callable, Dask (with
``--dask``) and partial_fit; each line digests the fitted attributes and the
predict_proba, score_samples and predict of the fitted model.

    python benchmarks/fingerprint_gaussian.py [--dask] > fingerprint.txt
"""

import argparse
import hashlib
import os
import tempfile
import warnings

import numpy as np

from fastem import GaussianMixture

ATTRIBUTES = (
    "weights_",
    "means_",
    "covariances_",
    "precisions_cholesky_",
    "precisions_",
    "lower_bounds_",
    "n_iter_",
)


def digest(model, X):
    """16 hex digits of the model's attributes and, for in-memory X, its scores."""
    h = hashlib.sha256()
    for name in ATTRIBUTES:
        if hasattr(model, name):  # partial_fit sets no lower_bounds_ or n_iter_
            h.update(np.ascontiguousarray(np.asarray(getattr(model, name))).tobytes())
    if not callable(X):
        for out in (model.predict_proba(X), model.score_samples(X), model.predict(X)):
            h.update(np.ascontiguousarray(np.asarray(out)).tobytes())
    return h.hexdigest()[:16]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dask", action="store_true", help="also fit a dask array")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    base = np.concatenate(
        [
            rng.normal(0, 1, (700, 4)),
            rng.normal(4, 0.5, (500, 4)) + [0, 1, 2, 3],
            rng.normal(-3, 2, (300, 4)),
        ]
    )
    holes = base.copy()
    holes[rng.random(base.shape) < 0.15] = np.nan
    holes[np.isnan(holes).all(axis=1), 0] = 1.0
    weights = rng.uniform(0, 3, len(base))
    folder = tempfile.mkdtemp()
    for covariance_type in ("full", "tied", "diag", "spherical"):
        for dtype in (np.float64, np.float32):
            X = base.astype(dtype)
            path = os.path.join(folder, "X.npy")
            np.save(path, X)
            cases = {
                "plain": (X, {}, None),
                "kmeans++": (X, {"init_params": "k-means++"}, None),
                "nan": (holes.astype(dtype), {}, None),
                "weights": (X, {}, weights),
                "prior": (X, {"prior": "default"}, None),
                "memmap": (
                    np.load(path, mmap_mode="r"),
                    {"init_sample_size": 500},
                    None,
                ),
                "chunks": (
                    lambda X=X: (X[i : i + 333] for i in range(0, len(X), 333)),
                    {"init_sample_size": 500},
                    None,
                ),
            }
            if args.dask:
                import dask.array as da

                cases["dask"] = (
                    da.from_array(X, chunks=(400, 4)),
                    {"init_sample_size": 500},
                    None,
                )
            for name, (data, params, sample_weight) in cases.items():
                model = GaussianMixture(
                    3,
                    covariance_type=covariance_type,
                    random_state=1,
                    max_iter=20,
                    **params,
                )
                model.fit(data, sample_weight=sample_weight)
                label = f"{covariance_type:9s} {np.dtype(dtype).name} {name:9s}"
                print(label, digest(model, data))
            online = GaussianMixture(3, covariance_type=covariance_type, random_state=2)
            for start in range(0, len(X), 300):
                online.partial_fit(X[start : start + 300])
            label = f"{covariance_type:9s} {np.dtype(dtype).name} {'online':9s}"
            print(label, digest(online, X))


if __name__ == "__main__":
    main()
