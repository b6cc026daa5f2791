"""What the HTTP routes share: one `AppContext`, reached through the `Context` dependency.

`create_app`'s lifespan builds it and stores it on `app.state.context`; the routers
(`routes_public`, `routes_admin`) only read it, so they hold no state of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from relstream.core.clickhouse import LockedClient
from serving.service import ServingState
from serving.settings import ServingSettings


@dataclass(frozen=True)
class AppContext:
    """The settings the app was built with, its running `ServingState`, and how to reach
    the metrics tables."""

    settings: ServingSettings
    serving: ServingState
    connect: Callable[[], LockedClient]
    """Opens a ClickHouse client on the metrics tables (`create_app`'s override, or the
    settings' server)."""


async def _context(request: Request) -> AppContext:
    # async: a plain function dependency would cost every request a thread-pool hop
    return request.app.state.context  # type: ignore[no-any-return]


# Module level: FastAPI resolves string annotations against the module's globals.
Context = Annotated[AppContext, Depends(_context)]
