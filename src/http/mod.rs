//! HTTP layer (in progress).
