//! Why a SCIM request was refused, with the status and `scimType` RFC 7644
//! §3.12 gives each (mapped to HTTP once, in `crate::http::error`).

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ScimError {
    /// No or an unknown bearer token (RFC 7644 §2: 401).
    #[error("send a SCIM client's bearer token: `Authorization: Bearer <token>`")]
    Unauthorized,
    #[error("{0}")]
    NotFound(String),
    /// 400 `invalidFilter`.
    #[error("{0}")]
    InvalidFilter(String),
    /// 400 `invalidSyntax`: not JSON, not the schema, an unknown attribute.
    #[error("{0}")]
    InvalidSyntax(String),
    /// 400 `invalidValue`: a value of the wrong type or out of bounds, a
    /// required attribute missing.
    #[error("{0}")]
    InvalidValue(String),
    /// 400 `invalidPath`: a PATCH path that names nothing revokd knows.
    #[error("{0}")]
    InvalidPath(String),
    /// 400 `noTarget`: a `remove` without a `path`.
    #[error("{0}")]
    NoTarget(String),
    /// 400 `mutability`: a change to a read-only attribute.
    #[error("{0}")]
    Mutability(String),
    /// 409 `uniqueness`.
    #[error("another user of this client already has this `{0}`")]
    Uniqueness(&'static str),
    /// 412: `If-Match` names another version.
    #[error(
        "the user has changed: `If-Match` names version {presented}, the current one is {current}"
    )]
    PreconditionFailed { presented: String, current: String },
    /// 413.
    #[error("the body is larger than {0} bytes")]
    TooLarge(usize),
    /// 415.
    #[error("send `Content-Type: application/scim+json` (or application/json)")]
    UnsupportedMediaType,
    /// 405 (a discovery endpoint, a method this path does not serve).
    #[error("this endpoint does not accept that method; it accepts {0}")]
    MethodNotAllowed(&'static str),
    /// 503.
    #[error("the store is unavailable; nothing was changed, retry later")]
    Store(#[from] StoreError),
}

impl ScimError {
    /// RFC 7644 §3.12's `scimType`, where it gives one.
    pub const fn scim_type(&self) -> Option<&'static str> {
        match self {
            Self::InvalidFilter(_) => Some("invalidFilter"),
            Self::InvalidSyntax(_) => Some("invalidSyntax"),
            Self::InvalidValue(_) => Some("invalidValue"),
            Self::InvalidPath(_) => Some("invalidPath"),
            Self::NoTarget(_) => Some("noTarget"),
            Self::Mutability(_) => Some("mutability"),
            Self::Uniqueness(_) => Some("uniqueness"),
            _ => None,
        }
    }

    /// The HTTP status.
    pub const fn status(&self) -> u16 {
        match self {
            Self::Unauthorized => 401,
            Self::NotFound(_) => 404,
            Self::InvalidFilter(_)
            | Self::InvalidSyntax(_)
            | Self::InvalidValue(_)
            | Self::InvalidPath(_)
            | Self::NoTarget(_)
            | Self::Mutability(_) => 400,
            Self::Uniqueness(_) => 409,
            Self::PreconditionFailed { .. } => 412,
            Self::TooLarge(_) => 413,
            Self::UnsupportedMediaType => 415,
            Self::MethodNotAllowed(_) => 405,
            Self::Store(_) => 503,
        }
    }

    /// A stable label for metrics.
    pub const fn rule(&self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::NotFound(_) => "not_found",
            Self::PreconditionFailed { .. } => "precondition_failed",
            Self::TooLarge(_) => "too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::Store(_) => "store_unavailable",
            other => match other.scim_type() {
                Some(t) => t,
                None => "invalid",
            },
        }
    }
}
