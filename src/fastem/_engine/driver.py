"""The EM loop shared by every model: restarts, warm start, convergence, progress.

A model hands the driver three callables and gets back the best run:

- ``initialize(random_state) -> params``
- ``em_step(params) -> (new_params, lower_bound)``: one E-step on ``params`` (whose
  mean log-likelihood is the lower bound) and the M-step from its statistics;
- the verbosity settings, to print progress exactly as scikit-learn does.

Callers further up (the command line's progress bar) follow the iterations of any fit
through :func:`reporting_iterations`, without a parameter threaded through every model.
"""

import warnings
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from time import time

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .threads import limit_blas_threads


@dataclass
class EMResult:
    """The best of the runs."""

    params: object
    n_iter: int
    lower_bound: float
    lower_bounds: list = field(default_factory=list)
    converged: bool = False


class _Progress:
    """scikit-learn's verbose messages, word for word."""

    def __init__(self, verbose, verbose_interval):
        self.verbose = verbose
        self.verbose_interval = verbose_interval

    def init_begin(self, n_init):
        if self.verbose >= 1:
            print("Initialization %d" % n_init)
        if self.verbose >= 2:
            self.init_time = self.iter_time = time()

    def iter_end(self, n_iter, change):
        if n_iter % self.verbose_interval != 0:
            return
        if self.verbose == 1:
            print("  Iteration %d" % n_iter)
        elif self.verbose >= 2:
            now = time()
            print(
                "  Iteration %d\t time lapse %.5fs\t ll change %.5f"
                % (n_iter, now - self.iter_time, change)
            )
            self.iter_time = now

    def init_end(self, lower_bound, converged):
        message = "converged" if converged else "did not converge"
        if self.verbose == 1:
            print(f"Initialization {message}.")
        elif self.verbose >= 2:
            elapsed = time() - self.init_time
            print(
                f"Initialization {message}. time lapse {elapsed:.5f}s\t lower bound"
                f" {lower_bound:.5f}."
            )


_iteration_callback = ContextVar("iteration_callback", default=None)


@contextmanager
def reporting_iterations(callback):
    """Call ``callback(init, n_iter, lower_bound)`` after each EM iteration of the fits
    run inside the ``with`` block (in this thread or task).

    ``init`` counts the initialisations from 0, ``n_iter`` the iterations of this one
    from 1; ``lower_bound`` is the mean log-likelihood reached.
    """
    token = _iteration_callback.set(callback)
    try:
        yield
    finally:
        _iteration_callback.reset(token)


def run_em(
    initialize,
    em_step,
    *,
    n_init,
    max_iter,
    tol,
    random_state,
    verbose=0,
    verbose_interval=10,
    warm=None,
    converged=None,
    warn=True,
):
    """Run EM ``n_init`` times (once from ``warm``) and keep the best lower bound.

    Parameters
    ----------
    initialize : callable
        ``initialize(random_state) -> params``.
    em_step : callable
        ``em_step(params) -> (params, lower_bound)``.
    n_init, max_iter : int
    tol : float
        Converged when the lower bound changes by less than ``tol``.
    random_state : numpy.random.RandomState
    verbose, verbose_interval : int
    warm : tuple (params, lower_bound) or None
        Continue from these parameters instead of initialising.
    converged : callable or None
        ``converged(previous, current) -> bool``, the stopping rule on two
        successive lower bounds; None: ``abs(current - previous) < tol``.
    warn : bool
        Whether to warn (ConvergenceWarning) when the best run did not converge.

    Returns
    -------
    EMResult
    """
    # The M-step's LAPACK calls are tiny; BLAS threads left spinning beside the OpenMP
    # kernel's threads would slow both (up to 8x measured on a loaded machine).
    if converged is None:

        def converged(previous, current):
            return abs(current - previous) < tol

    stop = converged
    with limit_blas_threads():
        progress = _Progress(verbose, verbose_interval)
        on_iteration = _iteration_callback.get()
        best = None
        for init in range(1 if warm is not None else n_init):
            progress.init_begin(init)
            if warm is None:
                params, lower_bound = initialize(random_state), -np.inf
            else:
                params, lower_bound = warm
            if max_iter == 0:
                best = EMResult(params, 0, -np.inf)
                continue
            lower_bounds, converged = [], False
            for n_iter in range(1, max_iter + 1):
                previous = lower_bound
                params, lower_bound = em_step(params)
                lower_bounds.append(lower_bound)
                change = lower_bound - previous
                progress.iter_end(n_iter, change)
                if on_iteration is not None:
                    on_iteration(init, n_iter, lower_bound)
                if stop(previous, lower_bound):
                    converged = True
                    break
            progress.init_end(lower_bound, converged)
            if (
                best is None
                or lower_bound > best.lower_bound
                or best.lower_bound == -np.inf
            ):
                best = EMResult(params, n_iter, lower_bound, lower_bounds, converged)
        if warn and not best.converged and max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. "
                "Try different init parameters, or increase max_iter, "
                "tol, or check for degenerate data.",
                ConvergenceWarning,
            )
        return best
