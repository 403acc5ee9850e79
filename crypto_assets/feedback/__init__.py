"""The feedback loop, as pure functions: predictions meet their realised outcomes, model health is
measured over rolling windows of those outcomes, drift is measured against the model's own
training window and walk-forward results, and small decision rules say whether a retrain is
due.

It lives beside ``ml/`` rather than inside it: it judges whatever estimator made a prediction
(it reads only the stored ``predictions``, ``labels``, ``feature_table`` and the registry's
record of the model in use), so a new model family needs no change here, and model code never
depends on it.

- ``outcomes``: the append-only outcome log (a revised label is a new row, never an edit);
- ``health``: rank IC, hit rate, ECE / reliability curve, Brier, top decile per horizon and
  model version, with an explicit ``insufficient`` status when the window holds too little;
- ``drift``: population stability index of features, the performance band, calibration bound;
- ``decisions``: fire / quiet / insufficient / cooldown, with the reason and the magnitude;
- ``verdicts``: users' good/bad marks, validated and counted apart from the market's verdict;
- ``model_in_use`` and ``tracking``: what the registry says about the version in use, and the
  health runs logged to MLflow against it.
"""
