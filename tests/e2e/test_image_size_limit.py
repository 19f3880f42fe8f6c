"""An image whose header claims an absurd canvas (a small file that decodes to gigabytes in
every member's browser) is refused at upload with 422 ``image_too_large`` and leaves no trace;
images of ordinary size go through, and the limit is the GAIA_MAX_IMAGE_PIXELS setting."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import PLAYER, seat_table
from tests.e2e.test_media_upload import assert_no_trace, upload
from tests.support.api import Service, running
from tests.support.images import BUILDERS, HUGE, gif, png
from tests.support.stores import StoreConfig

DEFAULT_MAX_PIXELS = 50_000_000


@pytest.mark.parametrize("name", list(BUILDERS))
def test_an_image_claiming_a_huge_canvas_is_refused_and_leaves_no_trace(
    media_service: Service, name: str
) -> None:
    sid = seat_table(media_service).session_id
    version = media_service.version(sid)
    response = upload(media_service, sid, BUILDERS[name](*HUGE))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "image_too_large"
    assert error["details"] == {
        "width": HUGE[0],
        "height": HUGE[1],
        "max_pixels": DEFAULT_MAX_PIXELS,
    }
    assert_no_trace(media_service, sid, version)


def test_a_gif_whose_frame_reaches_far_past_its_small_screen_is_refused(
    media_service: Service,
) -> None:
    sid = seat_table(media_service).session_id
    version = media_service.version(sid)
    response = upload(media_service, sid, gif(16, 16, frame=(60_000, 60_000)))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "image_too_large"
    assert_no_trace(media_service, sid, version)


def test_images_of_ordinary_size_are_accepted_in_every_format(media_service: Service) -> None:
    sid = seat_table(media_service).session_id
    for name, build in BUILDERS.items():
        response = upload(media_service, sid, build(1920, 1080))
        assert response.status_code == 201, (name, response.text)


def test_the_pixel_limit_is_a_setting(sqlite_store: StoreConfig) -> None:
    with running(sqlite_store, max_image_pixels=640 * 480) as service:
        sid = seat_table(service).session_id
        assert upload(service, sid, png(640, 480), PLAYER).status_code == 201
        refused = upload(service, sid, png(640, 481), PLAYER)
        assert refused.status_code == 422
        assert refused.json()["error"]["details"]["max_pixels"] == 640 * 480
