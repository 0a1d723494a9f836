"""thresher: curate reasoning traces for LLM post-training."""

__version__ = "0.1.0"
