"""Crypto text sentiment: a fine-tuned transformer scorer, its training, evaluation and registry.

The Hugging Face libraries are configured only through environment variables, read when they
are imported; the package sets the product's defaults here, before any submodule imports them:
never download a model implicitly, no tokenizer thread pools, no load reports or progress bars.
A value the user exported wins (``setdefault``).
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
