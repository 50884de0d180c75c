"""Single sign-on with OpenID Connect (mozilla-django-oidc), on when TOKENWISE_OIDC_CLIENT_ID is set."""

from __future__ import annotations

from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from governance.selectors.directory import people_with_email
from governance.services.orgs import user_get_or_create


class TokenwiseOIDCBackend(OIDCAuthenticationBackend):
    """Matches people by e-mail (case-insensitive), the way Tokenwise names them everywhere else.

    A new person is created like ``user_get_or_create`` does (username = e-mail, no usable password)
    and belongs to no team until an admin adds them.
    """

    def filter_users_by_claims(self, claims):
        email = (claims.get("email") or "").strip()
        if not email:
            return self.UserModel.objects.none()
        return people_with_email(email=email)

    def create_user(self, claims):
        user = user_get_or_create(email=claims["email"], actor_label="oidc")
        return self.update_user(user, claims)

    def update_user(self, user, claims):
        first, last = claims.get("given_name", ""), claims.get("family_name", "")
        if (first or last) and (user.first_name, user.last_name) != (first, last):
            user.first_name, user.last_name = first[:150], last[:150]
            user.save(update_fields=["first_name", "last_name"])
        return user
