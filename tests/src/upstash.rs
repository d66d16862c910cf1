//! Starting upstash-local for tests (owned by the Upstash issue).
