"""The stages: one module per stage, each the only code that reads and writes the lake for it.

Every batch stage has the same shape (`base.Stage`): a config section of the recipe, the ids
still pending for a problem set, and `run(lake, problem_set, config, progress)` that does the
pending work batch by batch with one atomic append per batch. The CLI command and the Prefect
task of a stage both call that `run`.

    ingest -> generate -> verify -> label -> provenance -> dedup -> decontaminate
           -> select (policy) -> export;  audit reads the decisions back.

Submodules are imported where used (`from thresher.stages import verify`), so importing one
stage never loads the others' dependencies.
"""
