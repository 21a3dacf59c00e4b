import numpy as np
from numpy.typing import NDArray

__all__ = ["accumulate", "component_log_prob", "exp", "score", "stats_given"]

def accumulate(
    X: NDArray[np.floating],
    sample_weight: NDArray[np.float64] | None,
    means: NDArray[np.float64],
    precisions_chol: NDArray[np.float64],
    log_norm: NDArray[np.float64],
    covariance_type: str,
    n_threads: int,
    nk: NDArray[np.float64],
    s1: NDArray[np.float64],
    s2: NDArray[np.float64],
) -> float: ...
def score(
    X: NDArray[np.floating],
    means: NDArray[np.float64],
    precisions_chol: NDArray[np.float64],
    log_norm: NDArray[np.float64],
    covariance_type: str,
    n_threads: int,
    log_prob_norm: NDArray[np.float64],
    resp: NDArray[np.float64] | None,
    labels: NDArray[np.int64] | None,
) -> None: ...
def component_log_prob(
    X: NDArray[np.floating],
    means: NDArray[np.float64],
    precisions_chol: NDArray[np.float64],
    log_norm: NDArray[np.float64],
    covariance_type: str,
    n_threads: int,
    out: NDArray[np.float64],
) -> None: ...
def stats_given(
    X: NDArray[np.floating],
    sample_weight: NDArray[np.float64] | None,
    resp: NDArray[np.float64],
    means: NDArray[np.float64],
    covariance_type: str,
    n_threads: int,
    nk: NDArray[np.float64],
    s1: NDArray[np.float64],
    s2: NDArray[np.float64],
) -> None: ...
def exp(x: NDArray[np.float64], out: NDArray[np.float64], n_threads: int) -> None: ...
