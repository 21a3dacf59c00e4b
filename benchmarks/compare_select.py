"""Warm start along K in fastem.select: likelihood reached and time, on and off.

For each data set, the same grid three times: cold (``warm_start=False``), warm
(the same ``n_init`` restarts plus one run per model from the split K - 1 solution)
and cold with ``n_init + 1`` restarts (the same number of EM runs as warm). Printed:
wall times, the models where the split start won, the mean gain in log-likelihood
per row of warm over each cold grid, and the model each grid chooses.

    python benchmarks/compare_select.py [--n-init 1] [--repeat 3]
"""

import argparse
import time
import warnings

import numpy as np
from sklearn import datasets
from sklearn.preprocessing import StandardScaler

import fastem


def synthetic(seed=0, n_samples=20_000, n_features=5, n_components=8):
    """Overlapping Gaussian clusters of unequal sizes and shapes."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(n_components, 3.0))
    labels = rng.choice(n_components, size=n_samples, p=weights)
    means = 3.0 * rng.normal(size=(n_components, n_features))
    factors = rng.normal(size=(n_components, n_features, n_features)) / 2
    noise = rng.normal(size=(n_samples, n_features))
    return means[labels] + np.einsum("nij,nj->ni", factors[labels], noise)


DATASETS = {
    "iris": lambda: datasets.load_iris().data,
    "wine (standardised)": lambda: StandardScaler().fit_transform(
        datasets.load_wine().data
    ),
    "breast cancer (std., 30 d)": lambda: StandardScaler().fit_transform(
        datasets.load_breast_cancer().data
    ),
    "synthetic K=8 d=5 N=2e4": synthetic,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-init", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="timings: the median")
    parser.add_argument("--max-components", type=int, default=9)
    args = parser.parse_args()
    grid = dict(n_components=range(1, args.max_components + 1), random_state=0)
    configurations = {
        "cold": dict(warm_start=False, n_init=args.n_init),
        "warm": dict(warm_start=True, n_init=args.n_init),
        "cold+1": dict(warm_start=False, n_init=args.n_init + 1),
    }
    print(
        f"grid: K = 1..{args.max_components} x 4 covariance types, n_init = "
        f"{args.n_init}; times are medians of {args.repeat}"
    )
    for name, load in DATASETS.items():
        X = load()
        results, times = {}, {}
        for label, configuration in configurations.items():
            elapsed = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    results[label] = fastem.select(X, **configuration, **grid)
                elapsed.append(time.perf_counter() - start)
            times[label] = float(np.median(elapsed))
        warm = results["warm"].table
        won = warm["warm_started"].to_numpy()
        print(
            f"{name}: split won {won.sum()}/{len(won)} models; "
            f"{won[~warm['degenerate']].sum()} of them not degenerate"
        )
        for label in configurations:
            gain = warm["log_likelihood"] - results[label].table["log_likelihood"]
            print(
                f"  {label:7s} {times[label]:6.2f} s  warm's mean gain over it "
                f"{np.mean(gain) / X.shape[0]:+.4f} nats/row, chosen "
                f"{_chosen(results[label])}"
            )


def _chosen(result):
    params = result.best_params_
    return f"{params['covariance_type']} K={params['n_components']}"


if __name__ == "__main__":
    main()
