"""`conformance bench`: latency and throughput benchmarks of chat endpoints (README, section Benchmarks).

scenario     suites/bench/*.yaml → `Scenario` (schema: scenario.schema.json)
bodies       the scenario's requests, pre-built as HTTP bytes
httpclient   the lean load-generation client (kernel receive timestamps)
loadgen      closed loop, constant and Poisson rates, steps, worker processes
events       what each SSE event was (after the request), and the server's usage
samples      the raw-sample file (JSONL)
metrics      every figure, from the raw samples
report, svg  report.json, report.md, report.html with SVG plots
baseline     --baseline comparison
calibrate    --calibrate: the client's own bias and ceiling
stubserver   a lean stand-in server with known delays and write stamps
servers      the reference and stub servers in their own processes
locust_plugin  the Locust integration (imported by locustfile.py only)
"""
