"""The French OpenAPI document (issue 22), served at GET /v2/openapi-fr (no auth).

Rules:
- The same document as ``/v2/openapi`` (paths, operations, schemas, security), with every
  ``title``, ``summary`` and ``description`` in French: built once at import by walking
  the English document and replacing each of those texts from ``FRENCH``. Field names,
  enum values, formats and examples stay as they are: they are what clients send.
- A text without a French entry stays English (never a broken document);
  tests/api/test_openapi_fr.py fails if any text lacks one.
- Canadian French as GC Notify's own French pages write it (courriel, message texte, clé
  d'API, gabarit, personnalisation).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

FRENCH: dict[str, str] = {
    "Notify v2 API": "API v2 de Notification",
    "Send an email": "Envoyer un courriel",
    "Success": "Réussite",
    "Validation or request error": "Erreur de validation ou de requête",
    "No or malformed Authorization header": "En-tête Authorization absent ou mal formé",
    "Invalid token, key or service": "Jeton, clé ou service non valide",
    "Rate limit, daily or annual limit exceeded":
        "Limite de débit, limite quotidienne ou annuelle dépassée",
    "Internal server error": "Erreur interne du serveur",
    "The database cannot be reached: send the request again after Retry-After":
        "La base de données est injoignable : renvoyez la requête après Retry-After",
    "Seconds to wait": "Secondes d'attente",
    "Request body too large": "Corps de requête trop volumineux",
    "Content-Type is not JSON": "Content-Type n'est pas JSON",
    "Send a text message": "Envoyer un message texte",
    "Letters are not offered: always refused": "Les lettres ne sont pas offertes : toujours refusé",
    "Always": "Toujours",
    "SMS: billable_sms_fragments (GOV.UK's name); email: empty. No prices: messages are not "
    "charged for one by one.":
        "Message texte : billable_sms_fragments (le nom de GOV.UK); courriel : vide. Aucun "
        "prix : les messages ne sont pas facturés un à un.",
    "Only notifications of this template": "Seulement les notifications de ce gabarit",
    "Only notifications of this bulk job (include_jobs implied)":
        "Seulement les notifications de cet envoi en lot (include_jobs implicite)",
    "Only notifications created after this time (ISO 8601; without an offset, in the "
    "service's time zone)":
        "Seulement les notifications créées après ce moment (ISO 8601; sans décalage, dans "
        "le fuseau horaire du service)",
    "Only notifications created before this time (ISO 8601; without an offset, in the "
    "service's time zone)":
        "Seulement les notifications créées avant ce moment (ISO 8601; sans décalage, dans "
        "le fuseau horaire du service)",
    "Get a bulk job, with how many of its notifications are in each status":
        "Obtenir un envoi en lot et le nombre de ses notifications dans chaque état",
    "Cancel a scheduled bulk job that is not yet due":
        "Annuler un envoi en lot programmé dont l'heure n'est pas encore venue",
    "How many of the job's notifications are in each status.":
        "Le nombre de notifications de l'envoi en lot dans chaque état.",
    "A bulk send job with counts per status (GC's GET /v2/notifications/bulk/{job_id}).":
        "Un envoi en lot et ses nombres par état (GET /v2/notifications/bulk/{job_id} de GC).",
    "pending, scheduled, finished (every row created) or cancelled":
        "pending, scheduled, finished (chaque ligne créée) ou cancelled",
    "Answered as GC Notify answers a service without the letter permission: the body's "
    "violations (400 ValidationError), else 400 BadRequestError 'Service is not allowed to "
    "send letters'.":
        "Répondu comme GC Notification répond à un service sans la permission d'envoyer des "
        "lettres : les violations du corps (400 ValidationError), sinon 400 BadRequestError "
        "« Service is not allowed to send letters ».",
    "A template letter (template_id, personalisation with address_line_1, address_line_2 "
    "and postcode) or a precompiled one (reference, content: base64 PDF).":
        "Une lettre à partir d'un gabarit (template_id, personalisation avec address_line_1, "
        "address_line_2 et postcode) ou une lettre déjà composée (reference, content : PDF "
        "en base64).",
    "Send in bulk (rows or CSV)": "Envoyer en lot (lignes ou CSV)",
    "Get a notification's status": "Obtenir l'état d'une notification",
    "Not found": "Introuvable",
    "Cancel a scheduled notification that has not been sent":
        "Annuler une notification programmée qui n'a pas encore été envoyée",
    "List notifications sent with this key type, newest first, 250 a page":
        "Lister les notifications envoyées avec ce type de clé, les plus récentes d'abord, "
        "250 par page",
    "Repeatable; 'failed' means every failure status":
        "Répétable; « failed » désigne tous les états d'échec",
    "Return items created before this one": "Renvoyer les éléments créés avant celui-ci",
    "Get a template": "Obtenir un gabarit",
    "Get a version of a template": "Obtenir une version d'un gabarit",
    "List the service's templates": "Lister les gabarits du service",
    "Render a template with personalisation": "Afficher un gabarit avec la personnalisation",
    "List the texts received on the service's number, newest first, 250 a page":
        "Lister les messages texte reçus au numéro du service, les plus récents d'abord, 250 "
        "par page",
    "This Idempotency-Key was used for a different request":
        "Cette Idempotency-Key a servi pour une autre requête",
    "A key of yours, unique per request (IETF draft "
    "draft-ietf-httpapi-idempotency-key-header): a retry with the same key and body gets "
    "the first answer (header Idempotent-Replayed: true) and sends nothing again; kept 24 h":
        "Une clé à vous, unique par requête (ébauche IETF "
        "draft-ietf-httpapi-idempotency-key-header) : une nouvelle tentative avec la même clé "
        "et le même corps reçoit la première réponse (en-tête Idempotent-Replayed: true) et "
        "rien n'est envoyé de nouveau; conservée 24 h",

    "This document (no authentication)": "Ce document (sans authentification)",
    "OpenAPI 3.1 document": "Document OpenAPI 3.1",
    "Error class name": "Nom de la classe d'erreur",
    "The error envelope of every v2 error, whatever the status.":
        "L'enveloppe de chaque erreur v2, quel que soit l'état.",
    "Placeholder values, matched ignoring case and spaces. A list becomes bullets in email "
    "and 'a, b and c' in SMS. Email only: a file as {\"file\": <base64>, \"filename\": "
    "<name>, \"sending_method\": \"attach\"|\"link\"}.":
        "Valeurs des champs de personnalisation, appariées sans égard à la casse ni aux "
        "espaces. Une liste devient des puces dans un courriel et « a, b et c » dans un "
        "message texte. Courriel seulement : un fichier sous la forme {\"file\": <base64>, "
        "\"filename\": <nom>, \"sending_method\": \"attach\"|\"link\"}.",
    "Your own identifier.": "Votre propre identifiant.",
    "This notification's delivery-status callbacks go to this URL instead of the service's "
    "callback (beyond GC Notify). Its host must be on the service's callback_hosts, and the "
    "service must have a delivery-status callback: its bearer token and signing secret are "
    "used.": "Les rappels d'état de livraison de cette notification vont à cette URL au lieu "
    "du rappel du service (au-delà de Notification GC). Son hôte doit figurer dans les "
    "callback_hosts du service, et le service doit avoir un rappel d'état de livraison : son "
    "jeton porteur et son secret de signature sont utilisés.",
    "ISO 8601 date time, not in the past, at most 96 hours ahead.":
        "Date et heure ISO 8601, pas dans le passé, au plus 96 heures à l'avance.",
    "A header row (with 'email address' or 'phone number' and the template's placeholders), "
    "then up to 50,000 rows.":
        "Une ligne d'en-tête (avec « email address » ou « phone number » et les champs de "
        "personnalisation du gabarit), puis jusqu'à 50 000 lignes.",
    "The same, as CSV text.": "La même chose, en texte CSV.",
    "The request's name": "Le nom de la requête",
    "A bulk send job (GC's job schema).": "Un envoi en lot (le schéma de tâche de GC).",
    "UTC, formatted %Y-%m-%dT%H:%M:%S.%fZ": "UTC, au format %Y-%m-%dT%H:%M:%S.%fZ",
    "`next` is present on every non-empty page.": "`next` figure sur chaque page non vide.",
    "Raw content with ((placeholders))": "Contenu brut avec ((champs de personnalisation))",
    "Rendered plain text": "Texte brut affiché",
    "Email HTML": "HTML du courriel",
    "The value is `ApiKey-v1 ` followed by the whole API key.":
        "La valeur est `ApiKey-v1 ` suivi de la clé d'API au complet.",
    "This document in French (no authentication)":
        "Ce document en français (sans authentification)",
    # Issue 24: templates and reports through the API.
    "Create a template": "Créer un gabarit",
    "Needs a key with the manage_templates permission (else 403).":
        "Exige une clé ayant la permission manage_templates (sinon 403).",
    "Needs a key with the manage_reports permission (else 403).":
        "Exige une clé ayant la permission manage_reports (sinon 403).",
    "List the template categories": "Lister les catégories de gabarit",
    "Get a template with its category": "Obtenir un gabarit avec sa catégorie",
    "Update a template (its next version)": "Modifier un gabarit (sa version suivante)",
    "Archive a template (its next version)": "Archiver un gabarit (sa version suivante)",
    "Not ready (a report), changed meanwhile (a template), a job that cannot be"
    " cancelled, or a request with this Idempotency-Key still in flight: retry later":
        "Pas prêt (un rapport), modifié entre-temps (un gabarit), envoi en lot qui ne peut"
        " pas être annulé, ou requête avec cette Idempotency-Key encore en cours : réessayez"
        " plus tard",
    "Request a report of the last 7 days (10 an hour)":
        "Demander un rapport des 7 derniers jours (10 par heure)",
    "Requests allowed an hour": "Demandes permises par heure",
    "Requests left this hour": "Demandes restantes pour cette heure",
    "When the window has room again (Unix time)":
        "Moment où la fenêtre aura de nouveau de la place (temps Unix)",
    "List the service's reports, newest first, 250 a page":
        "Lister les rapports du service, les plus récents d'abord, 250 par page",
    "Get a report's status": "Obtenir l'état d'un rapport",
    "Download a ready report as CSV": "Télécharger un rapport prêt en CSV",
    "The CSV, as an attachment (chunked)": "Le CSV, en pièce jointe (par morceaux)",
    "At most 612 SMS or 50,000 email characters":
        "Au plus 612 caractères (message texte) ou 50 000 (courriel)",
    "Email templates only": "Gabarits de courriel seulement",
    "The French version (null: none)": "La version française (null : aucune)",
    "GC's template; body_fr and subject_fr when it has a French version.":
        "Le gabarit de GC; body_fr et subject_fr s'il a une version française.",
    "The error envelope; a category error adds the categories.":
        "L'enveloppe d'erreur; une erreur de catégorie y ajoute les catégories.",
}  # fmt: skip

DESCRIPTION_FR = """\
Une API compatible avec Notification GC / GOV.UK Notify : les clients officiels
fonctionnent avec elle en changeant seulement l'URL de base et la clé d'API.

Authentification, sur chaque point de terminaison sauf ce document :
- `Authorization: Bearer <JWT>` : signé en HS256 avec le secret de la clé (ses 36 derniers
  caractères); revendications `iss` = identifiant du service (caractères -73..-37 de la
  clé) et `iat` = maintenant, à 30 secondes près de l'horloge du serveur.
- `Authorization: ApiKey-v1 <votre clé d'API au complet>` (l'en-tête statique de
  Notification GC).

Chaque erreur, quel que soit son état, a le corps
`{"status_code": N, "errors": [{"error": "<NomDeClasse>", "message": "<texte>"}]}`.
Ajoutez `Accept-Language: fr` à une requête pour recevoir ses messages d'erreur en français.
"""

TEXT_KEYS = ("title", "summary", "description")


def _rewrite(node: Any, text: Callable[[str], str]) -> None:
    """Replace every title, summary and description of ``node`` in place by ``text(it)``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in TEXT_KEYS and isinstance(value, str):
                node[key] = text(value)
            else:
                _rewrite(value, text)
    elif isinstance(node, list):
        for value in node:
            _rewrite(value, text)


def texts(document: Any) -> list[str]:
    """Every title, summary and description of ``document``, once each, in order."""
    found: dict[str, None] = {}

    def note(value: str) -> str:
        found[value] = None
        return value

    _rewrite(copy.deepcopy(document), note)
    return list(found)


def translated(document: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of ``document`` with its texts in French (the info's description is
    ``DESCRIPTION_FR``)."""
    french = copy.deepcopy(document)
    _rewrite(french, lambda value: FRENCH.get(value, value))
    french["info"]["description"] = DESCRIPTION_FR
    return french
