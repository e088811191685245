"""The console's words for a service's activity: its notifications, their search and one
notification's page (issue 27), in English and in French for Canadian French readers."""

from __future__ import annotations

WORDS: dict[str, tuple[str, str]] = {
    "activity": ("Activity", "Activité"),
    "act_search": (
        "Search by reference, email address or phone number",
        "Rechercher par référence, adresse courriel ou numéro de téléphone",
    ),
    "act_search_hint": (
        "An address or a number is found exactly as it was sent to.",
        "Une adresse ou un numéro est trouvé exactement comme il a été utilisé pour l'envoi.",
    ),
    "act_channel": ("Channel", "Canal"),
    "act_status": ("Status", "État"),
    "act_all": ("All", "Tous"),
    "act_sending": ("Sending", "En cours d'envoi"),
    "act_delivered": ("Delivered", "Livrés"),
    "act_failed": ("Failed", "Échecs"),
    "act_filter": ("Search", "Rechercher"),
    "act_caption": ("Notifications, newest first", "Notifications, les plus récentes en premier"),
    "act_recipient": ("Recipient", "Destinataire"),
    "act_template": ("Template", "Gabarit"),
    "act_created": ("Created (UTC)", "Créée (UTC)"),
    "act_none": ("No notifications match.", "Aucune notification ne correspond."),
    "act_next": ("Older notifications", "Notifications plus anciennes"),
    "act_first": ("Newest notifications", "Notifications les plus récentes"),
    "act_open": ("Details", "Détails"),
    "act_open_for": ("Details of the notification to {to}", "Détails de la notification à {to}"),
    "act_notification": ("Notification details", "Détails de la notification"),
    "act_reference": ("Reference", "Référence"),
    "act_none_given": ("None", "Aucune"),
    "act_sent_at": ("Sent (UTC)", "Envoyée (UTC)"),
    "act_completed_at": ("Completed (UTC)", "Terminée (UTC)"),
    "act_job": ("Bulk send", "Envoi groupé"),
    "act_one_off_done": ("The message was sent.", "Le message a été envoyé."),
    "act_reload": ("Reload to see its status now", "Recharger pour voir son état actuel"),
    "act_details": ("Details", "Détails"),
    "act_deleted_template": ("(template no longer available)", "(gabarit plus disponible)"),
}
