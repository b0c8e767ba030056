"""Hooks of the WapiFlow provider."""
