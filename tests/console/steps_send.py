"""Browser steps for sending and activity (issue 27), to compose the issue's full path:
each is a plain blocking function taking a ``tests.console.browser.Browser`` (run it with
``in_thread``), works in either language (it waits on addresses, not headings) and calls
``check(name)`` on every page it reaches when given one (axe-core and a screenshot:
``Browser.check``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from tests.console.browser import Browser

Check = Callable[[str], None] | None
_NOTIFICATION = re.compile(r"/notifications/([0-9a-f-]{36})")
_JOB = re.compile(r"/jobs/([0-9a-f-]{36})")


def _wait(b: Browser, found: Callable[[], bool], what: str, seconds: float = 15) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(b.driver, seconds).until(lambda _: found(), what)


def _path(b: Browser) -> str:
    return str(b.driver.current_url)


def _submit(b: Browser) -> None:
    from selenium.webdriver.common.by import By

    b.driver.find_element(By.CSS_SELECTOR, "main form[method=post] button[type=submit]").click()


def _template_link(
    b: Browser, service_id: str, template_name: str, upload: bool, check: Check = None
) -> None:
    from selenium.webdriver.common.by import By

    b.get(f"/console/services/{service_id}/send")
    if check:
        check("send-choose")
    row = b.driver.find_element(By.XPATH, f"//tbody/tr[td[1][normalize-space()='{template_name}']]")
    links = row.find_elements(By.CSS_SELECTOR, "a")
    href = next(a for a in links if (a.get_attribute("href") or "").endswith("/upload") == upload)
    href.click()


def send_one_off(
    b: Browser,
    service_id: str,
    template_name: str,
    recipient: str,
    values: dict[str, str],
    check: Check = None,
) -> str:
    """Choose the template, give the recipient and each placeholder's value (by its
    label), check the rendered message, send it; the notification's id."""
    from selenium.webdriver.common.by import By

    _template_link(b, service_id, template_name, upload=False, check=check)
    _wait(b, lambda: bool(b.driver.find_elements(By.ID, "recipient")), "the send form")
    if check:
        check("send-form")
    b.driver.find_element(By.ID, "recipient").send_keys(recipient)
    for name, value in values.items():
        label = b.driver.find_element(By.XPATH, f"//label[normalize-space()='{name}']")
        b.driver.find_element(By.ID, label.get_attribute("for")).send_keys(value)
    _submit(b)
    _wait(b, lambda: bool(b.driver.find_elements(By.CSS_SELECTOR, ".send-preview")),
          "the rendered message")  # fmt: skip
    if check:
        check("send")
    _submit(b)
    _wait(b, lambda: _NOTIFICATION.search(_path(b)) is not None, "the notification page")
    found = _NOTIFICATION.search(_path(b))
    assert found is not None
    if check:
        check("notification")
    return found[1]


def upload_csv(
    b: Browser, service_id: str, template_name: str, csv_file: Path, check: Check = None
) -> list[tuple[str, str, str]] | str:
    """Upload a CSV for the template: the rows' errors shown (line, column, problem), or,
    when every row passed, send it and return the job's id once its page shows."""
    from selenium.webdriver.common.by import By

    _template_link(b, service_id, template_name, upload=True)
    _wait(b, lambda: bool(b.driver.find_elements(By.ID, "file")), "the upload form")
    if check:
        check("upload-form")
    b.driver.find_element(By.ID, "file").send_keys(str(csv_file))
    _submit(b)
    _wait(b, lambda: bool(b.driver.find_elements(By.CSS_SELECTOR, "table.row-errors"))
          or "/uploads/" in _path(b), "the file's check")  # fmt: skip
    errors = b.driver.find_elements(By.CSS_SELECTOR, "table.row-errors tbody tr")
    if errors:
        if check:
            check("upload")
        rows = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")] for tr in errors]
        return [(r[0], r[1], r[2]) for r in rows]
    if check:
        check("upload-ready")
    _submit(b)
    _wait(b, lambda: _JOB.search(_path(b)) is not None, "the job page")
    found = _JOB.search(_path(b))
    assert found is not None
    return found[1]


def wait_for_job(b: Browser, counted: str, check: Check = None, seconds: float = 20) -> None:
    """Refresh the job page (its link) until its progress table shows ``counted`` (each
    time waiting for the old page to go: a click may return before the next page comes)."""
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + seconds
    while True:
        table = b.driver.find_element(By.TAG_NAME, "table")
        if counted in table.text:
            break
        assert time.monotonic() < deadline, f"the job never showed {counted!r}"
        time.sleep(0.2)
        b.driver.find_element(By.CSS_SELECTOR, "main a.button").click()
        b.wait_gone(table, "the job page's refresh")
        _wait(b, lambda: bool(b.driver.find_elements(By.TAG_NAME, "table")), "the job's table")
    if check:
        check("job")


def wait_delivered_on_activity(
    b: Browser, service_id: str, recipient: str, check: Check = None, seconds: float = 20
) -> None:
    """Search the activity for ``recipient`` and reload until its notification shows as
    delivered (the status cell of the row that names it), as a person reloading the page
    would."""
    from selenium.webdriver.common.by import By

    b.get(f"/console/services/{service_id}/notifications")
    box = b.driver.find_element(By.ID, "search")
    box.clear()
    box.send_keys(recipient)
    b.driver.find_element(By.CSS_SELECTOR, "form.activity-filters button[type=submit]").click()
    b.wait_gone(box, "the search's answer")  # not the old page
    delivered = (
        f"//table[contains(@class, 'activity')]//tr[td[1]/a[normalize-space()='{recipient}']]"
        "/td[contains(@class, 'status-delivered')]"
    )
    deadline = time.monotonic() + seconds
    while not b.driver.find_elements(By.XPATH, delivered):
        assert time.monotonic() < deadline, f"{recipient} never showed as delivered"
        time.sleep(0.2)
        b.driver.refresh()
    if check:
        check("activity")
