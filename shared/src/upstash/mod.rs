//! Upstash REST client (owned by the Upstash issue).
