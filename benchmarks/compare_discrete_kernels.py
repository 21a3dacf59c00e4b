#!/usr/bin/env python
"""One pass of the discrete-data kernels side by side: compiled and the NumPy twin.

    python benchmarks/compare_discrete_kernels.py [--threads 1 2] [--repeats R]
        [--cases multinomial-csr bernoulli-dense] [--variant x86-64-v4]

Cases (the speed bars of issue 16, one ``accumulate`` call of ``_discrete`` each):

- ``multinomial-csr``: 20,000 x 10,000 CSR counts, 100 tokens per row (about 1.27M
  stored values), K = 20, with the multinomial coefficient; bar: a pass well under
  16 ms on one thread.
- ``bernoulli-dense``: 100,000 x 100 dense binary float64, K = 10, with B and the
  observed mass m; bar: a pass well under 15 ms on one thread.

The twin (``_reference.discrete``) is a plain NumPy / scipy.sparse E-step: the "NumPy
equivalent". Each repeat runs every (backend, threads) pair once, in an order that
rotates between repeats, after one warm-up call each; the table gives the minimum and
median wall-clock milliseconds, the twin / compiled ratio and, per backend, the speed-up
of each thread count over one thread. Threads are set with ``n_threads`` and
threadpoolctl: OpenMP for the compiled kernels (BLAS held to one thread inside them),
BLAS for the twin.
"""

import argparse
import statistics
import time

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from fastem._kernels import COMPILED, COMPILED_VARIANT, TWIN


def multinomial_csr(rng, n_samples=20_000, n_features=10_000, tokens=100, K=20):
    """Bag-of-words counts: each row draws ``tokens`` words from one of K topics, each
    topic Zipf's law (exponent 1.1) over a random ordering of the vocabulary (about
    1.27M distinct (row, word) pairs at the defaults)."""
    zipf = np.arange(1, n_features + 1) ** -1.1
    zipf /= zipf.sum()
    topics = np.stack([zipf[rng.permutation(n_features)] for _ in range(K)])
    labels = rng.integers(0, K, n_samples)
    rows = np.repeat(np.arange(n_samples), tokens)
    words = np.concatenate(
        [rng.choice(n_features, tokens, p=topics[label]) for label in labels]
    )
    X = sp.csr_matrix(
        (np.ones(len(rows)), (rows, words)), shape=(n_samples, n_features)
    )
    X.sum_duplicates()
    theta = 0.5 * topics + 0.5 * rng.dirichlet(np.ones(n_features), K)
    log_weights = np.log(np.full(K, 1.0 / K))
    model = (log_weights, np.log(theta), np.zeros(K), None, True)
    return X, model, None


def bernoulli_dense(rng, n_samples=100_000, n_features=100, K=10):
    """Binary rows drawn from a mixture of K products of Bernoullis."""
    p = rng.uniform(0.1, 0.9, (K, n_features))
    labels = rng.integers(0, K, n_samples)
    X = (rng.random((n_samples, n_features)) < p[labels]).astype(np.float64)
    q = np.clip(p + rng.normal(scale=0.05, size=p.shape), 0.05, 0.95)
    B = np.log1p(-q)
    model = (np.log(np.full(K, 1.0 / K)), np.log(q) - B, B.sum(axis=1), B, False)
    return X, model, np.empty((K, n_features))


CASES = {"multinomial-csr": multinomial_csr, "bernoulli-dense": bernoulli_dense}


def one_pass(kernels, X, model, m, threads):
    """Seconds of one discrete ``accumulate`` call, and its log-likelihood."""
    log_weights, A, b, B, coefficient = model
    nk, s = np.empty(A.shape[0]), np.empty(A.shape)
    blas_threads = 1 if kernels is not TWIN else threads
    with threadpool_limits(limits=blas_threads, user_api="blas"):
        start = time.perf_counter()
        log_likelihood = kernels.discrete.accumulate(
            X, None, log_weights, A, b, B, coefficient, threads, nk, s, m
        )
        return time.perf_counter() - start, log_likelihood


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--variant", default=COMPILED_VARIANT, choices=COMPILED)
    args = parser.parse_args()

    backends = {f"cython-{args.variant}": COMPILED[args.variant], "numpy": TWIN}
    print(f"one discrete accumulate pass; ms min / median of {args.repeats}")
    for case in args.cases:
        X, model, m = CASES[case](np.random.default_rng(0))
        nnz = f", nnz={X.nnz}" if sp.issparse(X) else ""
        print(f"\n{case}: {X.shape[0]} x {X.shape[1]}, K={len(model[0])}{nnz}")
        runs = [(name, t) for name in backends for t in args.threads]
        times = {run: [] for run in runs}
        log_likelihoods = {}
        for name, t in runs:  # warm-up
            _, log_likelihoods[name, t] = one_pass(backends[name], X, model, m, t)
        for repeat in range(args.repeats):
            shift = repeat % len(runs)
            for name, t in runs[shift:] + runs[:shift]:
                times[name, t].append(one_pass(backends[name], X, model, m, t)[0])
        best = {run: min(seconds) for run, seconds in times.items()}
        print(
            f"{'backend':<20}{'threads':>8}{'min ms':>10}{'median':>10}"
            f"{'twin/this':>11}{'vs 1 thr':>10}{'log-lik':>22}"
        )
        for name, t in runs:
            ratio = best["numpy", t] / best[name, t]
            speedup = best[name, args.threads[0]] / best[name, t]
            print(
                f"{name:<20}{t:>8}{1e3 * best[name, t]:>10.2f}"
                f"{1e3 * statistics.median(times[name, t]):>10.2f}"
                f"{ratio:>10.2f}x{speedup:>9.2f}x{log_likelihoods[name, t]:>22.10e}"
            )


if __name__ == "__main__":
    main()
