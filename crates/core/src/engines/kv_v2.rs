//! KV version 2 (being written).
