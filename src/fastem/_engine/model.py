"""The protocol between the engine and a model: its parameters frozen for a pass.

Data sources (``sources``, ``patterns``) know rows, not models. Each pass over the
rows hands every chunk to a :class:`FrozenModel`, the current parameters of a model in
the form its compiled kernels read, which computes the chunk's statistics or scores.
"""

from contextlib import nullcontext

import numpy as np

from .threads import threads_for


class FrozenModel:
    """A model's parameters, fixed for one pass over the data.

    Subclasses implement :meth:`zero_stats`, :meth:`accumulate` and :meth:`score`
    (the compiled fused pass), :meth:`component_log_prob` and :meth:`stats_given`
    (the two halves of an E-step, for models that make the responsibilities
    themselves), and set ``n_outputs``; models that accept missing values implement
    :meth:`marginal`. Instances are small and picklable: Dask sends them to the
    workers.

    Attributes
    ----------
    n_outputs : int
        Columns of the responsibilities :meth:`score` gives (the number of
        components of a mixture).
    work_per_row : int
        The kernel's work per row, in units of about one (row, component) pair of a
        Gaussian mixture at small d: sizes the number of threads worth waking.
    """

    n_outputs: int
    work_per_row: int = 1

    def zero_stats(self):
        """The statistics of no data (:class:`fastem._engine.stats.Stats`)."""
        raise NotImplementedError

    def accumulate(self, X, sample_weight, n_threads):
        """The fused E-step over the rows of ``X``: their statistics.

        Parameters
        ----------
        X : ndarray (or sparse matrix, where the model reads one) of shape
            (n_rows, n_features)
            Read, never written.
        sample_weight : ndarray of shape (n_rows,), float64, or None
        n_threads : int

        Returns
        -------
        stats : Stats
        """
        raise NotImplementedError

    def score(self, X, n_threads, log_prob, resp, labels):
        """Per-row log p(x), responsibilities and labels, into the given outputs.

        Parameters
        ----------
        X : ndarray of shape (n_rows, n_features)
        n_threads : int
        log_prob : ndarray of shape (n_rows,), float64, or None, OUT
        resp : ndarray of shape (n_rows, n_outputs), float64, or None, OUT
        labels : ndarray of shape (n_rows,), intp, or None, OUT
            Each output is filled where it is not None.
        """
        raise NotImplementedError

    def component_log_prob(self, X, n_threads=1):
        """log w_k + log p(x_n | k) of each row and component: the family's
        per-component log-densities, which models over sequences and tests combine
        themselves (compiled where the family has a kernel for them).

        Returns
        -------
        ndarray of shape (n_rows, n_outputs), float64
        """
        raise NotImplementedError

    def stats_given(self, X, resp, sample_weight, n_threads=1):
        """The statistics of the rows of X given their responsibilities (the M-step's
        sums without the E-step); ``log_likelihood`` 0.

        Parameters
        ----------
        X : ndarray (or sparse matrix) of shape (n_rows, n_features)
        resp : ndarray of shape (n_rows, n_outputs)
        sample_weight : ndarray of shape (n_rows,) or None
        n_threads : int

        Returns
        -------
        stats : Stats
        """
        raise NotImplementedError

    def marginal(self, observed, missing):
        """The model of the ``observed`` columns alone (a FrozenModel of them), for
        rows whose ``missing`` columns are NaN (``observed`` may be empty: its
        ``score`` then gives the prior's answer, log p = 0), with two more methods:
        ``lift(stats)`` (statistics of the observed columns -> statistics of all
        columns, the missing ones as latent) and ``impute(X_observed, resp,
        random_state)`` (values for the missing columns).

        Parameters
        ----------
        observed, missing : ndarray of intp, increasing
            A partition of the columns.
        """
        raise TypeError(f"{type(self).__name__} does not model missing values")

    def marginals(self, patterns):
        """The model of each pattern's observed columns, in order: the model itself
        for complete rows, else :meth:`marginal`. Models may build them together.

        Parameters
        ----------
        patterns : list of fastem._engine.patterns.Pattern

        Returns
        -------
        list of FrozenModel
        """
        return [
            self
            if len(pattern.missing) == 0
            else self.marginal(pattern.observed, pattern.missing)
            for pattern in patterns
        ]

    def accumulate_patterns(self, X, sample_weight, grouping, n_threads):
        """The statistics of rows with missing values, all patterns in one pass:
        an optional capability (``NotImplemented`` by default, and the source then
        runs :meth:`marginal` and ``lift`` pattern by pattern); what it returns equals
        the sum of the lifted statistics of each pattern, up to rounding.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            NaN where missing; read, never written.
        sample_weight : ndarray of shape (n_samples,), float64, or None
        grouping : fastem._engine.patterns.PatternGrouping
            The rows of each pattern with at least one observed column.
        n_threads : int

        Returns
        -------
        stats : Stats or NotImplemented
        """
        return NotImplemented

    def score_patterns(self, X, grouping, n_threads, log_prob, resp, labels):
        """:meth:`score` of the rows of ``grouping`` (each row by the density of its
        observed columns), all patterns in one pass, written at the rows' places:
        an optional capability (``NotImplemented`` by default, and the source then
        scores pattern by pattern). Rows outside the grouping are left untouched.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
        grouping : fastem._engine.patterns.PatternGrouping
        n_threads : int
        log_prob, resp, labels : ndarray or None, OUT
            As in :meth:`score`, of n_samples rows.

        Returns
        -------
        None or NotImplemented
        """
        return NotImplemented

    def kernel_context(self):
        """A context the kernels run in (BLAS held to one thread where they call it
        from their own threads); nothing by default."""
        return nullcontext()

    def threads(self, n_threads, n_rows):
        """Threads worth waking for ``n_rows`` rows: at most ``n_threads``."""
        return threads_for(n_threads, n_rows, self.work_per_row)

    def score_outputs(self, n_rows, *, log_prob, resp, labels):
        """Uninitialised outputs for :meth:`score`, each on request (else None)."""
        return (
            np.empty(n_rows) if log_prob else None,
            np.empty((n_rows, self.n_outputs)) if resp else None,
            np.empty(n_rows, dtype=np.intp) if labels else None,
        )

    def score_rows(self, X, n_threads, *, log_prob, resp, labels):
        """:meth:`score` into new outputs, which it returns."""
        outputs = self.score_outputs(
            X.shape[0], log_prob=log_prob, resp=resp, labels=labels
        )
        self.score(X, n_threads, *outputs)
        return outputs
