"""The words of the console's people pages (team, invitations, your account, the second
factor's choices), in English and in French written for Canadian French readers."""

from __future__ import annotations

WORDS: dict[str, tuple[str, str]] = {
    # the sign-in's second step, by factor, and the per-address limit
    "factor_sms_title": ("Check your phone", "Vérifiez votre téléphone"),
    "factor_sms_intro": (
        "We sent a 6-digit code by text message to your phone. It expires in {minutes} minutes.",
        "Nous avons envoyé un code à 6 chiffres par message texte à votre téléphone. Il "
        "expire dans {minutes} minutes.",
    ),
    "factor_totp_title": ("Enter your app's code", "Entrez le code de votre application"),
    "factor_totp_intro": (
        "Open your authenticator app and enter the 6-digit code it shows for Notify.",
        "Ouvrez votre application d'authentification et entrez le code à 6 chiffres "
        "qu'elle affiche pour Notification.",
    ),
    "addr_limited": (
        "Too many failed sign-in attempts from your network. Try again in {minutes} minutes.",
        "Trop de tentatives de connexion ont échoué depuis votre réseau. Réessayez dans "
        "{minutes} minutes.",
    ),
    # the team
    "team": ("Team", "Équipe"),
    "team_members": ("Team members", "Membres de l'équipe"),
    "team_roles": ("Roles", "Rôles"),
    "team_you": ("(you)", "(vous)"),
    "team_change": ("Change", "Modifier"),
    "team_change_member": ("Change {name}'s roles", "Modifier les rôles de {name}"),
    "team_remove": ("Remove from the team", "Retirer de l'équipe"),
    "team_save": ("Save the roles", "Enregistrer les rôles"),
    "team_invite": ("Invite a team member", "Inviter un membre de l'équipe"),
    "team_send_invite": ("Send the invitation", "Envoyer l'invitation"),
    "team_invitations": ("Pending invitations", "Invitations en attente"),
    "team_no_invitations": ("No invitation is pending.", "Aucune invitation n'est en attente."),
    "team_expires": ("Expires (UTC)", "Expire (UTC)"),
    "team_expired": ("Expired", "Expirée"),
    "team_cancel": ("Cancel the invitation", "Annuler l'invitation"),
    "team_roles_hint": (
        "Every member can see the service. Choose what else they can do.",
        "Tous les membres peuvent consulter le service. Choisissez ce qu'ils peuvent faire "
        "de plus.",
    ),
    "team_invite_hint": (
        "We will email them a link that works once, for {hours} hours.",
        "Nous leur enverrons par courriel un lien qui fonctionne une fois, pendant {hours} heures.",
    ),
    "team_bad_email": ("Enter a valid email address.", "Entrez une adresse courriel valide."),
    "team_bad_roles": ("Choose roles from the list.", "Choisissez des rôles dans la liste."),
    "team_last_manager": (
        "The team must keep at least one member who manages settings. Give that role to "
        "someone else first.",
        "L'équipe doit garder au moins un membre qui gère les paramètres. Donnez d'abord ce "
        "rôle à quelqu'un d'autre.",
    ),
    "team_done_invited": ("The invitation is sent.", "L'invitation est envoyée."),
    "team_done_cancelled": ("The invitation is cancelled.", "L'invitation est annulée."),
    "team_done_changed": ("The roles are saved.", "Les rôles sont enregistrés."),
    "team_done_removed": ("The member is removed.", "Le membre est retiré."),
    "team_role_view": ("See the service", "Consulter le service"),
    "team_role_send": ("Send messages", "Envoyer des messages"),
    "team_role_manage_templates": ("Manage templates", "Gérer les gabarits"),
    "team_role_manage_api_keys": (
        "Manage API keys and integrations",
        "Gérer les clés d'API et les intégrations",
    ),
    "team_role_manage_settings": (
        "Manage settings and the team",
        "Gérer les paramètres et l'équipe",
    ),
    # accepting an invitation
    "invite_title": ("Join {service}", "Joindre {service}"),
    "invite_for": (
        "This invitation is for {email}.",
        "Cette invitation est destinée à {email}.",
    ),
    "invite_new_intro": (
        "Choose your name and a password to create your account.",
        "Choisissez votre nom et un mot de passe pour créer votre compte.",
    ),
    "invite_password_hint": (
        "At least {minimum} characters.",
        "Au moins {minimum} caractères.",
    ),
    "invite_create": ("Create my account", "Créer mon compte"),
    "invite_accept": ("Accept the invitation", "Accepter l'invitation"),
    "invite_sign_in_first": (
        "You already have an account. Sign in with it to accept.",
        "Vous avez déjà un compte. Connectez-vous pour accepter.",
    ),
    "invite_other_account": (
        "You are signed in with another email address. Sign out, then open the link again.",
        "Vous êtes connecté avec une autre adresse courriel. Déconnectez-vous, puis ouvrez "
        "le lien de nouveau.",
    ),
    "invite_no_name": ("Enter your name.", "Entrez votre nom."),
    "invite_short_password": (
        "The password must have at least {minimum} characters.",
        "Le mot de passe doit compter au moins {minimum} caractères.",
    ),
    "invite_gone_title": ("This invitation no longer works", "Cette invitation n'est plus valide"),
    "invite_gone": (
        "It was used, cancelled or has expired. Ask the team for a new one.",
        "Elle a été utilisée, annulée ou est expirée. Demandez-en une nouvelle à l'équipe.",
    ),
    "invite_joined": (
        "Your account is ready. Sign in to continue.",
        "Votre compte est prêt. Connectez-vous pour continuer.",
    ),
    # your account
    "account_title": ("Your account", "Votre compte"),
    "account_factor": ("How you confirm your sign-in", "Comment vous confirmez votre connexion"),
    "account_factor_now": ("You now use: {factor}.", "Vous utilisez maintenant : {factor}."),
    "account_factor_email": ("a code by email", "un code par courriel"),
    "account_factor_sms": (
        "a code by text message to {phone}",
        "un code par message texte au {phone}",
    ),
    "account_factor_totp": ("an authenticator app", "une application d'authentification"),
    "account_use_email": ("Use a code by email", "Utiliser un code par courriel"),
    "account_set_totp": (
        "Set up an authenticator app",
        "Configurer une application d'authentification",
    ),
    "account_set_sms": ("Set up codes by text message", "Configurer les codes par message texte"),
    "account_done_email": (
        "You will get your code by email.",
        "Vous recevrez votre code par courriel.",
    ),
    "account_done_totp": (
        "Your authenticator app is set up.",
        "Votre application d'authentification est configurée.",
    ),
    "account_done_sms": (
        "You will get your code by text message.",
        "Vous recevrez votre code par message texte.",
    ),
    "account_totp_steps": (
        "Add an account to your authenticator app with this key, then enter the code it "
        "shows. The app takes effect once the code is right.",
        "Ajoutez un compte à votre application d'authentification avec cette clé, puis "
        "entrez le code qu'elle affiche. L'application entre en vigueur une fois le code "
        "validé.",
    ),
    "account_totp_key": ("Key", "Clé"),
    "account_totp_uri": (
        "Or this address, for apps that accept one",
        "Ou cette adresse, pour les applications qui l'acceptent",
    ),
    "account_phone": ("Mobile phone number", "Numéro de téléphone mobile"),
    "account_phone_hint": ("For example 613 555 0123", "Par exemple 613 555 0123"),
    "account_send_code": ("Send a code", "Envoyer un code"),
    "account_bad_phone": (
        "Enter a valid mobile phone number.",
        "Entrez un numéro de téléphone mobile valide.",
    ),
    "account_sms_sent": (
        "We sent a 6-digit code to {phone}. It expires in {minutes} minutes.",
        "Nous avons envoyé un code à 6 chiffres au {phone}. Il expire dans {minutes} minutes.",
    ),
}
