"""Everything that speaks the Platform API: credentials, the client, blob transfers, releases, apps."""
