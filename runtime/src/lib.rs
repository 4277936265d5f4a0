//! The callflow runtime (in progress).
