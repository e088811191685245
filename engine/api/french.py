"""The French of every error message (issue 22), keyed by the English contract template.

Rules:
- Each entry is (English template, French template); the English is the message the
  engine writes today, byte for byte, with each value as ``{name}``; the French has the
  same placeholders (tests/api/test_french.py checks both, and that every message of the
  source has an entry). How values are carried over: ``engine.api.i18n``.
- Canadian French as GC Notify's own French interface writes it: « courriel », « message
  texte », « clé d'API », « gabarit », « limite quotidienne », « personnalisation ».
  Field names, key types, URLs and JSON stay as written: they are what the client sends.
- Links to GC's documentation point to its French pages (``/fr/``).
"""

from __future__ import annotations

import re

DOCS_FR = "https://documentation.notification.canada.ca/fr/"
_DOCS_EN = "https://documentation.notification.canada.ca/en/"

MESSAGES: list[tuple[str, str]] = [
    # -- authentication (engine.api.auth, engine.api.admin) ---------------------------
    ("Unauthorized, authentication token must be provided",
     "Non autorisé : un jeton d'authentification doit être fourni"),
    ("Unauthorized, Authorization header is invalid. Notify supports the following "
     "authentication methods: Bearer <JWT> (HS256, iss = service id, iat = now) and "
     "ApiKey-v1 <your API key>",
     "Non autorisé : l'en-tête Authorization n'est pas valide. Notification accepte les "
     "méthodes d'authentification suivantes : Bearer <JWT> (HS256, iss = identifiant du "
     "service, iat = maintenant) et ApiKey-v1 <votre clé d'API>"),
    ("Invalid token: make sure your API token matches the example at "
     f"{_DOCS_EN}start.html#headers",
     "Jeton non valide : assurez-vous que votre jeton d'API correspond à l'exemple à "
     f"{DOCS_FR}commencer.html#en-tetes"),
    ("Invalid token: algorithm used is not HS256",
     "Jeton non valide : l'algorithme utilisé n'est pas HS256"),
    ("Invalid token: iss field not provided", "Jeton non valide : le champ iss n'est pas fourni"),
    ("Invalid token: service id is not the right data type",
     "Jeton non valide : l'identifiant du service n'est pas du bon type de données"),
    ("Invalid token: service has no API keys",
     "Jeton non valide : le service n'a aucune clé d'API"),
    ("Invalid token: signature, api token is not valid",
     "Jeton non valide : signature, le jeton d'API n'est pas valide"),
    ("Invalid token: API key revoked", "Jeton non valide : clé d'API révoquée"),
    ("Invalid token: signature, api token not found",
     "Jeton non valide : signature, jeton d'API introuvable"),
    ("Error: Your system clock must be accurate to within 30 seconds",
     "Erreur : l'horloge de votre système doit être exacte à 30 secondes près"),
    ("Invalid token: Enter your full API key",
     "Jeton non valide : entrez votre clé d'API au complet"),
    ("Invalid token: API key not found", "Jeton non valide : clé d'API introuvable"),
    ("Invalid token: service not found", "Jeton non valide : service introuvable"),
    ("Invalid token: service is archived", "Jeton non valide : le service est archivé"),
    ("Unauthorized, admin token must be provided",
     "Non autorisé : un jeton d'administration doit être fourni"),
    ("Invalid admin token", "Jeton d'administration non valide"),
    ("Too many failed admin authentications; retry later",
     "Trop d'échecs d'authentification d'administration; réessayez plus tard"),
    # -- the request itself (engine.api.app, http, limits, v2.schema) --------------------
    ("The method is not allowed for the requested URL.",
     "La méthode n'est pas permise pour l'URL demandée."),
    ("The requested URL was not found on the server.",
     "L'URL demandée est introuvable sur le serveur."),
    ("Internal server error", "Erreur interne du serveur"),
    ("UnsupportedMediaType error: Content-Type must be application/json",
     "Erreur UnsupportedMediaType : Content-Type doit être application/json"),
    ("The service is temporarily unavailable (database unreachable): retry in {seconds} s",
     "Le service est temporairement indisponible (base de données injoignable) : réessayez "
     "dans {seconds} s"),
    ("Request body is larger than {limit} bytes",
     "Le corps de la requête dépasse {limit} octets"),
    ("Error decoding arguments: JSON is nested deeper than {depth} levels",
     "Erreur de décodage des arguments : le JSON est imbriqué sur plus de {depth} niveaux"),
    ("Error decoding arguments: {detail}", "Erreur de décodage des arguments : {detail}"),
    ("{field} contains a character the database cannot store (\\u0000)",
     "{field} contient un caractère que la base de données ne peut pas enregistrer (\\u0000)"),
    ("{field} {value} is not of type integer, null",
     "{field} {value} n'est pas de type integer, null"),
    ("{field} {value} is less than the minimum of {minimum}",
     "{field} {value} est inférieur au minimum de {minimum}"),
    ("{field} {value} is greater than the maximum of {maximum}",
     "{field} {value} est supérieur au maximum de {maximum}"),
    ("{field} is a required property", "{field} est une propriété obligatoire"),
    ("Job not found in database", "Envoi en lot introuvable dans la base de données"),
    ("Job has already been cancelled", "L'envoi en lot a déjà été annulé"),
    ("Job cannot be cancelled because it is already being sent or has already been sent",
     "L'envoi en lot ne peut pas être annulé, car il est en cours d'envoi ou a déjà été envoyé"),
    ("Unsupported value for confirm_email_before_download: {value}. Use a boolean true or "
     "false value.",
     "Valeur non prise en charge pour confirm_email_before_download : {value}. Utilisez une "
     "valeur booléenne true ou false."),
    ("Unsupported value for retention_period: {value}. Supported periods are from 1 to 78 "
     "weeks.",
     "Valeur non prise en charge pour retention_period : {value}. Les durées prises en charge "
     "vont de 1 à 78 semaines."),
    ("This is not the email address the file was sent to",
     "Ce n'est pas l'adresse courriel à laquelle le fichier a été envoyé"),
    ("Service is not allowed to send letters",
     "Le service n'est pas autorisé à envoyer des lettres"),
    ("personalisation {name} is required", "personalisation {name} est obligatoire"),
    ("personalisation {name} is a required property",
     "personalisation {name} est une propriété obligatoire"),
    ("postage invalid. It must be either first or second.",
     "postage non valide. Il doit être first ou second."),
    ("Additional properties are not allowed ({names} {verb} unexpected)",
     "Les propriétés supplémentaires ne sont pas permises ({names} : {verb})"),
    ("{field} {value} is not of type {wanted}", "{field} {value} n'est pas de type {wanted}"),
    ("{field} is not a valid UUID", "{field} n'est pas un UUID valide"),
    ("{field} {value} is not one of [{allowed}]",
     "{field} {value} ne fait pas partie de [{allowed}]"),
    # -- sending (engine.api.v2, engine.domain.recipients, placeholders) -----------------
    ("scheduled_for datetime format is invalid. It must be a valid ISO8601 date time format, "
     "https://en.wikipedia.org/wiki/ISO_8601",
     "Le format de date et heure de scheduled_for n'est pas valide. Il doit respecter le "
     "format ISO 8601, https://fr.wikipedia.org/wiki/ISO_8601"),
    ("{name} datetime format is invalid. It must be a valid ISO8601 date time format, "
     "https://en.wikipedia.org/wiki/ISO_8601",
     "Le format de date et heure de {name} n'est pas valide. Il doit respecter le "
     "format ISO 8601, https://fr.wikipedia.org/wiki/ISO_8601"),
    ("scheduled_for datetime cannot be in the past",
     "La date et l'heure de scheduled_for ne peuvent pas être dans le passé"),
    ("scheduled_for datetime can only be up to {hours} hours in the future",
     "La date et l'heure de scheduled_for ne peuvent pas dépasser {hours} heures dans le futur"),
    ("scheduled_for datetime does not exist in {zone}: the clocks skip it",
     "La date et l'heure de scheduled_for n'existent pas dans le fuseau {zone} : les horloges "
     "sautent cette heure"),
    ("Message is empty or just whitespace", "Le message est vide ou ne contient que des espaces"),
    ("Content for template has a character count greater than the limit of {limit}",
     "Le contenu du gabarit compte plus de caractères que la limite de {limit}"),
    ("one_click_unsubscribe_url is not a valid https url",
     "one_click_unsubscribe_url n'est pas une URL https valide"),
    ("Personalisation variables size of {size} bytes is greater than allowed limit of "
     "{limit} bytes.",
     "La taille des variables de personnalisation ({size} octets) dépasse la limite permise "
     "de {limit} octets."),
    ("Recipient can't be empty", "Le destinataire ne peut pas être vide"),
    ("email_address {msg}", "email_address {msg}"),
    ("phone_number {msg}", "phone_number {msg}"),
    ("Not a valid email address", "Adresse courriel non valide"),
    ("Not a valid phone number", "Numéro de téléphone non valide"),
    ("Not a valid country prefix", "Indicatif de pays non valide"),
    ("Too many digits", "Trop de chiffres"),
    ("Not enough digits", "Pas assez de chiffres"),
    ("Must not contain letters or symbols", "Ne doit pas contenir de lettres ni de symboles"),
    ("Missing personalisation: {names}", "Personnalisation manquante : {names}"),
    ("Missing personalisation for template ID {template_id}: {names}",
     "Personnalisation manquante pour le gabarit {template_id} : {names}"),
    # -- files (engine.api.v2.files) -----------------------------------------------------
    ("Can only send a file by email", "Un fichier ne peut être envoyé que par courriel"),
    ("File number exceed allowed limits of {limit} with number of {count}.",
     "Le nombre de fichiers dépasse la limite permise de {limit} avec {count} fichiers."),
    ("personalisation {key} file is a required property",
     "personalisation {key} file est une propriété obligatoire"),
    ("personalisation {key} file is not of type string",
     "personalisation {key} file n'est pas de type string"),
    ("personalisation {key} sending_method is a required property",
     "personalisation {key} sending_method est une propriété obligatoire"),
    ("personalisation {key} sending_method {method} is not one of [attach, link]",
     "personalisation {key} sending_method {method} ne fait pas partie de [attach, link]"),
    ("personalisation {key} filename is a required property",
     "personalisation {key} filename est une propriété obligatoire"),
    ("personalisation {key} filename is not of type string",
     "personalisation {key} filename n'est pas de type string"),
    ("personalisation {key} filename {filename} is too short",
     "personalisation {key} filename {filename} est trop court"),
    ("personalisation {key} filename {filename} is too long",
     "personalisation {key} filename {filename} est trop long"),
    ("{key} : {detail} : Error decoding base64 field",
     "{key} : {detail} : erreur de décodage du champ base64"),
    ("{key} : File size for {filename} is {size} and greater than allowed limit of {limit}.",
     "{key} : la taille du fichier {filename} est de {size}, ce qui dépasse la limite "
     "permise de {limit}."),
    ("personalisation {key} file is empty", "personalisation {key} file est un fichier vide"),
    ("Unsupported file type '{mime_type}'. Supported types are: '{types}'",
     "Type de fichier non pris en charge '{mime_type}'. Les types pris en charge sont : "
     "'{types}'"),
    ("Files cannot be sent: this deployment has no virus scanner",
     "Les fichiers ne peuvent pas être envoyés : ce déploiement n'a pas d'antivirus"),
    # -- bulk (engine.api.v2.bulk, engine.domain.csv_rows) -------------------------------
    ("You should specify either rows or csv", "Vous devez fournir soit rows, soit csv"),
    ("rows {rows_json} is too short", "rows {rows_json} est trop court"),
    ("Bulk sending to testing and non-testing numbers is not supported",
     "L'envoi en lot à des numéros de test et à d'autres numéros à la fois n'est pas pris "
     "en charge"),
    ("No rows found in the file", "Aucune ligne trouvée dans le fichier"),
    ("Error converting to CSV: {detail}", "Erreur de conversion en CSV : {detail}"),
    ("Missing column headers: {names}", "En-têtes de colonnes manquants : {names}"),
    ("Duplicate column headers: {names}", "En-têtes de colonnes en double : {names}"),
    ("Too many rows. Maximum number of rows allowed is {limit}",
     "Trop de lignes. Le nombre maximal de lignes permis est de {limit}"),
    ("Some rows have errors. {rows}.", "Certaines lignes contiennent des erreurs. {rows}."),
    ("Row {row} - has a character count greater than {limit} characters. Some messages may "
     "be too long due to custom content.",
     "Ligne {row} - compte plus de {limit} caractères. Certains messages peuvent être trop "
     "longs en raison du contenu personnalisé."),
    # -- cancel, templates --------------------------------------------------------------
    ("Notification has already been cancelled", "La notification a déjà été annulée"),
    ("Notification is not scheduled and cannot be deleted",
     "La notification n'est pas programmée et ne peut pas être supprimée"),
    ("Notification has already been sent and cannot be deleted",
     "La notification a déjà été envoyée et ne peut pas être supprimée"),
    ("No result found", "Aucun résultat trouvé"),
    ("Template not found", "Gabarit introuvable"),
    ("Template {template_id} has been deleted", "Le gabarit {template_id} a été supprimé"),
    ("{template_type} template is not suitable for {notification_type} notification",
     "Un gabarit {template_type} ne convient pas à une notification {notification_type}"),
    # -- admission (engine.domain.errors) -----------------------------------------------
    ("Service is suspended", "Le service est suspendu"),
    ("Exceeded rate limit for key type {key_type} of {limit} requests per 60 seconds",
     "Limite de débit dépassée pour le type de clé {key_type} : {limit} requêtes par "
     "60 secondes"),
    ("Exceeded email daily sending limit of {limit} messages",
     "Limite quotidienne d'envoi de courriels dépassée : {limit} messages"),
    ("Exceeded SMS daily sending limit of {limit} fragments",
     "Limite quotidienne d'envoi de messages texte dépassée : {limit} fragments"),
    ("Exceeded annual email sending limit of {limit} messages",
     "Limite annuelle d'envoi de courriels dépassée : {limit} messages"),
    ("Exceeded annual SMS sending limit of {limit} messages",
     "Limite annuelle d'envoi de messages texte dépassée : {limit} messages"),
    ("You only have {remaining} remaining {kind} before you reach your {period} limit. "
     "You've tried to send {tried} {kind}.",
     "Il ne vous reste que {remaining} {kind} avant d'atteindre votre limite {period}. "
     "Vous avez tenté d'envoyer {tried} {kind}."),
    ("{field} {sender_id} does not exist in database for service id {service_id}",
     "{field} {sender_id} n'existe pas dans la base de données pour le service "
     "{service_id}"),
    ("Can’t send to this recipient using a team-only API key (service {service_id}) - see "
     f"{_DOCS_EN}keys.html#team-and-safelist",
     "Impossible d'envoyer à ce destinataire avec une clé d'API réservée à l'équipe "
     f"(service {{service_id}}) - voir {DOCS_FR}cles.html#equipe-et-liste-de-securite"),
    (f"Can’t send to this recipient when service is in trial mode – see {_DOCS_EN}keys.html#live",
     "Impossible d'envoyer à ce destinataire lorsque le service est en mode d'essai – voir "
     f"{DOCS_FR}cles.html#en-direct"),
    ("You cannot send to these recipients because you used a team and safelist API key.",
     "Vous ne pouvez pas envoyer à ces destinataires, car vous avez utilisé une clé d'API "
     "d'équipe et de liste de sécurité."),
    ("You cannot send to these recipients because your service is in trial mode. You can "
     "only send to members of your team and your safelist.",
     "Vous ne pouvez pas envoyer à ces destinataires, car votre service est en mode "
     "d'essai. Vous pouvez seulement envoyer aux membres de votre équipe et aux "
     "destinataires de votre liste de sécurité."),
    ("Cannot send to international mobile numbers",
     "Impossible d'envoyer à des numéros de cellulaire internationaux"),
    # -- the admin API (engine.api.admin, engine.domain.retention) ----------------------
    # -- the console's admin API (engine.api.admin_console, issue 27) -------------------
    ("password must be at least {n} characters",
     "password doit compter au moins {n} caractères"),
    ("name is required", "name est obligatoire"),
    ("A console user with this email address already exists",
     "Un utilisateur de la console existe déjà avec cette adresse courriel"),
    ("roles must be among {roles}", "roles doit être parmi {roles}"),
    ("service {service_id} already exists", "le service {service_id} existe déjà"),
    ("subject is required for an email template",
     "subject est obligatoire pour un gabarit de courriel"),
    ("sms_sender must be a phone number, a short code or 3 to 11 letters and digits",
     "sms_sender doit être un numéro de téléphone, un code court ou de 3 à 11 lettres et "
     "chiffres"),
    ("url is not a valid https url", "url n'est pas une URL https valide"),
    # -- email branding and French versions of templates (issue 22) ------------------
    ("subject_fr needs content_fr (the French version)",
     "subject_fr exige content_fr (la version française)"),
    ("brand_colour must be a colour like #1a2b3c (# and 6 hexadecimal digits)",
     "brand_colour doit être une couleur comme #1a2b3c (# et 6 chiffres hexadécimaux)"),
    ("A logo must be image/png, image/jpeg or image/gif",
     "Un logo doit être image/png, image/jpeg ou image/gif"),
    ("A logo must be at most 1 MiB", "Un logo doit faire au plus 1 Mio"),
    ("The logo's content does not match its Content-Type",
     "Le contenu du logo ne correspond pas à son Content-Type"),
    ("bearer_token must be at least 10 characters",
     "bearer_token doit compter au moins 10 caractères"),
    ("No callback configured", "Aucun rappel n'est configuré"),
    ("email_address or mobile_number is required", "email_address ou mobile_number est requis"),
    ("phone_region {region} is not a supported ISO 3166 region code (such as CA, AU)",
     "phone_region {region} n'est pas un code de région ISO 3166 pris en charge (comme CA, AU)"),
    ("time_zone {zone} is not an IANA time zone name (such as America/Toronto)",
     "time_zone {zone} n'est pas un nom de fuseau horaire IANA (comme America/Toronto)"),
    ("{field} is not a date (YYYY-MM-DD)", "{field} n'est pas une date (AAAA-MM-JJ)"),
    ("start_date must be on or before end_date, within 366 days",
     "start_date doit être égale ou antérieure à end_date, dans un intervalle de 366 jours"),
    ("days_of_retention must be between {minimum} and {maximum}, not {days}",
     "days_of_retention doit être entre {minimum} et {maximum}, et non {days}"),
    # -- callbacks (engine.api.admin_callbacks, engine.domain.callback_urls) ------------
    ("url must not contain a user name or password",
     "url ne doit contenir ni nom d'utilisateur ni mot de passe"),
    ("url must not point to a loopback, private, link-local or reserved address ({address})",
     "url ne doit pas mener à une adresse de bouclage, privée, locale au lien ou réservée "
     "({address})"),
    ("url host {host} cannot be resolved", "l'hôte {host} de url est introuvable"),
    ("callback_type must be one of {kinds}", "callback_type doit être l'un de {kinds}"),
    ("statuses must be among {allowed}, not {unknown}",
     "statuses doit faire partie de {allowed}, et non {unknown}"),
    ("statuses apply to delivery_status callbacks only",
     "statuses ne s'applique qu'aux rappels delivery_status"),
    ("start and end must have a time zone (e.g. 2026-12-06T00:00:00Z)",
     "start et end doivent avoir un fuseau horaire (p. ex. 2026-12-06T00:00:00Z)"),
    ("end must be after start, within {days} days",
     "end doit être postérieur à start, dans un intervalle de {days} jours"),
    # -- per-send callback URLs (engine.domain.callback_urls, issue 23) ------------------
    ("callback_url needs a delivery_status callback for the service",
     "callback_url exige un rappel delivery_status pour le service"),
    ("callback_url must be at most {limit} characters",
     "callback_url doit compter au plus {limit} caractères"),
    ("callback_url must not contain white space or control characters",
     "callback_url ne doit contenir ni espace ni caractère de contrôle"),
    ("callback_url must not contain a user name or password",
     "callback_url ne doit contenir ni nom d'utilisateur ni mot de passe"),
    ("callback_url is not a valid https url", "callback_url n'est pas une URL https valide"),
    ("callback_url host {host} is not in the service's callback_hosts",
     "l'hôte {host} de callback_url ne figure pas dans les callback_hosts du service"),
    ("callback_hosts entry {host} is not a host name or IP address",
     "l'entrée {host} de callback_hosts n'est ni un nom d'hôte ni une adresse IP"),
    ("callback_hosts must have at most {limit} hosts",
     "callback_hosts doit compter au plus {limit} hôtes"),
    # -- Idempotency-Key (engine.api.idempotency) --------------------------------------
    ("Idempotency-Key must be 1 to 255 printable ASCII characters",
     "Idempotency-Key doit compter de 1 à 255 caractères ASCII imprimables"),
    ("A request with this Idempotency-Key is still being processed: retry it later",
     "Une requête avec cette Idempotency-Key est encore en traitement : réessayez-la plus "
     "tard"),
    ("This Idempotency-Key was already used for a different request",
     "Cette Idempotency-Key a déjà servi pour une autre requête"),
    # -- inbound SMS (engine.api.admin, engine.api.inbound_sms) ------------------------
    ("inbound_number must be a phone number", "inbound_number doit être un numéro de téléphone"),
    ("inbound_number is already used by another service",
     "inbound_number est déjà utilisé par un autre service"),
    ("This phone number has opted out of this service's text messages (it replied STOP or "
     "ARRET); it opts back in by replying START or DEBUT",
     "Ce numéro de téléphone ne veut plus recevoir les messages texte de ce service (il a "
     "répondu STOP ou ARRET); il peut les recevoir de nouveau en répondant START ou DEBUT"),
    ("Invalid inbound SMS event: {detail}",
     "Événement de message texte reçu non valide : {detail}"),
    # -- SNS receipts (engine.api.receipts) ---------------------------------------------
    ("Invalid SNS message signature", "Signature de message SNS non valide"),
    ("SNS topic not allowed", "Sujet SNS non permis"),
    ("Invalid receipt event: {detail}", "Événement d'accusé de réception non valide : {detail}"),
    ("Receipts are queued to capacity; retry later",
     "La file des accusés de réception est pleine; réessayez plus tard"),
    ("Request body is not an SNS message", "Le corps de la requête n'est pas un message SNS"),
    ("SubscribeURL is not an SNS URL", "SubscribeURL n'est pas une URL SNS"),
    ("Could not confirm the SNS subscription", "Impossible de confirmer l'abonnement SNS"),
    # -- templates through the API (issue 24: engine.api.v2.manage_templates) --------------
    ("This API key does not have permission to manage templates.",
     "Cette clé d'API n'a pas la permission de gérer les gabarits."),
    ("template_category_id must be a valid UUID", "template_category_id doit être un UUID valide"),
    ("template_category_id not found", "template_category_id introuvable"),
    ("Template is already archived.", "Le gabarit est déjà archivé."),
    ("parent_folder_id not found", "parent_folder_id introuvable"),
    ("Content has a character count greater than the limit of {limit}",
     "Le contenu compte plus de caractères que la limite de {limit}"),
    ("Template name must be less than {limit} characters",
     "Le nom du gabarit doit compter moins de {limit} caractères"),
    ("The template changed while it was written; retry",
     "Le gabarit a changé pendant son écriture; réessayez"),
    # -- reports through the API (issue 24: engine.api.v2.reports) -------------------------
    ("This API key does not have permission to manage reports.",
     "Cette clé d'API n'a pas la permission de gérer les rapports."),
    ("Maximum 10 report requests per hour", "Maximum de 10 demandes de rapport par heure"),
    ("Report is not ready for download (status: {status})",
     "Le rapport n'est pas prêt à être téléchargé (état : {status})"),
]  # fmt: skip

# Words carried as values (``{kind}``, ``{period}``, ``{channel}``, ``{verb}``).
WORDS = {
    "was": "propriété inattendue",
    "were": "propriétés inattendues",
    "sms messages": "messages texte",
    "messages": "messages",
    "daily": "quotidienne",
    "annual": "annuelle",
    "email": "courriel",
    "sms": "message texte",
}

# A bulk sheet's row problems (``engine.domain.csv_rows``): "Row 2 - `to`: Missing, ...".
_ROW = re.compile(r"Row (\d+) - ")
_PROBLEMS = {"Missing": "manquant", "invalid recipient": "destinataire non valide"}
_PROBLEM = re.compile(r"(`[^`]*`): (Missing|invalid recipient)")


def row_problems(rows: str) -> str:
    """The row list of "Some rows have errors. {rows}." in French."""
    text = _ROW.sub(r"Ligne \1 - ", rows)
    return _PROBLEM.sub(lambda m: f"{m.group(1)} : {_PROBLEMS[m.group(2)]}", text)
