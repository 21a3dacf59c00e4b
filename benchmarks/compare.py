#!/usr/bin/env python
"""Side by side: fastem against its CPU peers on the grid of the performance targets.

    python benchmarks/compare.py [--quick] [--threads N] [--repeats R] [--memory]
                                 [--no-predict] [--json out.json]

Peers: scikit-learn, Intel oneDAL's ``em_gmm`` through daal4py, and pomegranate. oneDAL
and pomegranate run from their own virtual environments (``--onedal-python``,
``--pomegranate-python``), so neither can change the scikit-learn that fastem is
compared with; a peer whose interpreter is missing is left out with a note.
``--baseline-python`` adds fastem installed from another commit, as the library
fastem-baseline: the table's ``fastem-baseline/fastem`` column is then the speed-up
of this build over that one, measured side by side.

A second table times ``predict``, ``predict_proba`` and ``score_samples`` of fastem and
scikit-learn on the grid's cases with d <= 8 (on by default when both are in
``--libraries``; ``--no-predict`` skips it). The peers are not in it: oneDAL's
``em_gmm`` (daal4py) only fits, it has no call that scores new rows; pomegranate has
``predict``, ``predict_proba`` and ``log_probability`` but is not timed here.

How each number is made
-----------------------
Data and starting point
    For each case the parent draws the data once (``_problem.mixture_data``) and the
    initial weights, means and covariances (``_problem.initial_parameters``), and saves
    them; every library loads these same arrays and starts EM from them with ``tol=0``.
One process per library and repeat
    Each measurement runs in a child process of its own, so its peak memory is its
    own. Libraries are interleaved within each repeat (the order rotates between
    repeats), so a disturbance on the machine hits all of them alike.
Seconds per iteration
    After a warm-up fit (``max_iter=1``: thread pools, first calls, allocations of
    this size), the child times a fit with ``max_iter=1`` and one with ``max_iter=M``
    and reports ``(t_M - t_1) / (M - 1)``. The difference removes everything a fit
    does once (validation, setting up from the given parameters, the final E-step that
    fastem and scikit-learn run, the first iteration's one-off costs) and leaves the
    steady cost of one E-step plus M-step. oneDAL refuses ``max_iter=0``, hence the
    base of 1 for all. The table shows the median over repeats.
Peak RSS
    The child's peak resident memory (``ru_maxrss``): interpreter, library, data and
    fit together, as a user would see it; the largest over repeats.
Lower bound
    The mean log-likelihood of the data at the last E-step, from the parameters after
    M - 1 M-steps: scikit-learn's and fastem's ``lower_bound_``, oneDAL's
    ``goalFunction`` / N, pomegranate's last summarised log-probability / N. Shown as
    the difference from scikit-learn's. oneDAL and pomegranate add no ``reg_covar``
    (1e-6 on the diagonal in the others), which accounts for differences near 1e-7.
The limit
    What the machine could do at best, from the arithmetic each (row, component) needs
    and one exp per (row, component): ``flops / FMA rate + N K / exp rate`` (the
    ``limit`` and ``fastem/limit`` columns; 2 or less is the goal). The flops follow
    the method fastem must use for accuracy (log-densities from x - mu_k, sums around
    each component's mean), counting a fused multiply-add as two: per (row,
    component), full: d for x - mu, d(d + 1) for the triangular product with the
    precision factor, 2d for the squares, 2 for the log-density; d + d for the
    weighted row, d(d + 1) for the second moments; 3 for the responsibilities
    (subtract the row's maximum, sum, scale). Diagonal: 4d + 2, 4d, 3. Spherical:
    3d + 2, 2d + 2, 3. Tied: the rows are multiplied by the shared factor once
    (2 d(d + 1) per row with their second moments), then 3d + 2, 2d, 3 per (row,
    component). The FMA rate is BLAS's matrix product (2 n^3 flops) in the case's
    dtype, and the exp rate that of the E-steps' vectorised exp
    (``_kernels.gaussian.exp``), both at the run's thread count, measured in a
    child before and after the grid; the faster of the two is taken (the machine's
    best, where other work only slows it).
Prediction
    Both libraries predict with the same parameters: the case's saved start, set as
    the fitted attributes (``weights_``, ``means_``, ``covariances_``,
    ``precisions_`` and ``precisions_cholesky_`` from scikit-learn's
    ``_compute_precision_cholesky``, all in the data's dtype, and ``n_features_in_``)
    of an unfitted estimator, with no fit. Per method, the child makes one warm-up
    call, then times ``PREDICT_CALLS`` calls and reports their median; the table shows
    the median over repeats. Agreement, from the warm-up calls' outputs: the largest
    |difference| of fastem's ``score_samples`` from scikit-learn's, and the fraction
    of rows whose ``predict`` label is the same.
"""

import argparse
import importlib
import importlib.metadata
import json
import operator
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np

if __package__:  # imported as benchmarks.compare (asv's benchmark discovery)
    from ._problem import COVARIANCE_TYPES, initial_parameters, mixture_data
else:  # run as a script, possibly by a peer's interpreter
    from _problem import COVARIANCE_TYPES, initial_parameters, mixture_data

REPO = Path(__file__).resolve().parents[1]
QUICK_FACTOR = 50
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
PREDICT_METHODS = ("predict", "predict_proba", "score_samples")
PREDICT_CALLS = 3  # timed calls per method in a child, after one warm-up call
PREDICT_MAX_FEATURES = 8  # the prediction table: the grid's cases with d <= this
RATE_MATRIX = 2048  # the FMA rate: a product of two such square matrices
RATE_EXPS = 1 << 22  # the exp rate: exps per timed call


@dataclass(frozen=True)
class Case:
    """One benchmark problem."""

    covariance_type: str
    n_samples: int
    n_features: int
    n_components: int
    dtype: str = "float64"

    @property
    def label(self):
        mantissa, exponent = (int(part) for part in f"{self.n_samples:.0e}".split("e"))
        exact = mantissa * 10**exponent == self.n_samples
        n = f"{mantissa}e{exponent}" if exact else str(self.n_samples)
        return (
            f"{self.covariance_type} N={n} d={self.n_features} K={self.n_components}"
            f" {self.dtype}"
        )

    def shrunk(self, factor):
        """This case with N divided by ``factor``, but at least 10 d rows per
        component, so that every covariance stays well conditioned."""
        n_samples = max(
            self.n_samples // factor, 10 * self.n_features * self.n_components
        )
        return replace(self, n_samples=n_samples)

    @property
    def data_mib(self):
        """Size of X in MiB."""
        itemsize = np.dtype(self.dtype).itemsize
        return self.n_samples * self.n_features * itemsize / 2**20


GRID = [
    *(
        Case("full", n, d, k)
        for n, d, k in [
            (1_000_000, 2, 8),
            (1_000_000, 3, 32),
            (1_000_000, 8, 32),
            (200_000, 32, 16),
            (100_000, 64, 16),
        ]
    ),
    *(Case(kind, 1_000_000, 8, 32) for kind in ("diag", "spherical", "tied")),
    Case("full", 1_000_000, 8, 32, "float32"),
]
# fastem alone at this size; scikit-learn at 1/100 and 1/10 of it, extrapolated.
MEMORY_CASE = Case("full", 10_000_000, 3, 32)


@dataclass(frozen=True)
class Library:
    """A library under test and the interpreter that runs it."""

    name: str
    python: str
    covariance_types: tuple = COVARIANCE_TYPES


# --- child: one library, one case -----------------------------------------------------
# Each ``_prepare_*`` imports its library, pins its threads and returns
# ``fit(X, start, max_iter) -> (lower_bound, n_iter)``, started from ``start``.


def _estimator_preparer(module):
    """fastem and scikit-learn share the estimator API; threads follow the variables
    in ``THREAD_VARIABLES``, which the parent sets."""

    def prepare(covariance_type, n_threads):
        GaussianMixture = importlib.import_module(module).GaussianMixture

        def fit(X, start, max_iter):
            model = GaussianMixture(
                n_components=len(start["weights"]),
                covariance_type=covariance_type,
                tol=0.0,
                max_iter=max_iter,
                weights_init=start["weights"],
                means_init=start["means"],
                precisions_init=start["precisions"],
            ).fit(X)
            return model.lower_bound_, model.n_iter_

        return fit

    return prepare


def _prepare_onedal(covariance_type, n_threads):
    import daal4py

    daal4py.daalinit(n_threads)
    storage = {"full": "full", "diag": "diagonal"}[covariance_type]

    def fit(X, start, max_iter):
        covariances = start["covariances"]
        if covariance_type == "diag":
            covariances = covariances[:, None, :]  # one 1 x d table per component
        result = daal4py.em_gmm(
            nComponents=len(start["weights"]),
            maxIterations=max_iter,
            accuracyThreshold=0.0,
            covarianceStorage=storage,
            fptype="float" if X.dtype == np.float32 else "double",
        ).compute(X, start["weights"][None, :], start["means"], list(covariances))
        # goalFunction: the summed log-likelihood at the last E-step.
        return result.goalFunction[0, 0] / len(X), int(result.nIterations[0, 0])

    return fit


def _prepare_pomegranate(covariance_type, n_threads):
    import torch
    from pomegranate.distributions import Normal
    from pomegranate.gmm import GeneralMixtureModel

    torch.set_num_threads(n_threads)
    kind = {"full": "full", "diag": "diag", "spherical": "sphere"}[covariance_type]

    def fit(X, start, max_iter):
        means, covariances = start["means"], start["covariances"]
        if covariance_type == "spherical":  # pomegranate: d equal variances
            covariances = np.repeat(covariances[:, None], means.shape[1], axis=1)
        model = GeneralMixtureModel(
            # Copies: pomegranate updates its parameters in place.
            [
                Normal(mean.copy(), covariance.copy(), covariance_type=kind)
                for mean, covariance in zip(means, covariances, strict=True)
            ],
            priors=start["weights"].copy(),
            max_iter=max_iter,
            tol=0.0,
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


# The libraries with the estimator API, by the module that holds GaussianMixture;
# fastem-baseline is fastem installed from another commit (--baseline-python).
_ESTIMATOR_MODULES = {
    "fastem": "fastem",
    "fastem-baseline": "fastem",
    "sklearn": "sklearn.mixture",
}
_PREPARE = {
    **{
        name: _estimator_preparer(module) for name, module in _ESTIMATOR_MODULES.items()
    },
    "oneDAL": _prepare_onedal,
    "pomegranate": _prepare_pomegranate,
}
_DISTRIBUTIONS = {
    "fastem": ("fastem",),
    "fastem-baseline": ("fastem",),
    "sklearn": ("scikit-learn",),
    "oneDAL": ("daal4py", "scikit-learn-intelex"),
    "pomegranate": ("pomegranate", "torch"),
}


def _versions(library):
    """'name version' of the installed distributions behind ``library``."""
    found = []
    for name in _DISTRIBUTIONS[library]:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    return ", ".join(found)


def _peak_rss_mib():
    """Peak resident memory of this process so far, in MiB."""
    import resource  # POSIX only, so not at the top: asv imports this module

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)  # bytes / KiB


def _iteration_timer(spec):
    """``measure(X, start) -> record``: seconds per EM iteration and the lower bound."""
    fit = _PREPARE[spec["library"]](spec["covariance_type"], spec["threads"])

    def measure(X, start):
        fit(X, start, 1)  # warm-up: thread pools, first calls, allocations of this size
        seconds = []
        for max_iter in (1, spec["max_iter"]):
            begin = time.perf_counter()
            lower_bound, n_iter = fit(X, start, max_iter)
            seconds.append(time.perf_counter() - begin)
        return {
            "seconds_per_iteration": (seconds[1] - seconds[0]) / (spec["max_iter"] - 1),
            "seconds": seconds,
            "lower_bound": float(lower_bound),
            "n_iter": int(n_iter),
        }

    return measure


def _method_timer(spec):
    """``measure(X, start) -> record``: seconds of each of ``PREDICT_METHODS`` of a
    model holding ``start`` as its fitted parameters; the warm-up calls' labels and
    log-likelihoods are saved to ``spec['outputs']`` for the agreement check."""
    from sklearn.mixture._gaussian_mixture import _compute_precision_cholesky

    module = importlib.import_module(_ESTIMATOR_MODULES[spec["library"]])
    covariance_type = spec["covariance_type"]

    def measure(X, start):
        model = module.GaussianMixture(
            n_components=len(start["weights"]), covariance_type=covariance_type
        )
        precisions_cholesky = _compute_precision_cholesky(
            start["covariances"], covariance_type
        )
        model.weights_ = start["weights"]
        model.means_ = start["means"]
        model.covariances_ = start["covariances"]
        model.precisions_ = start["precisions"]
        model.precisions_cholesky_ = precisions_cholesky.astype(X.dtype)
        model.n_features_in_ = X.shape[1]
        seconds, outputs = {}, {}
        for method in PREDICT_METHODS:
            call = getattr(model, method)
            outputs[method] = call(X)  # warm-up
            times = []
            for _ in range(PREDICT_CALLS):
                begin = time.perf_counter()
                call(X)
                times.append(time.perf_counter() - begin)
            seconds[method] = statistics.median(times)
        np.savez(
            spec["outputs"],
            labels=outputs["predict"],
            score_samples=outputs["score_samples"],
        )
        return {"method_seconds": seconds}

    return measure


def _best_rate(operations, run, repeats=5):
    """``operations`` per second of ``run()``, the best of ``repeats`` after a
    warm-up call."""
    run()
    best = min(_seconds(run) for _ in range(repeats))
    return operations / best


def _seconds(run):
    """Wall seconds of one ``run()``."""
    begin = time.perf_counter()
    run()
    return time.perf_counter() - begin


def _machine_rates(threads):
    """The machine's FMA rate (flops per second of BLAS's matrix product) per dtype
    and the rate of fastem's vectorised exp, at ``threads`` threads."""
    from fastem._kernels import get_backend

    rates = {}
    for dtype in ("float64", "float32"):
        a = np.random.default_rng(0).random((RATE_MATRIX, RATE_MATRIX)).astype(dtype)
        rates[f"flops_{dtype}"] = _best_rate(
            2 * RATE_MATRIX**3, partial(np.matmul, a, a)
        )
    x = -np.random.default_rng(1).random(RATE_EXPS) * 30.0
    out = np.empty_like(x)
    exp = get_backend().gaussian.exp
    rates["exps"] = _best_rate(RATE_EXPS, partial(exp, x, out, threads))
    return rates


def _flops(case):
    """Flops of one EM iteration on ``case`` (see 'The limit' in the module's
    docstring)."""
    d = case.n_features
    per_row = 0
    if case.covariance_type == "full":
        per_pair = (d + d * (d + 1) + 2 * d + 2) + (2 * d + d * (d + 1)) + 3
    elif case.covariance_type == "diag":
        per_pair = (4 * d + 2) + 4 * d + 3
    elif case.covariance_type == "spherical":
        per_pair = (3 * d + 2) + (2 * d + 2) + 3
    else:  # tied
        per_pair = (3 * d + 2) + 2 * d + 3
        per_row = 2 * d * (d + 1)
    return case.n_samples * (case.n_components * per_pair + per_row)


def _limit_seconds(case, rates):
    """The lower bound of one EM iteration on ``case`` from the machine's rates."""
    exps = case.n_samples * case.n_components
    return _flops(case) / rates[f"flops_{case.dtype}"] + exps / rates["exps"]


def _child(spec):
    """Measure one library on one case; print a JSON record as the last stdout line."""
    if spec["task"] == "rates":
        print(json.dumps(_machine_rates(spec["threads"])))
        return
    warnings.filterwarnings("ignore", "Best performing initialization did not converge")
    data = Path(spec["data"])
    start = dict(np.load(data / "start.npz"))
    timer = _method_timer if spec["task"] == "predict" else _iteration_timer
    measure = timer(spec)  # imports the library
    baseline = _peak_rss_mib()
    record = measure(np.load(data / "X.npy"), start)
    record.update(
        peak_rss_mib=_peak_rss_mib(),
        baseline_rss_mib=baseline,
        versions=_versions(spec["library"]),
    )
    print(json.dumps(record))


# --- parent: plan, run the children, report -------------------------------------


def _write_case(case, folder):
    """Save the case's data and starting parameters where the children load them."""
    X = mixture_data(case.n_samples, case.n_features, case.n_components, case.dtype)
    np.save(folder / "X.npy", X)
    np.savez(
        folder / "start.npz",
        **initial_parameters(X, case.n_components, case.covariance_type),
    )


def _outputs_path(folder, library_name):
    """Where a prediction child saves its labels and log-likelihoods."""
    return folder / f"outputs-{library_name}.npz"


def _run_child(library, case, folder, args, task):
    """One child process; its record, or ``{'error': ...}`` if it failed."""
    spec = {
        "task": task,
        "library": library.name,
        "data": str(folder),
        "outputs": str(_outputs_path(folder, library.name)),
        "covariance_type": case.covariance_type,
        "max_iter": args.max_iter,
        "threads": args.threads,
    }
    return _run_spec(library.python, spec)


def _run_spec(python, spec):
    """Run this script's child part on ``spec`` with ``python``, its threads pinned to
    ``spec['threads']``; the child's record, or ``{'error': ...}`` if it failed."""
    threads = str(spec["threads"])
    env = dict(os.environ, **{name: threads for name in THREAD_VARIABLES})
    command = [python, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        return {"error": lines[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _outcome(record):
    """One line of progress about a child's record."""
    if "error" in record:
        return f"failed: {record['error']}"
    if "method_seconds" in record:
        times = ", ".join(f"{m} {s:.4g} s" for m, s in record["method_seconds"].items())
    else:
        times = f"{record['seconds_per_iteration']:.4g} s/iter"
    return f"{times}, peak {record['peak_rss_mib']:.0f} MiB"


def _agreement(folder):
    """fastem's prediction outputs against scikit-learn's, both saved in ``folder``:
    the largest |difference| of score_samples and the fraction of equal labels."""
    try:
        fastem, sklearn = (
            np.load(_outputs_path(folder, name)) for name in ("fastem", "sklearn")
        )
    except FileNotFoundError:  # a child failed
        return {}
    difference = fastem["score_samples"].astype(np.float64) - sklearn["score_samples"]
    return {
        "score_samples_max_abs_diff": float(np.max(np.abs(difference))),
        "labels_agree": float(np.mean(fastem["labels"] == sklearn["labels"])),
    }


def _measure(plan, repeats, args, task="fit"):
    """Run every (case, libraries) of ``plan``, libraries interleaved, ``repeats``
    times; return one record per child. ``task``: 'fit' (EM iterations) or 'predict'
    (``PREDICT_METHODS``, whose agreement is added to each fastem record)."""
    records = []
    total = sum(len(libraries) for _, libraries in plan) * repeats
    with tempfile.TemporaryDirectory(prefix="fastem-compare-") as tmp:
        folder = Path(tmp)
        for case, libraries in plan:
            _write_case(case, folder)
            for outputs in folder.glob("outputs-*.npz"):  # the previous case's
                outputs.unlink()
            mine = []
            for repeat in range(repeats):
                shift = repeat % len(libraries)
                for library in libraries[shift:] + libraries[:shift]:
                    record = _run_child(library, case, folder, args, task)
                    record.update(task=task, case=asdict(case), library=library.name)
                    mine.append(record)
                    progress = (
                        f"[{len(records) + len(mine)}/{total}] {task} {case.label} "
                        f"{library.name}"
                    )
                    print(f"{progress}: {_outcome(record)}", file=sys.stderr)
            if task == "predict":
                agreement = _agreement(folder)
                for record in mine:
                    if record["library"] == "fastem" and "error" not in record:
                        record.update(agreement)
            records += mine
    return records


def _fit_summary(good, max_iter):
    """Median s/iter, peak RSS, lower bound of one library's good records."""
    return {
        "seconds_per_iteration": statistics.median(
            r["seconds_per_iteration"] for r in good
        ),
        "peak_rss_mib": max(r["peak_rss_mib"] for r in good),
        "lower_bound": good[0]["lower_bound"],
        "stopped_early": any(r["n_iter"] != max_iter for r in good),
    }


def _predict_summary(good):
    """Median seconds per method, peak RSS, agreement of one library's good records."""
    summary = {
        method: statistics.median(r["method_seconds"][method] for r in good)
        for method in PREDICT_METHODS
    }
    summary["peak_rss_mib"] = max(r["peak_rss_mib"] for r in good)
    for key in ("score_samples_max_abs_diff", "labels_agree"):
        if key in good[0]:
            summary[key] = good[0][key]
    return summary


def _summaries(records, case, names, summarize):
    """Per library: ``summarize(good)`` of its good records (or the error, or None)."""
    summaries = {}
    for name in names:
        mine = [
            r for r in records if r["library"] == name and r["case"] == asdict(case)
        ]
        good = [r for r in mine if "error" not in r]
        if not good:
            summaries[name] = {"error": mine[0]["error"]} if mine else None
            continue
        summaries[name] = summarize(good)
    return summaries


def _cell(summary, key, template):
    """One library's value, 'n/a' where the case or value is not for it, or
    'failed'."""
    if summary is None:
        return "n/a"
    if "error" in summary:
        return "failed"
    if key not in summary:
        return "n/a"
    return template.format(summary[key])


def _versus(summary, reference, key, template, combine):
    """``combine`` of two libraries' values, or 'n/a' unless both have one."""
    if not all(s and "error" not in s for s in (summary, reference)):
        return "n/a"
    return template.format(combine(summary[key], reference[key]))


def _markdown(rows, names, rates=None):
    """One markdown table: times, ratios to fastem, the limit and fastem's ratio to
    it (where ``rates`` are given and fastem ran), peak memory, lower bounds."""
    peers = [name for name in names if name != "fastem"]
    not_sklearn = [name for name in names if name != "sklearn"]
    limits = rates is not None and "fastem" in names
    header = (
        ["case"]
        + [f"{name} s/iter" for name in names]
        + [f"{name}/fastem" for name in peers]
        + (["limit s", "fastem/limit"] if limits else [])
        + [f"{name} peak MiB" for name in names]
        + [f"{name} ΔLB" for name in not_sklearn]
    )
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for case, summaries in rows:
        fastem, sklearn = summaries.get("fastem"), summaries.get("sklearn")
        cells = (
            [case.label]
            + [
                _cell(summaries[name], "seconds_per_iteration", "{:.4g}")
                for name in names
            ]
            + [
                _versus(
                    summaries[name],
                    fastem,
                    "seconds_per_iteration",
                    "{:.1f}x",
                    operator.truediv,
                )
                for name in peers
            ]
            + (_limit_cells(case, fastem, rates) if limits else [])
            + [_cell(summaries[name], "peak_rss_mib", "{:.0f}") for name in names]
            + [
                _versus(
                    summaries[name], sklearn, "lower_bound", "{:+.1e}", operator.sub
                )
                for name in not_sklearn
            ]
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _limit_cells(case, fastem, rates):
    """The case's limit in seconds and fastem's seconds over it."""
    limit = _limit_seconds(case, rates)
    if fastem is None or "error" in fastem:
        return [f"{limit:.3g}", _cell(fastem, "seconds_per_iteration", "")]
    return [f"{limit:.3g}", f"{fastem['seconds_per_iteration'] / limit:.1f}x"]


def _rates(args):
    """The machine's rates (``_machine_rates``) at the run's thread count: the best
    of a child's before and after the grid, as each rate's maximum."""
    return _run_spec(sys.executable, {"task": "rates", "threads": args.threads})


def _best_rates(measured):
    """Each rate's maximum over the rate records that did not fail, or None."""
    good = [rates for rates in measured if "error" not in rates]
    if not good:
        return None
    return {key: max(rates[key] for rates in good) for key in good[0]}


# The agreement column of the prediction table, per method: (summary key, format).
_AGREEMENT = {
    "predict": ("labels_agree", "{:.6f} of labels equal"),
    "score_samples": ("score_samples_max_abs_diff", "max abs Δ {:.1e}"),
}


def _predict_markdown(rows):
    """One markdown table: each method's seconds, their ratio, the agreement."""
    header = ["case", "method", "fastem s", "sklearn s", "sklearn/fastem", "agreement"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for case, summaries in rows:
        fastem, sklearn = summaries["fastem"], summaries["sklearn"]
        for method in PREDICT_METHODS:
            agreement = (
                _cell(fastem, *_AGREEMENT[method]) if method in _AGREEMENT else ""
            )
            cells = [
                case.label,
                method,
                _cell(fastem, method, "{:.4g}"),
                _cell(sklearn, method, "{:.4g}"),
                _versus(sklearn, fastem, method, "{:.1f}x", operator.truediv),
                agreement,
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _memory_report(records, fastem_case, sklearn_cases):
    """Markdown lines: fastem's peak at the large size, scikit-learn's extrapolated.

    Baseline: the child's peak after its imports, before X is loaded.
    """
    lines = [
        "| library | case | size(X) MiB | baseline MiB | peak RSS MiB"
        " | peak - size(X) MiB |",
        "|---|---|---|---|---|---|",
    ]
    peaks = {}
    for library, case in [("fastem", fastem_case)] + [
        ("sklearn", c) for c in sklearn_cases
    ]:
        record = next(
            r for r in records if r["library"] == library and r["case"] == asdict(case)
        )
        if "error" in record:
            lines.append(f"| {library} | {case.label} | failed: {record['error']} |")
            continue
        peak = record["peak_rss_mib"]
        peaks[case.n_samples] = peak
        lines.append(
            f"| {library} | {case.label} | {case.data_mib:.1f} "
            f"| {record['baseline_rss_mib']:.0f} | {peak:.0f} "
            f"| {peak - case.data_mib:.0f} |"
        )
    small, large = (c.n_samples for c in sklearn_cases)
    if small in peaks and large in peaks:
        per_row = (peaks[large] - peaks[small]) / (large - small)
        estimate = peaks[large] + per_row * (fastem_case.n_samples - large)
        lines.append(
            f"\nscikit-learn at N={fastem_case.n_samples:,} (not run): about "
            f"{estimate:,.0f} MiB, extrapolated linearly from N={small:,} and "
            f"N={large:,} ({per_row * 2**20:,.0f} bytes per row)."
        )
    return "\n".join(lines)


def _parse(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"N divided by {QUICK_FACTOR} and one repeat: a smoke test in minutes",
    )
    cores = (
        len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count()
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=cores,
        help="threads of every library (default: all cores this process may use)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="children per library and case (default 3, or 1 with --quick)",
    )
    parser.add_argument(
        "--max-iter",
        type=int,
        default=3,
        help="M in (t_M - t_1) / (M - 1), at least 2 (default 3)",
    )
    parser.add_argument(
        "--match",
        default="",
        help="only the cases whose label contains this text, e.g. 'full N=1e6 d=8'",
    )
    parser.add_argument(
        "--libraries",
        default="fastem,sklearn,oneDAL,pomegranate",
        help="comma-separated subset of fastem,sklearn,oneDAL,pomegranate",
    )
    parser.add_argument(
        "--memory",
        action="store_true",
        help="also fit full N=1e7 d=3 K=32 with fastem, and extrapolate scikit-learn",
    )
    parser.add_argument(
        "--predict",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also time predict, predict_proba and score_samples of fastem and "
        "scikit-learn on the cases with d <= 8 (default: when both are in "
        "--libraries)",
    )
    parser.add_argument(
        "--onedal-python",
        default=str(REPO / ".venv-onedal" / "bin" / "python"),
        help="interpreter with daal4py (default: .venv-onedal/bin/python)",
    )
    parser.add_argument(
        "--pomegranate-python",
        default=str(REPO / ".venv-pomegranate" / "bin" / "python"),
        help="interpreter with pomegranate (default: .venv-pomegranate/bin/python)",
    )
    parser.add_argument(
        "--baseline-python",
        help="an interpreter with fastem installed from another commit: its fits "
        "run side by side with this fastem's as the library fastem-baseline",
    )
    parser.add_argument("--json", type=Path, help="also write all records here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.max_iter < 2:
        parser.error("--max-iter must be at least 2")
    has_both = {"fastem", "sklearn"} <= set(args.libraries.split(","))
    if args.memory and not has_both:
        parser.error("--memory needs fastem and sklearn in --libraries")
    if args.predict and not has_both:
        parser.error("--predict needs fastem and sklearn in --libraries")
    if args.predict is None:
        args.predict = has_both
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    return args


def _libraries(args):
    """The libraries asked for whose interpreter exists, and notes on the others."""
    available = [
        Library("fastem", sys.executable),
        Library("sklearn", sys.executable),
        Library("oneDAL", args.onedal_python, ("full", "diag")),
        Library("pomegranate", args.pomegranate_python, ("full", "diag", "spherical")),
    ]
    wanted = args.libraries.split(",")
    if args.baseline_python is not None:
        available.insert(1, Library("fastem-baseline", args.baseline_python))
        wanted.append("fastem-baseline")
    libraries, notes = [], []
    for library in available:
        if library.name not in wanted:
            continue
        if Path(library.python).exists():
            libraries.append(library)
        else:
            notes.append(f"{library.name} left out: no interpreter at {library.python}")
    return libraries, notes


def _plan(args, cases, libraries):
    """(case, the libraries that can run it) for ``cases`` whose label, full-size or
    shrunk with --quick, contains --match; shrunk with --quick."""
    factor = QUICK_FACTOR if args.quick else 1
    plan = []
    for full_size in cases:
        case = full_size.shrunk(factor)
        runnable = [
            library
            for library in libraries
            if case.covariance_type in library.covariance_types
        ]
        if runnable and any(args.match in c.label for c in (full_size, case)):
            plan.append((case, runnable))
    return plan


def _notes(rows):
    """Notes on the (case, summaries) rows: failed children, fits stopped early."""
    notes = []
    for case, summaries in rows:
        for name, summary in summaries.items():
            if summary and "error" in summary:
                notes.append(f"{case.label} {name} failed: {summary['error']}")
            elif summary and summary.get("stopped_early"):
                notes.append(f"{case.label} {name} stopped before max_iter")
    return notes


def _grid(args, libraries, notes):
    """Measure the grid (shrunk with --quick), print its table; return the records."""
    plan = _plan(args, GRID, libraries)
    measured_rates = [_rates(args)]
    records = _measure(plan, args.repeats, args)
    measured_rates.append(_rates(args))
    rates = _best_rates(measured_rates)

    names = [library.name for library in libraries]
    summarize = partial(_fit_summary, max_iter=args.max_iter)
    rows = [(case, _summaries(records, case, names, summarize)) for case, _ in plan]
    notes += _notes(rows)
    versions = {r["library"]: r["versions"] for r in records if "versions" in r}
    print(
        f"\nSeconds per EM iteration, median of {args.repeats} "
        f"(max_iter {args.max_iter}, tol 0, same start), {args.threads} threads, "
        f"{platform.processor() or platform.machine()} / {os.cpu_count()} CPUs.\n"
        f"Ratios: peer s/iter over fastem's. Peak: resident memory of each child. "
        f"ΔLB: final lower bound minus scikit-learn's.\n"
    )
    if rates is None:
        notes.append(f"no limit column: the rates failed: {measured_rates[0]}")
    else:
        print(
            f"Limit: flops at BLAS's rate ({rates['flops_float64'] / 1e9:.1f} GFLOP/s "
            f"float64, {rates['flops_float32'] / 1e9:.1f} float32) plus one exp per "
            f"row and component at fastem's rate ({rates['exps'] / 1e9:.2f} G/s), "
            f"{args.threads} threads.\n"
        )
    print(_markdown(rows, names, rates))
    print("\n" + "; ".join(versions[name] for name in names if name in versions))
    for note in notes:
        print(f"Note: {note}")
    return records + [dict(rates, task="rates") for rates in measured_rates]


def _predict_grid(args, libraries):
    """Time the prediction methods of fastem and scikit-learn on the grid's cases with
    d <= ``PREDICT_MAX_FEATURES``, print their table; return the records."""
    both = [library for library in libraries if library.name in ("fastem", "sklearn")]
    cases = [case for case in GRID if case.n_features <= PREDICT_MAX_FEATURES]
    plan = _plan(args, cases, both)
    if not plan:
        return []
    records = _measure(plan, args.repeats, args, task="predict")
    rows = [
        (case, _summaries(records, case, ["fastem", "sklearn"], _predict_summary))
        for case, _ in plan
    ]
    print(
        f"\nSeconds per call of {', '.join(PREDICT_METHODS)} on the case's X, "
        f"median over {args.repeats} repeats (each child: one warm-up call, then the "
        f"median of {PREDICT_CALLS}), {args.threads} threads; both libraries hold the "
        f"case's start as their fitted parameters. Ratio: scikit-learn's seconds "
        f"over fastem's. Agreement: fastem's outputs against scikit-learn's. oneDAL "
        f"(em_gmm: fit only) and pomegranate are not timed here.\n"
    )
    print(_predict_markdown(rows))
    for note in _notes(rows):
        print(f"Note: {note}")
    return records


def _memory(args, libraries):
    """fastem at MEMORY_CASE and scikit-learn at 1/100 and 1/10 of it; print the
    report; return the records."""
    fastem_case = MEMORY_CASE.shrunk(QUICK_FACTOR if args.quick else 1)
    sklearn_cases = [fastem_case.shrunk(divisor) for divisor in (100, 10)]
    by_name = {library.name: library for library in libraries}
    plan = [(fastem_case, [by_name["fastem"]])] + [
        (case, [by_name["sklearn"]]) for case in sklearn_cases
    ]
    records = _measure(plan, 1, args)
    print("\nPeak resident memory of a fit:\n")
    print(_memory_report(records, fastem_case, sklearn_cases))
    return records


def main(argv=None):
    args = _parse(argv)
    if args.child:
        _child(json.loads(args.child))
        return
    libraries, notes = _libraries(args)
    records = _grid(args, libraries, notes)
    if args.predict:
        records += _predict_grid(args, libraries)
    if args.memory:
        records += _memory(args, libraries)
    if args.json:
        settings = {k: v for k, v in vars(args).items() if k not in ("child", "json")}
        document = {"settings": settings, "records": records}
        args.json.write_text(json.dumps(document, indent=1, default=str))


if __name__ == "__main__":
    main()
