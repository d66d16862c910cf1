//! Secret strings (owned by the Upstash issue).
