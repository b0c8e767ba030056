"""Triggers of the WapiFlow provider."""
