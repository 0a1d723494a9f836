"""Every registered verifier and labeler has a docstring and is documented in the README."""

from __future__ import annotations

from pathlib import Path

from thresher.filters.flaws import LABELERS
from thresher.filters.flaws import describe as describe_labelers
from thresher.filters.verify import VERIFIERS
from thresher.filters.verify import describe as describe_verifiers

README = Path(__file__).resolve().parents[2] / "README.md"


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Verification and flaw labels")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def test_every_verifier_and_labeler_is_documented() -> None:
    section = _section()
    for name, meaning in {**describe_verifiers(), **describe_labelers()}.items():
        assert len(meaning) > 20, f"{name} needs a docstring saying what it means"
        assert f"- `{name}`:" in section, f"README section does not list {name}"
    assert set(describe_verifiers()) == set(VERIFIERS)
    assert set(describe_labelers()) == set(LABELERS)
