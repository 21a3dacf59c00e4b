import numpy as np
from numpy.typing import NDArray

__all__ = ["kmeanspp_potentials", "kmeanspp_searchsorted"]

def kmeanspp_potentials(
    X: NDArray[np.floating],
    sample_weight: NDArray[np.float64] | None,
    last_center: int,
    candidates: NDArray[np.intp],
    block_rows: int,
    n_threads: int,
    closest: NDArray[np.float64],
    block_sums: NDArray[np.float64],
) -> None: ...
def kmeanspp_searchsorted(
    X: NDArray[np.floating],
    sample_weight: NDArray[np.float64] | None,
    last_center: int,
    closest: NDArray[np.float64],
    block_cumsum: NDArray[np.float64],
    targets: NDArray[np.float64],
    block_rows: int,
    candidates: NDArray[np.intp],
) -> None: ...
