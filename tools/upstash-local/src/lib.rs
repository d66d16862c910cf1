//! upstash-local library.
