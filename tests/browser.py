"""Debian's Chromium, driven by Playwright, for the tests that look at pages as a person does."""

from __future__ import annotations

from typing import Any

from local_stack import LocalAirflow

# As the probe of this machine kind recommends: no sandbox as root, and none of Chromium's
# background connections, which the closed network refuses.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def sign_in(page: Any, airflow: LocalAirflow) -> None:
    """Log into the Airflow UI as the local admin, as a person would."""
    page.set_default_timeout(90_000)  # a loaded 2-core CI machine renders slowly
    page.goto(airflow.base_url + "/", wait_until="networkidle")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(airflow.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)
