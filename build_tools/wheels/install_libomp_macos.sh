#!/usr/bin/env bash
# The OpenMP runtime for the macOS wheels (cibuildwheel's before-all).
#
# Apple clang compiles OpenMP (-Xpreprocessor -fopenmp) but ships no runtime. Homebrew's
# libomp is built for the runner's macOS, newer than the wheels' deployment target, so
# delocate would refuse to vendor it; conda-forge's llvm-openmp 11.1.0 is built for
# macOS 10.9 (x86_64) and 11.0 (arm64), older than the targets in pyproject.toml (10.13,
# 12.0), as scikit-learn's wheels use. It is unpacked where meson's Apple clang OpenMP
# dependency looks for Homebrew's libomp when Homebrew has none installed.
set -euo pipefail

case "$(uname -m)" in
    x86_64)
        url=https://anaconda.org/conda-forge/llvm-openmp/11.1.0/download/osx-64/llvm-openmp-11.1.0-hda6cdc1_1.tar.bz2
        prefix=/usr/local/opt/libomp
        ;;
    arm64)
        url=https://anaconda.org/conda-forge/llvm-openmp/11.1.0/download/osx-arm64/llvm-openmp-11.1.0-hf3c4609_1.tar.bz2
        prefix=/opt/homebrew/opt/libomp
        ;;
    *)
        echo "no libomp for $(uname -m)" >&2
        exit 1
        ;;
esac

if command -v brew >/dev/null && brew list libomp >/dev/null 2>&1; then
    brew uninstall --ignore-dependencies libomp
fi
sudo rm -rf "$prefix"
sudo mkdir -p "$prefix"
curl --fail --silent --show-error --location "$url" | sudo tar -xj -C "$prefix" include lib
ls -l "$prefix/include/omp.h" "$prefix/lib/libomp.dylib"
