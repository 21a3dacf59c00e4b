import numpy as np
import scipy.sparse
from numpy.typing import NDArray

__all__ = ["accumulate", "score"]

def accumulate(
    X: NDArray[np.floating] | scipy.sparse.csr_matrix | scipy.sparse.csr_array,
    sample_weight: NDArray[np.float64] | None,
    loadings: NDArray[np.float64],
    mean: NDArray[np.float64],
    noise_variance: NDArray[np.float64],
    n_threads: int,
    per_feature: NDArray[np.float64],
    shared: NDArray[np.float64],
) -> float: ...
def score(
    X: NDArray[np.floating] | scipy.sparse.csr_matrix | scipy.sparse.csr_array,
    loadings: NDArray[np.float64],
    mean: NDArray[np.float64],
    noise_variance: NDArray[np.float64],
    n_threads: int,
    log_prob: NDArray[np.float64] | None,
    factors: NDArray[np.float64] | None,
) -> None: ...
