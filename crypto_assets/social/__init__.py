"""Social text: the text-source contract, parsers of recorded and live payloads, coin linking,
per-coin daily text signals, detectors and the as-of join onto the feature table (pure code)."""
