"""Probe: would a mean-pooling head lift MRPC? mrpc's defaults, over seeds, with the classifier
fed the mean of the token vectors instead of BERT's pooler over the first token.

all-MiniLM-L6-v2 was trained as a sentence embedding by the mean of its token vectors
(1_Pooling/config.json of the embedded model), while `mrpc`'s model classifies from the first
token. Here the model is mrpc's own (the same weights, the same fresh head, the same seed), its
class swapped for one whose forward pools by mean; everything else is `taskrun.run_seeds`, so that
each seed pairs with the same seed of the defaults (docs/benchmarks.md). A measurement, not a
feature: the saved model loads as the plain class, which pools the first token.

    usage: python scripts/mean_pool_probe.py OUTPUT_DIR [--seeds 13,42,87] [--data-dir ../shared/data/glue/MRPC]
"""

import argparse

import taskrun
import torch
from taskrun import hookimpl
from taskrun.defaults import taskrun_model as default_model
from taskrun.manager import build_manager
from transformers import BertForSequenceClassification
from transformers.modeling_outputs import SequenceClassifierOutput


class MeanPooledBert(BertForSequenceClassification):
    """BERT for sequence classification whose classifier reads the mean of the unmasked tokens."""

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
        hidden = self.bert(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        logits = self.classifier(self.dropout(pooled))
        loss = None if labels is None else torch.nn.functional.cross_entropy(logits, labels.view(-1))
        return SequenceClassifierOutput(loss=loss, logits=logits)


class MeanPooling:
    """A plugin for every task: the core's model, its class swapped for MeanPooledBert."""

    TASKRUN_FOR_ALL_TASKS = ("taskrun_model",)

    @hookimpl(tryfirst=True)
    def taskrun_model(self, task, config, label_names):
        model = default_model(task, config, label_names)
        if type(model) is not BertForSequenceClassification:
            raise SystemExit(f"the probe needs a BERT model; {config.model} gives {type(model).__name__}")
        model.__class__ = MeanPooledBert
        return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output_dir")
    parser.add_argument("--seeds", default="13,42,87")
    parser.add_argument("--data-dir", default="../shared/data/glue/MRPC")
    args = parser.parse_args()
    manager = build_manager(load_installed=False)
    manager.register(MeanPooling())
    result = taskrun.run_seeds(
        "mrpc",
        [int(seed) for seed in args.seeds.split(",")],
        model="embedded",
        data_dir=args.data_dir,
        output_dir=args.output_dir,
        pictures=False,
        resume="auto",
        manager=manager,
    )
    f1 = result.summary["metrics"]["f1"]
    print(f"mean-pooled mrpc: dev F1 {f1['mean']:.4f} ± {f1['std']:.4f}, per seed {f1['runs']}")


if __name__ == "__main__":
    main()
