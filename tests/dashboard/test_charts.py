"""generations.charts: pure SVG rendering, checked by parsing the markup."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET

import pytest

from generations import charts

NS = {"svg": "http://www.w3.org/2000/svg"}


def parse(svg: str) -> ET.Element:
    return ET.fromstring(str(svg))


def bars(root: ET.Element) -> list[ET.Element]:
    return root.findall(".//svg:rect[@class='bar']", NS)


def groups(root: ET.Element) -> list[ET.Element]:
    return root.findall(".//svg:g[@class='bar-group']", NS)


def test_bar_chart_draws_one_bar_per_value_with_proportional_heights():
    root = parse(charts.bar_chart([("Mon", 2), ("Tue", 8), ("Wed", 4)], title="Spend", y_label="USD"))
    drawn = bars(root)
    assert len(drawn) == 3
    heights = [float(bar.get("height")) for bar in drawn]
    assert heights[1] / heights[0] == pytest.approx(4, rel=1e-3)
    assert heights[2] / heights[0] == pytest.approx(2, rel=1e-3)
    # Bars stand on the same baseline.
    bottoms = {round(float(bar.get("y")) + float(bar.get("height")), 1) for bar in drawn}
    assert len(bottoms) == 1


def test_the_tallest_bar_fits_under_a_round_axis_top():
    root = parse(charts.bar_chart([("a", 7), ("b", 3)], title="Counts"))
    ticks = [text.text for text in root.findall(".//svg:text[@class='y-tick']", NS)]
    assert ticks[0] == "0"
    assert ticks[-1] == "10"  # 7 → 10
    assert charts.nice_ceiling(7) == 10
    assert charts.nice_ceiling(0.37) == 0.5
    assert charts.nice_ceiling(2) == 2
    assert charts.nice_ceiling(201) == 250
    assert charts.nice_ceiling(0) == 1


def test_chart_is_accessible_with_title_desc_axis_labels_and_tooltips():
    svg = charts.bar_chart(
        [("Nov 1", 1.5), ("Nov 2", 0)],
        title="Spend per day",
        desc="Dollars per day.",
        x_label="Day",
        y_label="US dollars",
        value_format=lambda v: f"${v:.2f}",
    )
    root = parse(svg)
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "chart-spend-per-day-title chart-spend-per-day-desc"
    assert root.find("svg:title", NS).text == "Spend per day"
    assert root.find("svg:desc", NS).text == "Dollars per day."
    labels = [text.text for text in root.findall(".//svg:text[@class='axis-label']", NS)]
    assert labels == ["US dollars", "Day"]
    # A tooltip per column, zero days included (only the non-zero one draws a bar).
    assert [g.find("svg:title", NS).text for g in groups(root)] == ["Nov 1: $1.50", "Nov 2: $0.00"]
    assert len(bars(root)) == 1


def test_stacked_bars_stack_series_in_order_with_a_legend():
    root = parse(
        charts.stacked_bar_chart(
            [("Mon", [3, 1]), ("Tue", [0, 2]), ("Wed", [0, 0])],
            series=[charts.Series("completed", "#16a34a"), charts.Series("failed", "#dc2626")],
            title="Per day",
            integer_axis=True,
        )
    )
    assert len(groups(root)) == 3
    drawn = bars(root)
    assert [(bar.get("data-series"), bar.get("data-value")) for bar in drawn] == [
        ("completed", "3"),
        ("failed", "1"),
        ("failed", "2"),
    ]
    completed, failed_on_top = drawn[0], drawn[1]
    # The failed segment sits right on top of the completed one, a third of its height.
    assert float(failed_on_top.get("y")) + float(failed_on_top.get("height")) == pytest.approx(
        float(completed.get("y")), abs=0.01
    )
    assert float(completed.get("height")) / float(failed_on_top.get("height")) == pytest.approx(3, rel=1e-3)
    assert groups(root)[0].find("svg:title", NS).text == "Mon: completed 3, failed 1"
    legend = [text.text for text in root.findall(".//svg:g[@class='legend']/svg:text", NS)]
    assert legend == ["failed", "completed"]
    # Count axes have whole-number ticks only: 4 → 0, 1, 2, 3, 4... no 0.5 steps.
    assert all("." not in text.text for text in root.findall(".//svg:text[@class='y-tick']", NS))


def test_stacked_bars_need_one_value_per_series():
    with pytest.raises(ValueError, match="2 series"):
        charts.stacked_bar_chart(
            [("Mon", [1])], series=[charts.Series("a", "#000"), charts.Series("b", "#fff")], title="x"
        )


def test_histogram_bars_touch():
    root = parse(charts.histogram([("< 30 s", 2), ("30–60 s", 3), ("1–2 min", 5)], title="Turnaround"))
    drawn = bars(root)
    assert len(drawn) == 3
    for left, right in itertools.pairwise(drawn):
        assert float(left.get("x")) + float(left.get("width")) == pytest.approx(float(right.get("x")), abs=0.01)
    assert [float(bar.get("height")) for bar in drawn] == sorted(float(bar.get("height")) for bar in drawn)


@pytest.mark.parametrize("data", [[], [("Mon", 0), ("Tue", 0)]])
def test_no_data_yet(data):
    svg = charts.bar_chart(data, title="Spend")
    root = parse(svg)
    assert "chart-empty" in root.get("class")
    assert root.find("svg:title", NS).text == "Spend"
    assert charts.EMPTY_TEXT in svg
    assert bars(root) == []
    assert "No data yet" in charts.histogram([("< 30 s", 0)], title="Turnaround")
    assert "No data yet" in charts.stacked_bar_chart([], series=[charts.Series("a", "#000")], title="Per day")


def test_text_is_escaped():
    svg = charts.bar_chart([('<script>alert("x")</script>', 1)], title="A & B <c>", desc='"quoted"')
    root = parse(svg)  # still well-formed XML
    assert "<script>" not in svg
    assert root.find("svg:title", NS).text == "A & B <c>"
    assert groups(root)[0].find("svg:title", NS).text == '<script>alert("x")</script>: 1'


def test_negative_values_are_refused():
    with pytest.raises(ValueError, match="negative"):
        charts.bar_chart([("a", -1)], title="x")


def test_long_series_label_every_few_bars():
    root = parse(charts.bar_chart([(f"d{n}", n + 1) for n in range(30)], title="Thirty"))
    assert len(bars(root)) == 30
    labels = [text.text for text in root.findall(".//svg:text[@class='x-tick']", NS)]
    assert labels == [f"d{n}" for n in range(0, 30, 3)]


def test_plain_number():
    assert [charts.plain_number(v) for v in (0, 1, 2.5, 1234, 0.125)] == ["0", "1", "2.5", "1,234", "0.12"]
