"""Fuzzing the reference server: hostile requests (`hostile`), what may answer them (`judge`).

`python -m conformance.server.fuzz` is the long run against a server in its own process
(`conformance.server.fuzz.__main__`); `tests/server/test_fuzz.py` is the bounded one.
"""
