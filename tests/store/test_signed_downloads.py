"""The signed download is kept once for every origin on both backends: signing is not
deterministic, so the first copy kept is the one every later caller gets back."""

from __future__ import annotations

from collections.abc import Callable

from townhall.store.factory import Stores


def test_the_first_signed_download_kept_is_the_one_every_origin_gets(
        open_store: Callable[[], Stores]) -> None:
    one, other = open_store(), open_store()  # two origins on one database
    one.recordings.put_init("sp1", b"init")  # a recording exists before its download
    assert other.recordings.download("sp1") is None
    assert one.recordings.put_download("sp1", b"signed by one") == b"signed by one"
    assert other.recordings.put_download("sp1", b"signed by other") == b"signed by one"
    assert other.recordings.download("sp1") == b"signed by one"
