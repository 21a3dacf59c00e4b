"""
===================================
Out-of-core fitting of a memory map
===================================

EM only needs sums over the rows, and sums can be taken a chunk at a time, so fastem
fits data on disk without loading it: pass a memory map where you would pass an
array. Here we write a million rows to a ``.npy`` file, open it with
``mmap_mode="r"``, and fit it beside the same rows loaded into memory, from the same
start. The two fits agree to rounding; the memory map's fit allocates almost
nothing, since the rows are read a chunk at a time and their pages handed back to
the operating system.

As a script, with fewer rows and the figure saved::

    python examples/large_data/plot_out_of_core.py --n-samples 20000 \\
        --output out_of_core.png
"""

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from fastem import GaussianMixture
from fastem.plot import plot_components_2d

parser = argparse.ArgumentParser(description="Out-of-core fitting of a memory map.")
parser.add_argument("--n-samples", type=int, default=1_000_000, help="rows")
parser.add_argument("--n-components", type=int, default=5)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--output", help="save the figure to this file")
args = parser.parse_args()

# %%
# Write the rows to a file, a block at a time
# -------------------------------------------
# ``np.lib.format.open_memmap`` creates a ``.npy`` file of the final size; each
# block of rows is generated and written without ever holding them all.
directory = tempfile.TemporaryDirectory()
path = Path(directory.name) / "rows.npy"
rng = np.random.default_rng(args.seed)
centres = rng.uniform(-10, 10, (args.n_components, 4))
on_disk = np.lib.format.open_memmap(
    path, mode="w+", dtype=np.float32, shape=(args.n_samples, 4)
)
for start in range(0, args.n_samples, 100_000):
    stop = min(start + 100_000, args.n_samples)
    labels = rng.integers(args.n_components, size=stop - start)
    on_disk[start:stop] = centres[labels] + rng.normal(size=(stop - start, 4))
on_disk.flush()
del on_disk
print(f"{args.n_samples} rows x 4 float32: {path.stat().st_size / 2**20:.1f} MiB")

# %%
# Fit the memory map, and the same rows in memory
# -----------------------------------------------
# The same start for both: given weights, means and precisions, so neither fit
# runs k-means (in memory it would use every row, out of core a sample of
# ``init_sample_size`` rows) and the two runs are the same EM. ``tracemalloc``
# counts the memory NumPy allocates during each fit (for the in-memory fit, the
# rows loaded into memory included).
start = {
    "weights_init": np.full(args.n_components, 1 / args.n_components),
    "means_init": centres + 0.5,
    "precisions_init": np.tile(np.eye(4), (args.n_components, 1, 1)),
}


def measured_fit(load):
    tracemalloc.start()
    begin = time.perf_counter()
    X = load()
    model = GaussianMixture(args.n_components, **start).fit(X)
    seconds = time.perf_counter() - begin
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return model, seconds, peak


mapped, mapped_s, mapped_mib = measured_fit(lambda: np.load(path, mmap_mode="r"))
loaded, loaded_s, loaded_mib = measured_fit(lambda: np.load(path))
print(f"memory map: {mapped_s:.2f} s, {mapped_mib:.1f} MiB allocated at the peak")
print(f"in memory:  {loaded_s:.2f} s, {loaded_mib:.1f} MiB allocated at the peak")
difference = np.max(np.abs(mapped.means_ - loaded.means_))
print(
    f"same EM: {mapped.n_iter_} and {loaded.n_iter_} iterations, means within "
    f"{difference:.1e}"
)

# %%
# Predicting, chunk by chunk too
# ------------------------------
# ``predict``, ``predict_proba`` and ``score_samples`` of a memory map also read
# it a chunk at a time, and return in-memory arrays. We draw a sample of the rows
# with their components.
X_file = np.load(path, mmap_mode="r")
labels = mapped.predict(X_file)
shown = rng.choice(args.n_samples, min(5000, args.n_samples), replace=False)
fig, ax = plt.subplots(figsize=(6.5, 5))
plot_components_2d(mapped, np.asarray(X_file[np.sort(shown)]), ax=ax)
ax.set_title(f"{args.n_components} components of the memory map (features 0, 1)")
print("rows per component:", np.bincount(labels, minlength=args.n_components))
fig.tight_layout()

del X_file
directory.cleanup()

if args.output:
    fig.savefig(args.output, dpi=80)
    print(f"wrote {args.output}")
