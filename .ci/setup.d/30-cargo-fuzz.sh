#!/usr/bin/env bash
# cargo-fuzz for the brief fuzz smoke run of scripts/test.d/20-fuzz-smoke.sh.
# It works on the stable toolchain: the smoke script sets RUSTC_BOOTSTRAP=1
# so that cargo-fuzz may pass -Zsanitizer/-Cpasses flags to rustc, and the
# sanitizer runtimes ship with the stable x86_64-unknown-linux-gnu toolchain.
# libfuzzer-sys compiles libFuzzer (C++), so a C++ compiler is needed too.
# Installing cargo-fuzz compiles it (about a minute on 2 cores). Idempotent.
set -euo pipefail

CARGO_FUZZ_VERSION=0.13.2

command -v c++ >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq g++; }

installed="$(cargo fuzz --version 2>/dev/null | awk '{print $2}' || true)"
if [ "$installed" != "$CARGO_FUZZ_VERSION" ]; then
  cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi
cargo fuzz --version
