"""Template categories and the rules of a template written through the API (issue 24).

Rules (GC Notify's, read from notification-api ``app/v2/manage_template`` and its
migrations 0454-0457, names from notification-documentation's current reference list):
- A category has an English and a French name and decides the template's process type
  (its sending priority: ``priority``, ``normal`` or ``bulk``), per channel. The list is
  GC's and fixed here: nine visible categories, and GC's three hidden generic ones
  (low/medium/high), which a template may name but the category list does not show.
  GC's documentation shows the nine under their current names ("General communication"
  was "Information blast", "Confirmation" was "Automatic reply" in the migrations).
- A template's content is too long past GC's limits: 612 SMS characters (GSM-7 extension
  characters count twice; placeholders not counted, no service-name prefix), 50,000 email
  characters (placeholders counted as written); a name past 255 characters is refused.
Pure: no I/O.
"""

from __future__ import annotations

import uuid

import msgspec

from engine.domain import sms
from engine.domain.placeholders import PLACEHOLDER

SMS_CHAR_COUNT_LIMIT = sms.SMS_CHAR_COUNT_LIMIT
EMAIL_CHAR_COUNT_LIMIT = 50_000
TEMPLATE_NAME_CHAR_COUNT_LIMIT = 255


class TemplateCategory(msgspec.Struct, frozen=True):
    id: uuid.UUID
    name_en: str
    name_fr: str
    email_process_type: str
    sms_process_type: str
    hidden: bool = False

    def process_type(self, template_type: str) -> str:
        return self.sms_process_type if template_type == "sms" else self.email_process_type


def _category(
    id_: str, en: str, fr: str, process_type: str, *, hidden: bool = False
) -> TemplateCategory:
    return TemplateCategory(uuid.UUID(id_), en, fr, process_type, process_type, hidden)


# GC's list, in GC's order of creation (its endpoint lists them unordered, as stored).
CATEGORIES: tuple[TemplateCategory, ...] = (
    _category("1d8ce435-a7e5-431b-aaa2-a418bc4d14f9", "Alert", "Alerte", "normal"),
    _category("b6c42a7e-2a26-4a07-802b-123a5c3198a9", "Authentication", "Authentification",
              "priority"),
    _category("977e2a00-f957-4ff0-92f2-ca3286b24786", "Confirmation", "Confirmation",
              "priority"),
    _category("e81678c0-4897-4111-b9d0-172f6b595f89", "Decision", "Décision", "bulk"),
    _category("207b293c-2ae5-48e8-836d-fcabd60b2153", "General communication",
              "Communication générale", "bulk"),
    _category("edb966f3-4a4c-47a4-96ab-05ff259b919c", "Reminder", "Rappel", "normal"),
    _category("e0b8fbe5-f435-4977-8fc8-03f13d9296a5", "Request", "Demande", "normal"),
    _category("55eb1137-6dc6-4094-9031-f61124a279dc", "Status update", "État d’avancement",
              "normal"),
    _category("7c16aa95-e2e1-4497-81d6-04c656520fe4", "Test", "Test", "bulk"),
    _category("0dda24c2-982a-4f44-9749-0e38b2607e89", "Low Category (Bulk)",
              "Catégorie Basse (En Vrac)", "bulk", hidden=True),
    _category("f75d6706-21b7-437e-b93a-2c0ab771e28e", "Medium Category (Normal)",
              "Catégorie Moyenne (Normale)", "normal", hidden=True),
    _category("c4f87d7c-a55b-4c0f-91fe-e56c65bb1871", "High Category (Priority)",
              "Catégorie Haute (Priorité)", "priority", hidden=True),
)  # fmt: skip
BY_ID = {c.id: c for c in CATEGORIES}
VISIBLE = tuple(c for c in CATEGORIES if not c.hidden)


def find(category_id: uuid.UUID | None) -> TemplateCategory | None:
    return None if category_id is None else BY_ID.get(category_id)


def content_too_long(template_type: str, content: str) -> int | None:
    """The limit ``content`` is past (the 400's number), or None."""
    if template_type == "sms":
        text = sms.sanitise(PLACEHOLDER.sub("", content.strip()))
        count = sms.septets(text) if sms.is_gsm(text) else len(text)
        return SMS_CHAR_COUNT_LIMIT if count > SMS_CHAR_COUNT_LIMIT else None
    return EMAIL_CHAR_COUNT_LIMIT if len(content) > EMAIL_CHAR_COUNT_LIMIT else None


def name_too_long(name: str) -> bool:
    return len(name) > TEMPLATE_NAME_CHAR_COUNT_LIMIT
