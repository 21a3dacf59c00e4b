"""Out-of-core fit of a memory-mapped .npy larger than the memory it may use.

Writes N rows x d float32 drawn from a K-component mixture to a .npy file (once; kept
with --keep), then fits GaussianMixture(K, covariance_type="full") on
``np.load(path, mmap_mode="r")`` in a child process, and reports that process's peak
resident memory, the time of the initialisation (a sample of 100,000 rows, read in one
pass) and of each EM iteration (one pass), and the rate at which each pass read the
file. Page cache: --drop-caches empties it before the fit (root only), so that the
first pass reads from disk; the child's /proc/self/io tells how much it really read.

    python benchmarks/out_of_core.py                      # N = 1e8: 3.2 GB
    python benchmarks/out_of_core.py --n-samples 1e6      # a quick look
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

N_FEATURES, N_COMPONENTS = 8, 16
WRITE_ROWS = 2_000_000


def write_data(path, n_samples, seed=0):
    """A .npy of n_samples rows of a well separated mixture, written in chunks."""
    rng = np.random.default_rng(seed)
    means = 6.0 * rng.normal(size=(N_COMPONENTS, N_FEATURES))
    scales = rng.uniform(0.5, 1.5, size=(N_COMPONENTS, N_FEATURES))
    out = np.lib.format.open_memmap(
        path, mode="w+", dtype=np.float32, shape=(n_samples, N_FEATURES)
    )
    for start in range(0, n_samples, WRITE_ROWS):
        rows = min(WRITE_ROWS, n_samples - start)
        labels = rng.integers(N_COMPONENTS, size=rows)
        noise = rng.standard_normal(size=(rows, N_FEATURES), dtype=np.float32)
        out[start : start + rows] = means[labels] + scales[labels] * noise
    out.flush()
    del out


def read_bytes():
    """Bytes this process caused to be read from storage (Linux), else None."""
    try:
        with open("/proc/self/io") as io:
            fields = dict(line.split(": ") for line in io.read().splitlines())
        return int(fields["read_bytes"])
    except OSError:
        return None


def peak_resident_bytes():
    """This process's peak resident memory: VmHWM on Linux, which a new program
    starts afresh (ru_maxrss keeps the high-water mark of the process that forked it
    across exec, here the writer's), else ru_maxrss."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def child(path, n_iter):
    """Fit in this process (a fresh one) and print the measurements as JSON."""
    from fastem import GaussianMixture
    from fastem._engine import streams

    timings = []
    accumulate = streams.ChunkSource.accumulate

    def timed_accumulate(self, *args):
        start, disk = time.perf_counter(), read_bytes()
        stats = accumulate(self, *args)
        disk_after = read_bytes()
        timings.append(
            {
                "seconds": time.perf_counter() - start,
                "disk_bytes": None if disk is None else disk_after - disk,
            }
        )
        return stats

    streams.ChunkSource.accumulate = timed_accumulate
    X = np.load(path, mmap_mode="r")
    model = GaussianMixture(N_COMPONENTS, max_iter=n_iter, tol=0.0, random_state=0)
    start, disk = time.perf_counter(), read_bytes()
    model.fit(X)
    total = time.perf_counter() - start
    peak_rss = peak_resident_bytes()
    print(
        json.dumps(
            {
                "total_seconds": total,
                "init_seconds": total - sum(t["seconds"] for t in timings),
                "iterations": timings,
                "disk_bytes_total": None if disk is None else read_bytes() - disk,
                "peak_rss_bytes": peak_rss,
                "lower_bound": model.lower_bound_,
            }
        )
    )


def drop_caches():
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as control:
            control.write("3\n")
        return True
    except OSError:
        return False


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=float, default=1e8)
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--path", default="/tmp/fastem_out_of_core.npy")
    parser.add_argument("--keep", action="store_true", help="keep the data file")
    parser.add_argument("--drop-caches", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.path, args.iterations)
        return
    n_samples = int(args.n_samples)
    size = n_samples * N_FEATURES * 4
    if not os.path.exists(args.path) or os.path.getsize(args.path) < size:
        start = time.perf_counter()
        write_data(args.path, n_samples)
        print(f"wrote {size / 1e9:.2f} GB in {time.perf_counter() - start:.0f} s")
    dropped = args.drop_caches and drop_caches()
    try:
        result = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                "--path",
                args.path,
                "--iterations",
                str(args.iterations),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    finally:
        if not args.keep:
            os.remove(args.path)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    print(
        f"N = {n_samples:.0e}, d = {N_FEATURES}, K = {N_COMPONENTS}, float32 on "
        f"disk: {size / 1e9:.2f} GB; CPUs: {os.cpu_count()}, load average "
        f"{os.getloadavg()[0]:.1f}; page cache "
        f"{'dropped before the fit' if dropped else 'not dropped (warm or partly)'}"
    )
    print(
        f"peak resident memory of the fitting process: "
        f"{report['peak_rss_bytes'] / 2**20:.0f} MiB"
    )
    init_disk = report["disk_bytes_total"]
    if init_disk is not None:
        init_disk -= sum(timing["disk_bytes"] for timing in report["iterations"])
    print(
        f"initialisation (one pass for a 100,000-row sample, k-means on it): "
        f"{report['init_seconds']:.1f} s"
        + ("" if init_disk is None else f", {init_disk / 1e9:.2f} GB from disk")
    )
    for i, timing in enumerate(report["iterations"], 1):
        disk = timing["disk_bytes"]
        from_disk = "" if disk is None else f", {disk / 1e9:.2f} GB from disk"
        print(
            f"EM iteration {i}: {timing['seconds']:.1f} s, "
            f"{size / timing['seconds'] / 1e6:.0f} MB/s through the kernel{from_disk}"
        )
    print(f"mean log-likelihood {report['lower_bound']:.6f}")


if __name__ == "__main__":
    main()
