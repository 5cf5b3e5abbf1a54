"""Test doubles of launcher's adapters that the tests and benchmarks share."""
