"""Generation progress where no bar is drawn (logs, CI, pipes): a line per batch, and a line
while a long batch is still running."""

from __future__ import annotations

import io
import time

from rich.console import Console

from thresher.stages.progress import GenerationProgress, set_display


def _plain_console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=False), out


def test_a_running_batch_prints_a_line_until_it_ends():
    console, out = _plain_console()
    previous = set_display(console)
    try:
        with GenerationProgress(48, description="generate on_policy", heartbeat_s=0.1) as bar:
            time.sleep(0.45)  # one batch of all 48 prompts, still running
            bar.advance(48, 2_500)
        after_exit = out.getvalue()
        time.sleep(0.3)
    finally:
        set_display(previous)
    lines = after_exit.splitlines()
    beats = [line for line in lines if "a batch is running" in line]
    assert len(beats) >= 2, lines
    assert all(line.startswith("generate on_policy: 0/48 prompts, ") for line in beats)
    assert lines[-1].startswith("generate on_policy: 48/48 prompts, ")
    assert "prompts/s" in lines[-1] and "ETA 0s" in lines[-1]
    assert out.getvalue() == after_exit  # nothing is written once the stage is done


def test_batches_finishing_often_print_no_extra_line():
    console, out = _plain_console()
    previous = set_display(console)
    try:
        with GenerationProgress(4, heartbeat_s=60) as bar:
            for _ in range(4):
                bar.advance(1, 10)
    finally:
        set_display(previous)
    lines = out.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines] == [
        f"generate: {i}/4 prompts" for i in (1, 2, 3, 4)
    ]


def test_disabled_progress_writes_nothing():
    console, out = _plain_console()
    previous = set_display(console)
    try:
        with GenerationProgress(4, enabled=False, heartbeat_s=0.01) as bar:
            time.sleep(0.05)
            bar.advance(4, 10)
    finally:
        set_display(previous)
    assert out.getvalue() == ""
