"""The dashboard's guards without a pipeline run: the bind rule and the token, security
headers, the page shown before anything is published; and the pure pieces (SVG charts,
outcome join)."""

from __future__ import annotations

import base64

import pandas as pd
import pytest

from crypto_assets.dashboard import plots, security
from crypto_assets.dashboard.app import create_app
from crypto_assets.dashboard.data import outcomes
from crypto_assets.settings import SettingsError, load_settings
from crypto_assets_tests.dashboard.helpers import ServedApp, get
from crypto_assets_tests.fixtures import isolated_settings

TOKEN = "correct horse battery staple"


def test_refuses_to_bind_beyond_this_machine_without_a_token(tmp_path) -> None:
    with pytest.raises(
        SettingsError, match=r"CRYPTO_ASSETS_DASHBOARD_HOST=0\.0\.0\.0 is reachable"
    ):
        load_settings(_env_file=None, dashboard_host="0.0.0.0")
    with pytest.raises(SettingsError, match=r"CRYPTO_ASSETS_DASHBOARD_TOKEN=\*\*\*"):
        load_settings(_env_file=None, dashboard_token="short")  # too short, and never echoed
    settings = isolated_settings(tmp_path).model_copy(update={"dashboard_host": "0.0.0.0"})
    with pytest.raises(security.StartRefused, match="without a token"):
        create_app(settings)  # the app checks again, whatever built the settings
    assert load_settings(_env_file=None, dashboard_host="0.0.0.0", dashboard_token=TOKEN)


def test_token_guards_every_page_and_headers_are_strict(tmp_path) -> None:
    settings = isolated_settings(tmp_path, profile="demo", dashboard_token=TOKEN)
    basic = base64.b64encode(f"me:{TOKEN}".encode()).decode()
    with ServedApp(create_app(settings)) as url:
        status, body, headers = get(url + "/")
        assert status == 401 and headers["www-authenticate"].startswith("Basic")
        assert TOKEN not in body
        assert (
            get(url + "/", {"Authorization": "Basic " + base64.b64encode(b"me:x").decode()})[0]
            == 401
        )
        status, body, headers = get(url + "/", {"Authorization": f"Basic {basic}"})
        assert status == 200
        assert "nothing published for the demo profile yet" in body  # not a blank page
        assert "make demo" in body
        assert headers["content-security-policy"].startswith("default-src 'none'")
        assert headers["x-frame-options"] == "DENY" and "csrf=" in headers["set-cookie"]
        assert "SameSite=strict" in headers["set-cookie"] and "HttpOnly" in headers["set-cookie"]
        assert get(url + "/healthz", {"Authorization": f"Bearer {TOKEN}"})[1] == (
            '{"published":false}'
        )


def test_token_and_origin_helpers() -> None:
    assert security.token_ok(f"Bearer {TOKEN}", TOKEN)
    assert not security.token_ok("Basic !!!not-base64", TOKEN)
    assert not security.token_ok(f"Digest {TOKEN}", TOKEN) and not security.token_ok(None, TOKEN)
    assert security.same_origin("http://127.0.0.1:8765", None, "127.0.0.1:8765")
    assert security.same_origin(None, "http://127.0.0.1:8765/coin/A/B", "127.0.0.1:8765")
    assert not security.same_origin("http://evil.example", None, "127.0.0.1:8765")
    assert not security.same_origin("null", None, "127.0.0.1:8765")
    assert not security.same_origin(None, None, "127.0.0.1:8765")
    assert not security.csrf_ok("abc", None) and security.csrf_ok("abc", "abc")


def test_charts_escape_text_and_say_when_empty() -> None:
    hostile = '<script>alert("x")</script>'
    svg = plots.chart(hostile, [plots.Line(hostile, [0, 1, 2], [1.0, 3.0, 2.0])])
    assert "<script>" not in svg and "&lt;script&gt;" in svg and svg.startswith("<svg")
    assert "nothing to plot yet" in plots.chart("empty", [])
    assert "no prediction has a known outcome" in plots.calibration_chart({})
    curve = pd.DataFrame({"mean_probability": [0.2, 0.6], "hit_rate": [0.25, 0.5], "n": [4, 4]})
    assert plots.calibration_chart({"30d": curve}).count("<path") == 2  # diagonal + curve
    depth = pd.DataFrame(
        {"side": ["bid", "bid", "ask"], "price": [9.0, 8.0, 11.0], "cumulative_quote": [1, 2, 3]}
    )
    assert plots.depth_chart("A/B", depth).count("<path") == 2


def test_outcomes_join_each_prediction_to_the_candle_it_was_made_on() -> None:
    utc = pd.Timestamp
    predictions = pd.DataFrame(
        {
            "day": [utc("2024-07-01", tz="UTC")] * 3,
            "symbol": ["A/USD", "A/USD", "A/USD"],
            "horizon": ["1h", "30d", "7d"],
            "as_of": [utc("2024-07-02", tz="UTC")] * 3,
            "expected_return": [0.01, 0.1, 0.02],
            "probability": [0.6, 0.7, 0.5],
        }
    )
    labels = pd.DataFrame(
        {
            "symbol": ["A/USD", "A/USD"],
            "timeframe": ["1h", "1d"],
            # the 1h prediction was made on the 23:00 candle, the daily ones on the day's candle
            "date": [utc("2024-07-01 23:00", tz="UTC"), utc("2024-07-01", tz="UTC")],
            "fwd_ret_1h": [-0.002, 0.5],
            "fwd_ret_30d": [None, 0.12],
            "fwd_ret_7d": [None, None],
        }
    )
    joined = outcomes(predictions, labels).set_index("horizon")
    assert joined.loc["1h", "realised_return"] == -0.002 and joined.loc["1h", "outcome"] == "down"
    assert joined.loc["30d", "outcome"] == "up"
    assert joined.loc["7d", "outcome"] == "pending"  # not known yet: never guessed
