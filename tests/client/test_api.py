"""The typed request methods: what they ask, and what they make of the answers.

`SessionApi` is written once for Connection and ChatClient on top of one
`request()`; here `request()` answers from a table, so the methods' own
logic (paging through `channels`) is tested without a node or a socket.
"""

from __future__ import annotations

import attrs

from client import ChannelInfo, ChannelKind
from client._api import SessionApi
from protocol import ChannelsRequest, ChannelsResult, Request, Result


@attrs.define
class ChannelPages(SessionApi):
    """Answers `channels` with the page stored under its `after`; records what was asked."""

    pages: dict[int, ChannelsResult]
    asked: list[ChannelsRequest] = attrs.field(factory=list)

    async def request(self, request: Request) -> Result | None:
        assert isinstance(request, ChannelsRequest)
        self.asked.append(request)
        return self.pages[request.after]


def info(channel: int) -> ChannelInfo:
    return ChannelInfo(channel, ChannelKind.GROUP, f"g{channel}", frozenset({1}), channel, 0)


async def test_channels_pages_on_from_the_highest_channel_of_each_page_until_no_more() -> None:
    api = ChannelPages(
        {
            0: ChannelsResult((info(3), info(5)), more=True),
            5: ChannelsResult((info(12), info(9)), more=True),  # order within a page is not promised
            12: ChannelsResult((info(20),), more=False),
        }
    )
    assert await api.channels() == (info(3), info(5), info(12), info(9), info(20))
    assert [request.after for request in api.asked] == [0, 5, 12]
    # Only `after` changes; the limit is left to the node.
    assert {request.limit for request in api.asked} == {ChannelsRequest(0).limit}


async def test_a_list_without_more_is_asked_for_once() -> None:
    # A v1 node sends the whole list and no `more`, which reads as false.
    api = ChannelPages({0: ChannelsResult((info(3), info(1)))})
    assert await api.channels() == (info(3), info(1))
    assert len(api.asked) == 1
