"""Notifications of the WapiFlow provider."""
