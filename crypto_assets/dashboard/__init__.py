"""The signals dashboard: a web page over the pipeline's PUBLISHED results.

- ``app``: the FastAPI app (server-rendered HTML) and its routes: signals, coin, status,
  feedback.
- ``data`` / ``health``: what the pages show, read from the published read copy only.
- ``instance``: run activity and failed checks from the Dagster instance (read methods only).
- ``plots``: server-rendered SVG charts (no JavaScript, nothing fetched from the internet).
- ``verdicts``: the users' good / bad marks, in the dashboard's own SQLite file.
- ``security``: bind rule, token, cross-site checks, request limits.
- ``server``: ``serve(settings)``, what ``crypto-assets dashboard`` runs.

Like the CLI it is an entry point: it gets one ``Settings`` as data and reads no environment.
"""
