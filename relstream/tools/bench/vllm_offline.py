"""vLLM's offline engine (`LLM.generate`) on a file of prompts: one row of `bench teacher`.

Run by the vLLM virtualenv's Python, which does not have relstream's dependencies, so this
file imports nothing of relstream: `python vllm_offline_bench.py IN.json OUT.json`.
IN holds {"model", "dtype", "block_size", "prefix_caching", "max_tokens", "grade_ids",
"warmup": [prompts], "prompts": [prompts]}; OUT gets the seconds and token counts of the
measured prompts (the warm-up prompts run first, untimed).
"""

from __future__ import annotations

import json
import sys
import time


def main() -> None:
    from vllm import LLM, SamplingParams

    spec = json.loads(open(sys.argv[1], encoding="utf-8").read())
    llm = LLM(model=spec["model"], dtype=spec["dtype"], block_size=spec["block_size"],
              enable_prefix_caching=spec["prefix_caching"], max_model_len=2048,
              max_num_seqs=spec.get("max_num_seqs", 128))
    params = SamplingParams(temperature=0.0, max_tokens=spec["max_tokens"],
                            logprobs=len(spec["grade_ids"]),
                            logprob_token_ids=spec["grade_ids"])
    llm.generate(spec["warmup"], params, use_tqdm=False)
    t0 = time.perf_counter()
    outputs = llm.generate(spec["prompts"], params, use_tqdm=False)
    seconds = time.perf_counter() - t0
    result = {"seconds": seconds, "pairs": len(outputs),
              "new_tokens": sum(len(o.outputs[0].token_ids) for o in outputs),
              "texts": [o.outputs[0].text for o in outputs]}
    with open(sys.argv[2], "w", encoding="utf-8") as fh:
        json.dump(result, fh)


if __name__ == "__main__":  # vLLM's engine processes re-import this module
    main()
