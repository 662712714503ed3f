from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import pytest
from matplotlib.image import imread

from bot.analytics import Report, build_report
from bot.analytics.chart import render_chart
from bot.analytics.synthetic import SyntheticCommunity, generate
from tests.analytics.helpers import Stream, at

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report() -> Report:
    spec = SyntheticCommunity(users=300, seed=7)
    return build_report(generate(spec), spec.community, spec.since, spec.until)


def _pixels(png: bytes) -> tuple[int, int]:
    assert png.startswith(PNG_SIGNATURE)
    height, width, _channels = imread(io.BytesIO(png), format="png").shape
    return width, height


def test_chart_is_a_png_of_a_readable_size(report: Report) -> None:
    assert _pixels(render_chart(report)) == (1100, 750)
    assert _pixels(render_chart(report, dpi=150)) == (1650, 1125)


def test_chart_of_a_community_without_data_still_renders() -> None:
    s = Stream()
    s.user(at(1, "10:00"), "alice")  # no replies, no returning users
    assert _pixels(render_chart(build_report(s.events, "g1", at(1, "00:00"), at(8, "00:00"))))
    assert _pixels(render_chart(build_report([], "g1", at(1, "00:00"), at(1, "12:00"))))


def test_charts_can_be_drawn_on_several_threads_at_once(report: Report) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        pngs = list(pool.map(render_chart, [report] * 4))
    assert len(set(pngs)) == 1 and _pixels(pngs[0]) == (1100, 750)
