"""Drive `infogan explore` in a real headless browser: every control of the page, for each run.

The tests check the server without a browser (tests/test_explore.py) and that the page's script
parses; this checks what only a browser shows: the script running, the images following the
controls, errors reaching the page. Not part of CI (it needs a browser).

    pip install playwright            # the Python driver; the browser is Debian's:
    apt-get install chromium          # or pass --chromium PATH
    python scripts/browser_check.py RUN [RUN ...]

Prints what each control did and exits 1 if anything went wrong: a script error, a console error
other than the three 400s it provokes on purpose, an image that did not load, a refused request
whose reason the page did not show. Screenshots go to --shots (default /tmp/explore_shots).
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check(run: str, chromium: str, shots: Path) -> list[str]:
    from playwright.sync_api import sync_playwright

    port = _free_port()
    cmd = [sys.executable, "-m", "infogan.cli", "explore", run, "--port", str(port)]
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    failures: list[str] = []
    console: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=chromium,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            # bypass_csp: the page forbids eval, which Playwright's own evaluate() uses.
            context = browser.new_context(viewport={"width": 1400, "height": 1000}, bypass_csp=True)
            page = context.new_page()
            page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: failures.append(f"script error: {e}"))
            for _ in range(100):  # the server loads the model first
                try:
                    page.goto(f"http://127.0.0.1:{port}/")
                    break
                except Exception:
                    time.sleep(0.3)

            def settle() -> None:
                page.wait_for_timeout(300)
                page.wait_for_load_state("networkidle")

            def natural(img: str) -> list[int]:
                return page.evaluate(f"[{img}.naturalWidth, {img}.naturalHeight]")

            def err() -> str:
                return page.inner_text("#err")

            for _ in range(150):
                if natural("gridimg")[0]:
                    break
                page.wait_for_timeout(200)
            print(f"  page: {page.inner_text('#info')}; grid image {natural('gridimg')}")
            if not natural("gridimg")[0]:
                failures.append("the grid image never loaded")
            buttons = page.locator(".cats button")
            if buttons.count() > 1:
                before = page.evaluate("gridimg.src")
                buttons.nth(1).click()
                settle()
                if page.evaluate("gridimg.src") == before:
                    failures.append("a categorical button did not change the grid")
                print(f"  {buttons.count()} value buttons; clicked {buttons.nth(1).inner_text()!r}")
            sliders = page.locator("#codes input[type=range]")
            if sliders.count():
                handle = sliders.nth(0).element_handle()
                for i in range(40):  # a drag: many input events, requests coalesced
                    page.evaluate(
                        "([el, v]) => { el.value = v; el.dispatchEvent(new Event('input')); }",
                        [handle, -1 + i * 0.05],
                    )
                settle()
                shown = page.locator("#codes output").nth(0).inner_text()
                print(f"  {sliders.count()} sliders; after a drag the first reads {shown}")
                if shown != "0.95":
                    failures.append(f"slider shows {shown} after a drag to 0.95")
            for code in page.evaluate("[...tcode.options].map(o => o.value)")[1:]:
                page.select_option("#tcode", code)
                settle()
                size = natural("travimg")
                caption = page.evaluate("document.getElementById('travcap')?.textContent")
                print(f"  traversal of {code}: {size}, {caption!r}")
                if not size[0] or err():
                    failures.append(f"traversal of {code}: {size}, error {err()!r}")
                page.screenshot(path=str(shots / f"{Path(run).name}_{code}.png"), full_page=True)
            if page.evaluate("tcode.options.length") > 1:
                for steps in ("1", "100000", "2.5"):  # refused by the server: the page says why
                    page.fill("#tsteps", steps)
                    page.locator("#tsteps").dispatch_event("change")
                    settle()
                    if "steps" not in err():
                        failures.append(f"steps {steps}: refused, but the page shows {err()!r}")
                    if f" {steps} steps" in page.inner_text("#travcap"):
                        failures.append(f"steps {steps}: refused, but captioned as shown")
                page.fill("#tsteps", "5")
                page.locator("#tsteps").dispatch_event("change")
                settle()
                if err() or natural("travimg")[0] == 0:
                    failures.append(f"steps 5 after bad ones: error {err()!r}")
                console[:] = [c for c in console if "400" not in c]  # the three above
            for seed in ("-1", "", "4294967296"):
                page.fill("#seed", seed)
                page.locator("#seed").dispatch_event("change")
                settle()
                if "seed" not in err():
                    failures.append(f"seed {seed!r} accepted without a word")
            page.click("#newnoise")
            settle()
            if err():
                failures.append(f"new noise left an error: {err()!r}")
            browser.close()
    finally:
        server.terminate()
        log = server.communicate(timeout=10)[0]
    failures += [f"console: {c}" for c in console]
    if failures:
        print("  server output:\n" + log[-1500:])
    return failures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="run directories (any codes)")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--shots", type=Path, default=Path("/tmp/explore_shots"))
    a = ap.parse_args()
    a.shots.mkdir(parents=True, exist_ok=True)
    bad = 0
    for run in a.runs:
        print(f"{run}:")
        failures = check(run, a.chromium, a.shots)
        for f in failures:
            print(f"  FAIL {f}")
        bad += bool(failures)
    print(f"{len(a.runs) - bad} of {len(a.runs)} runs passed; screenshots in {a.shots}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
