"""The console's words, in English and in French (written for Canadian French readers).

Rules:
- Every string a page shows comes from ``TEXT``: one key, both languages (a test checks
  that each key has both and that the French differs where it should).
- The language is the ``ne_lang`` cookie's (set by the toggle, kept a year), else the
  request's ``Accept-Language`` (``engine.api.i18n.choose``), else English.
- Numbers are written as each language writes them (12,345 / 12 345).
"""

from __future__ import annotations

from engine.api import i18n as api_i18n
from engine.domain.team_mail import number

LANGUAGES = ("en", "fr")
COOKIE = "ne_lang"

TEXT: dict[str, tuple[str, str]] = {
    "product": ("Notify console", "Console de Notification"),
    "skip": ("Skip to main content", "Passer au contenu principal"),
    "switch": ("Français", "English"),
    "switch_label": ("Lire cette page en français", "Read this page in English"),
    "sign_in": ("Sign in", "Se connecter"),
    "sign_out": ("Sign out", "Se déconnecter"),
    "email": ("Email address", "Adresse courriel"),
    "password": ("Password", "Mot de passe"),
    "continue": ("Continue", "Continuer"),
    "code_title": ("Check your email", "Vérifiez vos courriels"),
    "code_intro": (
        "We sent a 6-digit code to your email address. It expires in {minutes} minutes.",
        "Nous avons envoyé un code à 6 chiffres à votre adresse courriel. "
        "Il expire dans {minutes} minutes.",
    ),
    "code": ("Code", "Code"),
    "code_hint": ("6 digits, for example 123456", "6 chiffres, par exemple 123456"),
    "bad_sign_in": (
        "The email address or password is not right.",
        "L'adresse courriel ou le mot de passe n'est pas valide.",
    ),
    "bad_code": (
        "The code is not right or has expired.",
        "Le code n'est pas valide ou est expiré.",
    ),
    "locked": (
        "Too many attempts. Try again in {minutes} minutes.",
        "Trop de tentatives. Réessayez dans {minutes} minutes.",
    ),
    "error_summary": ("There is a problem", "Il y a un problème"),
    "services": ("Your services", "Vos services"),
    "no_services": (
        "You are not a member of any service yet.",
        "Vous n'êtes encore membre d'aucun service.",
    ),
    "dashboard": ("Dashboard", "Tableau de bord"),
    "templates": ("Templates", "Gabarits"),
    "api_keys": ("API keys", "Clés d'API"),
    "last_7_days": ("The last 7 days", "Les 7 derniers jours"),
    "day": ("Day", "Jour"),
    "channel": ("Channel", "Canal"),
    "email_channel": ("Email", "Courriel"),
    "sms_channel": ("Text message", "Message texte"),
    "letter_channel": ("Letter", "Lettre"),
    "sent": ("Sent", "Envoyés"),
    "delivered": ("Delivered", "Livrés"),
    "failed": ("Failed", "Échecs"),
    "nothing_sent": ("Nothing was sent in these 7 days.", "Rien n'a été envoyé dans ces 7 jours."),
    "usage": ("Usage against your limits", "Utilisation par rapport à vos limites"),
    "limit": ("Limit", "Limite"),
    "used": ("Used", "Utilisé"),
    "today": ("Today (UTC)", "Aujourd'hui (UTC)"),
    "this_year": ("Since April 1", "Depuis le 1er avril"),
    "name": ("Name", "Nom"),
    "type": ("Type", "Type"),
    "version": ("Version", "Version"),
    "french_version": ("French version", "Version française"),
    "yes": ("Yes", "Oui"),
    "no": ("No", "Non"),
    "no_templates": ("This service has no templates yet.", "Ce service n'a encore aucun gabarit."),
    "key_type": ("Key type", "Type de clé"),
    "key_normal": ("Live", "En direct"),
    "key_team": ("Team and safelist", "Équipe et liste sécuritaire"),
    "key_test": ("Test", "Essai"),
    "state": ("State", "État"),
    "active": ("Active", "Active"),
    "revoked": ("Revoked", "Révoquée"),
    "revoke": ("Revoke", "Révoquer"),
    "revoke_key": ("Revoke the key {name}", "Révoquer la clé {name}"),
    "key_revoked": ("The key {name} is revoked.", "La clé {name} est révoquée."),
    "no_keys": ("This service has no API keys.", "Ce service n'a aucune clé d'API."),
    "actions": ("Actions", "Actions"),
    "forbidden_title": ("You cannot do this", "Vous ne pouvez pas faire cela"),
    "forbidden": (
        "Your role in this service does not allow it. Ask a team member who manages it.",
        "Votre rôle dans ce service ne le permet pas. Adressez-vous à un membre de "
        "l'équipe qui le gère.",
    ),
    "not_found_title": ("Page not found", "Page introuvable"),
    "not_found": (
        "Check the address, or go back to your services.",
        "Vérifiez l'adresse ou retournez à vos services.",
    ),
    "csrf_title": ("This form has expired", "Ce formulaire a expiré"),
    "csrf": (
        "Go back, reload the page and try again.",
        "Revenez en arrière, rechargez la page et réessayez.",
    ),
    "signed_in_as": ("Signed in as {name}", "Connecté en tant que {name}"),
    "main_nav": ("Service", "Service"),
    "breadcrumb": ("You are here", "Vous êtes ici"),
}


def choose(cookie: str | None, accept_language: str | None) -> str:
    if cookie in LANGUAGES:
        return cookie
    return api_i18n.choose(accept_language)


class Words:
    """``t("key", name=...)`` in one language; ``n(12345)`` written as it writes numbers."""

    def __init__(self, language: str) -> None:
        self.language = language
        self._index = LANGUAGES.index(language)

    def __call__(self, key: str, **values: object) -> str:
        text = TEXT[key][self._index]
        return text.format(**values) if values else text

    def n(self, value: int) -> str:
        return number(value, self.language)
