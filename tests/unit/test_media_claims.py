"""An upload's type comes from its bytes; what the client claims may only confirm the kind."""

from __future__ import annotations

import pytest

from api.errors import ApiError
from api.media.upload import Claims, decide_type
from domain.media import JPEG, MP3, OGG, PNG, SNIFF_BYTES
from tests.support.media import MP3 as MP3_BYTES
from tests.support.media import PNG as PNG_BYTES
from tests.support.media import SAMPLES, SCRIPT

HEAD = PNG_BYTES[:SNIFF_BYTES]


@pytest.mark.parametrize(
    "claims",
    [
        Claims(),
        Claims(kind="image", content_type="image/png", filename="map.png"),
        Claims(content_type="image/jpeg", filename="map.jpg"),
        Claims(content_type="application/octet-stream", filename="blob"),
        Claims(content_type="image/png; charset=binary", filename="MAP.PNG"),
        Claims(filename="map.unknown-extension"),
    ],
    ids=["no claims", "all agree", "another image format", "generic", "parameters", "odd name"],
)
def test_claims_of_the_right_kind_leave_the_type_to_the_bytes(claims: Claims) -> None:
    assert decide_type(HEAD, claims) == PNG


@pytest.mark.parametrize(
    ("claims", "claimed"),
    [
        (Claims(filename="song.mp3"), "song.mp3"),
        (Claims(content_type="audio/mpeg"), "audio/mpeg"),
        (Claims(kind="audio"), "audio"),
        (Claims(content_type="text/html"), "text/html"),
        (Claims(content_type="video/mp4", filename="clip.png"), "video/mp4"),
    ],
    ids=["png named mp3", "png sent as audio", "kind audio", "sent as html", "sent as video"],
)
def test_a_claim_of_another_kind_is_refused_with_both_types_named(
    claims: Claims, claimed: str
) -> None:
    with pytest.raises(ApiError) as refused:
        decide_type(HEAD, claims)
    assert (refused.value.status, refused.value.code) == (422, "media_type_mismatch")
    assert refused.value.details == {"detected": "image/png", "claimed": claimed}


def test_bytes_of_no_accepted_type_are_unsupported_whatever_the_claims() -> None:
    with pytest.raises(ApiError) as refused:
        decide_type(SCRIPT[:SNIFF_BYTES], Claims(kind="image", content_type="image/png"))
    assert (refused.value.status, refused.value.code) == (415, "unsupported_media_type")


def test_audio_claims_agree_with_audio_bytes() -> None:
    ogg = SAMPLES["ogg"][0][:SNIFF_BYTES]
    assert decide_type(ogg, Claims(content_type="application/ogg", filename="a.oga")) == OGG
    assert decide_type(MP3_BYTES[:SNIFF_BYTES], Claims(kind="audio", filename="a.wav")) == MP3
    assert decide_type(SAMPLES["jpeg"][0][:SNIFF_BYTES], Claims(filename="x.gif")) == JPEG
