#!/usr/bin/env python
"""Side by side: fastem against its CPU peers on the grid of the performance targets.

    python benchmarks/compare.py [--quick] [--threads N] [--repeats R] [--memory]
                                 [--json out.json]

Peers: scikit-learn, Intel oneDAL's ``em_gmm`` through daal4py, and pomegranate. oneDAL
and pomegranate run from their own virtual environments (``--onedal-python``,
``--pomegranate-python``), so neither can change the scikit-learn that fastem is
compared with; a peer whose interpreter is missing is left out with a note.

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
from pathlib import Path

import numpy as np

if __package__:  # imported as benchmarks.compare (asv's benchmark discovery)
    from ._problem import COVARIANCE_TYPES, initial_parameters, mixture_data
else:  # run as a script, possibly by a peer's interpreter
    from _problem import COVARIANCE_TYPES, initial_parameters, mixture_data

REPO = Path(__file__).resolve().parents[1]
QUICK_FACTOR = 50
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


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


_PREPARE = {
    "fastem": _estimator_preparer("fastem"),
    "sklearn": _estimator_preparer("sklearn.mixture"),
    "oneDAL": _prepare_onedal,
    "pomegranate": _prepare_pomegranate,
}
_DISTRIBUTIONS = {
    "fastem": ("fastem",),
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


def _child(spec):
    """Measure one library on one case; print a JSON record as the last stdout line."""
    warnings.filterwarnings("ignore", "Best performing initialization did not converge")
    data = Path(spec["data"])
    start = dict(np.load(data / "start.npz"))
    fit = _PREPARE[spec["library"]](spec["covariance_type"], spec["threads"])
    baseline = _peak_rss_mib()
    X = np.load(data / "X.npy")
    fit(X, start, 1)  # warm-up: thread pools, first calls, allocations of this size
    seconds = []
    for max_iter in (1, spec["max_iter"]):
        begin = time.perf_counter()
        lower_bound, n_iter = fit(X, start, max_iter)
        seconds.append(time.perf_counter() - begin)
    record = {
        "seconds_per_iteration": (seconds[1] - seconds[0]) / (spec["max_iter"] - 1),
        "seconds": seconds,
        "lower_bound": float(lower_bound),
        "n_iter": int(n_iter),
        "peak_rss_mib": _peak_rss_mib(),
        "baseline_rss_mib": baseline,
        "versions": _versions(spec["library"]),
    }
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


def _run_child(library, case, folder, args):
    """One child process; its record, or ``{'error': ...}`` if it failed."""
    spec = {
        "library": library.name,
        "data": str(folder),
        "covariance_type": case.covariance_type,
        "max_iter": args.max_iter,
        "threads": args.threads,
    }
    env = dict(os.environ, **{name: str(args.threads) for name in THREAD_VARIABLES})
    command = [
        library.python,
        str(Path(__file__).resolve()),
        "--child",
        json.dumps(spec),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        return {"error": lines[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _measure(plan, repeats, args):
    """Run every (case, libraries) of ``plan``, libraries interleaved, ``repeats``
    times; return one record per child."""
    records = []
    total = sum(len(libraries) for _, libraries in plan) * repeats
    with tempfile.TemporaryDirectory(prefix="fastem-compare-") as tmp:
        for case, libraries in plan:
            _write_case(case, Path(tmp))
            for repeat in range(repeats):
                shift = repeat % len(libraries)
                for library in libraries[shift:] + libraries[:shift]:
                    record = _run_child(library, case, Path(tmp), args)
                    record.update(case=asdict(case), library=library.name)
                    records.append(record)
                    if "error" in record:
                        outcome = f"failed: {record['error']}"
                    else:
                        outcome = (
                            f"{record['seconds_per_iteration']:.4g} s/iter, peak "
                            f"{record['peak_rss_mib']:.0f} MiB"
                        )
                    progress = f"[{len(records)}/{total}] {case.label} {library.name}"
                    print(f"{progress}: {outcome}", file=sys.stderr)
    return records


def _summaries(records, case, names, max_iter):
    """Per library: median s/iter, peak RSS, lower bound (or the error, or None)."""
    summaries = {}
    for name in names:
        mine = [
            r for r in records if r["library"] == name and r["case"] == asdict(case)
        ]
        good = [r for r in mine if "error" not in r]
        if not good:
            summaries[name] = {"error": mine[0]["error"]} if mine else None
            continue
        summaries[name] = {
            "seconds_per_iteration": statistics.median(
                r["seconds_per_iteration"] for r in good
            ),
            "peak_rss_mib": max(r["peak_rss_mib"] for r in good),
            "lower_bound": good[0]["lower_bound"],
            "stopped_early": any(r["n_iter"] != max_iter for r in good),
        }
    return summaries


def _cell(summary, key, template):
    """One library's value, 'n/a' where the case is not for it, or 'failed'."""
    if summary is None:
        return "n/a"
    if "error" in summary:
        return "failed"
    return template.format(summary[key])


def _versus(summary, reference, key, template, combine):
    """``combine`` of two libraries' values, or 'n/a' unless both have one."""
    if not all(s and "error" not in s for s in (summary, reference)):
        return "n/a"
    return template.format(combine(summary[key], reference[key]))


def _markdown(rows, names):
    """One markdown table: times, ratios to fastem, peak memory, lower bounds."""
    peers = [name for name in names if name != "fastem"]
    not_sklearn = [name for name in names if name != "sklearn"]
    header = (
        ["case"]
        + [f"{name} s/iter" for name in names]
        + [f"{name}/fastem" for name in peers]
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
        "--onedal-python",
        default=str(REPO / ".venv-onedal" / "bin" / "python"),
        help="interpreter with daal4py (default: .venv-onedal/bin/python)",
    )
    parser.add_argument(
        "--pomegranate-python",
        default=str(REPO / ".venv-pomegranate" / "bin" / "python"),
        help="interpreter with pomegranate (default: .venv-pomegranate/bin/python)",
    )
    parser.add_argument("--json", type=Path, help="also write all records here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.max_iter < 2:
        parser.error("--max-iter must be at least 2")
    if args.memory and not {"fastem", "sklearn"} <= set(args.libraries.split(",")):
        parser.error("--memory needs fastem and sklearn in --libraries")
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
    libraries, notes = [], []
    for library in available:
        if library.name not in wanted:
            continue
        if Path(library.python).exists():
            libraries.append(library)
        else:
            notes.append(f"{library.name} left out: no interpreter at {library.python}")
    return libraries, notes


def _grid(args, libraries, notes):
    """Measure the grid (shrunk with --quick), print its table; return the records."""
    factor = QUICK_FACTOR if args.quick else 1
    plan = []
    for case in (c.shrunk(factor) for c in GRID):
        runnable = [
            library
            for library in libraries
            if case.covariance_type in library.covariance_types
        ]
        if runnable and args.match in case.label:
            plan.append((case, runnable))
    records = _measure(plan, args.repeats, args)

    names = [library.name for library in libraries]
    rows = [(case, _summaries(records, case, names, args.max_iter)) for case, _ in plan]
    for case, summaries in rows:
        for name, summary in summaries.items():
            if summary and "error" in summary:
                notes.append(f"{case.label} {name} failed: {summary['error']}")
            elif summary and summary["stopped_early"]:
                notes.append(f"{case.label} {name} stopped before max_iter")
    versions = {r["library"]: r["versions"] for r in records if "versions" in r}
    print(
        f"\nSeconds per EM iteration, median of {args.repeats} "
        f"(max_iter {args.max_iter}, tol 0, same start), {args.threads} threads, "
        f"{platform.processor() or platform.machine()} / {os.cpu_count()} CPUs.\n"
        f"Ratios: peer s/iter over fastem's. Peak: resident memory of each child. "
        f"ΔLB: final lower bound minus scikit-learn's.\n"
    )
    print(_markdown(rows, names))
    print("\n" + "; ".join(versions[name] for name in names if name in versions))
    for note in notes:
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
    if args.memory:
        records += _memory(args, libraries)
    if args.json:
        settings = {k: v for k, v in vars(args).items() if k not in ("child", "json")}
        document = {"settings": settings, "records": records}
        args.json.write_text(json.dumps(document, indent=1, default=str))


if __name__ == "__main__":
    main()
