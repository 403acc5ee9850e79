"""The dashboard in a REAL browser (Debian's chromium, driven by Playwright) against the
``crypto-assets dashboard`` command serving 127.0.0.1, over data written by a REAL pipeline run
on recorded real candles (8 Binance coins, 2024-01-01..07-19, the demo pipeline: models in
MLflow, predictions, top list, risk on the recorded order books).

Settings are data: the pipeline runs with a 1 % bar (every coin reaches the top list, so the
risk rules judge them all) and a minimum daily dollar volume between the 3rd and 4th most
traded coins (so some coins are held back); the dashboard is started with a bar chosen from the
published probabilities, then with a 99.99 % bar for the empty state. While the dashboard
serves, the market job writes two more days and publishes: every read meanwhile succeeds, the
newer publication is seen, and the predictions left behind show as stale. Screenshots of each
page land in ``test_artifacts/dashboard/`` (ignored by git).
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import dagster as dg
import duckdb
import pandas as pd
import pytest

from crypto_assets.dashboard.app import create_app
from crypto_assets.dashboard.verdicts import VerdictStore
from crypto_assets.definitions import build_definitions
from crypto_assets.ml.selection import select_top_coins
from crypto_assets.runner import dagster_instance, run_job, run_pipeline
from crypto_assets.storage import publish, read_published
from crypto_assets_tests.dashboard.helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SCREENSHOTS,
    DashboardProcess,
    ServedApp,
    clean_environment,
    get,
    request,
)
from crypto_assets_tests.fixtures import PATH_VARIABLES, cut_snapshot, isolated_settings

COINS = [
    "BTC/USDT",
    "ETH/USDT",
    "SOL/USDT",
    "XRP/USDT",
    "DOGE/USDT",
    "BCH/USDT",
    "LINK/USDT",
    "AVAX/USDT",
]
LAST_DAY = "2024-07-19"
PAST_CALLS_FROM = "2024-07-01"
LATER_DAYS = ("2024-07-20", "2024-07-21")  # written while the dashboard serves
UTC_DAY = pd.Timestamp(LAST_DAY, tz="UTC")


def _volume_cut(snapshot) -> float:
    """A minimum median daily dollar volume (30 days to LAST_DAY) that the 3 most traded coins
    clear and the others do not (rule H4), from the snapshot's real candles."""
    daily = pd.read_parquet(snapshot / "ohlcv_1d.parquet")
    daily = daily[daily["date"] < UTC_DAY + pd.Timedelta(days=1)].sort_values("date")
    usd = daily.assign(usd=daily["close"] * daily["volume"]).groupby("symbol")["usd"]
    ranked = sorted(usd.apply(lambda s: s.tail(30).median()), reverse=True)
    return math.sqrt(ranked[2] * ranked[3])


def _bar(settings) -> float:
    """The confidence bar of the dashboard: the highest 30d probability of the last day among
    the coins the risk rules did not hold back, so at least one coin is listed, coins below it
    are not, and held-back coins above it are listed apart."""
    predictions = read_published(settings, "predictions", "horizon = '30d'")
    day = pd.to_datetime(predictions["day"], utc=True)
    last = predictions[day == UTC_DAY]
    assert len(last), "no 30d model in use: the demo's 30d model did not pass its checks"
    risk = read_published(settings, "risk_metrics", "role = 'top'")
    risk = risk[pd.to_datetime(risk["day"], utc=True) == UTC_DAY]
    kept = set(risk.loc[~risk["held_back"], "symbol"])
    assert kept and len(kept) < len(risk), "the volume cut should hold back some coins only"
    return float(last.loc[last["symbol"].isin(kept), "probability"].max())


def _in_use(settings) -> set[str]:
    """The horizons with a model in use on the last day (their predictions were published). An
    8-coin world is a test of plumbing, not of skill: a horizon's model may fail its rank-IC
    check there, and then it has no predictions, which the pages must reflect."""
    predictions = read_published(settings, "predictions")
    day = pd.to_datetime(predictions["day"], utc=True)
    return set(predictions.loc[day == UTC_DAY, "horizon"])


def _environment(root, threshold: float) -> dict[str, str]:
    env = clean_environment()
    env |= {name: str(root / relative) for name, relative in PATH_VARIABLES.items()}
    env["CRYPTO_ASSETS_MLFLOW_TRACKING_URI"] = f"sqlite:///{root}/mlruns/mlflow.db"
    env["CRYPTO_ASSETS_CONFIDENCE_THRESHOLD"] = repr(threshold)
    return env


def _read_while_writing(server: DashboardProcess, write) -> list[tuple[str, int, str]]:
    """GET pages in a loop from another thread while ``write()`` runs; (path, status, body)."""
    reads: list[tuple[str, int, str]] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            for path in ("/", "/healthz", "/coin/ETH/USDT", "/status"):
                status, body, _ = get(server.url + path)
                reads.append((path, status, body))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        write()
        seen = len(reads)
        while len(reads) < seen + 4 and thread.is_alive():  # a full round after the publish
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(timeout=120)
    return reads


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("dashboard")
    snapshot = cut_snapshot(root / "snapshot", COINS, "2024-01-01", "2024-07-22")
    patch = pytest.MonkeyPatch()
    for name in [n for n in os.environ if n.startswith("CRYPTO_ASSETS_") or n == "DAGSTER_HOME"]:
        patch.delenv(name)
    settings = isolated_settings(
        root,
        profile="demo",
        source="snapshot",
        snapshot_dir=snapshot,
        model_n_estimators=60,
        model_max_ece=1.0,  # as in the demo end-to-end test: plumbing, not calibration
        confidence_threshold=0.01,
        risk_min_dollar_volume=_volume_cut(snapshot),
        risk_watch_list=["XMR/USD", "NKN/USDT"],
    )
    run_pipeline(
        settings,
        pd.Timestamp("2024-01-01", tz="UTC"),
        UTC_DAY,
        progress=lambda _: None,
        skip_jobs=("sentiment_job",),
    )
    defs, instance = build_definitions(settings), dagster_instance(settings)
    run_job(
        defs, "predictions_job", instance, profile="demo", day_range=(PAST_CALLS_FROM, LAST_DAY)
    )
    first = publish(settings.resolved_duckdb_path)
    threshold = _bar(settings)
    env = _environment(root, threshold)
    # the reader in its own process, as in production: `crypto-assets dashboard --demo`
    server = DashboardProcess(env, root / "dashboard.log").start()
    assert get(server.url + "/status")[0] == 200  # builds its catalog once, before the loop

    def write_later_days() -> None:
        run_job(defs, "market_job", instance, profile="demo", day_range=LATER_DAYS)
        publish(settings.resolved_duckdb_path)

    try:
        reads = _read_while_writing(server, write_later_days)
    finally:
        server.stop()
    # the pages below are served in this process (so coverage sees the app), same settings
    shown = settings.model_copy(update={"confidence_threshold": threshold})
    with ServedApp(create_app(shown)) as url:
        yield {
            "root": root,
            "settings": settings,
            "dashboard_settings": shown,
            "defs": defs,
            "instance": instance,
            "env": env,
            "threshold": threshold,
            "url": url,
            "reads": reads,
            "first_publication": str(first.published_at),
        }
    patch.undo()


@pytest.fixture(scope="module")
def browser(world: dict) -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip(
            "Debian's chromium is not installed (apt-get install -y chromium; .ci/run does)"
        )
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _page(browser, url: str, shot: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    response = page.goto(url)
    assert response is not None and response.status == 200, url
    page.screenshot(path=str(SCREENSHOTS / shot), full_page=True)
    return page


def test_reads_never_fail_while_a_run_writes_and_publishes(world: dict) -> None:
    reads = world["reads"]
    assert len(reads) >= 8
    failed = [(path, status, body[:200]) for path, status, body in reads if status != 200]
    assert failed == []
    # DuckDB's lock conflict ("Could not set lock on file", "Conflicting lock is held") as a
    # word: the status page names the token_unlocks source, which is no error
    errors = re.compile(r"\block\b|Traceback|IO Error")
    assert not [(p, errors.search(body)[0]) for p, _, body in reads if errors.search(body)]
    seen = [re.search(r'"published_at":"([^"]+)"', b)[1] for p, _, b in reads if p == "/healthz"]
    assert seen[0] == world["first_publication"]
    assert len(set(seen)) == 2 and seen[-1] != seen[0]  # the newer copy is seen, no restart
    assert seen == sorted(seen)  # never back to an older one


def test_signals_show_only_passing_coins_in_order(world: dict, browser) -> None:
    settings, threshold = world["settings"], world["threshold"]
    predictions = read_published(settings, "predictions", "day = ?", [UTC_DAY.to_pydatetime()])
    table, _ = select_top_coins(predictions, threshold)
    risk = read_published(
        settings, "risk_metrics", "role = 'top' and day = ?", [UTC_DAY.to_pydatetime()]
    )
    held = set(risk.loc[risk["held_back"], "symbol"])
    expected = [s for s in table["symbol"] if s not in held]
    assert expected and len(expected) < len(COINS)  # some listed, some not
    page = _page(browser, world["url"] + "/", "signals.png")
    rows = page.locator("#signals tr.signal")
    shown = [rows.nth(i).get_attribute("data-symbol") for i in range(rows.count())]
    assert shown == expected
    returns = [float(t.strip("%+")) for t in page.locator("#signals td.er30").all_inner_texts()]
    assert returns == sorted(returns, reverse=True)
    for symbol in set(COINS) - set(expected):
        assert page.locator(f'#signals tr[data-symbol="{symbol}"]').count() == 0
    held_rows = page.locator("#held-back tr.held")
    assert {held_rows.nth(i).get_attribute("data-symbol") for i in range(held_rows.count())} == (
        held & set(table["symbol"])
    )
    assert "daily dollar volume" in page.locator("#held-back td.reason-held").first.inner_text()
    assert "coins reached" in page.locator("#reason").inner_text()
    stale = page.locator(".stale-signals").inner_text()
    assert stale == "these signals are from 2024-07-19; the market data reach 2024-07-21"
    first = page.locator("#signals tr.signal").first
    assert "no order book" in first.locator("td.flags").inner_text()  # 2024 coins: none recorded
    assert "%" in first.locator("td").nth(9).inner_text()  # a suggested allocation


def test_coin_page_shows_price_calls_outcomes_and_risk(world: dict, browser) -> None:
    page = _page(browser, world["url"] + "/coin/ETH/USDT", "coin.png")
    assert page.locator("#price svg circle").count() > 0  # the 7d / 30d calls on the price
    outcomes = page.locator("#past-calls td.outcome").all_inner_texts()
    assert {"pending"} < set(outcomes) <= {"up", "down", "pending"}  # known ones and pending
    in_use = _in_use(world["settings"])
    assert len(in_use) >= 3 and "30d" in in_use
    assert len(page.locator("#explanation tbody tr").all()) == len(in_use)  # each one explained
    assert "Judged on 2024-07-19" in page.locator("#risk").inner_text()
    watch = _page(browser, world["url"] + "/coin/XMR/USD", "coin-watch-list.png")
    assert "watch-list coin" in watch.locator("#risk").inner_text()
    assert "not current" in watch.locator("#risk").inner_text()  # a 2021 book, said so
    assert watch.locator("#depth svg path").count() == 2  # bids and asks of the real book


def test_feedback_round_trips_and_survives_a_restart(world: dict, browser) -> None:
    settings = world["settings"]
    url = world["url"]
    page = _page(browser, url + "/", "signals-before-feedback.png")
    row = page.locator("#signals tr.signal").first
    symbol = row.get_attribute("data-symbol")
    row.locator('input[name="note"]').fill("breakout on rising volume")
    row.locator('button[value="good"]').click()
    page.wait_for_url(re.compile(r".*#feedback-saved$"))
    marks = page.locator(f'#signals tr[data-symbol="{symbol}"] li.mark')
    assert marks.first.inner_text().startswith("good by anonymous: “breakout on rising volume”")
    stored = VerdictStore(settings.resolved_feedback_path).read()
    assert len(stored) == 1 and stored.loc[0, "symbol"] == symbol
    assert stored.loc[0, "day"] == UTC_DAY and stored.loc[0, "horizon"] == "30d"
    # a restart: the `crypto-assets dashboard` command in a new process shows the verdict
    restarted = DashboardProcess(world["env"], world["root"] / "dashboard.log").start()
    try:
        again = _page(browser, restarted.url + f"/coin/{symbol}", "coin-after-restart.png")
        assert "breakout on rising volume" in again.locator("#past-calls").inner_text()
    finally:
        restarted.stop()
    run_job(world["defs"], "verdicts_job", world["instance"], profile="demo")  # the asset reads
    with duckdb.connect(str(settings.resolved_duckdb_path), read_only=True) as conn:
        table = conn.execute("select symbol, verdict, note from crypto.user_verdicts").fetchall()
    assert table == [(symbol, "good", "breakout on rising volume")]


def test_status_shows_a_stale_asset_as_stale(world: dict, browser) -> None:
    page = _page(browser, world["url"] + "/status", "status.png")

    def state(asset: str) -> str:
        return page.locator(f'#assets tr[data-asset="{asset}"] td.state').inner_text()

    assert state("predictions") == "stale" and state("top_coins") == "stale"
    assert state("clean_ohlcv") == "fresh"  # written while the dashboard served
    assert state("text_sentiment") == "missing"  # the sentiment job was skipped
    assert "replay" in page.locator("#sources").inner_text()  # the recorded books' status rows
    assert page.locator("#plots svg").count() == 3  # calibration, rank IC and coverage
    assert "market_job" in page.locator("#run-list").inner_text()
    # the pipeline's feedback job published model_health on the last day, when no call had an
    # outcome yet: every horizon "insufficient", and the plots drawn from the known outcomes
    health = page.locator("#model-health tbody tr").all_inner_texts()
    in_use = _in_use(world["settings"])
    assert len(in_use) >= 3
    assert len(health) == len(in_use) and all("insufficient" in row for row in health)
    assert "published predictions with known outcomes" in page.locator("#plots").inner_text()


def test_empty_state_explains_itself(world: dict, browser) -> None:
    strict = world["dashboard_settings"].model_copy(update={"confidence_threshold": 0.9999})
    with ServedApp(create_app(strict)) as url:
        page = _page(browser, url + "/", "signals-empty.png")
        assert page.locator("#signals").count() == 0
        reason = page.locator("#empty").inner_text()
        assert reason.startswith("No coin passes today: no coin reached 100% 30d confidence;")
        assert "the highest was" in reason or "tie at the highest" in reason
        assert "BELOW the 100.0% threshold" in page.locator("#near-title").inner_text()
        assert page.locator("#near tr.near").count() == 5


def _form(world: dict) -> tuple[dict[str, str], dict[str, str]]:
    """A feedback form for a real prediction on the signals page, with the page's cookie and
    form token (one page load: one token)."""
    status, body, headers = get(world["url"] + "/")
    assert status == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', body)[1]
    row = re.search(
        r'name="day" value="([^"]+)">\s*<input type="hidden" name="symbol" value="([^"]+)">'
        r'\s*<input type="hidden" name="horizon" value="30d">\s*<input type="hidden" '
        r'name="model_version" value="([^"]+)"',
        body,
    )
    form = {
        "csrf_token": token,
        "day": row[1],
        "symbol": row[2],
        "horizon": "30d",
        "model_version": row[3],
        "verdict": "bad",
        "back": "/",
    }
    return form, {
        "Cookie": headers["set-cookie"].split(";")[0],
        "Origin": world["url"],
        "Content-Type": "application/x-www-form-urlencoded",
    }


def test_bad_input_gets_a_clear_4xx_and_stores_nothing(world: dict) -> None:
    url = world["url"]
    store = VerdictStore(world["settings"].resolved_feedback_path)
    before = store.count()
    pages = {
        "/coin/NOPE/USDT": (404, "no coin NOPE/USDT in the published results"),
        "/coin/btc/usdt": (400, "a coin is named like /coin/BTC/USD"),
        "/coin/BTC/USDT?%3Cscript%3Ealert(1)%3C/script%3E=1": (400, "unknown query parameter"),
        "/?near=1%27%3B%20drop%20table%20crypto.predictions%3B--": (400, "whole number"),
        "/?near=1&near=2": (400, "more than once"),
        "/?q=" + "A" * 2000: (414, "query string longer"),
        "/%2e%2e/%2e%2e/etc/passwd": (404, "no such page"),
        "/feedback": (405, "method not allowed"),
    }
    for path, (code, words) in pages.items():
        status, body, _ = get(url + path)
        assert (status, words in body) == (code, True), (path, status, body[:300])
        assert "<script>alert" not in body  # nothing hostile echoed unescaped
    form, headers = _form(world)
    good = urlencode(form)

    def altered(**fields: str) -> str:
        return urlencode(form | fields)

    posts = [
        (good, {**headers, "Origin": "http://evil.example"}, 403, "cross-site post refused"),
        (good, {k: v for k, v in headers.items() if k != "Origin"}, 403, "cross-site"),
        (altered(csrf_token="forged"), headers, 403, "form token is missing or stale"),
        (good, {**headers, "Cookie": "csrf=forged"}, 403, "form token is missing or stale"),
        (altered(note="x" * 10_000), headers, 413, "larger than 8192 bytes"),
        (altered(note="x" * 1500), headers, 413, "longer than 1000 characters"),
        (altered(verdict="maybe"), headers, 422, "&#39;good&#39; or &#39;bad&#39;"),
        (altered(model_version="999"), headers, 404, "no such prediction"),
        (altered(symbol="ETH/USDT<script>"), headers, 422, "market symbol"),
        (good + "&admin=1", headers, 400, "unknown or repeated fields"),
        (good, {**headers, "Content-Type": "application/json"}, 415, "form post"),
    ]
    for body, post_headers, code, words in posts:
        status, answer, _ = request(url + "/feedback", body.encode(), post_headers)
        assert (status, words in answer) == (code, True), (code, words, status, answer[:300])
    assert store.count() == before  # nothing stored by any of them
    status, _, answer_headers = request(url + "/feedback", good.encode(), headers)
    assert status == 303 and answer_headers["location"] == "/#feedback-saved"
    assert store.count() == before + 1


def test_run_activity_lists_every_run_of_the_instance(world: dict) -> None:
    """The status page's run list is the instance's (read-only): the jobs the fixture ran."""
    status, body, _ = get(world["url"] + "/status")
    assert status == 200
    runs = world["instance"].get_run_records(limit=20)
    for record in runs[:5]:
        assert record.dagster_run.run_id[:8] in body
    assert all(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in runs)


def test_top_command_shows_each_coins_risk(world: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """`crypto-assets top` carries the same risk verdicts: held back with the reason, flags,
    suggested allocation."""
    from rich.console import Console
    from typer.testing import CliRunner

    import crypto_assets.cli as cli_module
    from crypto_assets.cli import app

    for name, value in world["env"].items():
        if name.startswith("CRYPTO_ASSETS_") or name == "DAGSTER_HOME":
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("CRYPTO_ASSETS_CONFIDENCE_THRESHOLD", "0.01")  # the pipeline's bar
    payload = json.loads(CliRunner().invoke(app, ["top", "--json", "--demo"]).stdout)
    coins = {c["symbol"]: c for c in payload["coins"]}
    assert set(coins) == set(COINS)
    held = [c for c in coins.values() if c["held_back"]]
    kept = [c for c in coins.values() if not c["held_back"]]
    assert held and kept
    assert all("daily dollar volume" in c["held_back_reason"] for c in held)
    assert all(c["suggested_allocation"] > 0 for c in kept)
    assert all("no order book" in c["risk_flags"] for c in coins.values())
    # a wide console whatever the terminal (the module's console may have fixed its width)
    monkeypatch.setattr(cli_module, "out", Console(width=300))
    text = CliRunner().invoke(app, ["top", "--demo"]).stdout
    assert "HELD BACK: daily dollar volume" in text and "allocation" in text
