"""The twin of ``_markov``: forward-backward and Viterbi of hidden Markov chains over
many sequences, in NumPy (log space throughout): the executable specification of the
kernels.

Conventions shared with the kernels
-----------------------------------
- The frames of all sequences lie one after the other; ``bounds`` (n_sequences + 1,)
  int64 runs from 0 to n_frames, sequence s holding frames ``bounds[s]`` to
  ``bounds[s + 1] - 1`` (at least one).
- ``log_frameprob`` (n_frames, K) float64, C-contiguous: log p(x_t | state k), from the
  emission family (-inf where a state cannot emit a frame).
- ``startprob`` (K,) and ``transmat`` (K, K) float64: the chain, rows of
  ``transmat`` the distributions of the next state; zeros are forbidden starts and
  transitions.
- Outputs are preallocated by the caller and overwritten.
"""

import numpy as np
from scipy.special import logsumexp

__all__ = ["forward_backward", "forward_backward_blocks", "viterbi"]


def _logs(*arrays):
    with np.errstate(divide="ignore"):
        return [np.log(np.asarray(array, dtype=np.float64)) for array in arrays]


def forward_backward(
    log_frameprob,
    bounds,
    startprob,
    transmat,
    sequence_weight,
    n_threads,
    posteriors,
    log_prob,
    start_counts,
    trans_counts,
):
    """Posteriors, log-likelihoods and expected counts of every sequence.

    Parameters
    ----------
    log_frameprob : ndarray of shape (n_frames, K), float64
    bounds : ndarray of shape (n_sequences + 1,), int64
    startprob : ndarray of shape (K,), float64
    transmat : ndarray of shape (K, K), float64
    sequence_weight : ndarray of shape (n_sequences,), float64, or None
        w_s, weighing the counts (None: ones); posteriors and log-likelihoods are
        not weighted.
    n_threads : int
        Threads to use (ignored by the twin).
    posteriors : ndarray of shape (n_frames, K), float64, OUT
        p(z_t = k | x) of the frame's sequence; zero for a sequence of probability 0.
    log_prob : ndarray of shape (n_sequences,), float64, OUT
        log p(x_s) of each sequence.
    start_counts : ndarray of shape (K,), float64, OUT, or None
        sum_s w_s p(z_0 = k | x_s).
    trans_counts : ndarray of shape (K, K), float64, OUT, or None
        sum_s w_s sum_t p(z_t = i, z_{t+1} = j | x_s); given with start_counts.
    """
    log_start, log_trans = _logs(startprob, transmat)
    counting = start_counts is not None
    if counting:
        start_counts[...] = 0.0
        trans_counts[...] = 0.0
    with np.errstate(under="ignore", divide="ignore"):
        for s in range(len(bounds) - 1):
            lo, hi = bounds[s], bounds[s + 1]
            L = log_frameprob[lo:hi]
            alpha = np.empty_like(L)
            beta = np.zeros_like(L)
            alpha[0] = log_start + L[0]
            for t in range(1, len(L)):
                alpha[t] = logsumexp(alpha[t - 1][:, None] + log_trans, axis=0) + L[t]
            for t in range(len(L) - 2, -1, -1):
                beta[t] = logsumexp(log_trans + (L[t + 1] + beta[t + 1]), axis=1)
            total = logsumexp(alpha[-1])
            log_prob[s] = total
            if not np.isfinite(total):
                posteriors[lo:hi] = 0.0
                continue
            log_gamma = alpha + beta
            posteriors[lo:hi] = np.exp(
                log_gamma - logsumexp(log_gamma, axis=1, keepdims=True)
            )
            if not counting:
                continue
            weight = 1.0 if sequence_weight is None else sequence_weight[s]
            start_counts += weight * posteriors[lo]
            if len(L) > 1:
                log_xi = (
                    alpha[:-1, :, None]
                    + log_trans
                    + (L[1:] + beta[1:])[:, None, :]
                    - total
                )
                trans_counts += weight * np.exp(log_xi).sum(axis=0)


def forward_backward_blocks(
    frame_log_prob,
    n_blocks,
    startprob,
    transmat,
    weight,
    posteriors_done,
    start_counts,
    trans_counts,
):
    """Forward-backward of one sequence too long to hold whole, read in blocks of
    consecutive frames: once forward, in order, then once more backward, in reverse
    order (the kernel keeps a checkpoint of K numbers per block, not frames x
    states; this specification reads the blocks as the kernel does but holds them).

    Parameters
    ----------
    frame_log_prob : callable
        ``frame_log_prob(b)``: the C-contiguous float64 log p(x_t | k) of block b's
        frames, (n_frames_b >= 1, K), the same on each call.
    n_blocks : int
        At least 1.
    startprob : ndarray of shape (K,), float64
    transmat : ndarray of shape (K, K), float64
    weight : float
        w, weighing the counts.
    posteriors_done : callable or None
        ``posteriors_done(b, posteriors_b)``, block by block in reverse order, with
        p(z_t = k | x) of block b's frames (n_frames_b, K). None, with no counts:
        only the forward pass runs (the log-likelihood).
    start_counts : ndarray of shape (K,), float64, OUT, or None
        w p(z_0 = k | x).
    trans_counts : ndarray of shape (K, K), float64, OUT, or None
        w sum_t p(z_t = i, z_{t+1} = j | x); given with start_counts.

    Returns
    -------
    log_prob : float or None
        log p(x). The kernel returns None where its scaled recursions under- or
        overflow (the caller then discards what it was handed and runs the
        sequence whole, in log space); the twin, in log space throughout, never
        does.
    """
    blocks = [np.array(frame_log_prob(b), dtype=np.float64) for b in range(n_blocks)]
    L = np.ascontiguousarray(np.concatenate(blocks))
    bounds = np.array([0, len(L)], dtype=np.int64)
    posteriors = np.empty_like(L)
    log_prob = np.empty(1)
    weights = np.array([weight])
    forward_backward(
        L,
        bounds,
        startprob,
        transmat,
        weights,
        1,
        posteriors,
        log_prob,
        start_counts,
        trans_counts,
    )
    if posteriors_done is None and start_counts is None:
        return float(log_prob[0])
    edges = np.cumsum([0] + [len(block) for block in blocks])
    for b in range(n_blocks - 1, -1, -1):
        if len(frame_log_prob(b)) != len(blocks[b]):
            raise ValueError(
                f"frame_log_prob({b}) gave another number of frames than on the "
                "forward pass"
            )
        if posteriors_done is not None:
            posteriors_done(b, posteriors[edges[b] : edges[b + 1]].copy())
    return float(log_prob[0])


def viterbi(
    log_frameprob, bounds, log_startprob, log_transmat, n_threads, states, log_prob
):
    """The most probable state path of every sequence.

    Parameters
    ----------
    log_frameprob : ndarray of shape (n_frames, K), float64, INOUT
        Overwritten with the Viterbi lattice, delta_t(k) = the log-probability of the
        best path to state k at frame t, frame t included.
    bounds : ndarray of shape (n_sequences + 1,), int64
    log_startprob : ndarray of shape (K,), float64
    log_transmat : ndarray of shape (K, K), float64
    n_threads : int
    states : ndarray of shape (n_frames,), int64, OUT
        The path: the first best final state, then, backwards, the last best
        predecessor on ties (as hmmlearn chooses).
    log_prob : ndarray of shape (n_sequences,), float64, OUT
        log p(x_s, path_s).
    """
    for s in range(len(bounds) - 1):
        lo, hi = bounds[s], bounds[s + 1]
        delta = log_frameprob[lo:hi]
        delta[0] += log_startprob
        for t in range(1, len(delta)):
            delta[t] += np.max(delta[t - 1][:, None] + log_transmat, axis=0)
        best = int(np.argmax(delta[-1]))
        log_prob[s] = delta[-1, best]
        states[hi - 1] = best
        for t in range(len(delta) - 2, -1, -1):
            candidates = delta[t] + log_transmat[:, best]
            # The last index of the maximum (hmmlearn's choice on ties).
            best = len(candidates) - 1 - int(np.argmax(candidates[::-1]))
            states[lo + t] = best
