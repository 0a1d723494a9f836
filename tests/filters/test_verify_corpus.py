"""thresher against plain math-verify on cases modelled on other checkers' test suites.

thresher must be right on every case; at the least, wherever plain math-verify
(``verify(parse(gold), parse(response))``, default settings) gives the expected verdict.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.filters.verify_corpus import ALL, Case
from thresher.filters.verify import VerifyItem, VerifyPool, verify_items


def _plain_math_verify(gold: str, response: str) -> bool:
    from math_verify import parse, verify

    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    g = parse(gold, parsing_timeout=None)  # type: ignore[arg-type]
    r = parse(response, parsing_timeout=None)  # type: ignore[arg-type]
    return bool(verify(g, r, timeout_seconds=None))


@pytest.fixture(scope="module")
def verdicts() -> Iterator[dict[int, bool | None]]:
    items = [
        VerifyItem(str(i), "math", resp, gold=gold) for i, (_, gold, resp, _) in enumerate(ALL)
    ]
    with VerifyPool(workers=2) as pool:
        got = verify_items(items, pool=pool, timeout_s=30)
    yield {i: out.correct for i, (_, out) in enumerate(got)}


@pytest.mark.parametrize(("index", "case"), list(enumerate(ALL)), ids=lambda x: "")
def test_thresher_is_right_on_every_case(
    verdicts: dict[int, bool | None], index: int, case: Case
) -> None:
    source, gold, response, expected = case
    assert verdicts[index] is expected, (source, gold, response)


@pytest.mark.slow
def test_plain_math_verify_is_the_bar(verdicts: dict[int, bool | None]) -> None:
    """Every case plain math-verify gets right, thresher gets right; and the corpus has cases
    where only thresher is right (the issue-10 classes), so it measures something."""
    mv_right = {i for i, (_, g, r, exp) in enumerate(ALL) if _plain_math_verify(g, r) is exp}
    th_right = {i for i, (*_, exp) in enumerate(ALL) if verdicts[i] is exp}
    assert mv_right <= th_right, [ALL[i] for i in sorted(mv_right - th_right)]
    assert len(th_right - mv_right) >= 10


def test_corpus_covers_every_source() -> None:
    sources = {source for source, *_ in ALL}
    assert sources == {"math-verify", "qwen", "prm800k", "lm-eval", "open-r1", "issue-10"}
    assert len(ALL) >= 150
