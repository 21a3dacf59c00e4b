"""The ``fastem`` command (also ``python -m fastem``).

Each subcommand is two small functions, one adding its arguments and one running it,
registered in :data:`COMMANDS`. User errors (a missing file, a bad cell, a bad
parameter, the estimator's ValueError) end with exit code 2 and one line
``fastem: error: ...`` on stderr, never a traceback; warnings are one line too.
"""

import argparse
import errno
import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# Only light modules here: the estimators (scikit-learn, SciPy) are imported inside
# the commands that use them, so that --help and --version answer at once.
from ._data_files import STDIO, read_table, write_table

# A fit shorter than this shows no progress bar at all; the bar redraws at most
# this often.
PROGRESS_DELAY_S = 0.5
PROGRESS_INTERVAL_S = 0.1


@dataclass(frozen=True)
class Command:
    """A subcommand: its one-line help, its arguments and what it runs."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]  # returns the exit code


# --- the models ---------------------------------------------------------------------

# ``--model`` names: the class fastem fits, and the options of ``fit`` that are its
# parameters (the others are every model's).
MODELS = {
    "gaussian": ("GaussianMixture", ("covariance_type", "reg_covar")),
    "bernoulli": ("BernoulliMixture", ("alpha",)),
    "multinomial": ("MultinomialMixture", ("alpha",)),
    "gaussian-hmm": ("GaussianHMM", ("covariance_type",)),
    "gmm-hmm": ("GMMHMM", ("covariance_type", "n_mix")),
    "categorical-hmm": ("CategoricalHMM", ()),
    "poisson-hmm": ("PoissonHMM", ()),
}
_MODEL_OPTIONS = {option for _, options in MODELS.values() for option in options}
# Hidden Markov models: fitted to sequences (``--lengths``), EM limited by n_iter;
# the mixtures' restarts and starts (--n-init, --init-params) are not theirs.
SEQUENCE_MODELS = ("gaussian-hmm", "gmm-hmm", "categorical-hmm", "poisson-hmm")
_MIXTURE_ONLY = ("n_init", "init_params")


def _model_class(name):
    import fastem

    return getattr(fastem, MODELS[name][0])


def _model_parameters(args):
    """The estimator parameters ``fit`` / ``select`` options give, for --model: the
    options left at None keep the model's defaults; ValueError for an option that is
    not the model's."""
    own = MODELS[args.model][1]
    sequences = args.model in SEQUENCE_MODELS
    foreign = set(_MODEL_OPTIONS) - set(own)
    if sequences:
        foreign |= set(_MIXTURE_ONLY)
    for option in sorted(foreign):
        if getattr(args, option, None) is not None:
            flag = "--" + option.replace("_", "-")
            raise ValueError(f"{flag} is not a parameter of --model {args.model}")
    names = (*own, "tol", "max_iter", "random_state")
    if not sequences:
        names += _MIXTURE_ONLY
    parameters = {
        name: getattr(args, name)
        for name in names
        if getattr(args, name, None) is not None
    }
    if sequences and "max_iter" in parameters:
        parameters["n_iter"] = parameters.pop("max_iter")
    return parameters


def _add_lengths_argument(parser):
    parser.add_argument(
        "--lengths",
        help="hidden Markov models: a file of the sequences' lengths (.txt/.csv, "
        "one integer a line, or .npy), summing to the number of rows; the rows "
        "of each sequence are consecutive (default: all rows are one sequence)",
    )


def _read_lengths(args):
    """The lengths of ``--lengths`` (None without it); ValueError for a model of
    rows, or a file that is not a list of numbers (the model checks them)."""
    path = getattr(args, "lengths", None)
    if path is None:
        return None
    if path.endswith(".npy"):
        values = np.load(path, allow_pickle=False)
    else:
        try:
            values = np.loadtxt(path, ndmin=1, delimiter=",")
        except ValueError as error:
            raise ValueError(f"{path}: not a list of lengths ({error})") from None
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"{path}: lengths must be one number a line")
    return values


def _is_sequence_model(model):
    """Whether a model reads sequences (its methods take ``lengths``)."""
    import inspect

    return "lengths" in inspect.signature(model.fit).parameters


def _sequence_arguments(model, args):
    """(lengths,) for a model over sequences, () for a model of rows (ValueError if
    --lengths was given to one)."""
    lengths = _read_lengths(args)
    if _is_sequence_model(model):
        return (lengths,)
    if lengths is not None:
        raise ValueError(
            f"--lengths is for hidden Markov models, not a {type(model).__name__}"
        )
    return ()


def _add_model_argument(parser):
    parser.add_argument(
        "--model",
        default="gaussian",
        choices=list(MODELS),
        help="what to fit: a Gaussian mixture, a Bernoulli mixture (binary data), "
        "a multinomial mixture (counts), or a hidden Markov model of sequences "
        "(see --lengths) with Gaussian, Gaussian-mixture, categorical (integer "
        "symbols) or Poisson (counts) emissions (default gaussian)",
    )


# --- shared arguments and helpers ----------------------------------------------------


def _add_data_argument(parser):
    parser.add_argument(
        "data",
        help="data file: .csv/.tsv/.txt (header detected; - reads stdin), .npy, "
        ".parquet, or sparse: .npz (scipy.sparse.save_npz) or .svm (svmlight / "
        "LIBSVM); one row per sample",
    )
    parser.add_argument(
        "--delimiter", help="CSV field separator (default: guessed from the first line)"
    )
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument(
        "--columns",
        nargs="+",
        metavar="COLUMN",
        help="read only these columns, in this order: header names or 0-based indices",
    )
    choice.add_argument(
        "--drop",
        nargs="+",
        metavar="COLUMN",
        help="read every column but these (a text column, an id): header names or "
        "0-based indices",
    )


def _add_output_argument(parser, what, default="-"):
    parser.add_argument(
        "-o",
        "--output",
        default=default,
        help=f"where to write {what}: .csv, .npy or .parquet, - for CSV on stdout "
        f"(default {default})",
    )


def _read_data(args, n_features=None):
    return read_table(
        args.data,
        delimiter=args.delimiter,
        columns=args.columns,
        drop=args.drop,
        n_features=n_features,
    )


# What each command needs of a loaded model.
_NEEDED_METHODS = {
    "decode": "decode",
    "predict": "predict",
    "score": "score",
    "sample": "sample",
    "impute": "impute",
}


def _load_model(args):
    """The model saved in ``args.model``; ValueError for a model that cannot do what
    the command needs (an imputer's file, say)."""
    from .._engine.persistence import load

    model = load(args.model)
    fitted = {_model_class(name) for name in MODELS}
    method = _NEEDED_METHODS[args.command]
    if type(model) not in fitted or not hasattr(model, method):
        needed = sorted(
            MODELS[name][0] for name in MODELS if hasattr(_model_class(name), method)
        )
        raise ValueError(
            f"{args.model} holds a {type(model).__name__}; fastem {args.command} "
            f"needs a {' or '.join(needed)}, as fastem fit and fastem select save"
        )
    return model


def _check_outputs(*paths):
    """Fail before a long fit, not after it, where an output could not be written:
    its directory is missing or the path is a directory (None: no output)."""
    from .._engine.persistence import check_directory

    for path in paths:
        if path is None or path == STDIO:
            continue
        check_directory(path)
        if os.path.isdir(path):
            raise IsADirectoryError(errno.EISDIR, "is a directory", path)


def _model_and_data(args):
    """The saved model, the data file's rows and the names of their columns.

    The columns are put in the order the model was fitted on, matched by name when
    both have names (the estimator checks their count); their names are the model's,
    else the file's, else None.
    """
    model = _load_model(args)
    X, columns = _read_data(args, n_features=model.n_features_in_)
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        return model, X, columns
    names = list(names)
    if columns is None:
        return model, X, names
    if sorted(columns) != sorted(names) or len(set(columns)) != len(columns):
        raise ValueError(
            f"{args.data}: columns {columns} do not match the model's features {names}"
        )
    return model, X[:, [columns.index(name) for name in names]], names


def _named_columns(X, names):
    """X's columns by name (``x0``, ``x1``, ... when names is None), for write_table."""
    if names is None:
        names = [f"x{j}" for j in range(X.shape[1])]
    return {str(name): column for name, column in zip(names, X.T)}


def _named_call(method, *args):
    """Call a model's method on an ndarray when it was fitted with feature names.

    The command line matched the columns by name itself (:func:`_model_and_data`), so
    scikit-learn's warning about X without feature names does not apply.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "X does not have valid feature names")
        return method(*args)


# --- fit -----------------------------------------------------------------------------


def _fit_arguments(parser):
    _add_data_argument(parser)
    _add_model_argument(parser)
    _add_lengths_argument(parser)
    parser.add_argument(
        "-k",
        "--n-components",
        type=int,
        required=True,
        help="number of components (of states for a hidden Markov model)",
    )
    parser.add_argument(
        "--covariance-type",
        choices=["full", "tied", "diag", "spherical"],
        help="gaussian: (default full); gaussian-hmm, gmm-hmm: (default diag)",
    )
    parser.add_argument(
        "--n-mix", type=int, help="gmm-hmm: Gaussians in each state (default 1)"
    )
    parser.add_argument(
        "--reg-covar", type=float, help="gaussian: added to covariance diagonals"
    )
    parser.add_argument(
        "--alpha",
        type=float,
        help="bernoulli, multinomial: additive smoothing (default 1; 0 is maximum "
        "likelihood)",
    )
    parser.add_argument("--n-init", type=int, help="restarts (default 1)")
    parser.add_argument(
        "--max-iter",
        type=int,
        default=100,
        help="(default 100; a hidden Markov model's n_iter)",
    )
    parser.add_argument(
        "--tol",
        type=float,
        default=1e-3,
        help="convergence threshold (default 1e-3): on the mean log-likelihood of a "
        "mixture, on the total log-likelihood of a hidden Markov model",
    )
    parser.add_argument(
        "--init-params",
        choices=["kmeans", "k-means++", "random", "random_from_data"],
        help="(default: kmeans for gaussian, k-means++ for the others)",
    )
    parser.add_argument(
        "--random-state",
        "--seed",
        type=int,
        default=None,
        help="seed for initialisation and sampling (default: random)",
    )
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        help="where to save the fitted model (fastem's .npz format)",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="print no summary and no progress"
    )


def _fit(args):
    from .._engine.driver import reporting_iterations

    _check_outputs(args.output)
    parameters = _model_parameters(args)
    X, columns = _read_data(args)
    model = _model_class(args.model)(n_components=args.n_components, **parameters)
    sequences = _sequence_arguments(model, args)
    bar = None if args.quiet else ProgressBar.if_terminal(sys.stderr, args)
    start = time.perf_counter()
    # Warnings wait until the bar is gone, so that they do not land inside it.
    with warnings.catch_warnings(record=True) as caught:
        try:
            with reporting_iterations(bar):
                model.fit(X, *sequences)
        finally:
            if bar is not None:
                bar.close()
    for warning in caught:
        warnings.showwarning(
            warning.message, warning.category, warning.filename, warning.lineno
        )
    elapsed = time.perf_counter() - start
    if columns is not None:
        model.feature_names_in_ = np.asarray(columns, dtype=object)
    model.save(args.output)
    if not args.quiet:
        status = "converged" if model.converged_ else "did not converge"
        kind = getattr(model, "covariance_type", args.model)
        if sequences:
            n_sequences = 1 if sequences[0] is None else len(sequences[0])
            what = f"{model.n_components} {kind} states of a {args.model}"
            rows = f"{n_sequences} sequence(s), {X.shape[0]} frames"
            likelihood = "log-likelihood"
        else:
            what = f"{model.n_components} {kind} components"
            rows = f"{X.shape[0]} rows"
            likelihood = "mean log-likelihood"
        print(
            f"fitted {what} on {rows} x {X.shape[1]} features in {elapsed:.2f} s: "
            f"{status} after {model.n_iter_} iterations, {likelihood} "
            f"{model.lower_bound_:.6g}, BIC {_named_call(model.bic, X, *sequences):.6g}"
        )
        print(f"saved to {args.output}")
    return 0


class ProgressBar:
    """A tqdm bar per initialisation, fed by the EM driver's iteration callback."""

    def __init__(self, tqdm, stream, n_init, max_iter):
        self._tqdm, self._stream = tqdm, stream
        self._n_init, self._max_iter = n_init, max_iter
        self._bar, self._init = None, None

    @classmethod
    def if_terminal(cls, stream, args):
        """A bar on ``stream`` if it is a terminal and tqdm is installed, else None."""
        if not stream.isatty():
            return None
        try:
            from tqdm import tqdm
        except ImportError:
            return None  # the bar is optional: pip install fastem[cli]
        return cls(tqdm, stream, args.n_init or 1, args.max_iter)

    def __call__(self, init, n_iter, lower_bound):
        if init != self._init:
            self.close()
            self._init = init
            self._bar = self._tqdm(
                total=self._max_iter,
                desc=f"EM run {init + 1}/{self._n_init}",
                unit="it",
                file=self._stream,
                leave=False,
                delay=PROGRESS_DELAY_S,
                mininterval=PROGRESS_INTERVAL_S,
                dynamic_ncols=True,
            )
        self._bar.set_postfix(lower_bound=f"{lower_bound:.6g}", refresh=False)
        self._bar.update(1)

    def close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None


# --- predict, score, sample ----------------------------------------------------------


def _predict_arguments(parser):
    parser.add_argument("model", help="a model saved by fastem fit")
    _add_data_argument(parser)
    _add_lengths_argument(parser)
    parser.add_argument(
        "--proba",
        action="store_true",
        help="write each component's probability instead of the most probable label",
    )
    _add_output_argument(parser, "labels or probabilities")


def _predict(args):
    model, X, _ = _model_and_data(args)
    sequences = _sequence_arguments(model, args)
    if args.proba:
        resp = _named_call(model.predict_proba, X, *sequences)
        write_table(args.output, {f"p{k}": column for k, column in enumerate(resp.T)})
    else:
        write_table(args.output, {"label": _named_call(model.predict, X, *sequences)})
    return 0


def _decode_arguments(parser):
    parser.add_argument("model", help="a hidden Markov model saved by fastem fit")
    _add_data_argument(parser)
    _add_lengths_argument(parser)
    parser.add_argument(
        "--algorithm",
        choices=["viterbi", "map"],
        help="viterbi: the most probable path of each sequence; map: each frame's "
        "most probable state (default: the model's, viterbi unless set)",
    )
    _add_output_argument(parser, "the state of each frame")
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="print no summary on stderr"
    )


def _decode(args):
    model, X, _ = _model_and_data(args)
    (lengths,) = _sequence_arguments(model, args)
    log_prob, states = _named_call(model.decode, X, lengths, args.algorithm)
    write_table(args.output, {"state": states})
    if not args.quiet:
        algorithm = args.algorithm or model.algorithm
        what = "log p(X, paths)" if algorithm == "viterbi" else "sum of max posteriors"
        n_sequences = 1 if lengths is None else len(lengths)
        print(
            f"decoded {X.shape[0]} frames of {n_sequences} sequence(s) ({algorithm}): "
            f"{what} = {log_prob:.10g}",
            file=sys.stderr,
        )
    return 0


def _score_arguments(parser):
    parser.add_argument("model", help="a model saved by fastem fit")
    _add_data_argument(parser)
    _add_lengths_argument(parser)
    what = parser.add_mutually_exclusive_group()
    what.add_argument(
        "--per-sample",
        action="store_true",
        help="write each row's log-likelihood (a hidden Markov model: each "
        "sequence's) to --output instead of the mean (the total)",
    )
    what.add_argument(
        "--criterion",
        choices=["bic", "aic"],
        help="print this information criterion on the data instead of the mean",
    )
    _add_output_argument(parser, "per-sample log-likelihoods")


def _score(args):
    model, X, _ = _model_and_data(args)
    sequences = _sequence_arguments(model, args)
    if args.per_sample and sequences:
        lengths = [X.shape[0]] if sequences[0] is None else sequences[0]
        bounds = np.r_[0, np.cumsum(lengths)].astype(np.int64)
        _named_call(model.score, X, lengths)  # checks the lengths against X
        values = [
            _named_call(model.score, X[low:high])
            for low, high in zip(bounds[:-1], bounds[1:])
        ]
        write_table(args.output, {"log_likelihood": np.array(values)})
    elif args.per_sample:
        write_table(
            args.output, {"log_likelihood": _named_call(model.score_samples, X)}
        )
    elif args.criterion is not None:
        value = _named_call(getattr(model, args.criterion), X, *sequences)
        print(repr(float(value)))
    else:
        print(repr(_named_call(model.score, X, *sequences)))
    return 0


def _sample_arguments(parser):
    parser.add_argument("model", help="a model saved by fastem fit")
    parser.add_argument("n_samples", type=int, help="how many samples to draw")
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="random seed (default: the model's random_state)",
    )
    parser.add_argument(
        "--labels",
        action="store_true",
        help="add a last column with the component (a hidden Markov model: the "
        "state) each sample was drawn from",
    )
    _add_output_argument(parser, "the samples")


def _physical_memory():
    """Bytes of physical memory, or None where the system does not say."""
    try:
        size = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows) or name
        return None
    return size if size > 0 else None


def _check_sample_fits_in_memory(n_samples, model):
    """ValueError, before anything is allocated, if the samples and their labels
    would not fit in this machine's memory."""
    n_features = model.n_features_in_
    needed = n_samples * (n_features * model._fitted_dtype().itemsize + 8)
    available = _physical_memory()
    if available is not None and needed > available:
        raise ValueError(
            f"{n_samples} samples of {n_features} features need "
            f"{needed / 2**30:,.1f} GiB of memory, more than this machine's "
            f"{available / 2**30:,.1f} GiB: draw fewer (runs with different --seed "
            "draw more)"
        )


def _sample(args):
    model = _load_model(args)
    _check_sample_fits_in_memory(args.n_samples, model)
    if args.seed is not None:
        model.random_state = args.seed
    X, labels = model.sample(args.n_samples)
    columns = _named_columns(X, getattr(model, "feature_names_in_", None))
    if args.labels:
        columns["state" if _is_sequence_model(model) else "component"] = labels
    write_table(args.output, columns)
    return 0


# --- impute, select -------------------------------------------------------------------


def _impute_arguments(parser):
    parser.add_argument("model", help="a model saved by fastem fit")
    _add_data_argument(parser)
    _add_lengths_argument(parser)
    parser.add_argument(
        "--sample-posterior",
        action="store_true",
        help="draw each missing value from its conditional distribution instead of "
        "writing its expectation (multiple imputation: run with several --seed)",
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="seed of the draws (default: random)"
    )
    _add_output_argument(parser, "the data with its missing cells filled")


def _impute(args):
    model, X, names = _model_and_data(args)
    sequences = _sequence_arguments(model, args)
    if sequences:
        if args.sample_posterior:
            raise ValueError(
                "--sample-posterior is for mixtures: a hidden Markov model imputes "
                "the smoothed expectation"
            )
        imputed = _named_call(model.impute, X, *sequences)
    else:
        random_state = (
            np.random.RandomState(args.seed) if args.sample_posterior else None
        )
        imputed = _named_call(model._impute, X, random_state)
    write_table(args.output, _named_columns(imputed, names))
    return 0


def _select_arguments(parser):
    _add_data_argument(parser)
    _add_model_argument(parser)
    _add_lengths_argument(parser)
    parser.add_argument(
        "-k",
        "--n-components",
        type=int,
        nargs="+",
        default=list(range(1, 10)),
        help="numbers of components to try (default 1 to 9)",
    )
    parser.add_argument(
        "--covariance-types",
        nargs="+",
        choices=["full", "tied", "diag", "spherical"],
        help="gaussian, gaussian-hmm, gmm-hmm: (default: all four)",
    )
    parser.add_argument(
        "--alpha",
        type=float,
        help="bernoulli, multinomial: additive smoothing (default 1)",
    )
    parser.add_argument(
        "--criterion",
        default="bic",
        choices=["bic", "aic", "icl"],
        help="(default bic)",
    )
    parser.add_argument(
        "--with-prior",
        action="store_true",
        help="gaussian: also fit each model with the default conjugate prior (MAP)",
    )
    parser.add_argument("--n-init", type=int, default=1, help="restarts (default 1)")
    parser.add_argument("--jobs", type=int, default=None, help="parallel fits")
    parser.add_argument(
        "--random-state", "--seed", type=int, default=None, help="(default: random)"
    )
    parser.add_argument(
        "-o", "--output", help="where to save the best model (fastem's .npz format)"
    )
    parser.add_argument(
        "--table", help="where to write the whole table (.csv, .npy or .parquet)"
    )


def _select(args):
    from ..mixture._selection import select

    _check_outputs(args.output, args.table)
    if args.model == "gaussian":
        grid = {
            "covariance_types": args.covariance_types,
            "priors": (None, "default") if args.with_prior else (None,),
        }
    elif args.with_prior:
        raise ValueError(f"--with-prior is not for --model {args.model}")
    elif args.model in ("gaussian-hmm", "gmm-hmm"):
        grid = {
            "estimator": _model_class(args.model)(),
            "param_grid": {
                "covariance_type": args.covariance_types
                or ["full", "tied", "diag", "spherical"]
            },
        }
    elif args.covariance_types is not None:
        raise ValueError(f"--covariance-types is not for --model {args.model}")
    else:
        model_class = _model_class(args.model)
        alpha = {} if args.alpha is None else {"alpha": args.alpha}
        grid = {"estimator": model_class(**alpha)}
    if args.alpha is not None and args.model not in ("bernoulli", "multinomial"):
        raise ValueError(f"--alpha is not a parameter of --model {args.model}")
    X, columns = _read_data(args)
    lengths = _read_lengths(args)
    if lengths is not None:
        grid["lengths"] = lengths
    result = select(
        X,
        n_components=args.n_components,
        criterion=args.criterion,
        n_init=args.n_init,
        random_state=args.random_state,
        n_jobs=args.jobs,
        **grid,
    )
    names = (
        result.table.dtype.names
        if isinstance(result.table, np.ndarray)
        else list(result.table.columns)
    )
    table = {name: np.asarray(result.table[name]) for name in names}
    if args.table is not None:
        write_table(args.table, table)
    best = result.best_estimator_
    if columns is not None:
        best.feature_names_in_ = np.asarray(columns, dtype=object)
    print(_format_table(table))
    kind = getattr(best, "covariance_type", args.model)
    prior = getattr(best, "prior", None)
    units = "states" if args.model in SEQUENCE_MODELS else "components"
    print(
        f"best by {args.criterion}: {best.n_components} {kind} "
        f"{units}" + ("" if prior is None else " with the default prior")
    )
    if args.output is not None:
        best.save(args.output)
        print(f"saved to {args.output}")
    return 0


def _format_table(table):
    """The table as aligned text, numbers to 6 significant digits."""
    cells = {
        name: [
            f"{value:.6g}" if isinstance(value, float | np.floating) else str(value)
            for value in column.tolist()
        ]
        for name, column in table.items()
    }
    widths = {name: max(len(name), *map(len, column)) for name, column in cells.items()}
    lines = ["  ".join(name.rjust(widths[name]) for name in cells)]
    for row in zip(*cells.values()):
        lines.append(
            "  ".join(cell.rjust(widths[name]) for name, cell in zip(cells, row))
        )
    return "\n".join(lines)


# --- demo ----------------------------------------------------------------------------


def _demo_arguments(parser):
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--output-dir",
        default=".",
        help="where to write the two pictures (default: the current directory)",
    )


def _demo(args):
    """Fit the two classic examples, print recovered against true parameters and
    draw each fit."""
    from .. import GaussianMixture

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
    fits = []
    for title, X, true_means, true_covariances in examples:
        start = time.perf_counter()
        # Overlapping components converge slowly: run EM to the optimum, not to
        # scikit-learn's default tol=1e-3, so the printed estimates are the MLE's.
        model = GaussianMixture(
            n_components=2, tol=1e-9, max_iter=10_000, random_state=args.seed
        ).fit(X)
        elapsed = time.perf_counter() - start
        fits.append((title, model, X))
        # EM finds the components in no particular order: each is named by its
        # index in the model, as in the pictures, and compared with the true
        # component of the same rank along the first feature.
        true_index = np.argsort(np.argsort(model.means_[:, 0]))
        print(title)
        print(
            f"  fitted in {elapsed * 1e3:.1f} ms, {model.n_iter_} EM iterations, "
            f"mean log-likelihood {model.lower_bound_:.4f}"
        )
        for k, truth in enumerate(true_index):
            print(f"  component {k}: weight {model.weights_[k]:.3f} (true 0.500)")
            print(f"    mean       {model.means_[k]}  (true {true_means[truth]})")
            print(
                f"    covariance {model.covariances_[k].ravel()}  "
                f"(true {true_covariances[truth].ravel()})"
            )
    _draw_demo(fits, args.output_dir)
    return 0


DEMO_PICTURES = ("fastem-demo-1d.png", "fastem-demo-2d.png")


def _draw_demo(fits, output_dir):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        print("pictures of these fits need matplotlib: pip install fastem[plot]")
        return
    from ..plot import plot_components_2d, plot_density_1d

    os.makedirs(output_dir, exist_ok=True)
    for (title, model, X), name, draw in zip(
        fits, DEMO_PICTURES, (plot_density_1d, plot_components_2d)
    ):
        figure = Figure(figsize=(6.4, 4.8))
        draw(model, X, ax=figure.add_subplot()).set_title(title, fontsize="medium")
        path = os.path.join(output_dir, name)
        figure.savefig(path, dpi=100)
        print(f"wrote {path}")


# --- the command ---------------------------------------------------------------------

COMMANDS = {
    "fit": Command(
        "fit a mixture or a hidden Markov model to a data file and save it",
        _fit_arguments,
        _fit,
    ),
    "predict": Command(
        "label each row of a data file with its most probable component",
        _predict_arguments,
        _predict,
    ),
    "decode": Command(
        "the most probable state of each frame of sequences under a saved hidden "
        "Markov model",
        _decode_arguments,
        _decode,
    ),
    "score": Command(
        "log-likelihood (mean or per row) or BIC/AIC of a data file",
        _score_arguments,
        _score,
    ),
    "sample": Command("draw samples from a saved model", _sample_arguments, _sample),
    "impute": Command(
        "fill the missing (NaN or empty) cells of a data file from a saved model",
        _impute_arguments,
        _impute,
    ),
    "select": Command(
        "fit a grid of numbers of components and covariance types, print their "
        "BIC / AIC / ICL table and save the best model",
        _select_arguments,
        _select,
    ),
    "demo": Command(
        "fit the two classic examples, print what was recovered, draw them",
        _demo_arguments,
        _demo,
    ),
}


def _parser():
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="fastem",
        description="Fast EM for mixtures and hidden Markov models.",
    )
    parser.add_argument("--version", action="version", version=f"fastem {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, command in COMMANDS.items():
        subparser = commands.add_parser(
            name, help=command.help, description=command.help
        )
        command.add_arguments(subparser)
        subparser.set_defaults(run=command.run)
    return parser


def _one_line(error):
    if isinstance(error, OSError) and error.strerror and error.filename:
        return f"{error.filename}: {error.strerror}"
    return " ".join(str(error).split()) or type(error).__name__


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"fastem: warning: {_one_line(message)}", file=sys.stderr)


def main(argv=None):
    """Entry point of the ``fastem`` command; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return args.run(args)
    except BrokenPipeError:
        # The reader went away (``fastem demo | head``): not an error of ours. Point
        # stdout at devnull so the interpreter's final flush stays quiet too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("fastem: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError, ImportError, MemoryError) as error:
        # User errors: bad files, bad cells, bad parameters, a missing optional
        # package, data too large for this machine; the estimator's ValueError
        # says what is wrong with the data.
        print(f"fastem: error: {_one_line(error)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
