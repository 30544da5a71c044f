"""One module per behaviour. Each has CLIENTS (the stock clients that can do it) and run(client, bootstrap, topic)."""
