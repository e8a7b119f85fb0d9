//! The revocation model, free of HTTP and storage concerns.
//!
//! Everything that crosses the wire is parsed into one of these types first
//! ("parse, don't validate"), so the rest of the code never sees an empty or
//! oversized identifier.

mod change;
mod check;
mod fact;
mod identifier;
mod registry;
mod time;

pub use change::{
    Change, ChangeKind, ChangeKinds, Event, EventId, EventPage, Provenance, SeenKey,
    is_client_actor,
};
pub use check::{
    BoundFacts, CheckRequest, CheckRequestError, Facts, Lookup, Reason, Verdict, decide,
};
pub use fact::{FactUpdate, TokenBatch};
pub use identifier::{Issuer, Note, ParseError, Session, SessionId, Subject, SubjectId, TokenId};
pub use registry::{
    Owner, RegisteredToken, Registration, RegistrationError, RegistrationLimits,
    SessionRegistration, SubjectRegistrations, TokenBinding,
};
pub use time::UnixTime;
