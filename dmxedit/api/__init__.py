"""DMXAPI's doors: the request, its bodies, the JSON stream, retries, proxies, the client,
the account API."""
