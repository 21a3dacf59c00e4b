"""Forward-backward and Viterbi of hidden Markov chains over many sequences at once
(Cython + OpenMP).

The frames of all sequences lie one after the other; ``bounds`` gives where each
sequence starts (and the last one ends). The emission log-probabilities of every
frame and state come in from the emission family (``log_frameprob``, n x K); the
loops over one sequence are ``_markov.h``'s: forward-backward in scaled probability
space, in log space where a scale would underflow, and Viterbi in log space.

Sequences are independent, so OpenMP threads take them in turn. Their expected
start and transition counts are added into fixed groups of consecutive sequences
(their number depends on the problem, never on the thread count), each group's sums
kept apart and the groups added in order at the end, so the bits do not depend on
the number of threads; a dynamic schedule over groups balances unequal lengths.

The contract of every public function is the twin's, in ``_reference/markov.py``.
"""

from cython.parallel cimport parallel, prange
from libc.math cimport INFINITY
from libc.stdlib cimport free, malloc
from libc.string cimport memset

import numpy as np

__all__ = ["forward_backward", "forward_backward_blocks", "viterbi"]


cdef extern from "_simd.h" nogil:
    # The fixed blocks of a pass: at most MAX_BLOCKS, holding at most PARTIALS_BYTES.
    const Py_ssize_t PARTIALS_BYTES "FE_PARTIALS_BYTES"
    const Py_ssize_t MAX_BLOCKS "FE_MAX_BLOCKS"


cdef extern from "_markov.h" nogil:
    const int FM_W  # states per vector: K states are padded to a multiple
    int fm_forward_block(const double *L, Py_ssize_t F, Py_ssize_t K, Py_ssize_t kp,
                         const double *start, const double *previous,
                         const double *transmat, double *alpha, double *scaled,
                         double *pred, double *total, double *product)
    int fm_backward_block(Py_ssize_t F, Py_ssize_t K, Py_ssize_t kp,
                          const double *transposed, double *alpha,
                          const double *previous, const double *scaled, double *outer,
                          double *beta, double *next, double *u, double *v)
    int fm_forward_scaled(const double *L, Py_ssize_t T, Py_ssize_t K, Py_ssize_t kp,
                          const double *start, const double *transmat, double *alpha,
                          double *scaled, double *pred, double *log_prob)
    int fm_backward_scaled(Py_ssize_t T, Py_ssize_t K, Py_ssize_t kp,
                           const double *transposed, double *alpha,
                           const double *scaled, double *outer, double *beta,
                           double *next, double *u, double *v)
    double fm_forward_backward_log(const double *L, Py_ssize_t T, Py_ssize_t K,
                                   const double *log_start, const double *log_trans,
                                   double *post, double *xi, double *buf,
                                   double *beta, double *next)
    double fm_viterbi(double *L, Py_ssize_t T, Py_ssize_t K,
                      const double *log_start, const double *log_trans, double *buf,
                      long long *states)


# --- argument checks (Python level, before any pointer is taken) ---------------------


def _check_chain(log_frameprob, bounds, start, trans):
    """(n_frames, K, n_sequences) of valid arguments, else a ValueError."""
    n_frames, n_states = log_frameprob.shape
    if start.shape != (n_states,) or trans.shape != (n_states, n_states):
        raise ValueError(
            f"startprob {start.shape} and transmat {trans.shape} do not match "
            f"{n_states} states"
        )
    bounds = np.asarray(bounds)
    if bounds.ndim != 1 or len(bounds) < 1 or bounds[0] != 0 or bounds[-1] != n_frames:
        raise ValueError(
            f"bounds must run from 0 to the {n_frames} frames, got {bounds!r}"
        )
    if np.any(np.diff(bounds) <= 0):
        raise ValueError("every sequence must hold at least one frame")
    return n_frames, n_states, len(bounds) - 1


def _check_output(array, shape, name):
    if array is None:
        return
    if (
        not isinstance(array, np.ndarray)
        or array.shape != shape
        or array.dtype != np.float64
        or not array.flags.c_contiguous
    ):
        raise ValueError(f"{name} must be a C-contiguous float64 array of shape {shape}")


def _max_length(bounds):
    return int(np.max(np.diff(np.asarray(bounds)))) if len(bounds) > 1 else 0


def _padded_states(K):
    """K rounded up to whole vectors of states."""
    return (K + FM_W - 1) // FM_W * FM_W


def _padded_chain(startprob, transmat, kp):
    """(3, K, kp): the transition matrix, its transpose and (row 0) the start
    probabilities, zeros past column K."""
    K = transmat.shape[0]
    padded = np.zeros((3, K, kp))
    padded[0, :, :K] = transmat
    padded[1, :, :K] = transmat.T
    padded[2, 0, :K] = startprob
    return padded


def _block_log_frameprob(frame_log_prob, b, K, expected_length):
    """Block ``b`` 's log-probabilities, checked: C-contiguous float64 (F, K), F > 0
    (and the length of the first read, on the second)."""
    block = frame_log_prob(b)
    if (
        not isinstance(block, np.ndarray)
        or block.dtype != np.float64
        or block.ndim != 2
        or block.shape[1] != K
        or block.shape[0] < 1
        or not block.flags.c_contiguous
    ):
        raise ValueError(
            f"frame_log_prob({b}) must give a C-contiguous float64 array of "
            f"shape (n_frames >= 1, {K})"
        )
    if expected_length is not None and block.shape[0] != expected_length:
        raise ValueError(
            f"frame_log_prob({b}) gave {block.shape[0]} frames, and "
            f"{expected_length} on the forward pass"
        )
    return block


# --- public entry points --------------------------------------------------------------


def forward_backward(
    const double[:, ::1] log_frameprob,
    const long long[::1] bounds,
    const double[::1] startprob,
    const double[:, ::1] transmat,
    sequence_weight,
    int n_threads,
    double[:, ::1] posteriors,
    double[::1] log_prob,
    start_counts,
    trans_counts,
):
    """Posteriors, log-likelihoods and expected counts of every sequence; see
    ``_reference.markov.forward_backward``."""
    cdef Py_ssize_t n, K, n_seq
    n, K, n_seq = _check_chain(
        np.asarray(log_frameprob), bounds, np.asarray(startprob), np.asarray(transmat)
    )
    if posteriors.shape[0] != n or posteriors.shape[1] != K:
        raise ValueError("posteriors has the wrong shape")
    if log_prob.shape[0] != n_seq:
        raise ValueError("log_prob has the wrong length")
    _check_output(start_counts, (K,), "start_counts")
    _check_output(trans_counts, (K, K), "trans_counts")
    if (start_counts is None) != (trans_counts is None):
        raise ValueError("start_counts and trans_counts go together")
    cdef bint counting = start_counts is not None
    cdef const double[::1] weights
    cdef const double *weight_ptr = NULL
    if sequence_weight is not None:
        weights = np.ascontiguousarray(sequence_weight, dtype=np.float64)
        if weights.shape[0] != n_seq:
            raise ValueError("sequence_weight has the wrong length")
        weight_ptr = &weights[0]
    # The chain padded to kp states (zeros past K) for the vector loops, and its logs
    # for sequences that leave scaled space.
    cdef Py_ssize_t kp = _padded_states(K)
    trans_array = np.asarray(transmat)
    padded = _padded_chain(startprob, trans_array, kp)
    with np.errstate(divide="ignore"):
        log_start_array = np.log(np.asarray(startprob))
        log_trans_array = np.ascontiguousarray(np.log(trans_array))
    cdef const double[:, :, ::1] chain = padded
    cdef const double[::1] log_start = log_start_array
    cdef const double[:, ::1] log_trans = log_trans_array
    if counting:
        start_counts[...] = 0.0
        trans_counts[...] = 0.0
    if n_seq == 0:
        return

    # Fixed groups of consecutive sequences, sized by the problem (never by the
    # threads); each group's counts: start (K), sum_t alpha_t u_t^T of the scaled
    # sequences (K x kp, A .* it their transitions) and the transitions of the
    # sequences run in log space (K x K).
    cdef Py_ssize_t outer_at = K, log_xi_at = K + K * kp
    cdef Py_ssize_t stats_len = log_xi_at + K * K
    cdef Py_ssize_t max_groups = max(
        1, min(MAX_BLOCKS, PARTIALS_BYTES // (8 * stats_len))
    )
    cdef Py_ssize_t per_group = (n_seq + max_groups - 1) // max_groups
    cdef Py_ssize_t n_groups = (n_seq + per_group - 1) // per_group
    cdef double[:, ::1] partials = np.zeros((n_groups if counting else 1, stats_len))
    # Per thread: b_t / s_t of the longest sequence (kp each), five kp-vectors, one
    # K-vector, a sequence's K x kp outer products and its K x K transitions.
    cdef Py_ssize_t longest = _max_length(bounds)
    cdef Py_ssize_t scratch_len = longest * kp + 5 * kp + K + K * kp + K * K
    cdef Py_ssize_t n_undone = 0  # groups of threads whose scratch malloc failed
    cdef const double *L_ptr = &log_frameprob[0, 0]
    cdef double *P_ptr = &posteriors[0, 0]
    cdef const long long *bounds_ptr = &bounds[0]
    cdef const double *trans_ptr = &chain[0, 0, 0]
    cdef const double *transposed_ptr = &chain[1, 0, 0]
    cdef const double *start_ptr = &chain[2, 0, 0]
    cdef const double *log_start_ptr = &log_start[0]
    cdef const double *log_trans_ptr = &log_trans[0, 0]
    cdef double *lp_ptr = &log_prob[0]
    cdef Py_ssize_t g, s, e, k, lo, T
    cdef int failed
    cdef double w, ll
    cdef double *scratch
    cdef double *scaled
    cdef double *pred
    cdef double *beta
    cdef double *nxt
    cdef double *u
    cdef double *v
    cdef double *buf
    cdef double *outer
    cdef double *xi
    cdef double *part

    with nogil, parallel(num_threads=n_threads):
        scratch = <double *> malloc(scratch_len * sizeof(double))
        if scratch != NULL:
            scaled = scratch
            pred = scaled + longest * kp
            beta = pred + kp
            nxt = beta + kp
            u = nxt + kp
            v = u + kp
            buf = v + kp
            outer = buf + K
            xi = outer + K * kp
        for g in prange(n_groups, schedule="dynamic"):
            if scratch == NULL:  # the thread still takes its share of the loop
                n_undone += 1
                continue
            part = &partials[g if counting else 0, 0]
            for s in range(g * per_group, min((g + 1) * per_group, n_seq)):
                lo = bounds_ptr[s]
                T = bounds_ptr[s + 1] - lo
                if counting:
                    memset(outer, 0, K * kp * sizeof(double))
                failed = fm_forward_scaled(
                    L_ptr + lo * K, T, K, kp, start_ptr, trans_ptr, P_ptr + lo * K,
                    scaled, pred, &ll,
                )
                if not failed:
                    failed = fm_backward_scaled(
                        T, K, kp, transposed_ptr, P_ptr + lo * K, scaled,
                        outer if counting else NULL, beta, nxt, u, v,
                    )
                if failed:
                    # Rare: scaling underflowed (or overflowed) on this sequence.
                    ll = fm_forward_backward_log(
                        L_ptr + lo * K, T, K, log_start_ptr, log_trans_ptr,
                        P_ptr + lo * K, xi if counting else NULL, buf, beta, nxt,
                    )
                lp_ptr[s] = ll
                if not counting or not (ll > -INFINITY):
                    continue
                w = 1.0 if weight_ptr == NULL else weight_ptr[s]
                for k in range(K):
                    part[k] += w * P_ptr[lo * K + k]
                if failed:
                    for e in range(K * K):
                        part[log_xi_at + e] += w * xi[e]
                else:
                    for e in range(K * kp):
                        part[outer_at + e] += w * outer[e]
        free(scratch)
    if n_undone:
        raise MemoryError(
            f"cannot allocate the {scratch_len * 8 / 2**20:.0f} MiB of scratch each "
            f"thread needs for sequences of up to {longest} frames"
        )
    if counting:
        # Groups are added in order: the same bits for any number of threads.
        total = np.zeros(stats_len)
        for g in range(n_groups):
            total += partials[g]
        start_counts[...] = total[:K]
        outer_total = total[outer_at:log_xi_at].reshape(K, kp)[:, :K]
        trans_counts[...] = (
            trans_array * outer_total + total[log_xi_at:].reshape(K, K)
        )


def viterbi(
    double[:, ::1] log_frameprob,
    const long long[::1] bounds,
    const double[::1] log_startprob,
    const double[:, ::1] log_transmat,
    int n_threads,
    long long[::1] states,
    double[::1] log_prob,
):
    """The most probable state path of every sequence; see
    ``_reference.markov.viterbi``."""
    cdef Py_ssize_t n, K, n_seq
    n, K, n_seq = _check_chain(
        np.asarray(log_frameprob), bounds, np.asarray(log_startprob),
        np.asarray(log_transmat),
    )
    if states.shape[0] != n:
        raise ValueError("states has the wrong length")
    if log_prob.shape[0] != n_seq:
        raise ValueError("log_prob has the wrong length")
    if n_seq == 0:
        return
    cdef Py_ssize_t n_undone = 0
    cdef double *L_ptr = &log_frameprob[0, 0]
    cdef const long long *bounds_ptr = &bounds[0]
    cdef const double *log_start_ptr = &log_startprob[0]
    cdef const double *log_trans_ptr = &log_transmat[0, 0]
    cdef long long *states_ptr = &states[0]
    cdef double *lp_ptr = &log_prob[0]
    cdef Py_ssize_t s, lo, T
    cdef double *buf
    with nogil, parallel(num_threads=n_threads):
        buf = <double *> malloc(K * sizeof(double))
        for s in prange(n_seq, schedule="dynamic"):
            if buf == NULL:
                n_undone += 1
                continue
            lo = bounds_ptr[s]
            T = bounds_ptr[s + 1] - lo
            lp_ptr[s] = fm_viterbi(
                L_ptr + lo * K, T, K, log_start_ptr, log_trans_ptr, buf,
                states_ptr + lo,
            )
        free(buf)
    if n_undone:
        raise MemoryError("cannot allocate the scratch of the Viterbi threads")


def forward_backward_blocks(
    frame_log_prob,
    Py_ssize_t n_blocks,
    const double[::1] startprob,
    const double[:, ::1] transmat,
    double weight,
    posteriors_done,
    start_counts,
    trans_counts,
):
    """Forward-backward of one sequence read in blocks of frames, with checkpoints;
    see ``_reference.markov.forward_backward_blocks``.

    The scaled recursions of ``forward_backward``, in the same order: the forward
    pass keeps the normalised alpha of each block's last frame (the checkpoints),
    the backward pass recomputes each block's alpha from the checkpoint before it,
    so the posteriors, counts and log-likelihood have ``forward_backward`` 's bits
    for the sequence whole. Returns None where a scale underflows or a backward
    variable overflows (before any block's posteriors are handed over if in the
    forward pass): the caller then runs the sequence whole, in log space.
    """
    cdef Py_ssize_t K = startprob.shape[0]
    if transmat.shape[0] != K or transmat.shape[1] != K:
        raise ValueError(
            f"transmat {np.shape(transmat)} does not match {K} states"
        )
    if n_blocks < 1:
        raise ValueError("a sequence holds at least one block of frames")
    _check_output(start_counts, (K,), "start_counts")
    _check_output(trans_counts, (K, K), "trans_counts")
    if (start_counts is None) != (trans_counts is None):
        raise ValueError("start_counts and trans_counts go together")
    cdef bint counting = start_counts is not None
    cdef Py_ssize_t kp = _padded_states(K)
    trans_array = np.asarray(transmat)
    cdef const double[:, :, ::1] chain = _padded_chain(startprob, trans_array, kp)
    cdef double[:, ::1] checkpoints = np.empty((n_blocks, K))
    cdef double[::1] pred = np.zeros(kp)
    cdef double[::1] beta = np.zeros(kp)
    cdef double[::1] nxt = np.zeros(kp)
    cdef double[::1] u = np.zeros(kp)
    cdef double[::1] v = np.zeros(kp)
    cdef double[:, ::1] outer = np.zeros((K, kp))
    cdef double *outer_ptr = &outer[0, 0] if counting else NULL
    cdef const double[:, ::1] L
    cdef double[:, ::1] alpha
    cdef double[:, ::1] scaled
    cdef const double *previous
    cdef double total = 0.0, product = 1.0, ignored_total, ignored_product
    cdef Py_ssize_t b, F, k
    cdef int failed
    lengths = []
    for b in range(n_blocks):
        L = _block_log_frameprob(frame_log_prob, b, K, None)
        F = L.shape[0]
        lengths.append(F)
        alpha = np.empty((F, K))
        scaled = np.empty((F, kp))
        previous = NULL if b == 0 else &checkpoints[b - 1, 0]
        with nogil:
            failed = fm_forward_block(
                &L[0, 0], F, K, kp, &chain[2, 0, 0], previous, &chain[0, 0, 0],
                &alpha[0, 0], &scaled[0, 0], &pred[0], &total, &product,
            )
        if failed:
            return None
        checkpoints[b, :] = alpha[F - 1, :]
    log_prob = total + np.log(product)
    if posteriors_done is None and not counting:
        return log_prob
    for k in range(K):
        nxt[k] = 1.0  # beta_{T-1}
    for b in range(n_blocks - 1, -1, -1):
        L = _block_log_frameprob(frame_log_prob, b, K, lengths[b])
        F = L.shape[0]
        alpha = np.empty((F, K))
        scaled = np.empty((F, kp))
        previous = NULL if b == 0 else &checkpoints[b - 1, 0]
        ignored_total, ignored_product = 0.0, 1.0
        with nogil:
            failed = fm_forward_block(
                &L[0, 0], F, K, kp, &chain[2, 0, 0], previous, &chain[0, 0, 0],
                &alpha[0, 0], &scaled[0, 0], &pred[0], &ignored_total,
                &ignored_product,
            )
            if not failed:
                failed = fm_backward_block(
                    F, K, kp, &chain[1, 0, 0], &alpha[0, 0], previous,
                    &scaled[0, 0], outer_ptr, &beta[0], &nxt[0], &u[0], &v[0],
                )
        if failed:
            return None
        if posteriors_done is not None:
            posteriors_done(b, np.asarray(alpha))  # alpha now holds the posteriors
        if b == 0 and counting:
            start_counts[...] = weight * np.asarray(alpha[0])
    if counting:
        trans_counts[...] = trans_array * (
            weight * np.asarray(outer)[:, :K]
        )
    return log_prob
