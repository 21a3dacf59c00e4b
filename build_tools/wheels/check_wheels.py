"""Check built fastem wheels: OpenMP on, its runtime vendored, every kernel present.

Usage: ``python build_tools/wheels/check_wheels.py WHEEL [WHEEL ...]``; exits 1 naming
each problem. Run on repaired wheels (auditwheel, delocate, delvewheel), which carry
the OpenMP runtime the kernels link to: libgomp on Linux, libomp on macOS, vcomp140 on
Windows.
"""

import fnmatch
import re
import sys
import zipfile
from pathlib import PurePosixPath

# Platform tag -> where each repair tool puts the OpenMP runtime it vendors.
OPENMP_RUNTIMES = {
    "manylinux": "fastem.libs/libgomp*.so*",
    "macosx": "fastem/.dylibs/libomp*.dylib",
    "win": "fastem.libs/vcomp140*.dll",
}
# The kernel modules meson.build compiles three times on x86-64 (hot_kernels).
HOT_KERNELS = ("_discrete", "_gaussian", "_kmeans_plusplus", "_markov")
KERNELS = (*HOT_KERNELS, "_platform")
X86_64_KERNELS = tuple(
    f"{kernel}_x86_64_{level}" for kernel in HOT_KERNELS for level in ("v3", "v4")
)


def wheel_problems(path):
    """What is wrong with the wheel at ``path`` (an empty list: nothing)."""
    platform_tag = PurePosixPath(path).name.removesuffix(".whl").split("-")[-1]
    with zipfile.ZipFile(path) as wheel:
        names = wheel.namelist()
        build_info = wheel.read("fastem/_build_info.py").decode()
    problems = []
    if not re.search(r"^OPENMP = True$", build_info, re.MULTILINE):
        problems.append("built without OpenMP (fastem/_build_info.py)")
    runtime = next(
        (
            pattern
            for prefix, pattern in OPENMP_RUNTIMES.items()
            if platform_tag.startswith(prefix)
        ),
        None,
    )
    if runtime is None:
        problems.append(f"unknown platform tag {platform_tag!r}: not a repaired wheel")
    elif not fnmatch.filter(names, runtime):
        problems.append(f"no vendored OpenMP runtime ({runtime})")
    modules = {
        PurePosixPath(name).name.split(".")[0]
        for name in names
        if name.startswith("fastem/_kernels/") and name.endswith((".so", ".pyd"))
    }
    # x86-64-v3 and v4 variants: GCC and Clang on x86-64; never MSVC, aarch64 or
    # arm64.
    expected = set(KERNELS)
    if platform_tag.endswith("x86_64"):
        expected |= set(X86_64_KERNELS)
    if modules != expected:
        problems.append(
            f"compiled kernels {sorted(modules)}, expected {sorted(expected)}"
        )
    return problems


def main(paths):
    if not paths:
        sys.exit(__doc__)
    failed = False
    for path in paths:
        problems = wheel_problems(path)
        failed |= bool(problems)
        for problem in problems:
            print(f"{path}: {problem}", file=sys.stderr)
        if not problems:
            print(f"{path}: OpenMP on, runtime vendored, kernels present")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main(sys.argv[1:])
