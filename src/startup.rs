//! Start-up (in progress).
