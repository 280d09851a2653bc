"""The centre's service: its keys, the stations it trusts, packet intake, and (coming) the
PostgreSQL register, national de-duplication on Ray, the review queue and precinct rolls."""
