"""What a trace's text is made of: its sentences/steps and its reasoning/answer split.

Shared by generation, verification, labelers, provenance and exports, so each is defined once;
imports nothing of thresher but `schemas`.
"""

from thresher.text.segment import Segment, segment
from thresher.text.split import THINK_MARKERS, SplitMarkers, split_reasoning

__all__ = ["THINK_MARKERS", "Segment", "SplitMarkers", "segment", "split_reasoning"]
