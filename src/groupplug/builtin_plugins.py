"""The plugins groupplug registers itself, as ordinary plugins (the adapters arrive by entry point)."""

from __future__ import annotations

from . import local_engine

BUILTINS = [("local", local_engine)]
