#!/usr/bin/env bash
# Toolchain components the checks need (fmt and clippy ship with rustup's
# default profile; add them if a minimal profile is installed).
set -euo pipefail
if command -v rustup >/dev/null 2>&1; then
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
fi
command -v cc >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq build-essential; }
