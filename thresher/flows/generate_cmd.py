"""`thresher generate`: parse the command's options into an engine and a job, run it."""

from __future__ import annotations

import json
from typing import Any

from thresher.pipeline.engines import make_engine
from thresher.pipeline.generate import GenerateOptions, GenerateReport, generate
from thresher.schemas import InputError, SamplingSpec

__all__ = ["parse_fractions", "generate_command"]


def parse_fractions(text: str) -> tuple[float, ...]:
    """'0.25,0.5,0.75' -> (0.25, 0.5, 0.75), with an error naming the bad item."""
    out = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        try:
            out.append(float(item))
        except ValueError:
            raise InputError(
                f"{item!r} is not a number",
                field="--prefix-fractions",
                hint="e.g. --prefix-fractions 0.25,0.5,0.75",
            ) from None
    if not out:
        raise InputError("no prefix fractions given", field="--prefix-fractions")
    return tuple(out)


def generate_command(
    *,
    lake: str,
    problems: str,
    model: str,
    n: int,
    mode: str,
    temperature: float,
    top_p: float,
    max_tokens: int,
    stop: list[str],
    seed: int | None,
    engine: str,
    base_url: str | None,
    api_key_env: str,
    max_concurrency: int,
    prefix_fractions: str,
    prefix_model: str | None,
    prefix_sources: str = "on_policy",
    batch_size: int,
    limit: int | None,
    dtype: str,
    max_model_len: int | None,
    tensor_parallel_size: int,
    data_parallel_size: int,
    as_json: bool,
    console: Any,
) -> GenerateReport:
    """Build the engine and options from CLI values, run the job, print a summary."""
    from thresher.storage import Lake

    if engine == "openai":
        if not base_url:
            raise InputError(
                "--engine openai needs --base-url", hint="e.g. --base-url http://127.0.0.1:8000/v1"
            )
        options: dict[str, Any] = {
            "base_url": base_url,
            "api_key_env": api_key_env,
            "max_concurrency": max_concurrency,
        }
    else:
        options = {
            "dtype": dtype,
            "max_model_len": max_model_len,
            "tensor_parallel_size": tensor_parallel_size,
            "data_parallel_size": data_parallel_size,
        }
    try:
        sampling = SamplingSpec(
            temperature=temperature, top_p=top_p, max_tokens=max_tokens, seed=seed, stop=stop
        )
    except ValueError as exc:
        raise InputError(f"bad sampling option: {exc}") from None
    job = GenerateOptions(
        problems=problems,
        n=n,
        mode=mode,  # type: ignore[arg-type]
        sampling=sampling,
        prefix_fractions=parse_fractions(prefix_fractions),
        prefix_model=prefix_model,
        prefix_sources=tuple(m.strip() for m in prefix_sources.split(",") if m.strip()),
        batch_size=batch_size,
        limit=limit,
    )
    eng = make_engine(engine, model, **options)
    with Lake.open(lake) as opened:
        try:
            report = generate(opened, eng, job, progress=True)
        finally:
            eng.teardown()
    if as_json:
        console.print_json(json.dumps(report.as_dict()))
    else:
        skipped = ", ".join(f"{k}={v}" for k, v in sorted(report.skipped.items())) or "none"
        console.print(
            f"{problems}: {report.generated} rollouts generated, {report.existing} already "
            f"present of {report.planned} planned; skipped: {skipped}; "
            f"{report.completion_tokens} output tokens in {report.elapsed_s:.1f}s "
            f"({report.output_tokens_per_s:.1f} tok/s)"
        )
    return report
