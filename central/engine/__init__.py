"""National de-duplication on Ray: gallery shards held by actors, a search fanned out to all."""
