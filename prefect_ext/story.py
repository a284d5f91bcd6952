"""``groupplug -v run ... --engine prefect``: the run's story, not every HTTP request.

At INFO, httpx logs one line per API call (31 for a one-task workflow, measured); the story is
groups starting and ending, barriers released and members stopped and why. The group driver
logs barrier releases and stops itself; this module adds group and member state changes through
groupplug's own hooks, and quiets the HTTP client loggers while a run goes on.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from groupplug import hookimpl
from groupplug.states import GroupState, MemberState

log = logging.getLogger("groupplug.prefect.story")

#: Loggers that speak per request, not per step of the run.
CHATTY = ("httpx", "httpcore", "websockets", "prefect.client", "prefect.events.clients")


class StoryTeller:
    """A groupplug plugin that logs state changes of groups and finished members."""

    @hookimpl
    def groupplug_group_state_changed(self, group: str, old: GroupState | None,
                                      new: GroupState) -> None:
        log.info("group %s: %s", group, new.value)

    @hookimpl
    def groupplug_member_state_changed(self, group: str, member: str, new: MemberState,
                                       reason: str) -> None:
        if new.finished or reason:
            log.info("%s.%s: %s%s", group, member, new.value, f" ({reason})" if reason else "")


@contextlib.contextmanager
def telling_story(pm: object | None = None) -> Iterator[None]:
    """Log the run's story (``groupplug.prefect.story``) and hold the HTTP loggers at WARNING."""
    from groupplug.plugins import get_plugin_manager

    manager = pm or get_plugin_manager()
    saved = {name: logging.getLogger(name).level for name in CHATTY}
    for name in CHATTY:
        if logging.getLogger(name).getEffectiveLevel() < logging.WARNING:
            logging.getLogger(name).setLevel(logging.WARNING)
    teller = StoryTeller()
    manager.register(teller)  # type: ignore[attr-defined]
    try:
        yield
    finally:
        manager.unregister(teller)  # type: ignore[attr-defined]
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
