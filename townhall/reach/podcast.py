"""The podcast feed: RSS 2.0 with the iTunes and Podcasting 2.0 namespaces. Core: no I/O.

A replay is an `<item>` whose enclosure is the signed, progressive `.m4a` (its true byte
length and duration), so every podcast app can list and play it. A scheduled or live space is
a `<podcast:liveItem>` (podcastindex.org namespace, "liveItem": status pending|live|ended,
start, end, the live entry URL as the enclosure), which apps that know live items show and
others ignore. A guid is derived from the space id alone, so it stays the same forever, whatever
the deployment's URL becomes. Rendering is a pure function of its inputs: the same spaces give
the same bytes, so the ETag (the body's SHA-256) changes only when the feed does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from xml.sax.saxutils import escape, quoteattr

ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
PODCAST = "https://podcastindex.org/namespace/1.0"
# podcastindex.org namespace, "guid": a UUIDv5 of the feed URL without its scheme
PODCAST_GUID_NS = uuid.UUID("ead4c236-bf58-58c6-a2c6-a6b28d128cb6")
LIVE_STATUSES = ("pending", "live", "ended")


@dataclass(frozen=True)
class Channel:
    title: str
    link: str  # the site
    feed_url: str  # this feed's own URL (atom:self, podcast:guid)
    description: str
    author: str
    image_url: str | None = None


@dataclass(frozen=True)
class Episode:
    """A published replay."""

    space_id: str
    title: str
    host: str
    page_url: str
    enclosure_url: str
    length: int  # bytes of the enclosure, exactly
    duration_s: float
    published: float  # when the space ended (epoch seconds)
    transcript_url: str | None = None


@dataclass(frozen=True)
class LiveItem:
    """A scheduled or live space (or an ended one whose replay is not published yet)."""

    space_id: str
    title: str
    host: str
    page_url: str
    stream_url: str  # the entry URL: the live master playlist
    status: str  # pending | live | ended
    start: float
    end: float

    def __post_init__(self) -> None:
        if self.status not in LIVE_STATUSES:
            raise ValueError(f"liveItem status must be one of {', '.join(LIVE_STATUSES)}")


def guid(space_id: str) -> str:
    return f"townhall:space:{space_id}"


def feed_guid(feed_url: str) -> str:
    return str(uuid.uuid5(PODCAST_GUID_NS, feed_url.split("://", 1)[-1].rstrip("/")))


def rfc822(epoch: float) -> str:
    """RSS 2.0 dates are RFC 822 (RFC 2822 form, GMT)."""
    return format_datetime(datetime.fromtimestamp(epoch, UTC), usegmt=True)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace(
        "+00:00", "Z")


def _text(tag: str, value: str) -> str:
    return f"<{tag}>{escape(value)}</{tag}>"


def _episode(e: Episode) -> str:
    parts = [
        _text("title", e.title), _text("link", e.page_url),
        _text("description", f"{e.title}, hosted by {e.host}: the unedited recording."),
        f"<guid isPermaLink=\"false\">{escape(guid(e.space_id))}</guid>",
        _text("pubDate", rfc822(e.published)),
        f"<enclosure url={quoteattr(e.enclosure_url)} length=\"{e.length}\" "
        "type=\"audio/mp4\"/>",
        _text("itunes:duration", str(round(e.duration_s))),
        _text("itunes:author", e.host), "<itunes:explicit>false</itunes:explicit>",
        "<itunes:episodeType>full</itunes:episodeType>",
    ]
    if e.transcript_url:
        parts.append(f"<podcast:transcript url={quoteattr(e.transcript_url)} "
                     "type=\"text/vtt\" rel=\"captions\"/>")
    return "<item>" + "".join(parts) + "</item>"


def _live(item: LiveItem) -> str:
    return (f"<podcast:liveItem status=\"{item.status}\" start=\"{_iso(item.start)}\" "
            f"end=\"{_iso(item.end)}\">"
            + _text("title", item.title)
            + f"<guid isPermaLink=\"false\">{escape(guid(item.space_id))}</guid>"
            + _text("author", item.host)
            + f"<enclosure url={quoteattr(item.stream_url)} length=\"0\" "
              "type=\"application/x-mpegURL\"/>"
            + f"<podcast:contentLink href={quoteattr(item.page_url)}>Listen on the space's "
              "page</podcast:contentLink>"
            + "</podcast:liveItem>")


def render(channel: Channel, episodes: list[Episode], live: list[LiveItem],
           built: float) -> bytes:
    """The whole feed. Episodes newest first; live items as given (soonest first)."""
    head = [
        _text("title", channel.title), _text("link", channel.link),
        _text("description", channel.description), "<language>en</language>",
        _text("lastBuildDate", rfc822(built)),
        f"<atom:link href={quoteattr(channel.feed_url)} rel=\"self\" "
        "type=\"application/rss+xml\"/>",
        _text("itunes:author", channel.author), "<itunes:explicit>false</itunes:explicit>",
        "<itunes:type>episodic</itunes:type>",
        _text("podcast:guid", feed_guid(channel.feed_url)),
        "<podcast:medium>podcast</podcast:medium>",
    ]
    if channel.image_url:
        head.append(f"<itunes:image href={quoteattr(channel.image_url)}/>")
    body = "".join(head) + "".join(_live(i) for i in live) + "".join(
        _episode(e) for e in sorted(episodes, key=lambda e: (-e.published, e.space_id)))
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            f"<rss version=\"2.0\" xmlns:itunes=\"{ITUNES}\" xmlns:podcast=\"{PODCAST}\" "
            "xmlns:atom=\"http://www.w3.org/2005/Atom\"><channel>"
            + body + "</channel></rss>\n").encode()
