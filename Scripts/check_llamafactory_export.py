#!/usr/bin/env python3
"""Loads a `limrank synthesize export` through LLaMA-Factory's own dataset code
and checks that the rendered training text is LimRank's.

For each exported record, LLaMA-Factory (its PyPI package) reads
dataset_info.json and the data file, converts the record with its aligner and
renders it with `template: empty` (LimRank's train_configs/limrank.yaml),
exactly as `llamafactory-cli train` would before training. The decoded
input_ids must equal LimRank's text for the same example (and the ids of that
text encoded in one piece, as inference encodes it): Rank1's prompt
(`return_prompt`, reproduced in Scripts/fixtures/limrank_prompts.py) followed
by the target "\\n" + trace + "\\n</think> true|false", built here from
examples.jsonl independently of the Swift exporter. The labels must mask the
prompt and cover exactly the target.

Pinned: llamafactory 0.9.5 (venv /work/venvs/llamafactory).
Usage:
  limrank synthesize --config Tests/SynthesisTests/Fixtures/config.json --out /tmp/syn   (reasoning_traces on)
  limrank synthesize export --in /tmp/syn --format alpaca --with-reasoning --out /tmp/lf/limrank_train.json
  /work/venvs/llamafactory/bin/python Scripts/check_llamafactory_export.py \\
      --export /tmp/lf/limrank_train.json --examples /tmp/syn/examples.jsonl \\
      --tokenizer Tests/RerankingTests/Fixtures/limrank
"""
import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "fixtures"))
from limrank_prompts import join_query, return_prompt  # noqa: E402


def limrank_texts(examples_path, with_reasoning):
    """LimRank's (prompt, target) per exported record, in the exporter's order."""
    texts = []
    with open(examples_path) as f:
        for line in f:
            if not line.strip():
                continue
            example = json.loads(line)
            query = join_query(example["query"], example["instruction"] or None)
            for passages, relevant in ((example["positives"], True), (example["negatives"], False)):
                for p in passages:
                    trace = (p.get("reasoning") or "") if with_reasoning else ""
                    prompt = return_prompt(query, p["text"], None)
                    target = f"\n{trace.strip()}\n</think>" + (" true" if relevant else " false")
                    texts.append((prompt, target))
    return texts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--export", required=True, help="the exported alpaca/sharegpt file; dataset_info.json beside it")
    ap.add_argument("--examples", required=True, help="the examples.jsonl it was exported from")
    ap.add_argument("--tokenizer", required=True, help="a tokenizer directory with <think> and </think> (the tiny fixture)")
    ap.add_argument("--no-reasoning", action="store_true", help="the export was made without --with-reasoning")
    args = ap.parse_args()

    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_tokenizer
    import llamafactory

    export = os.path.abspath(args.export)
    name = os.path.splitext(os.path.basename(export))[0]
    with tempfile.TemporaryDirectory() as out:
        model_args, data_args, training_args, finetuning_args, _ = get_train_args(dict(
            stage="sft", do_train=True, model_name_or_path=os.path.abspath(args.tokenizer), trust_remote_code=True,
            dataset=name, dataset_dir=os.path.dirname(export), template="empty", cutoff_len=2500,
            overwrite_cache=True, preprocessing_num_workers=None, finetuning_type="lora", lora_target="all",
            output_dir=out, report_to="none", per_device_train_batch_size=1,
        ))
        tokenizer_module = load_tokenizer(model_args)
        tokenizer = tokenizer_module["tokenizer"]
        template = get_template_and_fix_tokenizer(tokenizer, data_args)
        dataset = get_dataset(template, model_args, data_args, training_args, stage="sft", **tokenizer_module)["train_dataset"]

    expected = limrank_texts(args.examples, not args.no_reasoning)
    assert len(dataset) == len(expected), f"{len(dataset)} records rendered, {len(expected)} expected"
    mismatches = 0
    for i, (row, (prompt, target)) in enumerate(zip(dataset, expected)):
        ids, labels = row["input_ids"], row["labels"]
        text = tokenizer.decode(ids, skip_special_tokens=False)
        label_ids = [t for t, l in zip(ids, labels) if l != -100]
        learned = tokenizer.decode(label_ids, skip_special_tokens=False)
        # Training encodes prompt and target apart; inference encodes the
        # whole text at once (the reranker's forced close): same ids needed.
        joint = tokenizer(prompt + target, add_special_tokens=False).input_ids
        if text != prompt + target or learned != target or list(ids) != joint:
            mismatches += 1
            if mismatches <= 3:
                print(f"record {i}: rendered {text!r}\n  expected {prompt + target!r}\n  learned {learned!r}")
    print(f"llamafactory {llamafactory.__version__}: {len(dataset)} records of '{name}' rendered with template 'empty'; "
          f"{len(dataset) - mismatches} equal LimRank's prompt + target (and its ids encoded whole), labels cover exactly the target"
          + ("" if mismatches == 0 else f"; {mismatches} DIFFER"))
    sys.exit(1 if mismatches else 0)


if __name__ == "__main__":
    main()
