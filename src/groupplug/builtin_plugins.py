"""Plugins groupplug registers itself, as ordinary plugins (adapters come by entry point)."""

from __future__ import annotations

from . import local_engine

BUILTINS = [("local", local_engine)]
