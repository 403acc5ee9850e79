"""The address label book as a resource: the recorded real label files (read in place) plus the
user's own label file. Labels are files in both live and replay runs, so one class serves both."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from crypto_assets.onchain.labels import LabelBook, load_label_book


class AddressLabelsResource(dg.ConfigurableResource):
    data_dir: str  # the recorded label files (../shared/data/onchain)
    user_label_file: str | None = None  # CSV chain,address,name,category; wins over recorded

    _book: LabelBook | None = PrivateAttr(default=None)

    def describe(self) -> str:
        user = f" + {Path(self.user_label_file).name}" if self.user_label_file else ""
        return f"address labels ({self.data_dir}{user})"

    def book(self) -> LabelBook:
        """The label book, parsed once per resource instance (a malformed user file raises)."""
        if self._book is None:
            user = Path(self.user_label_file) if self.user_label_file else None
            self._book = load_label_book(Path(self.data_dir), user)
        return self._book
