"""The parts of a dataset card the Hub and `datasets` read: license, configs, dataset_info, and
the `load_dataset` line, which names the repo once the export is pushed.

`configs`/`dataset_info` are written in the shapes `datasets` itself writes and parses
(`MetadataConfigs`, `DatasetInfo._to_yaml_dict`), so the Hub's viewer and `load_dataset` agree
with the files. The license is a Hub license id (lower case, e.g. ``apache-2.0``, ``mit``).
"""

from __future__ import annotations

import re
from importlib import metadata
from typing import TYPE_CHECKING, Any

import yaml

from thresher.schemas import InputError

if TYPE_CHECKING:
    from thresher.pipeline.export import Shards

__all__ = [
    "LOAD_BEGIN",
    "LOAD_END",
    "PROJECT_LICENSE",
    "card_front_matter",
    "hub_metadata",
    "license_id",
    "load_section",
    "project_link",
    "with_repo_id",
]

PROJECT_LICENSE = "apache-2.0"  # thresher's own license (pyproject), for its generated problems
LOAD_BEGIN, LOAD_END = "<!-- thresher:load -->", "<!-- /thresher:load -->"
_LICENSE = re.compile(r"^[a-z0-9][a-z0-9.+\-]{0,63}$")
_FRONT = re.compile(r"\A---\n(.*?)\n---\n", re.DOTALL)


def license_id(value: str | None, field: str = "export.license") -> str | None:
    """A license as the Hub names it (``Apache-2.0`` -> ``apache-2.0``); None stays None."""
    if value is None or not value.strip():
        return None
    text = value.strip().lower()
    if not _LICENSE.match(text):
        raise InputError(
            f"{value!r} is not a license id",
            field=field,
            hint="use a Hub license id such as apache-2.0, mit, cc-by-4.0 or other",
        )
    return text


def project_link() -> str:
    """thresher as a Markdown link to its declared home page, or its name and version."""
    try:
        meta = metadata.metadata("thresher")
    except metadata.PackageNotFoundError:
        return "thresher"
    urls: dict[str, str] = {}
    for entry in meta.get_all("Project-URL") or []:
        label, _, url = entry.partition(",")
        urls[label.strip()] = url.strip()
    for key in ("Homepage", "Repository", "Source"):
        if urls.get(key):
            return f"[thresher]({urls[key]})"
    return f"thresher {meta['Version'] or ''}".strip()


def hub_metadata(shards: Shards, license: str | None) -> dict[str, Any]:
    """`license`, `configs` and `dataset_info` for the card's YAML header."""
    from datasets import DatasetInfo, Features, SplitDict, SplitInfo

    splits = SplitDict()
    splits.add(SplitInfo(name="train", num_bytes=shards.num_bytes, num_examples=shards.rows))
    info = DatasetInfo(
        features=Features.from_arrow_schema(shards.schema),
        splits=splits,
        download_size=shards.download_size,
        dataset_size=shards.num_bytes,
        config_name="default",
    )
    meta: dict[str, Any] = {"license": license} if license else {}
    meta["configs"] = [
        {"config_name": "default", "data_files": [{"split": "train", "path": shards.pattern}]}
    ]
    meta["dataset_info"] = info._to_yaml_dict()
    return meta


def load_section(repo_id: str | None, shards: Shards | None) -> str:
    """The `load_dataset` snippet: the Hub repo once known, else this folder's files."""
    if repo_id:
        call = f'load_dataset("{repo_id}", split="train")'
        note = ""
    else:
        pattern = shards.pattern if shards is not None else "data/*.parquet"
        call = f'load_dataset("parquet", data_files="{pattern}", split="train")'
        note = (
            "\n\nRun it inside this folder; `thresher export ... --push-to-hub OWNER/NAME` "
            "names the repo here."
        )
    return (
        f"{LOAD_BEGIN}\n```python\nfrom datasets import load_dataset\n\nds = {call}\n```"
        f"{note}\n{LOAD_END}"
    )


def with_repo_id(card: str, repo_id: str) -> str:
    """The card with its `load_dataset` line naming `repo_id` (unchanged if it has none)."""
    begin, end = card.find(LOAD_BEGIN), card.find(LOAD_END)
    if begin < 0 or end < begin:
        return card
    return card[:begin] + load_section(repo_id, None) + card[end + len(LOAD_END) :]


def card_front_matter(card: str) -> dict[str, Any]:
    """The YAML header of a card ({} when it has none or it does not parse)."""
    match = _FRONT.match(card)
    if match is None:
        return {}
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}
