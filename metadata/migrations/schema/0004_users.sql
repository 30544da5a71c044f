-- SCRAM credentials (RFC 5802, Kafka's stored form): per user and mechanism the salt, the
-- iteration count, the stored key and the server key, the byte strings in base64. No password.

CREATE TABLE scram_credentials (
    user_name TEXT NOT NULL,
    mechanism TEXT NOT NULL,  -- SCRAM-SHA-256, SCRAM-SHA-512
    salt TEXT NOT NULL,
    iterations INTEGER NOT NULL,
    stored_key TEXT NOT NULL,
    server_key TEXT NOT NULL,
    updated_ms {bigint} NOT NULL,
    PRIMARY KEY (user_name, mechanism)
){without_rowid};
