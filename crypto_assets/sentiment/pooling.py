"""Mean-pooled sequence classifier: a pretrained encoder plus one linear layer on the masked mean.

Why: all-MiniLM-L6-v2 was trained (sentence-transformers) to put the meaning of a text in the
MEAN of its token vectors; its [CLS] vector and pooler were never trained for that, so the stock
``BertForSequenceClassification`` head starts from a weaker feature. Fine-tuning on the mean
reaches a better model in the same number of CPU steps.

Saved as a normal Hugging Face encoder folder (config.json, model.safetensors, tokenizer) plus
``HEAD_FILE`` holding the classifier weights; :func:`is_mean_pooled` recognises such a folder.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import torch

HEAD_FILE = "classifier_head.safetensors"


def is_mean_pooled(folder: str | Path) -> bool:
    """True when ``folder`` holds a model saved by :class:`MeanPoolClassifier`."""
    return (Path(folder) / HEAD_FILE).is_file()


class MeanPoolClassifier(torch.nn.Module):
    """encoder -> masked mean of the last hidden states -> dropout -> linear logits."""

    def __init__(self, encoder: torch.nn.Module, num_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.config = encoder.config
        self.dropout = torch.nn.Dropout(dropout)
        self.classifier = torch.nn.Linear(encoder.config.hidden_size, num_labels)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        **_: object,
    ) -> SimpleNamespace:
        hidden = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return SimpleNamespace(logits=self.classifier(self.dropout(pooled)))

    def get_input_embeddings(self) -> torch.nn.Module:
        return self.encoder.get_input_embeddings()

    def save_pretrained(self, folder: str | Path) -> None:
        from safetensors.torch import save_file

        self.encoder.save_pretrained(folder)
        state = {k: v.detach().cpu().contiguous() for k, v in self.classifier.state_dict().items()}
        save_file(state, str(Path(folder) / HEAD_FILE))

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> MeanPoolClassifier:
        from safetensors.torch import load_file

        encoder = _encoder(str(folder))
        head = load_file(str(Path(folder) / HEAD_FILE))
        model = cls(encoder, num_labels=head["weight"].shape[0])
        model.classifier.load_state_dict(head)
        return model

    @classmethod
    def from_encoder(
        cls, source: str, id2label: dict[int, str], dropout: float = 0.1
    ) -> MeanPoolClassifier:
        """A fresh head on a pretrained encoder; class names go into the saved config."""
        encoder = _encoder(source)
        encoder.config.id2label = dict(id2label)
        encoder.config.label2id = {name: i for i, name in id2label.items()}
        return cls(encoder, num_labels=len(id2label), dropout=dropout)


def _encoder(source: str) -> torch.nn.Module:
    """The bare encoder; BERT-style models skip their (unused) [CLS] pooler."""
    from transformers import AutoModel

    try:
        return AutoModel.from_pretrained(source, add_pooling_layer=False)
    except TypeError:  # encoders without a pooler (e.g. DistilBERT) take no such argument
        return AutoModel.from_pretrained(source)
