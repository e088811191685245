"""The words of the API keys and API integration (callbacks) pages, in English and in
Canadian French. Keys start with ``ak_`` (API keys) or ``cb_`` (callbacks)."""

from __future__ import annotations

WORDS: dict[str, tuple[str, str]] = {
    # API keys
    "ak_create": ("Create an API key", "Créer une clé d'API"),
    "ak_name": ("Name of the key", "Nom de la clé"),
    "ak_name_hint": (
        "Say what the key is for, for example “case management system”.",
        "Indiquez à quoi sert la clé, par exemple « système de gestion des dossiers ».",
    ),
    "ak_type_legend": ("Type of key", "Type de clé"),
    "ak_normal_hint": (
        "Sends to anyone: messages count against your limits.",
        "Envoie à n'importe qui : les messages comptent dans vos limites.",
    ),
    "ak_team_hint": (
        "Sends only to your team and safelist, even when the service is live.",
        "Envoie seulement à votre équipe et à votre liste sécuritaire, même quand le "
        "service est en direct.",
    ),
    "ak_test_hint": (
        "Pretends to send: nothing is delivered and nothing counts against your limits.",
        "Simule l'envoi : rien n'est livré et rien ne compte dans vos limites.",
    ),
    "ak_name_missing": ("Enter a name for the key.", "Entrez un nom pour la clé."),
    "ak_name_long": (
        "The name must be {max} characters or fewer.",
        "Le nom doit compter {max} caractères ou moins.",
    ),
    "ak_type_missing": ("Choose the type of key.", "Choisissez le type de clé."),
    "ak_created_title": ("Your new API key", "Votre nouvelle clé d'API"),
    "ak_created_once": (
        "Copy the key now. It is shown only this once: it cannot be shown again. If you "
        "lose it, revoke it and create another one.",
        "Copiez la clé maintenant. Elle n'est affichée qu'une seule fois : elle ne peut pas "
        "être affichée de nouveau. Si vous la perdez, révoquez-la et créez-en une autre.",
    ),
    "ak_key_label": ("API key {name}", "Clé d'API {name}"),
    "ak_back": ("Back to the API keys", "Retour aux clés d'API"),
    "ak_last_used": ("Last used", "Dernière utilisation"),
    "ak_never": ("Never", "Jamais"),
    # API integration (callbacks)
    "integration": ("API integration", "Intégration de l'API"),
    "cb_intro": (
        "Notify calls your callback URLs with the status of each message you send and with "
        "the text messages people send you.",
        "Notification appelle vos URL de rappel avec l'état de chaque message que vous "
        "envoyez et avec les messages texte qu'on vous envoie.",
    ),
    "cb_delivery_status": ("Delivery receipts", "Accusés de livraison"),
    "cb_inbound_sms": ("Received text messages", "Messages texte reçus"),
    "cb_url": ("Callback URL", "URL de rappel"),
    "cb_url_hint": (
        "Must start with https:// and reach a public address.",
        "Doit commencer par https:// et mener à une adresse publique.",
    ),
    "cb_token": ("Bearer token", "Jeton du porteur"),
    "cb_token_hint": (
        "At least 10 characters. Notify sends it in the Authorization header. It is never "
        "shown again once saved.",
        "Au moins 10 caractères. Notification l'envoie dans l'en-tête Authorization. Il "
        "n'est jamais affiché de nouveau une fois enregistré.",
    ),
    "cb_signing": ("Signing secret (optional)", "Secret de signature (facultatif)"),
    "cb_signing_hint": (
        "If you give one, each request is signed with it (HMAC-SHA256).",
        "Si vous en donnez un, chaque requête est signée avec lui (HMAC-SHA256).",
    ),
    "cb_token_set": ("A bearer token is set.", "Un jeton du porteur est défini."),
    "cb_signed_yes": ("Requests are signed.", "Les requêtes sont signées."),
    "cb_signed_no": ("Requests are not signed.", "Les requêtes ne sont pas signées."),
    "cb_not_set": ("No callback URL is set.", "Aucune URL de rappel n'est définie."),
    "cb_save": ("Save the callback", "Enregistrer le rappel"),
    "cb_saved": ("The callback is saved.", "Le rappel est enregistré."),
    "cb_token_short": (
        "The bearer token must be at least 10 characters.",
        "Le jeton du porteur doit compter au moins 10 caractères.",
    ),
    "cb_url_refused": (
        "This URL cannot be used ({reason}). It must start with https:// and reach a "
        "public address.",
        "Cette URL ne peut pas être utilisée ({reason}). Elle doit commencer par https:// "
        "et mener à une adresse publique.",
    ),
    "cb_test": ("Test response time", "Tester le temps de réponse"),
    "cb_test_ok": (
        "Your endpoint answered HTTP {status} in {ms} ms.",
        "Votre point de terminaison a répondu HTTP {status} en {ms} ms.",
    ),
    "cb_test_refused": (
        "Your endpoint answered HTTP {status} in {ms} ms: that is not a success (2xx), so "
        "callbacks would fail.",
        "Votre point de terminaison a répondu HTTP {status} en {ms} ms : ce n'est pas une "
        "réussite (2xx), les rappels échoueraient donc.",
    ),
    "cb_test_timeout": (
        "Your endpoint did not answer within the time limit ({ms} ms).",
        "Votre point de terminaison n'a pas répondu dans le délai permis ({ms} ms).",
    ),
    "cb_test_connection": (
        "Notify could not connect to your endpoint (after {ms} ms). Check the URL and that "
        "the server accepts connections.",
        "Notification n'a pas pu se connecter à votre point de terminaison (après {ms} ms). "
        "Vérifiez l'URL et que le serveur accepte les connexions.",
    ),
    "cb_state": ("State", "État"),
    "cb_working": ("Working", "Fonctionnel"),
    "cb_suspended": (
        "Suspended since {since}: {reason}",
        "Suspendu depuis le {since} : {reason}",
    ),
    "cb_owed": ("Callbacks waiting", "Rappels en attente"),
    "cb_oldest": ("Oldest waiting since", "Le plus ancien en attente depuis"),
    "cb_last_success": ("Last success", "Dernière réussite"),
    "cb_last_failure": ("Last failure", "Dernier échec"),
    "cb_none": ("Never", "Jamais"),  # "Aucun" agrees with échec but not with réussite
    "cb_resume": ("Resume the callbacks", "Reprendre les rappels"),
    "cb_resumed": ("The callbacks are resumed.", "Les rappels ont repris."),
    "cb_replay_title": ("Send the delivery receipts again", "Renvoyer les accusés de livraison"),
    "cb_replay_hint": (
        "For the messages created between these two times (UTC, at most {days} days apart).",
        "Pour les messages créés entre ces deux moments (UTC, au plus {days} jours d'écart).",
    ),
    "cb_replay_start": ("From (UTC)", "Du (UTC)"),
    "cb_replay_end": ("To (UTC)", "Au (UTC)"),
    "cb_time_hint": ("For example 2026-12-06T09:30", "Par exemple 2026-12-06T09:30"),
    "cb_replay": ("Send again", "Renvoyer"),
    "cb_replayed": (
        "{count} delivery receipts are queued again.",
        "{count} accusés de livraison sont de nouveau en file d'attente.",
    ),
    "cb_replay_bad": (
        "Enter two times, the second after the first and at most {days} days later.",
        "Entrez deux moments, le second après le premier et au plus {days} jours plus tard.",
    ),
    "cb_no_delivery": (
        "Set a delivery receipts callback first.",
        "Définissez d'abord un rappel pour les accusés de livraison.",
    ),
}
