"""The templates area's words: writing, versions, preview and archiving (keys ``tpl_``)."""

from __future__ import annotations

WORDS: dict[str, tuple[str, str]] = {
    "tpl_new": ("New template", "Nouveau gabarit"),
    "tpl_new_email": ("New email template", "Nouveau gabarit de courriel"),
    "tpl_new_sms": ("New text message template", "Nouveau gabarit de message texte"),
    "tpl_edit": ("Edit {name}", "Modifier {name}"),
    "tpl_edit_link": ("Edit", "Modifier"),
    "tpl_languages": ("Languages", "Langues"),
    "tpl_lang_en": ("English", "Anglais"),
    "tpl_lang_fr": ("French", "Français"),
    "tpl_english_version": ("English version", "Version anglaise"),
    "tpl_french_version_hint": (
        "Optional. With a French version, each message is sent in the language asked for, "
        "or in the service's default language.",
        "Facultatif. Avec une version française, chaque message est envoyé dans la langue "
        "demandée ou dans la langue par défaut du service.",
    ),
    "tpl_template_name": ("Template name", "Nom du gabarit"),
    "tpl_name_hint": ("Your recipients will not see this.", "Vos destinataires ne le verront pas."),
    "tpl_category": ("Category", "Catégorie"),
    "tpl_category_hint": (
        "The category sets the sending priority.",
        "La catégorie fixe la priorité d'envoi.",
    ),
    "tpl_choose": ("Choose a category", "Choisissez une catégorie"),
    "tpl_priority": ("Sending priority", "Priorité d'envoi"),
    "tpl_priority_priority": ("Priority", "Prioritaire"),
    "tpl_priority_normal": ("Normal", "Normale"),
    "tpl_priority_bulk": ("Bulk", "En vrac"),
    "tpl_subject": ("Subject line", "Ligne d'objet"),
    "tpl_subject_fr": ("French subject line", "Ligne d'objet en français"),
    "tpl_content": ("Message", "Texte du message"),
    "tpl_content_fr": ("French message", "Message en français"),
    "tpl_content_hint": (
        "Put personalised parts between double brackets, for example ((name)).",
        "Mettez les parties personnalisées entre doubles parenthèses, par exemple ((nom)).",
    ),
    "tpl_save": ("Save", "Enregistrer"),
    "tpl_saved": (
        "Template saved as version {version}.",
        "Gabarit enregistré comme version {version}.",
    ),
    "tpl_placeholders": ("Placeholders", "Espaces réservés"),
    "tpl_no_placeholders": (
        "This template has no placeholders.",
        "Ce gabarit n'a aucun espace réservé.",
    ),
    "tpl_versions": ("Version history", "Historique des versions"),
    "tpl_versions_of": ("Version history of {name}", "Historique des versions de {name}"),
    "tpl_version_n": ("Version {version} of {name}", "Version {version} de {name}"),
    "tpl_saved_by": ("Saved by", "Enregistré par"),
    "tpl_saved_at": ("Saved at (UTC)", "Enregistré le (UTC)"),
    "tpl_what_changed": ("What changed", "Modifications"),
    "tpl_show": ("Show version {version}", "Afficher la version {version}"),
    "tpl_created": ("Created", "Création"),
    "tpl_field_name": ("name", "nom"),
    "tpl_field_template_category_id": ("category", "catégorie"),
    "tpl_field_subject": ("subject", "objet"),
    "tpl_field_content": ("message", "texte du message"),
    "tpl_field_subject_fr": ("French subject", "objet en français"),
    "tpl_field_content_fr": ("French message", "message en français"),
    "tpl_nothing_changed": ("No change", "Aucune modification"),
    "tpl_archived_state": ("Archived", "Archivé"),
    "tpl_back": ("Back to the template", "Retour au gabarit"),
    "tpl_back_list": ("Back to the templates", "Retour aux gabarits"),
    "tpl_preview": ("Preview", "Aperçu"),
    "tpl_preview_of": ("Preview of {name}", "Aperçu de {name}"),
    "tpl_preview_hint": (
        "Type example values: the preview is rendered by the code that sends.",
        "Entrez des valeurs d'exemple : l'aperçu est produit par le code qui envoie.",
    ),
    "tpl_preview_language": ("Language of the preview", "Langue de l'aperçu"),
    "tpl_value_for": ("Example value for (({name}))", "Valeur d'exemple pour (({name}))"),
    "tpl_show_preview": ("Show preview", "Afficher l'aperçu"),
    "tpl_rendered_subject": ("Subject", "Objet"),
    "tpl_rendered_email": ("The email as sent", "Le courriel tel qu'envoyé"),
    "tpl_rendered_sms": ("The text message as sent", "Le message texte tel qu'envoyé"),
    "tpl_fragments": (
        "{chars} characters, {count} message part(s)",
        "{chars} caractères, {count} partie(s) de message",
    ),
    "tpl_archive": ("Archive", "Archiver"),
    "tpl_archive_title": ("Archive {name}?", "Archiver {name}?"),
    "tpl_archive_warning": (
        "An archived template can no longer be used to send messages. Its versions are kept.",
        "Un gabarit archivé ne peut plus servir à envoyer des messages. "
        "Ses versions sont conservées.",
    ),
    "tpl_archive_confirm": ("Yes, archive this template", "Oui, archiver ce gabarit"),
    "tpl_cancel": ("Cancel", "Annuler"),
    "tpl_archived": ("The template {name} is archived.", "Le gabarit {name} est archivé."),
    "tpl_read_only": (
        "You can read this template. Ask a team member who manages templates to change it.",
        "Vous pouvez lire ce gabarit. Demandez à un membre de l'équipe qui gère les gabarits "
        "de le modifier.",
    ),
    # errors: one per code of engine.domain.template_edits.problems
    "tpl_err_type_missing": (
        "Choose email or text message",
        "Choisissez courriel ou message texte",
    ),
    "tpl_err_name_missing": ("Enter a template name", "Entrez un nom de gabarit"),
    "tpl_err_name_too_long": (
        "The template name must be 255 characters or fewer",
        "Le nom du gabarit doit compter au plus 255 caractères",
    ),
    "tpl_err_category_missing": ("Choose a category", "Choisissez une catégorie"),
    "tpl_err_subject_missing": ("Enter a subject line", "Entrez une ligne d'objet"),
    "tpl_err_content_missing": ("Enter a message", "Entrez le texte du message"),
    "tpl_err_content_too_long": ("The message is too long", "Le texte du message est trop long"),
    "tpl_err_french_subject_alone": (
        "Enter the French message, or remove the French subject line",
        "Entrez le message en français ou retirez la ligne d'objet en français",
    ),
    "tpl_err_content_fr_too_long": (
        "The French message is too long",
        "Le message en français est trop long",
    ),
    "tpl_err_value_missing": (
        "Enter an example value for (({name}))",
        "Entrez une valeur d'exemple pour (({name}))",
    ),
    "tpl_err_changed": (
        "Someone else saved this template while you were editing it. Check their changes "
        "and save again.",
        "Quelqu'un d'autre a enregistré ce gabarit pendant que vous le modifiiez. Vérifiez "
        "ses modifications et enregistrez de nouveau.",
    ),
}
