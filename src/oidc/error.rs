//! [`LogoutTokenError`]: every rule a logout token can break, one variant
//! each. Below both the JWE layer ([`super::jwe`]) and the token rules
//! ([`super::logout_token`]), which report with it, so neither imports the
//! other for it.

/// Largest logout token accepted, in bytes. Real ones are well under 2 KiB.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Why a logout token was refused: one variant per rule.
///
/// [`rule`](Self::rule) gives a stable snake_case label for metrics and for
/// `error_description`. The message names the broken rule and never echoes
/// any part of the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogoutTokenError {
    #[error("logout token is larger than {max} bytes", max = MAX_TOKEN_BYTES)]
    TooLarge,
    #[error("logout token is malformed: {detail}")]
    Malformed { detail: &'static str },
    #[error("logout token `typ` header is not `logout+jwt` or `JWT`")]
    UnsupportedType,
    #[error("logout token has a `crit` header parameter; no extension is supported")]
    UnsupportedCritical,
    #[error("logout token is not signed (`alg` is `none`)")]
    AlgNone,
    #[error("logout token `alg` is symmetric (HS*); only public-key signatures are accepted")]
    AlgSymmetric,
    #[error("logout token `alg` is not allowed for this provider")]
    AlgNotAllowed,
    #[error("logout token has no `kid` and the provider has more than one key")]
    MissingKid,
    #[error("logout token `kid` is not in the provider's key set")]
    UnknownKid,
    #[error("logout token `alg` does not fit the provider's key")]
    AlgKeyMismatch,
    #[error("logout token signature is invalid")]
    BadSignature,
    #[error("logout token must be encrypted for this provider")]
    EncryptionRequired,
    #[error("logout token is encrypted, but no decryption key is configured")]
    NoDecryptionKey,
    #[error("encrypted logout token `alg` is not the configured key-management algorithm")]
    JweAlgNotAllowed,
    #[error("encrypted logout token `enc` is not a supported content encryption")]
    JweEncNotAllowed,
    #[error("encrypted logout token is compressed (`zip`), which is refused")]
    JweCompressionForbidden,
    #[error("encrypted logout token `cty` is not `JWT`")]
    JweNotNestedJwt,
    #[error("encrypted logout token `kid` is not the configured decryption key")]
    JweUnknownKid,
    #[error("encrypted logout token cannot be decrypted")]
    CannotDecrypt,
    #[error("logout token `iss` is not the provider's issuer")]
    IssuerMismatch,
    #[error("logout token `aud` does not name this client")]
    AudienceMismatch,
    #[error("logout token `aud` names an audience that is not trusted")]
    UntrustedAudience,
    #[error("logout token has no `iat`")]
    MissingIat,
    #[error("logout token `iat` is in the future")]
    IssuedInFuture,
    #[error("logout token `iat` is older than the accepted age")]
    TooOld,
    #[error("logout token has expired (`exp`)")]
    Expired,
    #[error("logout token has no `exp`")]
    MissingExp,
    #[error("logout token has no `jti`")]
    MissingJti,
    #[error("logout token `events` does not hold the back-channel logout event as a JSON object")]
    BadEvents,
    #[error("logout token has neither `sub` nor `sid`")]
    MissingSubAndSid,
    #[error("logout token must not contain `nonce`")]
    NonceForbidden,
    #[error("logout token claim `{claim}` has an invalid value")]
    InvalidClaim { claim: &'static str },
}

impl LogoutTokenError {
    /// A stable snake_case name of the broken rule, for metric labels and
    /// `error_description`. The set of labels is closed.
    pub const fn rule(&self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::Malformed { .. } => "malformed",
            Self::UnsupportedType => "unsupported_type",
            Self::UnsupportedCritical => "unsupported_critical",
            Self::AlgNone => "alg_none",
            Self::AlgSymmetric => "alg_symmetric",
            Self::AlgNotAllowed => "alg_not_allowed",
            Self::MissingKid => "missing_kid",
            Self::UnknownKid => "unknown_kid",
            Self::AlgKeyMismatch => "alg_key_mismatch",
            Self::BadSignature => "bad_signature",
            Self::EncryptionRequired => "encryption_required",
            Self::NoDecryptionKey => "no_decryption_key",
            Self::JweAlgNotAllowed => "jwe_alg_not_allowed",
            Self::JweEncNotAllowed => "jwe_enc_not_allowed",
            Self::JweCompressionForbidden => "jwe_compression_forbidden",
            Self::JweNotNestedJwt => "jwe_not_nested_jwt",
            Self::JweUnknownKid => "jwe_unknown_kid",
            Self::CannotDecrypt => "cannot_decrypt",
            Self::IssuerMismatch => "issuer_mismatch",
            Self::AudienceMismatch => "audience_mismatch",
            Self::UntrustedAudience => "untrusted_audience",
            Self::MissingIat => "missing_iat",
            Self::IssuedInFuture => "issued_in_future",
            Self::TooOld => "too_old",
            Self::Expired => "expired",
            Self::MissingExp => "missing_exp",
            Self::MissingJti => "missing_jti",
            Self::BadEvents => "bad_events",
            Self::MissingSubAndSid => "missing_sub_and_sid",
            Self::NonceForbidden => "nonce_forbidden",
            Self::InvalidClaim { .. } => "invalid_claim",
        }
    }
}
