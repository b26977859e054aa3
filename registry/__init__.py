"""The faces of Arachne: the `arachne` CLI and the HTTP service (SPARQL endpoint, Things API, explorer)."""
