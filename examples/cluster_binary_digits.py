"""Clustering binary images with a Bernoulli mixture: scikit-learn's handwritten
digits, each pixel thresholded to ink or no ink.

Fits BernoulliMixture with 10 components, reports how well the clusters match the
digits (adjusted Rand index, and the digit most of each cluster's images show),
fits the same model on the images with a fifth of their pixels hidden (NaN: a
hidden pixel drops out of its image's likelihood) and draws each cluster's
probabilities of ink as an image.

    python examples/cluster_binary_digits.py [--n-components 10] \
        [--output digits_bernoulli.png]
"""

import argparse

import numpy as np
from matplotlib.figure import Figure
from sklearn.datasets import load_digits
from sklearn.metrics import adjusted_rand_score

from fastem import BernoulliMixture


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-components", type=int, default=10)
    parser.add_argument("--n-init", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="digits_bernoulli.png")
    args = parser.parse_args(argv)

    digits = load_digits()
    X = (digits.data > 7).astype(float)  # ink or no ink
    model = BernoulliMixture(
        args.n_components, n_init=args.n_init, random_state=args.seed
    ).fit(X)
    labels = model.predict(X)
    print(
        f"{args.n_components} components, converged: {model.converged_} after "
        f"{model.n_iter_} iterations; adjusted Rand index with the digits "
        f"{adjusted_rand_score(digits.target, labels):.3f}"
    )
    for k in np.argsort(-model.weights_):
        shown = np.bincount(digits.target[labels == k], minlength=10)
        print(
            f"  cluster {k}: weight {model.weights_[k]:.3f}, mostly digit "
            f"{np.argmax(shown)} ({shown.max()} of {shown.sum()} images)"
        )

    rng = np.random.default_rng(args.seed)
    hidden = X.copy()
    hidden[rng.random(X.shape) < 0.2] = np.nan
    holes = BernoulliMixture(
        args.n_components, n_init=args.n_init, random_state=args.seed
    ).fit(hidden)
    print(
        "a fifth of the pixels hidden: adjusted Rand index "
        f"{adjusted_rand_score(digits.target, holes.predict(hidden)):.3f}; the "
        f"hidden pixels imputed right {_imputed_right(holes, hidden, X):.1%} of "
        "the time"
    )

    figure = Figure(figsize=(args.n_components, 1.9))
    axes = np.atleast_1d(figure.subplots(1, args.n_components))
    for ax, k in zip(axes, np.argsort(-model.weights_)):
        ax.imshow(np.exp(model.feature_log_prob_[k]).reshape(8, 8), cmap="binary")
        ax.set_title(f"{model.weights_[k]:.2f}", fontsize=9)
        ax.set_axis_off()
    figure.suptitle("each cluster's probability of ink per pixel (and its weight)")
    figure.savefig(args.output, dpi=80)
    print(f"wrote {args.output}")


def _imputed_right(model, hidden, X):
    """The fraction of hidden pixels whose imputed probability rounds to the truth."""
    holes = np.isnan(hidden)
    return float(np.mean(np.round(model.impute(hidden)[holes]) == X[holes]))


if __name__ == "__main__":
    main()
