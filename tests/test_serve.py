"""``infergy serve`` end to end: a real server in a child process on a loopback port, its answers against the command
line's JSON, bad input over HTTP, a bounded load, and the calculator page in headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")

from infergy.cli import main  # noqa: E402
from infergy.serve import MAX_BODY_BYTES, MAX_SAMPLES, Running  # noqa: E402

#: The browser tests fail, not skip, without Chromium where this is set (CI sets it: the Makefile installs it).
REQUIRE_BROWSER = "INFERGY_REQUIRE_BROWSER"


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server for the module: its own compile cache and working folder, so a test can see nothing is written."""
    cache = tmp_path_factory.mktemp("serve-compile-cache")
    cwd = tmp_path_factory.mktemp("serve-cwd")
    env = {**os.environ, "INFERGY_COMPILE_CACHE": str(cache)}
    with Running("--warm", "estimate,regions", env=env, cwd=cwd) as running:
        running.cache, running.cwd = cache, cwd
        running.files_at_start = _listing(cache)
        yield running


def _cli_json(capsys, *argv: str):
    capsys.readouterr()
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


QUERY = {"model": "Llama 3.1 70B", "gpu": "H100", "output_tokens": 300, "boundary": "facility", "seed": 1}


def test_estimate_get_and_post_are_the_cli_json(server, capsys):
    cli = _cli_json(capsys, "estimate", "--model", "Llama 3.1 70B", "--gpu", "H100", "--output-tokens", "300",
                    "--boundary", "facility", "--seed", "1")
    got = httpx.get(server.url + "api/estimate", params=QUERY, timeout=60)
    assert got.status_code == 200, got.text
    assert got.json() == cli
    posted = httpx.post(server.url + "api/estimate", json=QUERY, timeout=60)
    assert posted.status_code == 200, posted.text
    assert posted.json() == cli
    other_seed = httpx.get(server.url + "api/estimate", params={**QUERY, "seed": 2}, timeout=60).json()
    assert other_seed["value"]["median"] != cli["value"]["median"]  # the seed reaches the answer


def test_pathways_fleet_regions_are_the_cli_json(server, capsys):
    cases = [
        ("pathways", {"model": "Llama 3.1 70B", "regime": "traditional", "levers": "b200,load-x2",
                      "combine": ["b200,load-x2"], "samples": 4000, "seed": 3},
         ["--model", "Llama 3.1 70B", "--regime", "traditional", "--levers", "b200,load-x2", "--combine",
          "b200,load-x2", "--samples", "4000", "--seed", "3"]),
        ("fleet", {"queries_per_day": 2e9, "long_share": 0.2, "samples": 4000, "no_paper": True},
         ["--queries-per-day", "2e9", "--long-share", "0.2", "--samples", "4000", "--no-paper"]),
        ("regions", {"continent": "Europe", "sort": "intensity"}, ["--continent", "Europe", "--sort", "intensity"]),
    ]
    for command, fields, argv in cases:
        cli = _cli_json(capsys, command, *argv)
        got = httpx.get(server.url + f"api/{command}", params=fields, timeout=120)
        assert got.status_code == 200, (command, got.text)
        assert got.json() == cli, command
        posted = httpx.post(server.url + f"api/{command}", json=fields, timeout=120)
        assert posted.json() == cli, command


def test_warm_requests_compile_nothing_and_write_nothing(server):
    before = httpx.get(server.url + "health").json()
    assert server.files_at_start, "the server's warm-up fills its compile cache"
    for fields in ({"model": "Llama 3.1 8B", "seed": 11}, {"model": "Llama 3.1 405B", "output_tokens": 777},
                   {"model": "Mixtral 8x22B", "input_tokens": 1000, "output_tokens": 50},
                   {"total_params_b": 120, "active_params_b": 5, "region": "FR"},
                   {"model": "Llama 3.1 70B", "boundary": "gpu", "regime": "reasoning", "per": "token"}):
        r = httpx.get(server.url + "api/estimate", params=fields, timeout=60)
        assert r.status_code == 200, r.text
    after = httpx.get(server.url + "health").json()
    assert after["answers_computed"] == before["answers_computed"] + 5
    assert after["programs_compiled"] == before["programs_compiled"], "a warm request compiled a program"
    # a new agent step count is a new program: compiled in memory, never written to the cache or anywhere else
    assert httpx.get(server.url + "api/estimate", params={"model": "Llama 3.1 70B", "agent_steps": 6},
                     timeout=120).status_code == 200
    assert httpx.get(server.url + "health").json()["programs_compiled"] > after["programs_compiled"]
    assert _listing(server.cache) == server.files_at_start
    assert _listing(server.cwd) == {}
    assert "this machine only" in " ".join(server.log) and server.url.startswith("http://127.0.0.1:")


@pytest.mark.parametrize("params, message", [
    ({"model": "Llama 3.1 70B", "gpu": "NOPE"}, "unknown GPU 'NOPE'"),
    ({"model": "Llama 3.1 70B", "output_tokens": "-5"}, "output_tokens: must be > 0, got -5"),
    ({"model": "Llama 3.1 70B", "output_tokens": "nan"}, "output_tokens: Input should be a finite number"),
    ({"model": "Llama 3.1 70B", "input_tokens": "inf"}, "input_tokens: Input should be a finite number"),
    ({"model": "Llama 3.1 70B", "output_tokens": "lots"}, "output_tokens: Input should be a valid number"),
    ({"model": "Llama 3.1 70B", "samples": "1e12"}, f"samples: Input should be less than or equal to {MAX_SAMPLES}"),
    ({"model": "Llama 3.1 70B", "output_token": "3"}, "output_token: Extra inputs are not permitted"),
    ({"model": "Llama 3.1 70B", "boundary": "room"}, "boundary: Input should be 'gpu', 'node', 'facility' or"),
    ({"model": "Llama 3.1 70B", "pue": "7"}, "pue: "),
    ({"model": "Llama 3.1 70B", "tool_tokens": "5"}, "give agent_steps K > 1"),
    ({"model": "No Such Model 3B"}, "No Such Model 3B"),
    ({"model": "Llama 3.1 70B", "region": "IE", "clean_share": "0.5", "market_based": "30"},
     "market_based: not allowed with argument clean_share"),
])
def test_bad_input_over_http_is_422_with_one_line(server, params, message):
    r = httpx.get(server.url + "api/estimate", params=params, timeout=60)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert message in detail and "\n" not in detail


def test_bad_bodies_are_422_or_413_and_the_server_keeps_answering(server):
    url = server.url + "api/estimate"
    cases = [
        (dict(json={"model": "Llama 3.1 70B", "output_tokens": "300"}), 422, "output_tokens: Input should be a valid number"),
        (dict(content=b'{"model": "Llama 3.1 70B", "output_tokens": NaN}',
              headers={"content-type": "application/json"}), 422, "finite number"),
        (dict(content=b'{"model": ', headers={"content-type": "application/json"}), 422, "not valid JSON"),
        (dict(json={"model": "Llama 3.1 70B", "samples": 1e15}), 422, "samples"),
        (dict(json={"model": "Llama 3.1 70B", "seed": True}), 422, "seed"),
        (dict(content=b'{"model": "' + b"x" * (MAX_BODY_BYTES + 10) + b'"}',
              headers={"content-type": "application/json"}), 413, ""),
    ]
    for kwargs, status, message in cases:
        r = httpx.post(url, timeout=60, **kwargs)
        assert r.status_code == status, (kwargs, r.text)
        assert message in r.text and "\n" not in r.text.strip()

    def chunks():  # no Content-Length: the limit holds as the body arrives
        for _ in range(8):
            yield b"x" * (MAX_BODY_BYTES // 4)

    r = httpx.post(url, content=chunks(), headers={"content-type": "application/json"}, timeout=60)
    assert r.status_code == 413
    assert httpx.get(server.url + "health").json()["status"] == "ok"
    assert httpx.get(url, params={"model": "Llama 3.1 70B", "seed": 7}, timeout=60).status_code == 200


def test_kept_alive_connections_answer_without_delay(server):
    """Answers from memory come back at once on a kept-alive connection (TCP_NODELAY: with Nagle on, each waits
    ~40 ms for the client's delayed ACK)."""
    with httpx.Client() as client:
        client.get(server.url + "health")
        seconds = []
        for _ in range(9):
            t0 = time.perf_counter()
            assert client.get(server.url + "health").status_code == 200
            seconds.append(time.perf_counter() - t0)
    assert statistics.median(seconds) < 0.035, seconds


def test_openapi_docs_and_the_request_models(server):
    spec = httpx.get(server.url + "openapi.json").json()
    for command in ("estimate", "pathways", "fleet", "regions"):
        assert {"get", "post"} <= set(spec["paths"][f"/api/{command}"])
    body = spec["components"]["schemas"]["EstimateBody"]["properties"]
    assert {"model", "output_tokens", "agent_steps", "region", "seed"} <= set(body)
    assert not {"posterior", "device", "batch", "json", "force"} & set(body)
    assert "Swagger" in httpx.get(server.url + "docs").text


def test_bounded_load_has_no_errors_and_consistent_answers(server):
    """500 requests from 16 concurrent clients over 40 queries: every answer 200 and identical to its query's
    first; p50/p99 printed (the measured figures: docs/serving.md)."""
    queries = [{"model": m, "seed": s, "output_tokens": o}
               for m in ("Llama 3.1 8B", "Llama 3.1 70B", "Qwen3-32B", "Mixtral 8x7B")
               for s in (0, 1) for o in (100, 200, 300, 400, 500)]
    order = [queries[i % len(queries)] for i in range(500)]
    latencies, answers = [], {}

    def one(client: httpx.Client, fields: dict):
        started = time.perf_counter()
        r = client.get(server.url + "api/estimate", params=fields, timeout=300)
        return fields, r.status_code, r.content, time.perf_counter() - started

    with httpx.Client(limits=httpx.Limits(max_connections=16)) as client, ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda f: one(client, f), order))
    errors = [(f, status) for f, status, _, _ in results if status != 200]
    assert not errors
    for fields, _, content, seconds in results:
        answers.setdefault(json.dumps(fields, sort_keys=True), set()).add(content)
        latencies.append(seconds)
    assert all(len(v) == 1 for v in answers.values()) and len(answers) == len(queries)
    q = statistics.quantiles(latencies, n=100)
    print(f"load: 500 requests, 16 clients, 40 queries: p50 {q[49] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms")
    assert httpx.get(server.url + "health").json()["status"] == "ok"


# --- the calculator in a real browser -------------------------------------------------------------------------

def _browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        why = "Chromium and chromedriver (Debian: chromium chromium-driver; `make test` installs them as root)"
        if os.environ.get(REQUIRE_BROWSER):
            pytest.fail(f"{REQUIRE_BROWSER} is set but {why} are missing")
        pytest.skip(f"no {why}")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,1400",
                "--disable-gpu"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(driver), options=options)


@pytest.fixture(scope="module")
def browser():
    b = _browser()
    yield b
    b.quit()


def _wait_answer(browser, timeout: float = 120.0) -> str:
    """'answer' or 'error', whichever the page shows once it has asked the server."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def shown(d):
        if d.find_element(By.ID, "result").get_attribute("aria-busy") == "true":
            return False
        for which in ("answer", "error"):
            if d.find_element(By.ID, which).is_displayed():
                return which
        return False

    return WebDriverWait(browser, timeout).until(shown)


def _values(browser) -> dict[str, float]:
    from selenium.webdriver.common.by import By

    return {k: float(browser.find_element(By.ID, k).get_attribute("data-value"))
            for k in ("median", "mean", "p05", "p25", "p75", "p95")}


def test_calculator_form_answers_as_the_cli(server, browser, capsys):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    browser.get(server.url)
    WebDriverWait(browser, 60).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
    Select(browser.find_element(By.ID, "model")).select_by_value("Llama 3.1 405B")
    Select(browser.find_element(By.ID, "gpu")).select_by_value("H200-SXM-141GB")
    browser.find_element(By.ID, "output_tokens").send_keys("500")
    browser.find_element(By.ID, "input_tokens").send_keys("2000")
    Select(browser.find_element(By.ID, "boundary")).select_by_value("node")
    Select(browser.find_element(By.ID, "region")).select_by_value("IE")
    seed = browser.find_element(By.ID, "seed")
    seed.clear()
    seed.send_keys("4")
    browser.find_element(By.ID, "submit").click()
    assert _wait_answer(browser) == "answer"
    cli = _cli_json(capsys, "estimate", "--model", "Llama 3.1 405B", "--gpu", "H200-SXM-141GB", "--output-tokens",
                    "500", "--input-tokens", "2000", "--boundary", "node", "--region", "IE", "--seed", "4")
    assert _values(browser) == cli["value"]
    carbon = float(browser.find_element(By.ID, "impact-carbon_g").get_attribute("data-value"))
    assert carbon == cli["impacts"]["carbon_g"]["median"]
    assert "node" in browser.find_element(By.ID, "boundary-line").text
    assert "accelerators + host" in browser.find_element(By.ID, "boundary-line").text
    # the answer is in the address: the page's own URL, opened afresh, shows it again
    shared = browser.current_url
    assert "model=Llama+3.1+405B" in shared and "seed=4" in shared
    browser.get("about:blank")
    browser.get(shared)
    assert _wait_answer(browser) == "answer"
    assert _values(browser) == cli["value"]
    assert Select(browser.find_element(By.ID, "gpu")).first_selected_option.get_attribute("value") == "H200-SXM-141GB"
    refs = browser.find_element(By.ID, "reference-list").text
    assert "paper mode" in refs and "Gemini" in refs  # beside paper mode and the operators' disclosures


def test_calculator_shows_a_bad_input_as_a_readable_message(server, browser):
    from selenium.webdriver.common.by import By

    browser.get(server.url + "?model=Llama+3.1+70B&output_tokens=-5")
    assert _wait_answer(browser) == "error"
    text = browser.find_element(By.ID, "error").text
    assert text == "Could not answer: output_tokens: must be > 0, got -5"
    assert browser.find_element(By.ID, "error").get_attribute("role") == "alert"
    browser.get(server.url + "?model=Llama+3.1+70B&gpu=Abacus")
    assert _wait_answer(browser) == "error"
    assert "unknown GPU 'Abacus'" in browser.find_element(By.ID, "error").text


def test_calculator_is_usable_from_the_keyboard(server, browser):
    """Every control has a label, and Tab then Enter on the form submits it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server.url)
    WebDriverWait(browser, 60).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
    for control in browser.find_elements(By.CSS_SELECTOR, "form input, form select"):
        name = control.get_attribute("id")
        assert browser.find_elements(By.CSS_SELECTOR, f"label[for='{name}']"), f"{name} has no label"
    field = browser.find_element(By.ID, "output_tokens")
    field.send_keys("250")
    field.send_keys(Keys.ENTER)
    assert _wait_answer(browser) == "answer"
    assert "output_tokens=250" in browser.current_url
    assert browser.find_element(By.ID, "plot").get_attribute("aria-label").startswith("Wh/query: median")


def test_serve_refuses_a_port_in_use_at_once(capsys):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
