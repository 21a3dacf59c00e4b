"""What every hidden Markov model shares: hmmlearn 0.3's API over fastem's engine.

:class:`BaseHMM` owns the chain (start and transition probabilities, their Dirichlet
priors, ``params`` / ``init_params`` letters 's' and 't'), the sequences (``lengths``,
one weight per sequence), EM (hmmlearn's convergence rule and ``monitor_``),
scoring, decoding, sampling, imputation, online EM and re-seeding; a model adds its
emission family through a handful of hooks (``_initial_emission``,
``_maximize_emission``, ``_frozen_emission``, ...).
"""

import functools
import sys
import warnings
from collections import namedtuple
from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._engine.estimator import EMEstimator, FitContext
from .._engine.patterns import check_missing, impute_by_pattern
from .._engine.sequences import (
    SequenceSource,
    checked_lengths,
    checked_sequence_weight,
    chunked_sequences,
)
from .._engine.threads import limit_blas_threads
from .._latent.markov import (
    ConvergenceMonitor,
    FrozenHMM,
    chain_n_parameters,
    check_distribution,
    dirichlet_map,
    reseeded_chain,
    sample_states,
    stationary_distribution,
)
from ..mixture._gaussian_mixture import DegenerateComponentWarning

DECODER_ALGORITHMS = ("viterbi", "map")

# Parameters during a fit: the chain, and the emission family's own tuple.
_Params = namedtuple("_Params", "startprob transmat emission")

# Frames the emission's start (k-means, moments) reads from sequences read in chunks
# (a chunk callable, a Dask array): a uniform draw of this many, or all of them
# where there are no more (then the start is the in-memory one).
INIT_SAMPLE_FRAMES = 100_000


def _frames_summary(block, n_threads):
    """A block's largest value (NaN where it has none) and which of its columns
    observe a value."""
    X = block.X
    if X.dtype.kind != "f":
        return float(np.max(X)), np.ones(X.shape[1], dtype=bool)
    return float(np.fmax.reduce(X, axis=None)), ~np.isnan(X).all(axis=0)


def _block_worst_scores(block, n_threads, frozen):
    """Each frame's best-state log-density under ``frozen`` (+inf for frames of
    zero-weight sequences, never re-seeding candidates)."""
    scores = np.max(frozen.frame_log_prob(block, n_threads), axis=1)
    weight = block.frame_weight()
    if weight is not None:
        scores[weight == 0.0] = np.inf
    return scores


class _HMMFit(FitContext):
    """One fit (or one ``partial_fit`` batch) of a hidden Markov model: its
    convergence monitor, the mass below which a state has collapsed, re-seeds."""

    def __init__(self, source, *, online, monitor):
        super().__init__(source, online=online)
        self.monitor = monitor
        self.eps = 10 * np.finfo(np.float64).eps
        self.n_reseeds = 0


class BaseHMM(EMEstimator):
    """Base class of fastem's hidden Markov models (see :class:`GaussianHMM`)."""

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "startprob_prior": ["array-like", Real],
        "transmat_prior": ["array-like", Real],
        "algorithm": [StrOptions(set(DECODER_ALGORITHMS))],
        "random_state": ["random_state"],
        "n_iter": [Interval(Integral, 0, None, closed="left")],
        "tol": [Real],
        "verbose": ["verbose"],
        "params": [str],
        "init_params": [str],
        "implementation": [StrOptions({"log", "scaling"})],
        "on_degenerate": [StrOptions({"raise", "reseed"})],
        "learning_offset": [Interval(Real, 0.0, None, closed="left")],
        "learning_decay": [Interval(Real, 0.5, 1.0, closed="right")],
    }

    _fitted_attribute = "transmat_"
    # The letters of ``params`` / ``init_params`` that name the emission's parameters.
    _emission_letters = ""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Every model reads NaN as a missing value (a frame with nothing observed
        # contributes only the chain).
        tags.input_tags.allow_nan = True
        return tags

    # --- the family's hooks -----------------------------------------------------

    def _validate_frames(self, X, *, reset, fitting):
        """X validated as the family reads it."""
        raise NotImplementedError

    def _initial_emission(self, source, random_state):
        """The emission's initial parameters (those named in ``init_params`` drawn,
        the others read from the attributes)."""
        raise NotImplementedError

    def _maximize_emission(self, stats, emission):
        """The emission's M-step, for the letters in ``params``."""
        raise NotImplementedError

    def _frozen_emission(self, emission):
        """The emission's FrozenModel: log p(x | k), weights of one."""
        raise NotImplementedError

    def _set_emission(self, emission):
        raise NotImplementedError

    def _fitted_emission(self):
        """The emission's parameters read (and checked) from the attributes."""
        raise NotImplementedError

    def _emission_n_parameters(self):
        raise NotImplementedError

    def _generate_sample_from_state(self, state, random_state, emission):
        raise NotImplementedError

    def _emission_subset(self, emission, states):
        """The emission's FrozenModel of the ``states`` (a boolean mask) alone."""
        raise NotImplementedError

    def _reseed_emission(self, emission, degenerate, frames):
        """The emission with each degenerate state moved to one of ``frames``."""
        raise NotImplementedError

    def _degenerate_emission(self, emission):
        """States whose emission parameters are not usable (NaN, collapsed)."""
        return np.zeros(self.n_components, dtype=bool)

    def _state_mass(self, emission_stats):
        """Each state's posterior mass, (n_components,), from the emission's
        statistics."""
        return emission_stats.nk

    # Frames a degenerate state is re-seeded at (one per mixture component).
    _frames_per_reseed = 1

    # --- sequences ----------------------------------------------------------------

    def _sequences(
        self, X, lengths, sample_weight=None, *, reset, fitting, one_pass=False
    ):
        """The sequence source of validated X cut by ``lengths``: in memory, or read
        chunk by chunk (a chunk callable, an iterator where ``one_pass``, a Dask
        array)."""
        chunked = chunked_sequences(
            X,
            lengths,
            sample_weight,
            functools.partial(self._chunk_frames, reset=reset),
            one_pass=one_pass,
        )
        if chunked is not None:
            if fitting:
                self._check_chunked_frames(chunked)
            return chunked
        X = self._validate_frames(X, reset=reset, fitting=fitting)
        lengths = checked_lengths(lengths, X.shape[0])
        weight = checked_sequence_weight(sample_weight, lengths)
        missing = None
        if self._missing_values() == "patterns":
            missing = check_missing(X, fitting)
        return SequenceSource(X, lengths, weight, missing)

    def _chunk_frames(self, chunk, what, *, reset):
        """The frames of one chunk (or block) of X validated as the model reads
        them, and where they are missing (None where none is); errors name the
        chunk."""
        try:
            X = self._validate_frames(chunk, reset=reset, fitting=False)
            missing = None
            if self._missing_values() == "patterns":
                missing = check_missing(X, fitting=False)
        except ValueError as error:
            raise ValueError(f"{what}: {error}") from None
        return X, missing

    def _check_chunked_frames(self, source):
        """What a fit checks of all the frames at once, in one pass over frames
        read in chunks: no column without an observed value, and the symbols that
        set the model's alphabet (``_largest_frame_value``)."""
        summaries = source.map_blocks(_frames_summary, self.n_components)
        observed = np.logical_or.reduce([seen for _, seen in summaries])
        if not observed.all():
            raise ValueError(
                f"Column {int(np.flatnonzero(~observed)[0])} of X is entirely NaN; "
                "nothing can be estimated for it."
            )
        self._largest_frame_value(np.fmax.reduce([top for top, _ in summaries]))

    def _largest_frame_value(self, largest):
        """Hook: the largest value of the frames to fit, read in chunks (NaN where
        none is observed)."""

    def _needs_init(self, code, name):
        """hmmlearn's rule: initialise a parameter named in ``init_params``, or that
        is not set."""
        return code in self.init_params or not hasattr(self, name)

    # --- fitting: the engine's hooks ------------------------------------------------

    def _em_settings(self, context):
        """hmmlearn's EM: one run of ``n_iter`` iterations, stopped once the
        log-likelihood gains less than ``tol`` (or falls), no warning when it did not
        converge (``monitor_.converged`` says)."""
        tol = self.tol
        return {
            "n_init": 1,
            "max_iter": self.n_iter,
            "tol": tol,
            "verbose": 0,
            "verbose_interval": 1,
            "warm": False,
            "converged": lambda previous, current: current - previous < tol,
            "warn": False,
        }

    def _begin_fit(self, source, online):
        if not online and source.n_samples < self.n_components:
            raise ValueError(
                f"Expected n_samples >= n_components but got n_components = "
                f"{self.n_components}, n_samples = {source.n_samples}"
            )
        monitor = ConvergenceMonitor(self.tol, self.n_iter, bool(self.verbose))
        return _HMMFit(source, online=online, monitor=monitor)

    def _initialize(self, context, random_state):
        """hmmlearn's start: startprob and each row of transmat from
        Dirichlet(1 / n_components) where 's' / 't' are in ``init_params`` (or not
        set), then the emission's start; the draws in hmmlearn's order, so the same
        ``random_state`` gives hmmlearn's initial parameters."""
        K = self.n_components
        concentration = np.full(K, 1.0 / K)
        if self._needs_init("s", "startprob_"):
            startprob = random_state.dirichlet(concentration)
        else:
            startprob = check_distribution(self.startprob_, "startprob_", (K,))
        if self._needs_init("t", "transmat_"):
            transmat = random_state.dirichlet(concentration, size=K)
        else:
            transmat = check_distribution(self.transmat_, "transmat_", (K, K))
        frames = context.source.sample(INIT_SAMPLE_FRAMES, random_state)
        emission = self._initial_emission(frames, random_state)
        return _Params(startprob, transmat, emission)

    def _frozen(self, params):
        return FrozenHMM(
            np.ascontiguousarray(params.startprob, dtype=np.float64),
            np.ascontiguousarray(params.transmat, dtype=np.float64),
            self._frozen_emission(params.emission),
        )

    def _em_step(self, context, params):
        """E-step on ``params`` (its log-likelihood, hmmlearn's ``monitor_``
        history), then the M-step."""
        stats = context.source.accumulate(self._frozen(params))
        log_likelihood = stats.log_likelihood
        context.monitor.report(log_likelihood, sys.stderr)
        return self._maximize(context, stats, params), log_likelihood

    def _maximize(self, context, stats, params):
        """hmmlearn's M-step (MAP under the priors) for the letters in ``params``;
        states that lost all their mass are re-seeded or raise (``on_degenerate``)."""
        if context.online:
            # Running statistics are per unit weight: priors weigh against all the
            # frames seen, as in a fit on them.
            stats = stats * context.weight_seen
        startprob, transmat = params.startprob, params.transmat
        if "s" in self.params:
            startprob = dirichlet_map(stats.start, self.startprob_prior, startprob)
        if "t" in self.params:
            transmat = dirichlet_map(stats.trans, self.transmat_prior, transmat)
        emission = self._maximize_emission(stats.emission, params.emission)
        new = _Params(startprob, transmat, emission)
        mass = self._state_mass(stats.emission)
        degenerate = ~(mass >= context.eps * np.sum(mass))
        degenerate |= self._degenerate_emission(emission)
        degenerate |= ~(transmat.sum(axis=1) > 0)
        if not degenerate.any():
            return new
        if self.on_degenerate == "raise":
            raise ValueError(
                f"State(s) {np.flatnonzero(degenerate).tolist()} lost all their "
                "posterior mass (a zero row of transmat_, undefined emission "
                "parameters). Try fewer states, other initial parameters, or "
                "on_degenerate='reseed'."
            )
        return self._reseed(context, new, degenerate, params)

    def _reseed(self, context, params, degenerate, scorer):
        """Degenerate states moved to the frames the sound states of ``scorer`` (the
        parameters of the E-step that found the collapse) explain worst; each gets
        uniform transitions out and a share 1 / K of every state's transitions in."""
        sound = ~degenerate
        if not sound.any():
            return params
        model = self._emission_subset(scorer.emission, sound)
        frames = self._worst_frames(
            context.source,
            model,
            np.count_nonzero(degenerate) * self._frames_per_reseed,
        )
        emission = self._reseed_emission(
            params.emission, degenerate, context.source.rows(frames)
        )
        startprob, transmat = reseeded_chain(
            params.startprob, params.transmat, degenerate
        )
        context.n_reseeds += int(np.count_nonzero(degenerate))
        return _Params(startprob, transmat, emission)

    @staticmethod
    def _worst_frames(source, model, n_frames):
        """The ``n_frames`` frames of lowest best-state log-density under ``model``
        (frames of zero-weight sequences are not candidates)."""
        frozen = FrozenHMM(np.ones(model.n_outputs), np.eye(model.n_outputs), model)
        scores = source.map_blocks(
            functools.partial(_block_worst_scores, frozen=frozen), model.n_outputs
        )
        return np.argsort(np.concatenate(scores), kind="stable")[:n_frames]

    def _end_fit(self, context, result):
        super()._end_fit(context, result)
        self.monitor_ = context.monitor
        self.n_reseeds_ = context.n_reseeds
        if self.n_reseeds_:
            warnings.warn(
                f"{self.n_reseeds_} degenerate state(s) (no posterior mass left) "
                "were re-seeded at the worst-fitted frames during fit. Consider "
                "fewer states or stronger priors.",
                DegenerateComponentWarning,
            )

    def _set_fitted(self, params, dtype):
        self.startprob_ = np.array(params.startprob, dtype=np.float64)
        self.transmat_ = np.array(params.transmat, dtype=np.float64)
        self._set_emission(params.emission)

    def _fitted_params(self):
        K = self.n_components
        return _Params(
            check_distribution(self.startprob_, "startprob_", (K,)),
            check_distribution(self.transmat_, "transmat_", (K, K)),
            self._fitted_emission(),
        )

    def _fitted_model(self):
        check_is_fitted(self, ["startprob_", "transmat_"])
        return self._frozen(self._fitted_params())

    def _n_parameters(self):
        """hmmlearn's count of free scalar parameters (every letter's)."""
        return chain_n_parameters(self.n_components) + self._emission_n_parameters()

    # --- fitting: the public methods ---------------------------------------------

    def fit(self, X, lengths=None, sample_weight=None):
        """Estimate the parameters with EM (Baum-Welch).

        Parameters are initialised first as ``init_params`` says (those it does not
        name, and that are set, are kept: hmmlearn's warm start); then EM runs at
        most ``n_iter`` iterations, until the log-likelihood gains less than
        ``tol``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), callable or dask array
            The frames of all sequences, one after the other: in memory (memory
            maps too), or read in chunks, each ending where a sequence ends, from
            a callable returning a fresh iterator of chunks on each call (an
            iterator, read once, where one pass is enough) or a Dask array.
        lengths : array-like of int of shape (n_sequences,), default=None
            The length of each sequence (positive, summing to n_samples); None: X
            is one sequence.
        sample_weight : array-like of shape (n_sequences,), default=None
            One non-negative weight per sequence: an integer weight is the same as
            repeating the sequence, a zero weight the same as leaving it out.

        Returns
        -------
        self : object
            The fitted model.
        """
        self._validate_params()
        self._check_letters()
        source = self._sequences(X, lengths, sample_weight, reset=True, fitting=True)
        self._fit_source(source)
        return self

    def _check_letters(self):
        known = "st" + self._emission_letters
        for name in ("params", "init_params"):
            unknown = sorted(set(getattr(self, name)) - set(known))
            if unknown:
                # hmmlearn ignores letters it does not know; say so once.
                warnings.warn(
                    f"{name}={getattr(self, name)!r} holds letters {unknown} that "
                    f"{type(self).__name__} does not use (it knows {known!r})",
                    UserWarning,
                )

    def partial_fit(self, X, lengths=None):
        """One step of stepwise online EM on a batch of sequences.

        The first batch initialises the model as ``fit`` would (unless it is
        fitted already); each batch's statistics under the current parameters, per
        frame, are blended into running ones (s <- (1 - eta_t) s + eta_t s_batch,
        eta_t = (learning_offset + t) ** -learning_decay), which are then
        maximized, the priors weighed against all the frames seen.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), callable or dask array
            The frames of all sequences, one after the other: in memory (memory
            maps too), or read in chunks, each ending where a sequence ends, from
            a callable returning a fresh iterator of chunks on each call (an
            iterator, read once, where one pass is enough) or a Dask array.
        lengths : array-like of int of shape (n_sequences,), default=None
            The length of each sequence (positive, summing to n_samples); None: X
            is one sequence.

        Returns
        -------
        self : object
            The fitted model.
        """
        self._validate_params()
        first = not hasattr(self, "monitor_")
        # The first batch is read more than once: to start the model, then its pass.
        source = self._sequences(
            X, lengths, None, reset=first, fitting=first, one_pass=not first
        )
        with limit_blas_threads():
            context = self._begin_fit(source, online=True)
            if first:
                params = self._initialize(
                    context, check_random_state(self.random_state)
                )
            else:
                params = self._fitted_params()
            batch = source.accumulate(self._frozen(params))
            log_likelihood = batch.log_likelihood
            batch = batch / source.total_weight
            running = getattr(self, "_online_stats", None)
            if running is None:
                running = batch
                self.n_batch_iter_ = 0
            else:
                step = (
                    self.learning_offset + self.n_batch_iter_
                ) ** -self.learning_decay
                running = running.blend(batch, step)
                context.weight_seen += self._online_weight
            self._set_fitted(self._maximize(context, running, params), source.dtype)
        monitor = getattr(self, "monitor_", None) or context.monitor
        monitor.report(log_likelihood, sys.stderr)
        self.monitor_ = monitor
        self._online_stats = running
        self._online_weight = context.weight_seen
        self.n_batch_iter_ += 1
        self.lower_bound_ = log_likelihood
        return self

    # --- using a fitted model -------------------------------------------------------

    def _scoring(self, X, lengths):
        """The sequence source of X and the frozen fitted model."""
        model = self._fitted_model()
        source = self._sequences(X, lengths, reset=False, fitting=False, one_pass=True)
        return source, model

    def score_samples(self, X, lengths=None):
        """Log-likelihood of X and the posterior of each state at each frame.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), callable or dask array
            The frames of all sequences, one after the other: in memory (memory
            maps too), or read in chunks, each ending where a sequence ends, from
            a callable returning a fresh iterator of chunks on each call (an
            iterator, read once, where one pass is enough) or a Dask array.
        lengths : array-like of int of shape (n_sequences,), default=None
            The length of each sequence (positive, summing to n_samples); None: X
            is one sequence.

        Returns
        -------
        log_prob : float
            log p(X): the sum over the sequences of their log-likelihoods.
        posteriors : ndarray of shape (n_samples, n_components)
            p(z_t = k | the frame's sequence).
        """
        source, model = self._scoring(X, lengths)
        log_prob, posteriors = source.score(model, posteriors=True)
        return float(np.sum(log_prob)), posteriors

    def score(self, X, lengths=None):
        """Log-likelihood of X: the sum over its sequences of log p(x_s).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), callable or dask array
            The frames of all sequences, one after the other: in memory (memory
            maps too), or read in chunks, each ending where a sequence ends, from
            a callable returning a fresh iterator of chunks on each call (an
            iterator, read once, where one pass is enough) or a Dask array.
        lengths : array-like of int of shape (n_sequences,), default=None
            The length of each sequence (positive, summing to n_samples); None: X
            is one sequence.

        Returns
        -------
        log_prob : float
            The log-probability of X.
        """
        source, model = self._scoring(X, lengths)
        return float(np.sum(source.score(model, posteriors=False)[0]))

    def predict_proba(self, X, lengths=None):
        """Posterior probability of each state at each frame.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), callable or dask array
            The frames of all sequences, one after the other: in memory (memory
            maps too), or read in chunks, each ending where a sequence ends, from
            a callable returning a fresh iterator of chunks on each call (an
            iterator, read once, where one pass is enough) or a Dask array.
        lengths : array-like of int of shape (n_sequences,), default=None
            The length of each sequence (positive, summing to n_samples); None: X
            is one sequence.

        Returns
        -------
        posteriors : ndarray of shape (n_samples, n_components)
            p(z_t = k | the frame's sequence).
        """
        return self.score_samples(X, lengths)[1]

    def decode(self, X, lengths=None, algorithm=None):
        """The most likely state of each frame.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), callable or dask array
            The frames of all sequences, one after the other: in memory (memory
            maps too), or read in chunks, each ending where a sequence ends, from
            a callable returning a fresh iterator of chunks on each call (an
            iterator, read once, where one pass is enough) or a Dask array.
        lengths : array-like of int of shape (n_sequences,), default=None
            The length of each sequence (positive, summing to n_samples); None: X
            is one sequence.
        algorithm : {'viterbi', 'map'}, default=None
            'viterbi': the most probable path of each sequence; 'map': the most
            probable state of each frame on its own. None: ``self.algorithm``.

        Returns
        -------
        log_prob : float
            'viterbi': the log-probability of the paths, sum_s log p(x_s, path_s);
            'map': as hmmlearn computes it, the sum over the frames of their largest
            posterior.
        state_sequence : ndarray of shape (n_samples,), intp
            The state of each frame.
        """
        algorithm = algorithm or self.algorithm
        if algorithm not in DECODER_ALGORITHMS:
            raise ValueError(f"Unknown decoder {algorithm!r}")
        source, model = self._scoring(X, lengths)
        if algorithm == "viterbi":
            states, log_prob = source.viterbi(model)
            return float(np.sum(log_prob)), states
        _, posteriors = source.score(model, posteriors=True)
        return float(np.max(posteriors, axis=1).sum()), np.argmax(posteriors, axis=1)

    def predict(self, X, lengths=None):
        """The most likely state of each frame (``decode`` with ``algorithm``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), callable or dask array
            The frames of all sequences, one after the other: in memory (memory
            maps too), or read in chunks, each ending where a sequence ends, from
            a callable returning a fresh iterator of chunks on each call (an
            iterator, read once, where one pass is enough) or a Dask array.
        lengths : array-like of int of shape (n_sequences,), default=None
            The length of each sequence (positive, summing to n_samples); None: X
            is one sequence.

        Returns
        -------
        state_sequence : ndarray of shape (n_samples,), intp
            The state of each frame.
        """
        return self.decode(X, lengths)[1]

    def fit_predict(self, X, lengths=None, sample_weight=None):
        """``fit(X, lengths, sample_weight).predict(X, lengths)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), callable or dask array
            The frames of all sequences, one after the other: in memory (memory
            maps too), or read in chunks, each ending where a sequence ends, from
            a callable returning a fresh iterator of chunks on each call (an
            iterator, read once, where one pass is enough) or a Dask array.
        lengths : array-like of int of shape (n_sequences,), default=None
            The length of each sequence; None: X is one sequence.
        sample_weight : array-like of shape (n_sequences,), default=None
            One non-negative weight per sequence.

        Returns
        -------
        state_sequence : ndarray of shape (n_samples,), intp
            The state of each frame.
        """
        return self.fit(X, lengths, sample_weight).predict(X, lengths)

    def impute(self, X, lengths=None):
        """A copy of X with each NaN replaced by its smoothed expectation
        E[x_missing | all the observed frames of its sequence] =
        sum_k p(z_t = k | sequence) E[x_missing | x_observed, z_t = k].

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The frames of all sequences, one after the other.
        lengths : array-like of int of shape (n_sequences,), default=None
            The length of each sequence (positive, summing to n_samples); None: X
            is one sequence.

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features), of X's float dtype
            X with each NaN filled.
        """
        source, model = self._scoring(X, lengths)
        if not isinstance(source, SequenceSource):
            raise TypeError(
                f"impute needs X in memory, not {type(X).__name__} data read in chunks"
            )
        imputed = np.array(source.X)
        if source.patterns is None:
            return imputed
        _, posteriors = source.score(model, posteriors=True)
        return impute_by_pattern(
            model.emission, imputed, posteriors, source.patterns, source.n_threads
        )

    def sample(self, n_samples=1, random_state=None, currstate=None):
        """Draw a sequence from the model, as hmmlearn draws it (the same
        ``random_state`` gives hmmlearn's samples).

        Parameters
        ----------
        n_samples : int, default=1
            The number of frames to draw.
        random_state : int, RandomState instance or None, default=None
            None: the model's ``random_state``.
        currstate : int or None, default=None
            The first state (None: drawn from ``startprob_``).

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            The frames drawn.
        state_sequence : ndarray of shape (n_samples,), int
            The state of each frame.
        """
        params = self._fitted_params()
        check_is_fitted(self, ["startprob_", "transmat_"])
        if random_state is None:
            random_state = self.random_state
        random_state = check_random_state(random_state)
        states, frames = [], []
        for state in sample_states(
            params.startprob, params.transmat, n_samples, random_state, currstate
        ):
            states.append(state)
            frames.append(
                self._generate_sample_from_state(state, random_state, params.emission)
            )
        return np.atleast_2d(frames), np.array(states, dtype=int)

    def get_stationary_distribution(self):
        """The stationary distribution of the states (the left eigenvector of
        ``transmat_`` for eigenvalue 1, normalised).

        Returns
        -------
        stationary : ndarray of shape (n_components,)
            The chain's long-run share of each state.
        """
        check_is_fitted(self, "transmat_")
        return stationary_distribution(self.transmat_)

    def aic(self, X, lengths=None):
        """Akaike information criterion on X: -2 log p(X) + 2 p (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), callable or dask array
            The frames of all sequences, one after the other: in memory (memory
            maps too), or read in chunks, each ending where a sequence ends, from
            a callable returning a fresh iterator of chunks on each call (an
            iterator, read once, where one pass is enough) or a Dask array.
        lengths : array-like of int of shape (n_sequences,), default=None
            The length of each sequence (positive, summing to n_samples); None: X
            is one sequence.

        Returns
        -------
        aic : float
            The Akaike information criterion (lower is better).
        """
        return -2 * self.score(X, lengths) + 2 * self._n_parameters()

    def bic(self, X, lengths=None):
        """Bayesian information criterion on X: -2 log p(X) + p log(n_samples)
        (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), callable or dask array
            The frames of all sequences, one after the other: in memory (memory
            maps too), or read in chunks, each ending where a sequence ends, from
            a callable returning a fresh iterator of chunks on each call (an
            iterator, read once, where one pass is enough) or a Dask array.
        lengths : array-like of int of shape (n_sequences,), default=None
            The length of each sequence (positive, summing to n_samples); None: X
            is one sequence.

        Returns
        -------
        bic : float
            The Bayesian information criterion (lower is better).
        """
        source, model = self._scoring(X, lengths)
        log_prob = float(np.sum(source.score(model, posteriors=False)[0]))
        return -2 * log_prob + self._n_parameters() * np.log(source.n_samples)

    def _check_loaded(self):
        """Check the parameters and fitted attributes of a model read from a file
        (see :func:`fastem.load`) as scoring checks them."""
        self._validate_params()
        fitted = ("startprob_", "transmat_", "monitor_")
        present = [key for key in fitted if key in vars(self)]
        if not present:
            return
        if len(present) < len(fitted):
            missing = sorted(set(fitted) - set(present))
            raise ValueError(
                f"a fitted model needs all its parameters: {missing} missing"
            )
        self._fitted_params()
