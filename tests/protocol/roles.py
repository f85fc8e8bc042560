"""The two roles of the wire as tests use them: the server's session reading a
client's frame, and the value a client's request becomes there."""

from __future__ import annotations

import attrs

from protocol import HistoryRequest, Limits, Output, Phase, ProtocolSession, Request, SyncRequest

from .conftest import authenticate


def server_reads(data: bytes, phase: Phase, limits: Limits) -> Output:
    """The one output of a server session, authenticated if `phase` needs it, for one frame."""
    session = ProtocolSession(now=0.0, limits=limits)
    if phase is Phase.USER:
        authenticate(session)
    [out] = session.receive_bytes(data, 1.0)
    return out


def as_parsed(request: Request, limits: Limits) -> Request:
    """`request` as the server sees it: a page limit left out is the server's default."""
    if isinstance(request, SyncRequest | HistoryRequest) and request.limit is None:
        return attrs.evolve(request, limit=limits.default_page)
    return request
