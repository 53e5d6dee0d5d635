"""The feed renderer (no I/O): the channel guid follows the Podcasting 2.0 spec's example,
text is escaped, the same inputs give the same bytes, guids depend on the space id alone."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest

from townhall.reach import podcast

CHANNEL = podcast.Channel("a <b> & c", "https://t.example", "https://t.example/feeds/all.xml",
                          "d", "e")


def test_channel_guid_is_the_spec_uuid5_of_the_feed_url() -> None:
    # podcastindex.org namespace, "guid": the example feed and its guid
    assert podcast.feed_guid("https://mp3s.nashownotes.com/pc20rss.xml") == \
        "917393e3-1b1e-5cef-ace4-edaa54e1f810"


def test_render_is_deterministic_escaped_and_well_formed() -> None:
    ep = podcast.Episode("abcdefghij", 'Q&A "live" <now>', "Host", "https://t.example/spaces/x",
                         "https://t.example/replay/abcdefghij.m4a", 12345, 61.4, 1_700_000_000,
                         transcript_url="https://t.example/t.vtt")
    live = podcast.LiveItem("klmnopqrst", "Soon", "Host", "https://t.example/spaces/y",
                            "https://t.example/live/y/master.m3u8", "pending", 1_800_000_000,
                            1_800_003_600)
    body = podcast.render(CHANNEL, [ep], [live], built=1_700_000_000)
    assert body == podcast.render(CHANNEL, [ep], [live], built=1_700_000_000)
    root = ElementTree.fromstring(body)
    item = root.find("channel/item")
    assert item is not None and item.findtext("title") == 'Q&A "live" <now>'
    assert item.findtext("guid") == "townhall:space:abcdefghij"
    assert item.findtext(f"{{{podcast.ITUNES}}}duration") == "61"
    enclosure = item.find("enclosure")
    assert enclosure is not None and enclosure.attrib["length"] == "12345"
    transcript = item.find(f"{{{podcast.PODCAST}}}transcript")
    assert transcript is not None and transcript.attrib["url"] == "https://t.example/t.vtt"
    li = root.find(f"channel/{{{podcast.PODCAST}}}liveItem")
    assert li is not None and li.attrib == {"status": "pending", "start": "2027-01-15T08:00:00Z",
                                            "end": "2027-01-15T09:00:00Z"}
    with pytest.raises(ValueError):
        podcast.LiveItem("a", "b", "c", "d", "e", "on-air", 0, 1)
