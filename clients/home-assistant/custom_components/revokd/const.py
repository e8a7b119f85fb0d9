"""Names shared by the integration's modules."""

from __future__ import annotations

from typing import Final

DOMAIN: Final = "revokd"

CONF_URL: Final = "url"
CONF_CLIENT_KEY: Final = "client_key"

OPT_SUBJECT_DISABLE: Final = "subject_disable"
SUBJECT_DISABLE_TOKENS: Final = "remove_tokens"
SUBJECT_DISABLE_DEACTIVATE: Final = "deactivate_user"
OPT_LLAT_OFFLINE: Final = "long_lived_tokens_offline"
OPT_MAPPINGS: Final = "mappings"
OPT_POLL_INTERVAL: Final = "poll_interval"

DEFAULT_SUBJECT_DISABLE: Final = SUBJECT_DISABLE_TOKENS
# Long-lived access tokens are what automations and scripts use: a browser
# logout at the provider should not break them; disabling the person should.
DEFAULT_LLAT_OFFLINE: Final = True
# Only used while the revokd in front of us has no event stream (404):
# then each registered token id is checked this often.
DEFAULT_POLL_INTERVAL: Final = 60

# Auth provider types of the OIDC login integrations users have.
PROVIDER_HASS_OPENID: Final = "openid"  # cavefire/hass-openid
PROVIDER_AUTH_OIDC: Final = "auth_oidc"  # christiaangoossens/hass-oidc-auth
PROVIDER_LOCAL: Final = "homeassistant"

LOCAL_ISSUER_PREFIX: Final = "homeassistant-local:"

ISSUE_UNREACHABLE: Final = "revokd_unreachable"
SIGNAL_STATE: Final = "revokd_state_{}"

STORAGE_VERSION: Final = 1
STORAGE_KEY: Final = "revokd.registry"

# What the config flow offers as revokd's URL: the revokd add-on installed
# from the local add-ons folder, as Home Assistant OS names it (hostname
# `<repository>-<slug>`, `local` for local add-ons). Elsewhere (a container,
# another host) the user types revokd's address.
DEFAULT_URL: Final = "http://local-revokd:8080"
