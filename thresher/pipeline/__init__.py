"""Generation-side library code over records: engines and the embedded model, prompts,
generation planning, log-prob scoring and provenance, divergence, export rows and the dataset
card. Nothing here opens the lake or reads a recipe (the stages do)."""
