"""One rank of a sharded evaluation under torch.distributed (gloo, 127.0.0.1); writes its result JSON.

python shard_worker.py OUT_JSON DATA_PT   (with RANK, WORLD_SIZE and RENDEZVOUS_FILE set: the ranks meet in a
file, so no port is probed and released before use)
"""

import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the helpers package
from dkl_zoo.evaluation import evaluate  # noqa: E402
from helpers.colour_data import ColourClassifier  # noqa: E402


def main() -> None:
    out, data_path = sys.argv[1], sys.argv[2]
    dist.init_process_group(
        "gloo",
        init_method=f"file://{os.environ['RENDEZVOUS_FILE']}",
        rank=int(os.environ["RANK"]),
        world_size=int(os.environ["WORLD_SIZE"]),
    )
    rank, world = dist.get_rank(), dist.get_world_size()
    x, y = torch.load(data_path)
    state = os.environ.get("STATE_PATH")
    result = evaluate(
        ColourClassifier(),
        data=(x, y),
        n_examples=len(y),
        batch_size=8,
        version="custom",
        attacks=["apgd-ce", "apgd-dlr"],
        shard=(rank, world),
        progress=False,
        state_path=f"{state}.rank{rank}" if state else None,
    )
    result.to_json(out)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
