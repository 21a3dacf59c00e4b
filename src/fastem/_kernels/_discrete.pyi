import numpy as np
import scipy.sparse
from numpy.typing import NDArray

__all__ = ["accumulate", "count_non_binary", "score"]

def accumulate(
    X: NDArray[np.floating] | scipy.sparse.csr_matrix | scipy.sparse.csr_array,
    sample_weight: NDArray[np.float64] | None,
    log_weights: NDArray[np.float64],
    A: NDArray[np.float64],
    b: NDArray[np.float64],
    B: NDArray[np.float64] | None,
    coefficient: bool,
    n_threads: int,
    nk: NDArray[np.float64],
    s: NDArray[np.float64],
    m: NDArray[np.float64] | None,
) -> float: ...
def count_non_binary(X: NDArray[np.floating]) -> int: ...
def score(
    X: NDArray[np.floating] | scipy.sparse.csr_matrix | scipy.sparse.csr_array,
    log_weights: NDArray[np.float64],
    A: NDArray[np.float64],
    b: NDArray[np.float64],
    B: NDArray[np.float64] | None,
    coefficient: bool,
    n_threads: int,
    log_prob: NDArray[np.float64] | None,
    resp: NDArray[np.float64] | None,
    labels: NDArray[np.intp] | None,
) -> None: ...
