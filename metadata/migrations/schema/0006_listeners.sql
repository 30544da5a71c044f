-- Each broker's advertised listeners, as Kafka's advertised.listeners writes them: a comma list of
-- NAME://host:port (empty for a broker registered before listeners had names). Metadata answers a
-- client with every broker's address on the listener that client connected through.
ALTER TABLE brokers ADD COLUMN listeners TEXT NOT NULL DEFAULT '';
