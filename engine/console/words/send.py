"""The console's words for sending: a one-off message, a CSV upload and its job (issue 27),
in English and in French written for Canadian French readers."""

from __future__ import annotations

WORDS: dict[str, tuple[str, str]] = {
    "send": ("Send", "Envoyer"),
    "send_title": ("Send a message", "Envoyer un message"),
    "send_choose": ("Choose a template", "Choisissez un gabarit"),
    "send_one_off": ("Send one message", "Envoyer un message unique"),
    "send_one_off_for": ("Send one message: {name}", "Envoyer un message unique : {name}"),
    "send_upload_link": ("Upload a list of recipients", "Téléverser une liste de destinataires"),
    "send_no_templates": (
        "This service has no templates to send yet.",
        "Ce service n'a encore aucun gabarit à envoyer.",
    ),
    "send_to_email": ("Email address", "Adresse courriel"),
    "send_to_sms": ("Phone number", "Numéro de téléphone"),
    "send_to_hint_email": ("For example name@example.gc.ca", "Par exemple nom@exemple.gc.ca"),
    "send_to_hint_sms": ("For example 613 555 0123", "Par exemple 613 555 0123"),
    "send_values": ("Personalised content", "Contenu personnalisé"),
    "send_values_hint": (
        "One value for each placeholder of the template.",
        "Une valeur pour chaque espace réservé du gabarit.",
    ),
    "send_language": ("Language of the message", "Langue du message"),
    "send_lang_en": ("English", "Anglais"),
    "send_lang_fr": ("French", "Français"),
    "send_check": ("Check the message", "Vérifier le message"),
    "send_confirm_title": ("Check the message before sending", "Vérifiez le message avant l'envoi"),
    "send_to": ("To", "À"),
    "send_subject": ("Subject", "Objet"),
    "send_message": ("Message", "Contenu du message"),
    "send_fragments": (
        "{count} text message part(s) will be counted.",
        "{count} partie(s) de message texte seront comptées.",
    ),
    "send_now": ("Send the message", "Envoyer le message"),
    "send_start_again": ("Start again", "Recommencer"),
    "send_simulated": (
        "This is a test address or number: the message was accepted and not sent.",
        "Il s'agit d'une adresse ou d'un numéro d'essai : le message a été accepté, "
        "mais n'a pas été envoyé.",
    ),
    "send_errors": ("There is a problem", "Il y a un problème"),
    # -- upload ------------------------------------------------------------------------
    "up_title": ("Upload a list of recipients", "Téléverser une liste de destinataires"),
    "up_title_for": (
        "Upload a list of recipients: {name}",
        "Téléverser une liste de destinataires : {name}",
    ),
    "up_intro": (
        "A CSV file with a column “{column}” and one column for each placeholder: {names}.",
        "Un fichier CSV avec une colonne « {column} » et une colonne pour chaque espace "
        "réservé : {names}.",
    ),
    "up_none": ("none", "aucun"),
    "up_file": ("CSV file", "Fichier CSV"),
    "up_file_hint": (
        "Up to 50,000 rows. Nothing is sent until you confirm.",
        "Jusqu'à 50 000 lignes. Rien n'est envoyé avant votre confirmation.",
    ),
    "up_check": ("Upload and check", "Téléverser et vérifier"),
    "up_no_file": ("Choose a CSV file to upload.", "Choisissez un fichier CSV à téléverser."),
    "up_not_text": (
        "The file is not a CSV text file (UTF-8).",
        "Le fichier n'est pas un fichier texte CSV (UTF-8).",
    ),
    "up_rows_bad": (
        "{count} row(s) have errors. Fix them in your file and upload it again: nothing was sent.",
        "{count} ligne(s) contiennent des erreurs. Corrigez-les dans votre fichier et "
        "téléversez-le de nouveau : rien n'a été envoyé.",
    ),
    "up_errors_caption": ("Errors in the file", "Erreurs dans le fichier"),
    "up_line": ("Line in the file", "Ligne du fichier"),
    "up_column": ("Column", "Colonne"),
    "up_problem": ("Problem", "Problème"),
    "up_missing": ("Missing: enter a value", "Manquant : entrez une valeur"),
    "up_invalid_recipient": (
        "Not a valid recipient for this template",
        "Destinataire non valide pour ce gabarit",
    ),
    "up_too_long": (
        "The message is too long for a text message",
        "Le message est trop long pour un message texte",
    ),
    "up_ready_title": ("Ready to send", "Prêt pour l'envoi"),
    "up_ready": (
        "{file}: {count} message(s) with the template “{template}”. Every row passed the checks.",
        "{file} : {count} message(s) avec le gabarit « {template} ». Toutes les lignes ont "
        "passé les vérifications.",
    ),
    "up_send": ("Send {count} message(s)", "Envoyer {count} message(s)"),
    "up_gone": (
        "This upload has expired or was already sent. Upload the file again.",
        "Ce téléversement a expiré ou a déjà été envoyé. Téléversez le fichier de nouveau.",
    ),
    # -- job ---------------------------------------------------------------------------
    "job_title": ("Bulk send", "Envoi groupé"),
    "job_intro": (
        "{file}, with the template “{template}”: {count} message(s).",
        "{file}, avec le gabarit « {template} » : {count} message(s).",
    ),
    "job_state": ("State of the job", "État de l'envoi"),
    "job_pending": ("Being prepared", "En préparation"),
    "job_finished": ("All messages created", "Tous les messages créés"),
    "job_scheduled": ("Scheduled", "Planifié"),
    "job_cancelled": ("Cancelled", "Annulé"),
    "job_progress": ("Progress", "Progression"),
    "job_status": ("Status", "État"),
    "job_count": ("Messages", "Nombre de messages"),
    "job_refresh": ("Refresh the progress", "Actualiser la progression"),
    "job_activity": ("See these messages in the activity", "Voir ces messages dans l'activité"),
}
