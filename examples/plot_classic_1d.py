"""The classic 1-D example: two overlapping Gaussians, N(2, 4^2) and N(9, 2^2).

Fits mixtures of 1 to 5 components, keeps the one with the lowest BIC, prints its
parameters against the truth and draws three panels: the data with each component
and the mixture density, the lower bound at each EM iteration, and BIC/AIC against
the number of components.

    python examples/plot_classic_1d.py [--n-samples 2000] [--output classic_1d.png]
"""

import argparse

import numpy as np
from matplotlib.figure import Figure

from fastem import GaussianMixture
from fastem.plot import plot_criterion, plot_density_1d, plot_lower_bound


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=2000, help="per component")
    parser.add_argument("--max-components", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="classic_1d.png")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    X = np.concatenate(
        [rng.normal(2.0, 4.0, args.n_samples), rng.normal(9.0, 2.0, args.n_samples)]
    )[:, np.newaxis]

    # Overlapping components converge slowly: a small tol gives the MLE itself.
    models = [
        GaussianMixture(k, tol=1e-8, max_iter=5000, random_state=args.seed).fit(X)
        for k in range(1, args.max_components + 1)
    ]
    best = min(models, key=lambda model: model.bic(X))
    print(f"lowest BIC with {best.n_components} components")
    for k in np.argsort(best.means_[:, 0]):
        print(
            f"  weight {best.weights_[k]:.3f}  mean {best.means_[k, 0]:6.3f}  "
            f"sd {np.sqrt(best.covariances_[k, 0, 0]):.3f}"
        )
    print("  truth: weights 0.5, 0.5; means 2, 9; sd 4, 2")

    figure = Figure(figsize=(15, 4.5))
    density, lower_bound, criterion = figure.subplots(1, 3)
    plot_density_1d(best, X, ax=density).set_title("data, components and mixture")
    plot_lower_bound(best, ax=lower_bound)
    plot_criterion(models, X, criterion=("bic", "aic"), ax=criterion)
    figure.tight_layout()
    figure.savefig(args.output, dpi=80)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
