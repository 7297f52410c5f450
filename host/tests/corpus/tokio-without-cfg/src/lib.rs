// Never compiled: the build stops before.
