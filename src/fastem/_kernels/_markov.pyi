from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

__all__ = ["forward_backward", "forward_backward_blocks", "viterbi"]

def forward_backward(
    log_frameprob: NDArray[np.float64],
    bounds: NDArray[np.int64],
    startprob: NDArray[np.float64],
    transmat: NDArray[np.float64],
    sequence_weight: NDArray[np.float64] | None,
    n_threads: int,
    posteriors: NDArray[np.float64],
    log_prob: NDArray[np.float64],
    start_counts: NDArray[np.float64] | None,
    trans_counts: NDArray[np.float64] | None,
) -> None: ...
def viterbi(
    log_frameprob: NDArray[np.float64],
    bounds: NDArray[np.int64],
    log_startprob: NDArray[np.float64],
    log_transmat: NDArray[np.float64],
    n_threads: int,
    states: NDArray[np.int64],
    log_prob: NDArray[np.float64],
) -> None: ...
def forward_backward_blocks(
    frame_log_prob: Callable[[int], NDArray[np.float64]],
    n_blocks: int,
    startprob: NDArray[np.float64],
    transmat: NDArray[np.float64],
    weight: float,
    posteriors_done: Callable[[int, NDArray[np.float64]], None] | None,
    start_counts: NDArray[np.float64] | None,
    trans_counts: NDArray[np.float64] | None,
) -> float | None: ...
