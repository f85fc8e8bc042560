"""A nursery for a context manager's background tasks that keeps the body's errors unwrapped."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio


@asynccontextmanager
async def background_nursery() -> AsyncIterator[trio.Nursery]:
    """A nursery whose tasks are built never to raise, so a lone error is the body's own.

    Trio wraps every error leaving a nursery in an ExceptionGroup; a library
    context manager that did so would make `except ChatError` in the app's
    `async with` body silently stop matching. A group of more than one error
    (a bug in a background task, or several Cancelled) is left as it is.
    """
    try:
        async with trio.open_nursery() as nursery:
            yield nursery
    except BaseExceptionGroup as group:
        if len(group.exceptions) != 1:
            raise
        error = group.exceptions[0]
        context = error.__context__
        try:
            raise error
        finally:
            # `raise` inside this handler made the group the error's context,
            # a cycle through the group; put the original context back.
            error.__context__ = context
            del error, context
