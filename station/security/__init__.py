"""Security: encryption at rest, operator passwords, roles and sessions."""
