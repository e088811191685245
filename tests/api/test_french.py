"""French where a person reads (issue 22): the catalogue is complete, Accept-Language is
read as RFC 9110 says, and status_description is French on GET and in callbacks."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from engine.api import french
from engine.api.errors import domain_error_wire
from engine.api.i18n import CATALOGUE, choose, translate
from engine.domain import callbacks as cb
from engine.domain import errors as de
from engine.domain import statuses as st
from tests.api.message_sources import collect
from tests.conftest import RunningEngine
from tests.domain.test_callbacks import owed

_NAMES = re.compile(r"\{([a-z_0-9]+)\}")
SOURCES = collect()


def test_the_sources_are_collected() -> None:
    # The collector sees the raise sites of every layer (a guard against it finding none).
    places = {where.split(":")[0] for where in SOURCES.values()}
    assert {"engine/api/auth.py", "engine/api/app.py", "engine/domain/errors.py",
            "engine/api/v2/bulk.py", "engine/domain/recipients.py"} <= places  # fmt: skip
    assert len(SOURCES) > 100


@pytest.mark.parametrize("message", sorted(SOURCES))
def test_every_message_of_the_source_has_a_french_template(message: str) -> None:
    assert message in CATALOGUE.exact or CATALOGUE.match(message) is not None, SOURCES[message]


@pytest.mark.parametrize(("english", "fr"), french.MESSAGES)
def test_placeholders_match_and_the_french_is_french(english: str, fr: str) -> None:
    assert sorted(set(_NAMES.findall(english))) == sorted(set(_NAMES.findall(fr)))
    if not english.startswith(("email_address ", "phone_number ")):
        assert english != fr


def test_no_english_template_twice() -> None:
    englishes = [en for en, _ in french.MESSAGES]
    assert len(englishes) == len(set(englishes))


def _leaves(cls: type[de.DomainError]) -> list[type[de.DomainError]]:
    subs = cls.__subclasses__()
    return [s for s in subs if not s.__subclasses__()] + [x for s in subs for x in _leaves(s)]


SAMPLE_ARGS: dict[type[de.DomainError], tuple[object, ...]] = {
    de.RateLimitExceeded: ("team", 3000),
    de.TrialEmailDailyLimitExceeded: (50,),
    de.TrialSmsDailyLimitExceeded: (50,),
    de.EmailDailyLimitExceeded: (10,),
    de.SmsDailyLimitExceeded: (10,),
    de.EmailAnnualLimitExceeded: (10,),
    de.SmsAnnualLimitExceeded: (10,),
    de.TemplateArchived: (uuid.UUID(int=1),),
    de.TemplateWrongType: ("sms", "email"),
    de.SenderNotFound: ("sms_sender_id", "abc", uuid.UUID(int=2)),
    de.TeamKeyRecipient: (uuid.UUID(int=3),),
}


@pytest.mark.parametrize("cls", _leaves(de.DomainError), ids=lambda c: c.__name__)
def test_each_domain_error_in_french_and_english(cls: type[de.DomainError]) -> None:
    if cls is de.RemainingLimitExceeded:
        error: de.DomainError = cls(1, 5, channel="sms", period="daily")  # type: ignore[call-arg]
    else:
        error = cls(*SAMPLE_ARGS.get(cls, ()))
    _, _, message = domain_error_wire(error)
    assert message == error.message  # English: the contract, untouched
    fr = translate(message, "fr")
    assert fr != message
    assert translate(message, "en") is message


def test_french_examples_read_naturally() -> None:
    t = CATALOGUE.to_french
    assert t("Exceeded email daily sending limit of 10 messages") == (
        "Limite quotidienne d'envoi de courriels dépassée : 10 messages"
    )
    assert t("email_address Not a valid email address") == (
        "email_address Adresse courriel non valide"
    )
    assert t(
        "You only have 0 remaining sms messages before you reach your daily limit. "
        "You've tried to send 5 sms messages."
    ) == (
        "Il ne vous reste que 0 messages texte avant d'atteindre votre limite quotidienne. "
        "Vous avez tenté d'envoyer 5 messages texte."
    )
    assert t(
        "Some rows have errors. Row 1 - `email address`: Missing, `name`: Missing. "
        "Row 3 - `email address`: invalid recipient."
    ) == (
        "Certaines lignes contiennent des erreurs. Ligne 1 - `email address` : manquant, "
        "`name` : manquant. Ligne 3 - `email address` : destinataire non valide."
    )
    # A library's own detail stays as it is after a French prefix; unknown text is kept.
    assert t("Error decoding arguments: JSON is malformed") == (
        "Erreur de décodage des arguments : JSON is malformed"
    )
    assert t("something nobody wrote") == "something nobody wrote"


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "en"),
        ("", "en"),
        ("fr", "fr"),
        ("fr-CA", "fr"),
        ("FR-ca", "fr"),
        ("fr-CA;q=0.9, en;q=0.8", "fr"),
        ("en;q=0.8, fr-CA;q=0.9", "fr"),  # the highest q wins, not the first written
        ("en, fr", "en"),  # equal q: the first written
        ("fr;q=0.5, en", "en"),
        ("de, fr;q=0.4", "fr"),  # German is not served: the best we serve
        ("de, es", "en"),  # nothing we serve: the default
        ("*", "en"),
        ("fr;q=0", "en"),  # q=0: not acceptable
        ("fr;q=abc", "en"),  # a malformed q refuses the range
        ("fr;q=2", "en"),  # q beyond 1 is malformed
        ("en-CA;q=0.1, fr-FR;q=0.2", "fr"),
        (", ;, fr", "fr"),
        (",".join(["de"] * 20) + ",fr", "en"),  # only the first MAX_RANGES ranges
    ],
)
def test_accept_language(header: str | None, language: str) -> None:
    assert choose(header) == language


def test_status_descriptions_in_french() -> None:
    assert st.status_description(st.DELIVERED, "email", "fr") == "Livré"
    assert st.status_description(st.PERMANENT_FAILURE, "sms", "fr") == "Numéro inexistant"
    assert st.status_description(st.PERMANENT_FAILURE, "email", "fr", "suppressed") == "Bloqué"
    assert st.status_description(st.DELIVERED, "email") == "Delivered"
    for status in st.ALL_STATUSES:
        for kind in ("email", "sms"):
            english = st.status_description(status, kind)
            if english != status:  # a status with a description has its French
                assert st.status_description(status, kind, "fr") != english


def test_callback_payload_in_the_service_language() -> None:
    body = json.loads(cb.encode_body(owed(), "fr"))
    assert body["status_description"] == "Livré"
    assert json.loads(cb.encode_body(owed()))["status_description"] == "Delivered"


async def test_get_and_callback_language_end_to_end(running_engine: RunningEngine) -> None:
    """GET in French when asked; a service set to French gets French callbacks (the
    registry hands its callback_language to the callback actor's config)."""
    setup = await running_engine.create_service()
    sid = setup["service"]["id"]
    headers = {"Authorization": f"ApiKey-v1 {setup['keys']['normal']}"}
    async with running_engine.client() as client:
        sent = await client.post(
            "/v2/notifications/email",
            headers=headers,
            json={"email_address": "someone@example.com", "template_id": setup["email_template"],
                  "personalisation": {"name": "A", "code": "1"}},
        )  # fmt: skip
        assert sent.status_code == 201, sent.text
        nid = sent.json()["id"]
        en = await client.get(f"/v2/notifications/{nid}", headers=headers)
        fr = await client.get(
            f"/v2/notifications/{nid}", headers={**headers, "Accept-Language": "fr-CA"}
        )
        listed = await client.get("/v2/notifications", headers={**headers, "Accept-Language": "fr"})
    assert en.json()["status_description"] == st.status_description(en.json()["status"], "email")
    assert fr.json()["status_description"] == st.status_description(
        fr.json()["status"], "email", "fr"
    )
    assert fr.json()["status_description"] != en.json()["status_description"]
    assert (
        listed.json()["notifications"][0]["status_description"] == (fr.json()["status_description"])
    )
    async with running_engine.admin() as a:
        r = await a.put(
            f"/admin/services/{sid}/callback",
            json={"url": "https://127.0.0.1:9/cb", "bearer_token": "0123456789abc"},
        )
        assert r.status_code in (200, 201), r.text
        r = await a.patch(f"/admin/services/{sid}", json={"callback_language": "fr"})
        assert r.status_code == 200, r.text
        assert r.json()["callback_language"] == "fr"
        bad = await a.patch(f"/admin/services/{sid}", json={"callback_language": "de"})
        assert bad.status_code == 400
    registry = running_engine.engine.registry
    registry.invalidate(uuid.UUID(sid))
    bundle = await registry.get(uuid.UUID(sid))
    assert bundle is not None
    config = bundle.callbacks["delivery_status"]
    assert config.language == "fr"
    body = json.loads(cb.encode_body(owed(status=st.PERMANENT_FAILURE), config.language))
    assert body["status_description"] == "Adresse inexistante"
