"""Capping texts below GitHub's limits, summary first; annotations 50 per request."""

from __future__ import annotations

from launcher.core.limits import ANNOTATIONS_PER_REQUEST, batches, fit


def test_annotations_go_fifty_per_request() -> None:
    sizes = [len(batch) for batch in batches(list(range(121)))]
    assert sizes == [ANNOTATIONS_PER_REQUEST, ANNOTATIONS_PER_REQUEST, 21]


def test_a_text_that_fits_is_unchanged() -> None:
    assert fit(["head"], ["a", "b"], ["tail"], 100, lambda n: f"{n} more") == "head\na\nb\ntail\n"


def test_a_long_text_keeps_its_head_and_tail_and_says_how_much_is_left_out() -> None:
    body = [f"row {i:03d} " + "x" * 50 for i in range(100)]
    text = fit(["SUMMARY"], body, ["FOOTER"], 1000, lambda n: f"{n} more rows")
    assert len(text) <= 1000
    assert text.startswith("SUMMARY\nrow 000")
    assert text.endswith("more rows\nFOOTER\n")
    kept = text.count("row ")
    assert f"{100 - kept} more rows" in text


def test_a_head_longer_than_the_cap_is_cut_not_refused() -> None:
    text = fit(["S" * 500], [], [], 100, lambda n: "")
    assert len(text) <= 100
