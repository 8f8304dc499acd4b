"""Thin entry points: HTTP API, command line, worker. Parse, call one service, render."""
