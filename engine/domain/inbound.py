"""Inbound SMS keywords (issue 24; cds-snc/notification-api #735 and #809): what a text
sent to a service's number asks for, and the bilingual reply.

Rules:
- A keyword is the whole text, trimmed, case and accents ignored, trailing punctuation
  allowed ("Arrêt.", " stop ", "DÉBUT!"): STOP / ARRET opt out, START / DEBUT opt back in,
  HELP / AIDE ask for help. Anything else is an ordinary message (stored, given to the
  service; "stop sending me the old one" is not an opt-out: carriers match whole texts).
- Every reply is in both official languages, English first (GC's rule for messages to
  the public). It is sent by the system service (``engine.domain.team_mail``) from its
  SMS template ``REPLY_TEMPLATE``, from the service's own number, to the texter: the
  service's opt-out list does not hold it back (the STOP confirmation must arrive),
  and it costs the service nothing.
"""

from __future__ import annotations

import unicodedata
import uuid

from engine.domain.team_mail import SystemTemplate

OPT_OUT, OPT_IN, HELP = "opt_out", "opt_in", "help"
KEYWORDS = {
    "STOP": OPT_OUT, "ARRET": OPT_OUT,
    "START": OPT_IN, "DEBUT": OPT_IN,
    "HELP": HELP, "AIDE": HELP,
}  # fmt: skip
REPLIES = {
    OPT_OUT: (
        "You will no longer receive texts from this Government of Canada service. "
        "Text START to receive them again.\n"
        "Vous ne recevrez plus de messages texte de ce service du gouvernement du Canada. "
        "Envoyez DEBUT pour les recevoir de nouveau."
    ),
    OPT_IN: (
        "You will receive texts from this Government of Canada service again. "
        "Text STOP to stop.\n"
        "Vous recevrez de nouveau les messages texte de ce service du gouvernement du Canada. "
        "Envoyez ARRET pour les arrêter."
    ),
    HELP: (
        "Texts from a Government of Canada service (GC Notify). Text STOP to stop. "
        "Standard message rates apply.\n"
        "Messages texte d'un service du gouvernement du Canada (Notification GC). Envoyez "
        "ARRET pour les arrêter. Les frais de messagerie texte standard s'appliquent."
    ),
}


def normalise(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return plain.strip().rstrip(".!?").strip().upper()


def keyword(text: str) -> str | None:
    """``OPT_OUT``, ``OPT_IN``, ``HELP`` or None for an ordinary message."""
    return KEYWORDS.get(normalise(text))


REPLY_TEMPLATE = SystemTemplate(
    uuid.UUID("5b0c7c8e-2d1a-4a51-9f0e-4c1f6b1e2a24"),
    "Reply to an inbound text | Réponse à un message texte reçu",
    None,
    "((reply))",
    template_type="sms",
)
