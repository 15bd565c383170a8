"""Server-side SVG charts: labelled for assistive technology, scaled to a round top, text escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from cornerstone.bff.web.charts import Series, _nice_ceiling, bar_chart, legend, line_chart
from cornerstone.kit.amounts import format_amount

SVG = "{http://www.w3.org/2000/svg}"


def _usd(value: int) -> str:
    return format_amount(value, "USD")


def test_the_axis_top_is_the_next_1_2_or_5_times_a_power_of_ten() -> None:
    assert [_nice_ceiling(v) for v in (0, 1, 3, 7, 10, 11, 150, 2_000_001, 499_999_999)] == [
        1,
        1,
        5,
        10,
        10,
        20,
        200,
        5_000_000,
        500_000_000,
    ]


def test_a_bar_chart_is_an_image_with_a_title_a_description_and_one_bar_per_value() -> None:
    svg = bar_chart(
        "Called vs committed",
        ["Acme LP", "Beta <Trust>"],
        [Series("Committed", [500_000_00, 250_000_00]), Series("Called", [200_000_00, 0])],
        _usd,
        chart_id="calls",
    )
    root = ET.fromstring(str(svg))  # noqa: S314 - our own markup, built in this test
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "calls-t calls-d"
    assert root.find(f"{SVG}title").text == "Called vs committed"  # type: ignore[union-attr]
    description = root.find(f"{SVG}desc").text or ""  # type: ignore[union-attr]
    assert "Acme LP: Committed $500,000.00, Called $200,000.00" in description
    assert "Beta <Trust>" in description  # escaped in the markup, read back as text
    assert len(root.findall(f"{SVG}rect")) == 4
    # The tallest bar reaches the round top of the axis: $500,000.00 of a $500,000.00 axis.
    assert "$500,000.00" in [t.text for t in root.findall(f"{SVG}text")]


def test_a_line_chart_draws_one_line_per_series_and_a_point_per_value() -> None:
    svg = line_chart(
        "NAV over time",
        ["2024-01-01", "2024-07-01", "2025-01-01"],
        [Series("NAV", [100, 150, 175]), Series("Contributed", [100, 120, 120])],
        _usd,
    )
    root = ET.fromstring(str(svg))  # noqa: S314 - our own markup, built in this test
    assert len(root.findall(f"{SVG}polyline")) == 2
    assert len(root.findall(f"{SVG}circle")) == 6
    assert "latest NAV $1.75" in (root.find(f"{SVG}desc").text or "")  # type: ignore[union-attr]


def test_names_never_become_markup() -> None:
    hostile = '<script>alert("x")</script>'
    markup = str(bar_chart(hostile, [hostile], [Series(hostile, [1])], _usd)) + str(legend([Series(hostile, [])]))
    assert "<script>" not in markup
    assert "&lt;script&gt;" in markup
