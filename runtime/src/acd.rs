//! agent selection
