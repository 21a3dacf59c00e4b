"""Command line: ``fastem demo`` (``python -m fastem demo``)."""

import argparse
import os
import sys
import time

import numpy as np


def _demo(args):
    """Fit the two classic examples and print recovered against true parameters."""
    from . import GaussianMixture

    rng = np.random.default_rng(args.seed)
    examples = [
        (
            "1-D: N(2, 4^2) and N(9, 2^2), 2000 points each",
            np.concatenate([rng.normal(2.0, 4.0, 2000), rng.normal(9.0, 2.0, 2000)])[
                :, np.newaxis
            ],
            np.array([[2.0], [9.0]]),
            np.array([[[16.0]], [[4.0]]]),
        ),
        (
            "2-D: unit-covariance Gaussians at (5, 5) and (10, 10), 150 points each",
            np.concatenate(
                [rng.normal(5.0, 1.0, (150, 2)), rng.normal(10.0, 1.0, (150, 2))]
            ),
            np.array([[5.0, 5.0], [10.0, 10.0]]),
            np.array([np.eye(2), np.eye(2)]),
        ),
    ]
    np.set_printoptions(precision=3, suppress=True)
    for title, X, true_means, true_covariances in examples:
        start = time.perf_counter()
        # Overlapping components converge slowly: run EM to the optimum, not to
        # scikit-learn's default tol=1e-3, so the printed estimates are the MLE's.
        model = GaussianMixture(
            n_components=2, tol=1e-9, max_iter=10_000, random_state=args.seed
        ).fit(X)
        elapsed = time.perf_counter() - start
        order = np.argsort(model.means_[:, 0])
        print(title)
        print(
            f"  fitted in {elapsed * 1e3:.1f} ms, {model.n_iter_} EM iterations, "
            f"mean log-likelihood {model.lower_bound_:.4f}"
        )
        for k, index in enumerate(order):
            print(f"  component {k}: weight {model.weights_[index]:.3f} (true 0.500)")
            print(f"    mean       {model.means_[index]}  (true {true_means[k]})")
            print(
                f"    covariance {model.covariances_[index].ravel()}  "
                f"(true {true_covariances[k].ravel()})"
            )
    return 0


def main(argv=None):
    """Entry point of the ``fastem`` command; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="fastem", description="Fast EM for Gaussian mixtures."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="fit the two classic examples and print what was recovered"
    )
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.set_defaults(run=_demo)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except BrokenPipeError:
        # The reader went away (``fastem demo | head``): not an error of ours. Point
        # stdout at devnull so the interpreter's final flush stays quiet too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
