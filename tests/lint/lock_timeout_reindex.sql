-- REINDEX with options is DDL that needs a lock_timeout; with CONCURRENTLY
-- it does not block the application.
REINDEX (CONCURRENTLY) INDEX users_a_idx;                       -- expect: none
REINDEX (VERBOSE) TABLE users;                                  -- expect: require-lock-timeout, require-concurrent-reindex
