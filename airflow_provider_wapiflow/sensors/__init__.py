"""Sensors of the WapiFlow provider."""
