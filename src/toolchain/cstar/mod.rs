//! The C* compiler (placeholder).
