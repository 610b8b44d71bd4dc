"""Persistence adapters: the `Store` facade (`repository`) over one module per concern, SQLAlchemy tables,
migrations, and Fernet/MultiFernet encryption."""
