"""Operators of the WapiFlow provider."""
