//! Tracing setup (in progress).
