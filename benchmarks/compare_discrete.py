#!/usr/bin/env python
"""Side by side: Bernoulli and multinomial mixtures, fastem against its peers.

    python benchmarks/compare_discrete.py [--quick] [--threads N] [--scaling-threads M]
        [--repeats R] [--cases multinomial bernoulli] [--libraries ...]
        [--stepmix-python PY] [--pomegranate-python PY] [--json out.json]

Cases (the speed bars of issue 16, "Speed"):

- ``multinomial``: 20,000 x 10,000 CSR counts, 100 tokens a row (about 1.27M stored
  values), K = 20, ``alpha=1`` (the smoothing of text clustering). Peers: a plain
  NumPy / scipy.sparse EM written here (``numpy-matmul``). Bar: fastem <= 0.16 s.
- ``bernoulli``: 100,000 x 100 dense binary float64, K = 10, ``alpha=0`` (maximum
  likelihood, as the peers fit). Peers: StepMix (``measurement='binary'``),
  pomegranate 1.x (a ``GeneralMixtureModel`` of ``Bernoulli``), a textbook NumPy EM
  with a loop over components (``numpy-loops``) and a NumPy EM with one matrix product
  per step (``numpy-matmul``). Bar: fastem <= 0.2 s and >= 4x ``numpy-matmul``.
- Both: fastem on ``--scaling-threads`` (default 2) threads as well; bar: >= 1.7x its
  time on ``--threads`` (default 1).

StepMix and pomegranate run from their own virtual environments
(``--stepmix-python``, ``--pomegranate-python``), so neither changes the NumPy or
scikit-learn of the others; a peer whose interpreter is missing is left out with a
note. fastem and the NumPy EMs run from this interpreter.

How each number is made
-----------------------
Data and starting point
    The parent draws each case's data once (``_problem.binary_mixture``,
    ``_problem.count_mixture``) and its start (``_problem.discrete_start``: equal
    weights, each component half its generating probabilities, half a random
    draw, so no component dies and fastem never re-seeds), and saves them; every
    library loads the same arrays and starts EM there: fastem through
    ``weights_init`` / ``feature_prob_init`` with ``tol=0``, the NumPy EMs directly;
    for StepMix and pomegranate see the notes the script prints.
One process per library and repeat
    Each measurement runs in a child process of its own; libraries are interleaved
    within each repeat (the order rotates between repeats), so a disturbance of the
    machine hits all of them alike. Threads: ``OMP_NUM_THREADS``,
    ``MKL_NUM_THREADS`` and ``OPENBLAS_NUM_THREADS`` in each child, and
    ``torch.set_num_threads`` for pomegranate.
Seconds
    After a warm-up fit (``max_iter=1``: thread pools, first calls, allocations of
    this size), the child times one fit of ``--max-iter`` (10) iterations from the
    start: validation and set-up included, the data already in memory. The table
    gives the median and the minimum over repeats, and the median over fastem's
    median (on ``--threads``).
Lower bound
    The mean log-likelihood at the last E-step (from the parameters after
    ``max_iter - 1`` M-steps), plus the log prior density over N when
    ``alpha > 0``; for the multinomial the multinomial coefficient is included.
    Shown with its difference from fastem's: the libraries ran the same EM when it
    is near zero.
"""

import argparse
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

if __package__:  # imported as benchmarks.compare_discrete (asv's discovery)
    from ._problem import binary_mixture, count_mixture, discrete_start
else:  # run as a script, possibly by a peer's interpreter
    from _problem import binary_mixture, count_mixture, discrete_start

REPO = Path(__file__).resolve().parents[1]
QUICK_FACTOR = 10
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass(frozen=True)
class Case:
    """One benchmark problem."""

    model: str  # 'bernoulli' or 'multinomial'
    n_samples: int
    n_features: int
    n_components: int
    alpha: float
    tokens_per_row: int = 0  # multinomial only

    @property
    def label(self):
        layout = "CSR" if self.model == "multinomial" else "dense"
        return (
            f"{self.model} {layout} {self.n_samples:,} x {self.n_features:,} "
            f"K={self.n_components}"
        )

    def shrunk(self, factor):
        return replace(self, n_samples=max(self.n_samples // factor, 1_000))


CASES = {
    "multinomial": Case("multinomial", 20_000, 10_000, 20, 1.0, 100),
    "bernoulli": Case("bernoulli", 100_000, 100, 10, 0.0),
}
# Issue 16's bars.
MULTINOMIAL_SECONDS = 0.16
BERNOULLI_SECONDS = 0.2
BERNOULLI_OVER_MATMUL = 4.0
SCALING = 1.7


# --- the NumPy EMs: written out as a user would ------------------------------------


def _log_sum_exp(log_joint):
    """log sum_k exp(log_joint[:, k]), and the responsibilities."""
    top = log_joint.max(axis=1, keepdims=True)
    shifted = np.exp(log_joint - top)
    total = shifted.sum(axis=1, keepdims=True)
    shifted /= total
    return (top + np.log(total)).ravel(), shifted


def _bernoulli_log_prior(log_prob, log_complement, alpha):
    """log density of Beta(alpha + 1, alpha + 1) on every p_kj (fastem's prior)."""
    if alpha == 0:
        return 0.0
    from scipy.special import betaln

    return alpha * np.sum(log_prob + log_complement) - log_prob.size * betaln(
        alpha + 1.0, alpha + 1.0
    )


def numpy_bernoulli_loops(X, weights, prob, max_iter, alpha):
    """Textbook EM of a Bernoulli mixture: each component's log-likelihood and
    statistics in a loop over components, elementwise. Returns the lower bound."""
    n_samples = len(X)
    K = len(weights)
    weights, prob = weights.copy(), prob.copy()
    log_joint = np.empty((n_samples, K))
    for _ in range(max_iter):
        log_prob, log_complement = np.log(prob), np.log1p(-prob)
        for k in range(K):  # E-step
            log_joint[:, k] = np.log(weights[k]) + np.sum(
                X * log_prob[k] + (1.0 - X) * log_complement[k], axis=1
            )
        log_norm, resp = _log_sum_exp(log_joint)
        lower_bound = (
            log_norm.sum() + _bernoulli_log_prior(log_prob, log_complement, alpha)
        ) / n_samples
        for k in range(K):  # M-step
            nk = resp[:, k].sum()
            weights[k] = nk / n_samples
            prob[k] = (np.sum(resp[:, k, None] * X, axis=0) + alpha) / (nk + 2 * alpha)
    return lower_bound


def numpy_bernoulli_matmul(X, weights, prob, max_iter, alpha):
    """EM of a Bernoulli mixture with one matrix product per step:
    log p(x, k) = x @ (log p - log(1 - p)) + sum log(1 - p) + log w, then
    resp.T @ X (X dense or scipy.sparse). Returns the lower bound."""
    n_samples = X.shape[0]
    weights, prob = weights.copy(), prob.copy()
    for _ in range(max_iter):
        log_prob, log_complement = np.log(prob), np.log1p(-prob)
        log_joint = X @ (log_prob - log_complement).T
        log_joint += log_complement.sum(axis=1) + np.log(weights)
        log_norm, resp = _log_sum_exp(log_joint)
        lower_bound = (
            log_norm.sum() + _bernoulli_log_prior(log_prob, log_complement, alpha)
        ) / n_samples
        nk = resp.sum(axis=0)
        weights = nk / n_samples
        prob = (resp.T @ X + alpha) / (nk[:, None] + 2 * alpha)
    return lower_bound


def numpy_multinomial_matmul(X, weights, theta, max_iter, alpha):
    """The textbook EM of a multinomial mixture on scipy.sparse CSR (or dense) X:
    X @ log_theta.T, log-sum-exp, responsibilities, resp.T @ X, additive smoothing.
    Returns the lower bound (multinomial coefficient and log prior included)."""
    from scipy.special import gammaln

    n_samples, n_features = X.shape
    K = len(weights)
    weights = weights.copy()
    log_theta = np.log(theta)
    # log(n! / prod_j x_j!) of every row: the same for each k, so only in the bound.
    values = X.data if hasattr(X, "tocsr") else X  # gammaln(0 + 1) = 0
    coefficient = np.sum(gammaln(np.asarray(X.sum(axis=1)).ravel() + 1.0)) - np.sum(
        gammaln(values + 1.0)
    )
    log_normaliser = gammaln(n_features * (alpha + 1.0)) - n_features * gammaln(
        alpha + 1.0
    )
    for _ in range(max_iter):
        log_joint = X @ log_theta.T + np.log(weights)
        log_norm, resp = _log_sum_exp(log_joint)
        log_prior = alpha * np.sum(log_theta) + K * log_normaliser if alpha > 0 else 0.0
        lower_bound = (log_norm.sum() + coefficient + log_prior) / n_samples
        nk = resp.sum(axis=0)
        weights = nk / n_samples
        counts = np.asarray(resp.T @ X) + alpha
        log_theta = np.log(counts) - np.log(counts.sum(axis=1, keepdims=True))
    return lower_bound


# --- child: one library, one case ---------------------------------------------------
# Each ``_prepare_*`` imports its library and returns
# ``fit(X, start, max_iter) -> (lower_bound, n_iter)``, started from ``start``.


def _prepare_fastem(case, n_threads):
    from fastem import BernoulliMixture, MultinomialMixture

    Model = {"bernoulli": BernoulliMixture, "multinomial": MultinomialMixture}[
        case.model
    ]

    def fit(X, start, max_iter):
        model = Model(
            n_components=case.n_components,
            alpha=case.alpha,
            tol=0.0,
            max_iter=max_iter,
            weights_init=start["weights"],
            feature_prob_init=start["feature_prob"],
            # A re-seed would make fastem's EM differ from its peers': fail instead.
            on_degenerate="raise",
        ).fit(X)
        return model.lower_bound_, model.n_iter_

    return fit


def _numpy_preparer(function):
    def prepare(case, n_threads):
        def fit(X, start, max_iter):
            lower_bound = function(
                X, start["weights"], start["feature_prob"], max_iter, case.alpha
            )
            return lower_bound, max_iter

        return fit

    return prepare


def _prepare_stepmix(case, n_threads):
    from stepmix.stepmix import StepMix

    def fit(X, start, max_iter):
        model = StepMix(
            n_components=case.n_components,
            measurement="binary",
            max_iter=max_iter,
            abs_tol=0.0,
            rel_tol=0.0,
            n_init=1,
            progress_bar=0,
            verbose=0,
        )

        # StepMix has no *_init arguments: its initialisation, replaced, sets the
        # given parameters as set_parameters does.
        def initialize(X, random_state):
            model.weights_ = start["weights"].copy()
            model._initialize_parameters_measurement(
                X, random_state, init_emission=False
            )
            model._mm.set_parameters({"pis": start["feature_prob"].copy()})

        model._initialize_parameters = initialize
        model.fit(X)
        return model.lower_bound_, model.n_iter_

    return fit


def _prepare_pomegranate(case, n_threads):
    import torch
    from pomegranate.distributions import Bernoulli
    from pomegranate.gmm import GeneralMixtureModel

    torch.set_num_threads(n_threads)

    def fit(X, start, max_iter):
        model = GeneralMixtureModel(
            # Copies: pomegranate updates its parameters in place.
            [Bernoulli(probs.copy()) for probs in start["feature_prob"]],
            priors=start["weights"].copy(),
            max_iter=max_iter,
            # pomegranate stops when the improvement is below tol, 0 included.
            tol=-np.inf,
        )
        # pomegranate keeps no lower bound: record what each E-step (summarize)
        # returns, the summed log-likelihood under the current parameters.
        log_likelihoods = []
        summarize = model.summarize

        def recording_summarize(*args, **kwargs):
            log_likelihoods.append(summarize(*args, **kwargs))
            return log_likelihoods[-1]

        model.summarize = recording_summarize
        model.fit(X)
        return float(log_likelihoods[-1]) / len(X), len(log_likelihoods)

    return fit


_PREPARE = {
    "fastem": _prepare_fastem,
    "numpy-matmul": None,  # per model, below
    "numpy-loops": _numpy_preparer(numpy_bernoulli_loops),
    "stepmix": _prepare_stepmix,
    "pomegranate": _prepare_pomegranate,
}
_NUMPY_MATMUL = {
    "bernoulli": _numpy_preparer(numpy_bernoulli_matmul),
    "multinomial": _numpy_preparer(numpy_multinomial_matmul),
}
# The cases each library runs, and the distributions behind it (for the versions).
_MODELS = {
    "fastem": ("bernoulli", "multinomial"),
    "numpy-matmul": ("bernoulli", "multinomial"),
    "numpy-loops": ("bernoulli",),
    "stepmix": ("bernoulli",),
    "pomegranate": ("bernoulli",),
}
_DISTRIBUTIONS = {
    "fastem": ("fastem",),
    "numpy-matmul": ("numpy", "scipy"),
    "numpy-loops": ("numpy",),
    "stepmix": ("stepmix", "numpy"),
    "pomegranate": ("pomegranate", "torch"),
}
# Where a peer cannot start or stop exactly as fastem does.
PEER_NOTES = {
    "stepmix": "StepMix has no weights_init / probabilities argument: its "
    "_initialize_parameters is replaced by one that sets the start (as its "
    "set_parameters does); it clips probabilities to [1e-15, 1 - 1e-15] and, after the "
    "last iteration, runs one more E-step (its lower_bound_buffer_), which its time "
    "includes; abs_tol = rel_tol = 0.",
    "pomegranate": "pomegranate starts from Bernoulli(probs) components and priors "
    "(the start exactly), with tol=-inf: its fit stops when an improvement is below "
    "tol, 0 included. Lower bound: the last summarize's log-probability / N.",
}


def preparer(library, case):
    """``prepare(case, n_threads) -> fit`` of ``library`` for ``case``'s model, where
    ``fit(X, start, max_iter) -> (lower_bound, n_iter)`` starts from ``start`` (a
    dict of ``weights`` and ``feature_prob``); importing the library is left to
    ``prepare``."""
    if case.model not in _MODELS[library]:
        raise ValueError(f"{library} does not fit {case.model} mixtures here")
    return _PREPARE[library] or _NUMPY_MATMUL[case.model]


def _versions(library):
    found = []
    for name in _DISTRIBUTIONS[library]:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    return ", ".join(found)


def _peak_rss_mib():
    import resource  # POSIX only, so not at the top: asv imports this module

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def _load(folder, model):
    if model == "multinomial":
        import scipy.sparse as sp

        return sp.load_npz(folder / "X.npz").tocsr()
    return np.load(folder / "X.npy")


def _child(spec):
    """Time one library on one case; print a JSON record as the last stdout line."""
    warnings.filterwarnings("ignore", "Best performing initialization did not converge")
    warnings.filterwarnings("ignore", "Initializations did not converge")
    case = Case(**spec["case"])
    folder = Path(spec["data"])
    fit = preparer(spec["library"], case)(case, spec["threads"])
    start = dict(np.load(folder / "start.npz"))
    X = _load(folder, case.model)
    fit(X, start, 1)  # warm-up: thread pools, first calls, allocations of this size
    begin = time.perf_counter()
    lower_bound, n_iter = fit(X, start, spec["max_iter"])
    seconds = time.perf_counter() - begin
    record = {
        "seconds": seconds,
        "lower_bound": float(lower_bound),
        "n_iter": int(n_iter),
        "peak_rss_mib": _peak_rss_mib(),
        "versions": _versions(spec["library"]),
    }
    print(json.dumps(record))


# --- parent: plan, run the children, report -----------------------------------------


@dataclass(frozen=True)
class Runner:
    """A library, the interpreter that runs it, and its thread count."""

    library: str
    python: str
    threads: int

    @property
    def key(self):
        return f"{self.library}@{self.threads}"


def _write_case(case, folder):
    """Save the case's data and start where the children load them."""
    if case.model == "multinomial":
        import scipy.sparse as sp

        X, parameters = count_mixture(
            case.n_samples, case.n_features, case.n_components, case.tokens_per_row
        )
        sp.save_npz(folder / "X.npz", X, compressed=False)
    else:
        X, parameters = binary_mixture(
            case.n_samples, case.n_features, case.n_components
        )
        np.save(folder / "X.npy", X)
    np.savez(folder / "start.npz", **discrete_start(parameters, case.model))
    return X


def _run_child(runner, case, folder, args):
    """One child process; its record, or ``{'error': ...}`` if it failed."""
    spec = {
        "library": runner.library,
        "case": asdict(case),
        "data": str(folder),
        "threads": runner.threads,
        "max_iter": args.max_iter,
    }
    env = dict(os.environ, **{name: str(runner.threads) for name in THREAD_VARIABLES})
    command = [
        runner.python,
        str(Path(__file__).resolve()),
        "--child",
        json.dumps(spec),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        return {"error": lines[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _measure(case, runners, args):
    """Every runner on ``case``, interleaved, ``args.repeats`` times: the records."""
    records = []
    with tempfile.TemporaryDirectory(prefix="fastem-compare-discrete-") as tmp:
        folder = Path(tmp)
        X = _write_case(case, folder)
        nnz = f", {X.nnz:,} stored values" if hasattr(X, "nnz") else ""
        print(f"{case.label}{nnz}", file=sys.stderr)
        for repeat in range(args.repeats):
            shift = repeat % len(runners)
            for runner in runners[shift:] + runners[:shift]:
                record = _run_child(runner, case, folder, args)
                record.update(case=case.model, runner=runner.key)
                records.append(record)
                outcome = (
                    f"failed: {record['error']}"
                    if "error" in record
                    else f"{record['seconds']:.4g} s, lower bound "
                    f"{record['lower_bound']:.6f}"
                )
                print(
                    f"[{repeat + 1}/{args.repeats}] {case.model} {runner.key}: "
                    f"{outcome}",
                    file=sys.stderr,
                )
    return records


def _summary(records):
    """Median and minimum seconds, lower bound, iterations of one runner's records;
    the error if none succeeded; None without records."""
    if not records:
        return None
    good = [r for r in records if "error" not in r]
    if not good:
        return {"error": records[0]["error"]}
    seconds = [r["seconds"] for r in good]
    return {
        "median": statistics.median(seconds),
        "min": min(seconds),
        "lower_bound": good[0]["lower_bound"],
        "n_iter": good[0]["n_iter"],
        "versions": good[0]["versions"],
    }


def _markdown(case, runners, summaries, reference):
    """The case's rows of the table: one per runner."""
    fastem = summaries.get(reference.key)
    lines = []
    for runner in runners:
        summary = summaries.get(runner.key)
        cells = [case.label, runner.library, str(runner.threads)]
        if summary is None or "error" in summary:
            cells += ["failed" if summary else "n/a"] + [""] * 4
        else:
            ratio = delta = ""
            if fastem and "error" not in fastem:
                ratio = f"{summary['median'] / fastem['median']:.2f}x"
                delta = f"{summary['lower_bound'] - fastem['lower_bound']:+.1e}"
            cells += [
                f"{summary['median']:.3f}",
                f"{summary['min']:.3f}",
                ratio,
                f"{summary['lower_bound']:.6f}",
                delta,
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _targets(summaries_by_case, reference, scaling, max_iter):
    """Lines on issue 16's bars: each measured value and whether it is met."""

    def seconds(model, key):
        summary = summaries_by_case.get(model, {}).get(key)
        return None if not summary or "error" in summary else summary["median"]

    lines = []
    fastem = reference.key
    if max_iter != 10:
        lines.append("(the bars are for 10 iterations)")
    value = seconds("multinomial", fastem)
    if value is not None:
        met = "met" if value <= MULTINOMIAL_SECONDS else "missed"
        lines.append(
            f"multinomial: fastem {value:.3f} s (bar <= {MULTINOMIAL_SECONDS} s): {met}"
        )
    value = seconds("bernoulli", fastem)
    if value is not None:
        met = "met" if value <= BERNOULLI_SECONDS else "missed"
        lines.append(
            f"bernoulli: fastem {value:.3f} s (bar <= {BERNOULLI_SECONDS} s): {met}"
        )
        matmul = seconds("bernoulli", f"numpy-matmul@{reference.threads}")
        if matmul is not None:
            ratio = matmul / value
            met = "met" if ratio >= BERNOULLI_OVER_MATMUL else "missed"
            lines.append(
                f"bernoulli: numpy-matmul / fastem {ratio:.2f}x "
                f"(bar >= {BERNOULLI_OVER_MATMUL}x): {met}"
            )
    if scaling is not None:
        for model in summaries_by_case:
            one, many = seconds(model, fastem), seconds(model, scaling.key)
            if one is not None and many is not None:
                met = "met" if one / many >= SCALING else "missed"
                lines.append(
                    f"{model}: fastem's speed-up on {scaling.threads} threads over "
                    f"{reference.threads}: {one / many:.2f}x (bar >= {SCALING}x): {met}"
                )
    return lines


def _parse(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"N divided by {QUICK_FACTOR} and one repeat: a smoke test",
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="threads of every library (default 1)"
    )
    parser.add_argument(
        "--scaling-threads",
        type=int,
        default=2,
        help="also time fastem on this many threads (default 2; 0: no)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="children per library and case (default 3, or 1 with --quick)",
    )
    parser.add_argument(
        "--max-iter", type=int, default=10, help="EM iterations timed (default 10)"
    )
    parser.add_argument(
        "--cases", nargs="+", default=list(CASES), choices=CASES, help="default: both"
    )
    parser.add_argument(
        "--libraries",
        default=",".join(_MODELS),
        help=f"comma-separated subset of {','.join(_MODELS)}",
    )
    parser.add_argument(
        "--stepmix-python",
        default=str(REPO / ".venv-stepmix" / "bin" / "python"),
        help="interpreter with stepmix (default: .venv-stepmix/bin/python)",
    )
    parser.add_argument(
        "--pomegranate-python",
        default=str(REPO / ".venv-pomegranate" / "bin" / "python"),
        help="interpreter with pomegranate (default: .venv-pomegranate/bin/python)",
    )
    parser.add_argument("--json", type=Path, help="also write all records here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.max_iter < 1:
        parser.error("--max-iter must be at least 1")
    unknown = set(args.libraries.split(",")) - set(_MODELS)
    if unknown:
        parser.error(f"unknown libraries {sorted(unknown)}")
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    return args


def _runners(args):
    """(runners, the fastem runner on --threads or None, the scaling runner or None,
    notes on the libraries left out)."""
    pythons = {
        "stepmix": args.stepmix_python,
        "pomegranate": args.pomegranate_python,
    }
    runners, notes = [], []
    for library in args.libraries.split(","):
        python = pythons.get(library, sys.executable)
        if not Path(python).exists():
            notes.append(f"{library} left out: no interpreter at {python}")
            continue
        runners.append(Runner(library, python, args.threads))
    reference = next((r for r in runners if r.library == "fastem"), None)
    scaling = None
    if reference and args.scaling_threads and args.scaling_threads != args.threads:
        scaling = Runner("fastem", sys.executable, args.scaling_threads)
        runners.insert(1, scaling)
    return runners, reference, scaling, notes


def main(argv=None):
    args = _parse(argv)
    if args.child:
        _child(json.loads(args.child))
        return
    runners, reference, scaling, notes = _runners(args)
    factor = QUICK_FACTOR if args.quick else 1
    records, summaries_by_case, rows = [], {}, []
    for name in args.cases:
        case = CASES[name].shrunk(factor)
        mine = [r for r in runners if case.model in _MODELS[r.library]]
        case_records = _measure(case, mine, args)
        records += case_records
        summaries = {
            r.key: _summary([c for c in case_records if c["runner"] == r.key])
            for r in mine
        }
        summaries_by_case[case.model] = summaries
        rows += _markdown(case, mine, summaries, reference or mine[0])
        for runner in mine:
            summary = summaries[runner.key]
            if summary and "error" in summary:
                notes.append(f"{case.model} {runner.key} failed: {summary['error']}")
            elif summary and summary["n_iter"] != args.max_iter:
                notes.append(
                    f"{case.model} {runner.key} ran {summary['n_iter']} iterations"
                )
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"\nSeconds of a fit of {args.max_iter} EM iterations from the same start "
        f"(tol 0), after a warm-up fit; median and minimum of {args.repeats} "
        f"interleaved repeats, each in its own process. {args.threads} thread(s) "
        f"unless the row says; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, load average {load} at the end.\n"
        f"÷ fastem: the row's median over fastem's ({args.threads} thread(s)). "
        f"ΔLB: the row's lower bound minus fastem's.\n"
    )
    header = ["case", "library", "threads", "median s", "min s", "÷ fastem"]
    header += ["lower bound", "ΔLB"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    print("\n".join(rows))
    versions = {}
    for summaries in summaries_by_case.values():
        for key, summary in summaries.items():
            if summary and "versions" in summary:
                versions.setdefault(key.split("@")[0], summary["versions"])
    print("\n" + "; ".join(f"{name}: {v}" for name, v in versions.items() if v))
    if reference and args.quick:
        print(f"\n--quick: N / {QUICK_FACTOR}, so the bars of issue 16 are not judged.")
    elif reference:
        print("\nBars of issue 16:")
        for line in _targets(summaries_by_case, reference, scaling, args.max_iter):
            print(f"- {line}")
    for runner in runners:
        if runner.library in PEER_NOTES:
            notes.append(PEER_NOTES[runner.library])
    for note in notes:
        print(f"Note: {note}")
    if args.json:
        settings = {k: v for k, v in vars(args).items() if k not in ("child", "json")}
        document = {"settings": settings, "records": records}
        args.json.write_text(json.dumps(document, indent=1, default=str))


if __name__ == "__main__":
    main()
