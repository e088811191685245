"""The words of a service's settings page and of the dashboard's local day, in English and
in Canadian French. Keys start with ``st_`` (settings) or ``dash_`` (dashboard)."""

from __future__ import annotations

WORDS: dict[str, tuple[str, str]] = {
    "settings": ("Settings", "Paramètres"),
    "st_saved": ("The settings are saved.", "Les paramètres sont enregistrés."),
    "st_save": ("Save", "Enregistrer"),
    "st_add": ("Add", "Ajouter"),
    "st_general": ("General", "Général"),
    "st_name": ("Service name", "Nom du service"),
    "st_name_missing": ("Enter a name for the service.", "Entrez un nom pour le service."),
    "st_default_language": ("Default language", "Langue par défaut"),
    "st_language_hint": (
        "The language of messages sent without one.",
        "La langue des messages envoyés sans langue précisée.",
    ),
    "st_en": ("English", "Anglais"),
    "st_fr": ("French", "Français"),
    "st_time_zone": ("Time zone", "Fuseau horaire"),
    "st_time_zone_hint": (
        "An IANA name such as America/Toronto. Daily limits reset at midnight in this zone.",
        "Un nom IANA comme America/Toronto. Les limites quotidiennes sont remises à zéro à "
        "minuit dans ce fuseau.",
    ),
    "st_time_zone_bad": (
        "“{zone}” is not a time zone name. Use a name such as America/Toronto.",
        "« {zone} » n'est pas un nom de fuseau horaire. Utilisez un nom comme America/Toronto.",
    ),
    "st_branding": ("Email branding", "Image de marque des courriels"),
    "st_branding_none": ("No branding", "Aucune image de marque"),
    "st_branding_fip": ("Government of Canada", "Gouvernement du Canada"),
    "st_branding_organisation": ("Your organisation's", "Celle de votre organisation"),
    "st_branding_french_first": (
        "Government of Canada signature in French first",
        "Signature du gouvernement du Canada en français d'abord",
    ),
    "st_retention": ("Data retention", "Conservation des données"),
    "st_retention_hint": (
        "Days a message is kept before it is deleted: {min} to {max}.",
        "Nombre de jours pendant lesquels un message est conservé avant d'être supprimé : "
        "de {min} à {max}.",
    ),
    "st_retention_email": ("Emails (days)", "Courriels (jours)"),
    "st_retention_sms": ("Text messages (days)", "Messages texte (jours)"),
    "st_retention_bad": (
        "Data retention must be between {min} and {max} days.",
        "La conservation des données doit être de {min} à {max} jours.",
    ),
    "st_reply_to": ("Reply-to email addresses", "Adresses courriel de réponse"),
    "st_reply_to_new": ("New reply-to email address", "Nouvelle adresse courriel de réponse"),
    "st_reply_to_bad": ("Enter a valid email address.", "Entrez une adresse courriel valide."),
    "st_sms_senders": ("Text message senders", "Expéditeurs des messages texte"),
    "st_sms_sender_new": ("New text message sender", "Nouvel expéditeur de messages texte"),
    "st_sms_sender_hint": (
        "A phone number, a short code, or 3 to 11 letters and digits.",
        "Un numéro de téléphone, un code court ou de 3 à 11 lettres et chiffres.",
    ),
    "st_sms_sender_bad": (
        "Enter a phone number, a short code, or 3 to 11 letters and digits.",
        "Entrez un numéro de téléphone, un code court ou de 3 à 11 lettres et chiffres.",
    ),
    "st_default": ("(default)", "(par défaut)"),
    "st_make_default": ("Make it the default", "En faire la valeur par défaut"),
    "st_none_yet": ("None yet.", "Aucune pour l'instant."),
    "st_limits": ("Limits", "Limites"),
    "st_limits_readonly": (
        "Only a platform administrator can change the limits.",
        "Seul un administrateur de la plateforme peut modifier les limites.",
    ),
    "st_email_daily_limit": ("Emails per day", "Courriels par jour"),
    "st_sms_daily_limit": ("Text messages per day", "Messages texte par jour"),
    "st_email_annual_limit": ("Emails per year", "Courriels par année"),
    "st_sms_annual_limit": ("Text messages per year", "Messages texte par année"),
    "st_limit_bad": (
        "Each limit must be a whole number from 0 to 2,147,483,647.",
        "Chaque limite doit être un nombre entier de 0 à 2 147 483 647.",
    ),
    "dash_today": ("Today ({zone})", "Aujourd'hui ({zone})"),
    "dash_days_utc": (
        "Days are UTC days (the statistics are kept per UTC day).",
        "Les jours sont des jours UTC (les statistiques sont conservées par jour UTC).",
    ),
}
