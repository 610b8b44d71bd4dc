"""Persistence adapters: SQLAlchemy tables, the repository, and Fernet/MultiFernet encryption."""
