"""Locust entry point of `conformance bench`: the bench scenarios and LLM metrics on Locust's engine.

    .venv/bin/locust -f locustfile.py --headless -u 64 -r 64 -t 30s --host http://127.0.0.1:8000/v1 \
        --bench-scenario chat-stream

See conformance/bench/locust_plugin.py and README.md, section Benchmarks (master and workers).
"""
from conformance.bench.locust_plugin import LLMUser  # noqa: F401  (the user class Locust runs)
