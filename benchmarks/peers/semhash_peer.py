"""SemHash (MinishLab) self-deduplication of the benchmark's traces: the peer of bench_dedup.

Reads the traces from a Parquet file (column ``text``), loads the static model thresher
distilled (``--model``, a model2vec folder) as SemHash's encoder, and times
``SemHash.from_records(texts, model=...)`` (exact grouping, model2vec encoding, the usearch
index) plus ``self_deduplicate(threshold)``, as SemHash's own benchmark does. Prints JSON:
seconds per phase, traces per second, and which traces it removed (as indices, to a .npy file).

    python benchmarks/peers/semhash_peer.py --texts traces.parquet --model DIR --threshold 0.9 \\
        --removed removed.npy
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--texts", required=True, help="Parquet file with a 'text' column")
    parser.add_argument("--model", required=True, help="model2vec model folder")
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--removed", required=True, help="where to write removed indices (.npy)")
    args = parser.parse_args()

    from importlib.metadata import version

    import polars as pl
    from model2vec import StaticModel
    from semhash import SemHash

    texts = pl.read_parquet(args.texts)["text"].to_list()
    model = StaticModel.from_pretrained(args.model)
    t0, c0 = time.perf_counter(), time.process_time()
    index = SemHash.from_records(records=texts, model=model)
    t1 = time.perf_counter()
    result = index.self_deduplicate(threshold=args.threshold)
    total_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    position = {text: k for k, text in enumerate(texts)}
    removed = np.array(sorted(position[r.record] for r in result.filtered), dtype=np.int64)
    np.save(args.removed, removed)
    print(
        json.dumps(
            {
                "peer": f"semhash {version('semhash')}",
                "encoder": "the same distilled static model (model2vec StaticModel.encode)",
                "index": "usearch (SemHash's default ANN backend)",
                "traces": len(texts),
                "threshold": args.threshold,
                "time_s": round(total_s, 1),
                "cpu_time_s": round(cpu_s, 1),
                "phases_s": {
                    "encode_and_index": round(t1 - t0, 1),
                    "self_deduplicate": round(total_s - (t1 - t0), 1),
                },
                "traces_per_s": round(len(texts) / total_s, 1),
                "removed": len(removed),
            }
        )
    )


if __name__ == "__main__":
    main()
