"""Filters: verifiers, flaw labelers, dedup and decontamination (they label; they never decide)."""
