"""The console's templates (issue 27) over real sockets: create an email with a French
version, edit it (a new version), read the history and an old version, preview it (the
HTML document compared byte for byte with what the simulated provider received for a send
with the same values), preview an SMS with its parts counted, archive after a
confirmation; a viewer reads but cannot write; errors in an error summary linked to the
fields, in English and in French; an edit overtaken by another writer is refused."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import pytest

from engine.domain import template_categories as tc
from tests.api.test_files_and_unsubscribe import record, send_email
from tests.console.support import ConsoleEngine, Visitor, console_engine

LEAD = "lead@department.example"
VIEWER = "viewer@department.example"
ALERT = str(tc.VISIBLE[0].id)  # "Alert": normal priority
AUTH = "b6c42a7e-2a26-4a07-802b-123a5c3198a9"  # "Authentication": priority
EMAIL = {
    "name": "Application received", "template_category_id": ALERT,
    "subject": "Your application, ((name))", "content": "Hello ((name)), it is **done**.",
    "subject_fr": "Votre demande, ((name))", "content_fr": "Bonjour ((name)), c'est **fait**.",
}  # fmt: skip
_SRC = re.compile(r'<iframe class="tpl-email" src="([^"]+)"')


@pytest.fixture
async def running(aio_loop: None, database_url: str) -> AsyncIterator[ConsoleEngine]:
    async with console_engine(database_url) as r:
        yield r


async def _service(running: ConsoleEngine, email: str, roles: list[str]) -> tuple[str, dict]:
    made = await running.create_service(name="Passport office", restricted=False)
    sid = made["service"]["id"]
    await running.set_roles(sid, await running.add_user(email), roles)
    return sid, made


async def _create(v: Visitor, sid: str, kind: str, fields: dict[str, str]) -> str:
    await v.get(f"/console/services/{sid}/templates/new/{kind}")
    r = await v.post(f"/console/services/{sid}/templates/new/{kind}", fields)
    assert r.status_code == 303, r.text
    found = re.search(r"/templates/([0-9a-f-]{36})\?saved=1$", r.headers["location"])
    assert found is not None
    return found[1]


async def test_create_edit_history_preview_and_archive(running: ConsoleEngine) -> None:
    sid, made = await _service(running, LEAD, ["view", "manage_templates"])
    recorder = record(running)
    async with Visitor(running) as v:
        assert (await v.sign_in(running, LEAD)).status_code == 303
        r = await v.get(f"/console/services/{sid}/templates")
        assert f'href="/console/services/{sid}/templates/new/email"' in r.text
        tid = await _create(v, sid, "email", EMAIL)
        base = f"/console/services/{sid}/templates/{tid}"
        r = await v.get(f"{base}?saved=1")
        assert "Template saved as version 1." in r.text
        assert "<dd>English, French</dd>" in r.text
        assert "<code>((name))</code>" in r.text
        assert "<dd>Normal</dd>" in r.text  # the category's priority
        stored = await running.engine.store.templates.current(uuid.UUID(tid), uuid.UUID(sid))
        assert stored is not None
        assert stored["content_fr"] == EMAIL["content_fr"]
        assert stored["subject_fr"] == EMAIL["subject_fr"]
        assert stored["process_type"] == "normal"
        assert stored["created_by"].startswith("console:")

        r = await v.get(f"{base}/edit")
        assert 'name="version" value="1"' in r.text
        assert "Hello ((name)), it is **done**.</textarea>" in r.text
        edited = {**EMAIL, "template_category_id": AUTH, "version": "1",
                  "content": "Hello ((name)), it is **approved**."}  # fmt: skip
        r = await v.post(f"{base}/edit", edited)
        assert r.status_code == 303, r.text
        assert r.headers["location"] == f"{base}?saved=2"
        r = await v.get(f"{base}/versions")
        assert r.status_code == 200
        rows = re.findall(r"<tr>\s*<td><a .*?</tr>", r.text, re.S)
        assert len(rows) == 2
        assert "category, message" in rows[0]
        assert "Lead" in rows[0]
        assert "Created" in rows[1]
        r = await v.get(f"{base}/versions/1")
        assert "it is **done**." in r.text
        assert "it is **approved**." not in r.text

        # the preview, in French, is the document the provider receives for that send
        r = await v.get(f"{base}/preview")
        assert 'id="ph_0"' in r.text
        assert "Example value for ((name))" in r.text
        r = await v.post(f"{base}/preview", {"language": "fr", "ph_0": "Ada"})
        assert r.status_code == 200, r.text
        assert "frame-src 'self'" in r.headers["content-security-policy"]
        assert "Votre demande, Ada" in r.text
        src = _SRC.search(r.text)
        assert src is not None
        doc = await v.get(src[1].replace("&amp;", "&"))
        assert doc.status_code == 200
        policy = doc.headers["content-security-policy"]
        assert "sandbox" in policy
        assert "frame-ancestors 'self'" in policy
        assert "script" not in policy
        assert doc.headers["x-frame-options"] == "SAMEORIGIN"
        sent_r = await send_email(running, made["keys"]["normal"], {
            "email_address": "a@example.com", "template_id": tid,
            "personalisation": {"name": "Ada"}, "language": "fr"})  # fmt: skip
        assert sent_r.status_code == 201, sent_r.text
        sent = await recorder.wait_for(sent_r.json()["id"])
        assert doc.text == sent.html
        assert '<html lang="fr">' in doc.text
        assert "c'est <strong>fait</strong>" in doc.text

        r = await v.get(f"{base}/archive")
        assert "Archive Application received?" in r.text
        r = await v.post(f"{base}/archive", {})
        assert r.status_code == 303
        r = await v.get(r.headers["location"])
        assert "The template Application received is archived." in r.text
        assert f'href="{base}"' not in r.text
        stored = await running.engine.store.templates.current(uuid.UUID(tid), uuid.UUID(sid))
        assert stored is not None
        assert stored["archived"]
        assert stored["version"] == 3
        assert (await v.get(f"{base}/edit")).status_code == 404


async def test_an_sms_preview_counts_its_parts_as_sent(running: ConsoleEngine) -> None:
    sid, _ = await _service(running, LEAD, ["view", "manage_templates"])
    async with Visitor(running) as v:
        await v.sign_in(running, LEAD)
        fields = {"name": "Code", "template_category_id": AUTH,
                  "content": "Your code is ((code))" + " ok" * 60}  # fmt: skip
        tid = await _create(v, sid, "sms", fields)
        base = f"/console/services/{sid}/templates/{tid}"
        r = await v.post(f"{base}/preview", {"ph_0": "123456"})
        assert r.status_code == 200, r.text
        body = "Passport office: Your code is 123456" + " ok" * 60  # the prefix a send adds
        assert f'<p class="tpl-sms" lang="en">{body}</p>' in r.text
        assert f"{len(body)} characters, 2 message part(s)" in r.text
        await v.get(f"/console/language/fr?next={base}")
        r = await v.post(f"{base}/preview", {"ph_0": "123456"})
        assert f"{len(body)} caractères, 2 partie(s) de message" in r.text


async def test_a_viewer_reads_templates_but_cannot_write_them(running: ConsoleEngine) -> None:
    sid, made = await _service(running, VIEWER, ["view"])
    tid = made["email_template"]
    base = f"/console/services/{sid}/templates/{tid}"
    async with Visitor(running) as v:
        await v.sign_in(running, VIEWER)
        r = await v.get(f"/console/services/{sid}/templates")
        assert "/new/email" not in r.text
        r = await v.get(base)
        assert r.status_code == 200
        assert f'href="{base}/edit"' not in r.text
        assert "You can read this template." in r.text
        assert (await v.get(f"{base}/versions")).status_code == 200
        assert (await v.get(f"{base}/preview")).status_code == 200  # it changes nothing
        for path in (f"{base}/edit", f"{base}/archive",
                     f"/console/services/{sid}/templates/new/email"):  # fmt: skip
            assert (await v.get(path)).status_code == 403, path
        r = await v.post(f"{base}/edit", {**EMAIL, "version": "1"})
        assert r.status_code == 403
        assert (await v.post(f"{base}/archive", {})).status_code == 403
        r = await v.post(f"/console/services/{sid}/templates/new/email", EMAIL)
        assert r.status_code == 403
    stored = await running.engine.store.templates.current(uuid.UUID(tid), uuid.UUID(sid))
    assert stored is not None
    assert stored["version"] == 1
    assert not stored["archived"]
    assert len(await running.engine.store.templates.for_service(uuid.UUID(sid))) == 2


async def test_errors_are_summarised_and_linked_to_their_fields_in_both_languages(
    running: ConsoleEngine,
) -> None:
    sid, made = await _service(running, LEAD, ["view", "manage_templates"])
    new = f"/console/services/{sid}/templates/new/email"
    async with Visitor(running) as v:
        await v.sign_in(running, LEAD)
        await v.get(new)
        r = await v.post(new, {"name": " ", "subject_fr": "Objet seul"})
        assert r.status_code == 400
        assert '<div class="error-summary" role="alert"' in r.text
        for field, message in (("name", "Enter a template name"),
                               ("template_category_id", "Choose a category"),
                               ("subject", "Enter a subject line"),
                               ("content", "Enter a message"),
                               ("content_fr", "Enter the French message, or remove the French"
                                              " subject line")):  # fmt: skip
            assert f'<li><a href="#{field}">{message}</a></li>' in r.text
            assert f'<p class="field-error" id="{field}-error">{message}</p>' in r.text
        assert 'aria-describedby="name-hint name-error" aria-invalid="true"' in r.text
        assert 'value="Objet seul"' in r.text  # what was typed is kept
        await v.get(f"/console/language/fr?next={new}")
        r = await v.post(new, {**EMAIL, "name": "x" * 256, "subject": ""})
        assert r.status_code == 400
        assert '<a href="#name">Le nom du gabarit doit compter au plus 255 caractères</a>' in r.text
        assert '<a href="#subject">Entrez une ligne d&#39;objet</a>' in r.text
        assert "Il y a un problème" in r.text
        preview = f"/console/services/{sid}/templates/{made['email_template']}/preview"
        r = await v.post(preview, {"ph_0": "Ada", "ph_1": ""})
        assert r.status_code == 400
        assert '<a href="#ph_1">Entrez une valeur d&#39;exemple pour ((code))</a>' in r.text
        await v.get(f"/console/language/en?next={new}")
        r = await v.post(preview, {"ph_0": "", "ph_1": "7"})
        assert '<a href="#ph_0">Enter an example value for ((name))</a>' in r.text
    assert len(await running.engine.store.templates.for_service(uuid.UUID(sid))) == 2


async def test_an_edit_overtaken_by_another_save_is_refused(running: ConsoleEngine) -> None:
    sid, _ = await _service(running, LEAD, ["view", "manage_templates"])
    async with Visitor(running) as v:
        await v.sign_in(running, LEAD)
        tid = await _create(v, sid, "email", EMAIL)
        edit = f"/console/services/{sid}/templates/{tid}/edit"
        await v.get(edit)
        assert (await v.post(edit, {**EMAIL, "version": "1", "name": "First"})).status_code == 303
        r = await v.post(edit, {**EMAIL, "version": "1", "name": "Second"})
        assert r.status_code == 409
        assert "Someone else saved this template" in r.text
        assert 'name="version" value="2"' in r.text  # saving again takes the new version
    stored = await running.engine.store.templates.current(uuid.UUID(tid), uuid.UUID(sid))
    assert stored is not None
    assert stored["name"] == "First"
    assert stored["version"] == 2
