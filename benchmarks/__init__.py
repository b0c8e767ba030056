"""Benchmarks of the WapiFlow provider against the simulator with injected latency (``make bench``)."""
