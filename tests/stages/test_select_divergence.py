"""Teacher-divergence selection as a policy step, on a small lake where the chosen traces are
known: the recipe keeps the traces its own scorer scored highest, and says why it dropped the rest."""

from __future__ import annotations

import json
from pathlib import Path

from thresher.config import parse_recipe
from thresher.schemas import Problem, Rollout, SamplingSpec, TraceScore, Verdict
from thresher.stages import select
from thresher.storage import Lake

RECIPE = """
name: div
problems: {{source: "builtin:arithmetic", seed: 0, name: div-set}}
generation: {{model: m, n: 4, sampling: {{temperature: 0.7, top_p: 1.0, max_tokens: 64}}}}
dedup: {{enabled: false}}
selection: {{divergence_budget: {budget}}}
"""


def _lake(path: Path, scorer: str) -> dict[str, float]:
    problem = Problem(source="div-set", question="What is 6 * 7?", answer="42")
    divergences = {0: 0.2, 1: 1.4, 2: 0.9, 3: None}
    rollouts, verdicts, scores = [], [], []
    for k, value in divergences.items():
        r = Rollout(
            problem_id=problem.problem_id, model="m", engine="vllm", sample_index=k,
            sampling=SamplingSpec(temperature=0.7, top_p=1.0, max_tokens=64),
            prompt="p", completion=f"6 * 7 = 42, way {k}. The answer is 42.",
        )  # fmt: skip
        rollouts.append(r)
        verdicts.append(Verdict(trace_id=r.trace_id, verifier="math_v2", status="ok", correct=True))
        if value is not None:
            scores.append(
                TraceScore(
                    trace_id=r.trace_id, problem_id=problem.problem_id, scorer=scorer,
                    n_sentences=2, divergence=value,
                )
            )  # fmt: skip
            # Another scorer's opinion must not count.
            scores.append(
                TraceScore(
                    trace_id=r.trace_id, problem_id=problem.problem_id, scorer="other",
                    n_sentences=2, divergence=-value,
                )
            )  # fmt: skip
    with Lake.open(path) as lake:
        lake.append("problems", [problem])
        lake.append("rollouts", rollouts)
        lake.append("verdicts", verdicts)
        lake.append("trace_scores", scores)
    return {r.trace_id: divergences[r.sample_index] for r in rollouts}  # type: ignore[misc]


def test_the_budget_keeps_the_recipe_scorers_highest_divergence(tmp_path: Path) -> None:
    recipe = parse_recipe(RECIPE.format(budget=2))
    scorer = select.scorer_name(recipe)
    assert scorer is not None and scorer.startswith("provenance_v2:")
    divergence = _lake(tmp_path / "lake", scorer)
    with Lake.open(tmp_path / "lake") as lake:
        result = select.run(lake, recipe)
        rows = lake.sql(
            "SELECT decision_context.subject_ids[1] AS trace, decision_logic.reason_code AS why, "
            "evidence_json FROM decision_events WHERE decision_context.decision_type LIKE '%trace%'"
        ).to_dicts()
    why = {r["trace"]: r["why"] for r in rows}
    by_value = {divergence[t]: w for t, w in why.items()}
    assert by_value == {
        1.4: "selected",
        0.9: "selected",
        0.2: "divergence_rank_cut",
        None: "divergence_unscored",
    }
    kept = [json.loads(r["evidence_json"]) for r in rows if r["why"] == "selected"]
    assert sorted(e["divergence"] for e in kept) == [0.9, 1.4]
    assert result.funnel["selected"] == 2
