"""The central service's storage: tables, opening/migrating, and the queries (``repo``)."""
